"""Configuration: shipped defaults < TOML file < environment < command-line flags.

Model tiers follow the providers' matrix (CPU-only, 8-12 GB, 24 GB+, 40 GB+ of VRAM); see
docs/decisions/0002-model-tiers.md for why the defaults are what they are. A bad value fails at
start with a `ConfigError` that names the key.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from telemetry.core._errors import ConfigError
from telemetry.core._text import MAX_MODEL_CHARS


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-tier upstream timeouts in seconds. `ttft` bounds the wait for the first token."""

    connect: float
    ttft: float
    idle: float
    total: float


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_vram_gib: int
    models: tuple[str, ...]
    p50_seconds: float
    p95_seconds: float
    ttft_p95_seconds: float
    timeouts: Timeouts
    # Concrete models `models warm` pulls for this tier (`models` are glob patterns), and
    # whether they should stay loaded (`doctor` checks `/api/ps` for them).
    pull: tuple[str, ...] = ()
    warm: bool = False


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen: str = "127.0.0.1:11435"
    upstream: str = "http://127.0.0.1:11434"
    admin_listen: str = "127.0.0.1:11436"
    data_dir: Path = field(default_factory=lambda: default_data_dir({}))
    auth_token_file: Path | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_connections: int = 512
    # Model management routes (pull, push, create, tags...) have no tier: only this much silence
    # between chunks ends them, so multi-gigabyte pulls are never cut.
    management_idle_timeout: float = 300.0
    # The admin listener has no authentication: it binds loopback unless this is set.
    admin_allow_remote: bool = False
    log_requests: bool = True
    # Client connections (both listeners; docs/decisions/0009): a request head must be complete
    # this long after its first byte, an idle keep-alive connection closes after this long
    # without a request, a request body must arrive whole within this long, and connections
    # beyond the cap get a 503 and are closed.
    header_timeout_seconds: float = 10.0
    keepalive_timeout_seconds: float = 60.0
    body_timeout_seconds: float = 120.0
    max_client_connections: int = 2048
    # TLS on both listeners; with `client_ca`, clients must present a certificate it signed.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    # Feature flag: refuse to start unless clients must authenticate (token or mTLS), even
    # on loopback.
    require_auth: bool = False
    # The read-only public listener of the log's tiles (`/log/...`), off when empty.
    log_listen: str = ""


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """One `[[receipts.witness]]`: its submission prefix and its C2SP verifier key string."""

    url: str
    key: str


@dataclass(frozen=True, slots=True)
class ReceiptsConfig:
    enabled: bool = True
    flush_interval_seconds: float = 0.2
    checkpoint_interval_seconds: float = 5.0
    origin: str = ""
    golem_agreement_id: str = ""
    golem_activity_id: str = ""
    # Whether a client's X-Golem-Agreement-Id / X-Golem-Activity-Id may name the agreement in its
    # receipt (then they win over the configured IDs); by default only the configured IDs count.
    trust_client_agreement_header: bool = False
    # Records, spans and signed receipts waiting in memory for the store, at most (estimated).
    max_pending_bytes: int = 64 << 20
    # Also write the log's tiles below this directory, for static hosting.
    tiles_dir: Path | None = None
    witness: tuple[WitnessConfig, ...] = ()
    witness_quorum: int = 1


@dataclass(frozen=True, slots=True)
class GpuConfig:
    enabled: bool = True
    sample_interval_seconds: float = 1.0
    ollama_poll_interval_seconds: float = 2.0
    require_gpu: bool = False
    # An NVIDIA GPU stays down this long after its last critical XID (docs/decisions/0007).
    xid_hold_seconds: float = 600.0
    # A runner's GPU memory matches a loaded model within this fraction of its `size_vram`
    # (docs/decisions/0015, "Processes").
    runner_match_tolerance: float = 0.25
    # The thrashing alert fires above this many evictions of one model per hour.
    thrash_evictions_per_hour: float = 6.0


