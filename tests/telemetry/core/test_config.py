import fnmatch
from pathlib import Path

import pytest

from telemetry import Config, ConfigError, load_config
from telemetry.core._config import MAX_CACHED_MODELS
from telemetry.core._text import MAX_MODEL_CHARS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sidecar.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = load_config(env={})
    assert config.proxy.listen == "127.0.0.1:11435"
    assert config.proxy.upstream == "http://127.0.0.1:11434"
    assert config.proxy.admin_listen == "127.0.0.1:11436"
    assert [t.name for t in config.tiers] == ["cpu", "gpu-8gb", "gpu-24gb", "gpu-40gb"]
    assert config.tier_for("llama3.2:3b").name == "cpu"
    assert config.tier_for("llama3.1:8b").name == "gpu-8gb"
    assert config.tier_for("qwen2.5:14b").name == "gpu-24gb"
    assert config.tier_for("llama3.3:70b").name == "gpu-40gb"
    assert config.tier_for("nomic-embed-text").name == "cpu"
    assert config.tier_for("something-unknown").name == "gpu-8gb"
    assert config.tier_for(None).name == "gpu-8gb"


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[proxy]\nupstream = "http://file:1"\nlisten = "127.0.0.1:1"\n'
        'admin_listen = "127.0.0.1:2"\n',
    )
    config = load_config(path, env={"OLLAMA_BASE_URL": "http://env:2"})
    assert config.proxy.upstream == "http://env:2"
    assert config.proxy.listen == "127.0.0.1:1"
    flagged = load_config(
        path,
        env={"OLLAMA_BASE_URL": "http://env:2"},
        overrides={"proxy": {"upstream": "http://flag:3", "listen": None}},
    )
    assert flagged.proxy.upstream == "http://flag:3"
    assert flagged.proxy.listen == "127.0.0.1:1"


def test_data_dir_from_env_and_xdg(tmp_path: Path) -> None:
    assert load_config(env={"OLLAMA_SIDECAR_DATA_DIR": str(tmp_path)}).proxy.data_dir == tmp_path
    xdg = load_config(env={"XDG_DATA_HOME": str(tmp_path)}).proxy.data_dir
    assert xdg == tmp_path / "ollama-sidecar"


def test_custom_tiers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
default_tier = "small"
[tiers.small]
models = ["tiny*"]
p50_seconds = 1
p95_seconds = 2
ttft_timeout_seconds = 0.5
[tiers.big]
models = ["*:70b"]
""",
    )
    config = load_config(path, env={})
    assert config.tier_for("tinyllama").name == "small"
    assert config.tier_for("tinyllama").timeouts.ttft == 0.5
    assert config.tier_for("x:70b").name == "big"
    assert config.tier_for("other").name == "small"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[proxy]\nlisten = "nowhere"\n', "proxy.listen"),
        ('[proxy]\nmax_body_bytes = "lots"\n', "proxy.max_body_bytes"),
        ("[proxy]\nbogus = 1\n", "proxy.bogus"),
        ("[nonsense]\n", "nonsense"),
        ("[tiers.cpu]\np95_seconds = -1\n", "tiers.cpu.p95_seconds"),
        ('[tiers.cpu]\nmodels = "x"\n', "tiers.cpu.models"),
        ("[tiers.cpu]\ncolour = 1\n", "tiers.cpu.colour"),
        ('default_tier = "nope"\n', "default_tier"),
        ('[gpu]\nrequire_gpu = "maybe"\n', "gpu.require_gpu"),
        ("[gpu]\nxid_hold_seconds = 0\n", "gpu.xid_hold_seconds"),
        ('[gpu]\nxid_hold_seconds = "ten minutes"\n', "gpu.xid_hold_seconds"),
        ("[gpu]\nxid_hold_seconds = inf\n", "gpu.xid_hold_seconds"),
        ("[gpu]\nrunner_match_tolerance = 1.5\n", "gpu.runner_match_tolerance"),
        ("[gpu]\nrunner_match_tolerance = -0.1\n", "gpu.runner_match_tolerance"),
        ("[gpu]\nrunner_match_tolerance = nan\n", "gpu.runner_match_tolerance"),
        ("[gpu]\nthrash_evictions_per_hour = 0\n", "gpu.thrash_evictions_per_hour"),
        ("[slo]\ntimeout_objective = 2\n", "slo.timeout_objective"),
        ("not toml = = =", "invalid TOML"),
        ("proxy = 5\n", "proxy: expected a"),
        ("receipts = []\n", "receipts: expected a"),
        ('[proxy]\ntls_cert = "a.crt"\n', "proxy.tls_cert and proxy.tls_key"),
        ('[proxy]\nclient_ca = "ca.crt"\n', "proxy.client_ca"),
        ("[retention]\nspans_days = -1\n", "retention.spans_days"),
        ('[ollama]\nkeep_alive = "forever"\n', "ollama.keep_alive"),
        ('default_tier = "cpu"\n[tiers.cpu]\npull = "x"\n', "tiers.cpu.pull"),
        ('default_tier = "cpu"\n[tiers.cpu]\nwarm = "yes"\n', "tiers.cpu.warm"),
        ('[proxy]\nlog_listen = "nowhere"\n', "proxy.log_listen"),
        ('[receipts]\nwitness = "x"\n', "receipts.witness"),
        ('[[receipts.witness]]\nurl = "ftp://w"\nkey = "a+b+c"\n', "0].url"),
        ('[[receipts.witness]]\nurl = "http://w/"\nkey = "k"\n', "0].key"),
        ('[[receipts.witness]]\nurl = "http://w/"\nkey = "a+b+c"\nx = 1\n', "0].x"),
        (
            '[receipts]\nwitness_quorum = 2\n[[receipts.witness]]\nurl = "http://w/"\n'
            'key = "a+b+c"\n',
            "receipts.witness_quorum",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text), env={})


def test_a_config_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[proxy]\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(tmp_path / "bin.toml", env={})


def test_witnesses_tiles_dir_and_the_public_log_listener(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[proxy]
log_listen = "0.0.0.0:8080"
[receipts]
tiles_dir = "~/tiles"
witness_quorum = 2
[[receipts.witness]]
url = "https://w1.example/"
key = "w1.example+01234567+BAAA"
[[receipts.witness]]
url = "http://127.0.0.1:9000"
key = "w2+89abcdef+BBBB"
""",
    )
    config = load_config(path, env={})
    assert config.proxy.log_listen == "0.0.0.0:8080"
    assert config.receipts.tiles_dir == Path("~/tiles").expanduser()
    assert [w.url for w in config.receipts.witness] == [
        "https://w1.example/",
        "http://127.0.0.1:9000",
    ]
    assert config.receipts.witness_quorum == 2
    assert load_config(None, env={}).receipts.witness == ()


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", env={})


def test_tier_patterns_match_as_fnmatch_does() -> None:
    config = load_config(env={})
    names = ["llama3.2:1b", "qwen3:0.6b-q8", "Nomic-Embed-Text", "x:70b", "x:7b", "a", "tinyllama"]
    for name in names:
        bare = name.lower() if ":" in name else name.lower() + ":latest"
        expected = next(
            (t.name for t in config.tiers if any(fnmatch.fnmatchcase(bare, p) for p in t.models)),
            config.default_tier,
        )
        assert config.tier_for(name).name == expected, name


def test_tier_cache_is_bounded_in_entries_and_bytes() -> None:
    config = load_config(env={})
    assert config.tier_for("y" * (MAX_MODEL_CHARS + 1) + ":70b").name == config.default_tier
    for i in range(MAX_CACHED_MODELS + 100):
        config.tier_for(f"{i}:70b".rjust(MAX_MODEL_CHARS, "m"))
    cache = config._tier_cache
    assert len(cache) == MAX_CACHED_MODELS
    assert max(map(len, cache)) <= MAX_MODEL_CHARS


def test_host_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[proxy]
tls_cert = "~/certs/server.crt"
tls_key = "/etc/sidecar/server.key"
require_auth = true
[ollama]
version = "0.12.3"
keep_alive = "1h30m"
[retention]
spans_days = 7
[tiers.gpu-8gb]
pull = ["llama3.1:8b", " qwen3:8b "]
warm = true
""",
    )
    config = load_config(path, env={})
    assert config.proxy.tls_cert == Path.home() / "certs" / "server.crt"
    assert config.proxy.client_ca is None and config.proxy.require_auth
    assert (config.ollama.version, config.ollama.keep_alive) == ("0.12.3", "1h30m")
    assert config.retention.spans_days == 7
    tier = config.tier_named("gpu-8gb")
    assert tier.pull == ("llama3.1:8b", "qwen3:8b") and tier.warm
    shipped = load_config(env={}).tier_named("cpu")
    assert shipped.pull == () and not shipped.warm
    for keep_alive in ("-1", "0", "300", "5m", "24h", "-1m"):
        assert load_config(write(tmp_path, f'[ollama]\nkeep_alive = "{keep_alive}"\n'), env={})


def test_gpu_health_and_matching_settings(tmp_path: Path) -> None:
    assert (Config().gpu.xid_hold_seconds, Config().gpu.runner_match_tolerance) == (600.0, 0.25)
    assert Config().gpu.thrash_evictions_per_hour == 6.0
    text = "[gpu]\nxid_hold_seconds = 120\nrunner_match_tolerance = 0.1\n"
    gpu = load_config(write(tmp_path, text + "thrash_evictions_per_hour = 2.5\n"), env={}).gpu
    assert (gpu.xid_hold_seconds, gpu.runner_match_tolerance) == (120.0, 0.1)
    assert gpu.thrash_evictions_per_hour == 2.5


def test_the_documented_example_loads_with_the_sidecar_loader(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    block = doc.split("<!-- config-example -->\n```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "sidecar.toml").write_text(block)
    config = load_config(tmp_path / "sidecar.toml", env={})
    assert config.receipts.witness_quorum == 1 and len(config.receipts.witness) == 1
    assert config.gpu.require_gpu and config.tier_for("qwen2.5:14b").name == "gpu-24gb"