@dataclass(frozen=True, slots=True)
class OllamaConfig:
    """The Ollama this host is meant to run: `doctor` compares, `models warm` loads."""

    version: str = ""
    keep_alive: str = "30m"


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Spans are pruned after `spans_days` (0 keeps them); receipts and checkpoints never are."""

    spans_days: float = 30.0
    prune_interval_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class SloConfig:
    """The "<2% timeouts" objective and the burn-rate windows the alerts use."""

    timeout_objective: float = 0.98
    min_request_rate: float = 0.05


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(
        name="cpu",
        min_vram_gib=0,
        models=(
            "*:0.5b*",
            "*:0.6b*",
            "*:1b*",
            "*:1.5b*",
            "*:1.7b*",
            "*:2b*",
            "*:3b*",
            "*embed*",
            "all-minilm*",
            "tinyllama*",
            "smollm*",
        ),
        p50_seconds=8.0,
        p95_seconds=30.0,
        ttft_p95_seconds=5.0,
        timeouts=Timeouts(connect=2.0, ttft=30.0, idle=30.0, total=300.0),
    ),
    Tier(
        name="gpu-8gb",
        min_vram_gib=8,
        # Cloud models (Ollama names them `*-cloud` / `*:cloud`) run on someone else's GPUs at
        # 8B-class speed whatever their size: this tier's budgets (docs/decisions/0002).
        models=("*-cloud", "*:cloud", "*:4b*", "*:7b*", "*:8b*", "*:9b*", "*:12b*"),
        p50_seconds=4.0,
        p95_seconds=15.0,
        ttft_p95_seconds=2.0,
        timeouts=Timeouts(connect=2.0, ttft=30.0, idle=20.0, total=180.0),
    ),
    Tier(
        name="gpu-24gb",
        min_vram_gib=24,
        models=("*:13b*", "*:14b*", "*:20b*", "*:24b*", "*:27b*", "*:30b*", "*:32b*", "*:34b*"),
        p50_seconds=8.0,
        p95_seconds=30.0,
        ttft_p95_seconds=4.0,
        timeouts=Timeouts(connect=2.0, ttft=60.0, idle=30.0, total=300.0),
    ),
    Tier(
        name="gpu-40gb",
        min_vram_gib=40,
        models=("*:70b*", "*:72b*", "*:65b*", "*:110b*", "*:120b*", "*:235b*"),
        p50_seconds=16.0,
        p95_seconds=60.0,
        ttft_p95_seconds=8.0,
        timeouts=Timeouts(connect=2.0, ttft=120.0, idle=60.0, total=600.0),
    ),
)


@dataclass(frozen=True)
class Config:
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    default_tier: str = "gpu-8gb"
    receipts: ReceiptsConfig = field(default_factory=ReceiptsConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    slo: SloConfig = field(default_factory=SloConfig)
    ollama: OllamaConfig = field(default_factory=OllamaConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    _tier_cache: dict[str, Tier] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def tier_named(self, name: str, setting: str = "default_tier") -> Tier:
        """The tier called `name`; `setting` names where the name came from in the error."""
        for tier in self.tiers:
            if tier.name == name:
                return tier
        known = ", ".join(t.name for t in self.tiers)
        raise ConfigError(f"{setting}: no tier named {name!r} (tiers: {known})")

    def tier_for(self, model: str | None) -> Tier:
        """The tier whose glob patterns match `model` first; the default tier otherwise.

        A name longer than any bounded model name (`MAX_MODEL_CHARS`) is not matched at all:
        it gets the default tier, so the work per request and the cache's bytes stay bounded.
        """
        key = model or ""
        if len(key) > MAX_MODEL_CHARS:  # checked first: even hashing a huge name costs
            return self.tier_named(self.default_tier)
        tier = self._tier_cache.get(key)
        if tier is None:
            tier = _tier_lookup(self.tiers, self.default_tier, key.lower())
            if len(self._tier_cache) < MAX_CACHED_MODELS:
                self._tier_cache[key] = tier
        return tier


# At most this many names of at most MAX_MODEL_CHARS characters each are cached.
MAX_CACHED_MODELS = 4096


def _tier_lookup(tiers: tuple[Tier, ...], default: str, model: str) -> Tier:
    bare = model if ":" in model else model + ":latest"
    for tier in tiers:
        if _matcher(tier.models).match(bare):
            return tier
    return next(t for t in tiers if t.name == default)


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled regular expression for a tier's glob patterns (fnmatchcase semantics)."""
    # No patterns match nothing ("(?!)"), not everything (the empty expression).
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns) or "(?!)")


def default_data_dir(env: Mapping[str, str]) -> Path:
    if env.get("OLLAMA_SIDECAR_DATA_DIR"):
        return Path(env["OLLAMA_SIDECAR_DATA_DIR"])
    xdg = env.get("XDG_DATA_HOME") or os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "ollama-sidecar"


# Environment variables, weaker than flags and stronger than the file.
ENVIRONMENT = {
    "OLLAMA_BASE_URL": ("proxy", "upstream"),
    "OLLAMA_SIDECAR_LISTEN": ("proxy", "listen"),
    "OLLAMA_SIDECAR_ADMIN_LISTEN": ("proxy", "admin_listen"),
    "OLLAMA_SIDECAR_DATA_DIR": ("proxy", "data_dir"),
    "OLLAMA_SIDECAR_AUTH_TOKEN_FILE": ("proxy", "auth_token_file"),
    "OLLAMA_SIDECAR_REQUIRE_GPU": ("gpu", "require_gpu"),
    "OLLAMA_SIDECAR_RECEIPTS": ("receipts", "enabled"),
    "GOLEM_AGREEMENT_ID": ("receipts", "golem_agreement_id"),
    "GOLEM_ACTIVITY_ID": ("receipts", "golem_activity_id"),
}

_SECTIONS: dict[str, type[Any]] = {
    "proxy": ProxyConfig,
    "receipts": ReceiptsConfig,
    "gpu": GpuConfig,
    "slo": SloConfig,
    "ollama": OllamaConfig,
    "retention": RetentionConfig,
}


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Build the effective config. `overrides` are flags: {"proxy": {"listen": "..."}}."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text, so not a TOML config") from None
    for name in _SECTIONS:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(f"{name}: expected a [{name}] table, got {raw[name]!r}")
    layered: dict[str, dict[str, Any]] = {name: dict(raw.get(name, {})) for name in _SECTIONS}
    unknown = set(raw) - set(_SECTIONS) - {"tiers", "default_tier"}
    if unknown:
        raise ConfigError(f"unknown config key {sorted(unknown)[0]!r}")
    for variable, (section, key) in ENVIRONMENT.items():
        if env.get(variable):
            layered[section][key] = env[variable]
    for section, values in (overrides or {}).items():
        layered.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    witnesses = _build_witnesses(layered["receipts"].pop("witness", []))
    if "data_dir" not in layered["proxy"]:
        layered["proxy"]["data_dir"] = default_data_dir(env)
    sections = {name: _build_section(name, cls, layered[name]) for name, cls in _SECTIONS.items()}
    sections["receipts"] = replace(sections["receipts"], witness=witnesses)
    tiers = _build_tiers(raw.get("tiers"))
    config = Config(tiers=tiers, default_tier=str(raw.get("default_tier", "gpu-8gb")), **sections)
    config.tier_named(config.default_tier)
    _validate(config)
    return config


def _build_section(name: str, cls: type[Any], values: dict[str, Any]) -> Any:
    defaults = cls()
    known = {f for f in defaults.__dataclass_fields__}
    for key in values:
        if key not in known:
            raise ConfigError(f"unknown config key {name}.{key}")
    converted = {
        key: _coerce(f"{name}.{key}", getattr(defaults, key), value, cls, key)
        for key, value in values.items()
    }
    return replace(defaults, **converted)


def _coerce(key: str, default: Any, value: Any, cls: type[Any], field_name: str) -> Any:
    annotation = str(cls.__dataclass_fields__[field_name].type)
    try:
        if "Path" in annotation:
            return Path(str(value)).expanduser() if value not in ("", None) else None
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: invalid value {value!r}") from exc


def _build_witnesses(raw: Any) -> tuple[WitnessConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError("receipts.witness: expected [[receipts.witness]] tables")
    witnesses = []
    for i, table in enumerate(raw):
        unknown = set(table) - {"url", "key"}
        if unknown:
            raise ConfigError(f"unknown config key receipts.witness[{i}].{sorted(unknown)[0]}")
        url, key = table.get("url"), table.get("key")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"receipts.witness[{i}].url: expected an http:// or https:// URL")
        if not isinstance(key, str) or key.count("+") < 2:
            raise ConfigError(f"receipts.witness[{i}].key: expected a verifier key string")
        witnesses.append(WitnessConfig(url, key.strip()))
    return tuple(witnesses)


def _build_tiers(raw: Any) -> tuple[Tier, ...]:
    if raw is None:
        return DEFAULT_TIERS
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("tiers: expected a table of tiers")
    shipped = {tier.name: tier for tier in DEFAULT_TIERS}
    tiers = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"tiers.{name}: expected a table")
        base = shipped.get(name, DEFAULT_TIERS[1])
        tiers.append(_build_tier(name, base, table))
    return tuple(tiers)


_TIMEOUT_KEYS = {
    "connect_timeout_seconds": "connect",
    "ttft_timeout_seconds": "ttft",
    "idle_timeout_seconds": "idle",
    "total_timeout_seconds": "total",
}
_TIER_NUMBERS = ("p50_seconds", "p95_seconds", "ttft_p95_seconds")


def _build_tier(name: str, base: Tier, table: dict[str, Any]) -> Tier:
    allowed = {"models", "min_vram_gib", "pull", "warm", *_TIER_NUMBERS, *_TIMEOUT_KEYS}
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown config key tiers.{name}.{key}")
    models = table.get("models", list(base.models))
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(f"tiers.{name}.models: expected a list of glob patterns")
    numbers = {
        key: _positive(f"tiers.{name}.{key}", table.get(key, getattr(base, key)))
        for key in _TIER_NUMBERS
    }
    timeouts = {
        attr: _positive(f"tiers.{name}.{key}", table.get(key, getattr(base.timeouts, attr)))
        for key, attr in _TIMEOUT_KEYS.items()
    }
    pull = table.get("pull", list(base.pull))
    if not isinstance(pull, list) or not all(isinstance(m, str) and m.strip() for m in pull):
        raise ConfigError(f"tiers.{name}.pull: expected a list of model names")
    warm = table.get("warm", base.warm)
    if not isinstance(warm, bool):
        raise ConfigError(f"tiers.{name}.warm: expected true or false")
    vram = table.get("min_vram_gib", base.min_vram_gib)
    if not isinstance(vram, int) or isinstance(vram, bool) or vram < 0:
        raise ConfigError(f"tiers.{name}.min_vram_gib: expected a non-negative integer")
    return Tier(
        name=name,
        min_vram_gib=vram,
        models=tuple(m.lower() for m in models),
        timeouts=Timeouts(**timeouts),
        pull=tuple(m.strip() for m in pull),
        warm=warm,
        **numbers,
    )


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _validate(config: Config) -> None:
    for key, address in (
        ("proxy.listen", config.proxy.listen),
        ("proxy.admin_listen", config.proxy.admin_listen),
    ):
        parse_host_port(address, key)
    _validate_upstream(config.proxy.upstream)
    if config.proxy.max_body_bytes <= 0:
        raise ConfigError("proxy.max_body_bytes: expected a positive number of bytes")
    for key in ("header_timeout_seconds", "keepalive_timeout_seconds", "body_timeout_seconds"):
        _positive(f"proxy.{key}", getattr(config.proxy, key))
    if config.proxy.max_client_connections <= 0:
        raise ConfigError("proxy.max_client_connections: expected a positive number")
    if not 0 < config.slo.timeout_objective < 1:
        raise ConfigError("slo.timeout_objective: expected a ratio between 0 and 1")
    if config.receipts.flush_interval_seconds <= 0 or config.receipts.flush_interval_seconds > 5:
        raise ConfigError("receipts.flush_interval_seconds: expected 0 < seconds <= 5")
    if config.receipts.max_pending_bytes < 1 << 20:
        raise ConfigError("receipts.max_pending_bytes: expected at least 1048576 bytes")
    if config.proxy.log_listen:
        parse_host_port(config.proxy.log_listen, "proxy.log_listen")
    witnesses = len(config.receipts.witness)
    if witnesses and not 1 <= config.receipts.witness_quorum <= witnesses:
        raise ConfigError(
            f"receipts.witness_quorum: expected 1 to {witnesses} (the witnesses configured)"
        )
    if config.gpu.sample_interval_seconds <= 0:
        raise ConfigError("gpu.sample_interval_seconds: expected a positive number")
    _validate_gpu(config.gpu)
    _validate_tls(config.proxy)
    if config.retention.spans_days < 0:
        raise ConfigError("retention.spans_days: expected 0 (keep) or a positive number of days")
    if config.retention.prune_interval_seconds <= 0:
        raise ConfigError("retention.prune_interval_seconds: expected a positive number")
    if not _DURATION.fullmatch(config.ollama.keep_alive):
        raise ConfigError(
            f"ollama.keep_alive: expected a duration such as 30m, 24h or -1, "
            f"got {config.ollama.keep_alive!r}"
        )
    for tier in config.tiers:
        if tier.p50_seconds > tier.p95_seconds:
            raise ConfigError(f"tiers.{tier.name}.p50_seconds: larger than p95_seconds")


def _validate_gpu(gpu: GpuConfig) -> None:
    if not 0 < gpu.xid_hold_seconds < float("inf"):
        raise ConfigError(
            f"gpu.xid_hold_seconds: expected a positive number of seconds, "
            f"got {gpu.xid_hold_seconds!r}"
        )
    if not 0 < gpu.runner_match_tolerance <= 1:
        raise ConfigError(
            f"gpu.runner_match_tolerance: expected a fraction in (0, 1], "
            f"got {gpu.runner_match_tolerance!r}"
        )
    if not 0 < gpu.thrash_evictions_per_hour < float("inf"):
        raise ConfigError(
            f"gpu.thrash_evictions_per_hour: expected a positive rate, "
            f"got {gpu.thrash_evictions_per_hour!r}"
        )


# What Ollama accepts for keep_alive: a Go duration ("1h30m", "-1m") or a number of seconds.
_DURATION = re.compile(r"-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|-?\d+")


def _validate_tls(proxy: ProxyConfig) -> None:
    if (proxy.tls_cert is None) != (proxy.tls_key is None):
        raise ConfigError("proxy.tls_cert and proxy.tls_key: set both or neither")
    if proxy.client_ca is not None and proxy.tls_cert is None:
        raise ConfigError("proxy.client_ca: needs proxy.tls_cert and proxy.tls_key")


def _validate_upstream(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"proxy.upstream: expected an http:// or https:// URL, got {url!r}")
    authority = url.split("://", 1)[1].split("/", 1)[0]
    if "@" in authority:
        raise ConfigError(
            "proxy.upstream: credentials in the URL are not supported (they would end up in "
            "Host headers and logs)"
        )


def parse_host_port(address: str, key: str = "address") -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key}: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)
