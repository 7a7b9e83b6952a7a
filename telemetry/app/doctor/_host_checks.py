"""The host lines: GPU stack, proxy protection, key file, containers, disk space and clock."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import time

from exporters import GpuSnapshot
from exporters._inventory import cgroup_version, container_runtimes, gpu_summary
from receipts._provider import KEY_FILE
from telemetry.app._sidecar import is_loopback, server_tls
from telemetry.app.doctor._check import Check, failed, passed, warned
from telemetry.app.doctor._host import Host, first_existing
from telemetry.core import Config, ConfigError
from telemetry.core._config import parse_host_port

_GIB = 1024**3
DISK_FAIL_BYTES = 1 * _GIB
DISK_WARN_BYTES = 10 * _GIB
# A clock before this is wrong: checkpoints and receipts would carry an impossible time.
CLOCK_FLOOR = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
_VENDORS = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple"}


def gpu_stack(config: Config, snapshot: GpuSnapshot | None) -> Check:
    name = "gpu_stack"
    if snapshot is None:
        return passed(name, "GPU probing is off ([gpu] enabled = false); serving as CPU-only")
    info = snapshot.info
    if info is None:
        tried = ", ".join(f"{s.backend}: {s.reason}" for s in snapshot.backends if not s.up)
        detail = f"CPU-only: no GPU library answered ({tried or 'none tried'})"
        fix = (
            "install the vendor driver and library (NVIDIA: driver with libnvidia-ml; AMD: ROCm "
            "with librocm_smi64 or amdsmi; Apple: macOS on Apple Silicon), or serve the cpu tier"
        )
        if config.gpu.require_gpu:
            return failed(name, detail + "; [gpu] require_gpu is on", fix)
        return warned(name, detail, fix)
    vendor = _VENDORS.get(info.vendor, info.vendor)
    parts = [f"{vendor} via {info.backend}: {gpu_summary(snapshot)}"]
    if info.driver_version:
        parts.append(f"driver {info.driver_version}")
    if info.runtime == "cuda":
        parts.append(f"CUDA {info.runtime_version or 'version unknown'}")
    elif info.runtime == "rocm":
        parts.append(f"ROCm SMI {info.driver_version or 'version unknown'}")
    elif info.runtime == "metal":
        parts.append("Metal (powermetrics for power readings)")
    down = len(snapshot.devices) - len(snapshot.healthy)
    detail = ", ".join(parts)
    if down:
        return failed(
            name, detail, "check the GPUs marked down (nvidia-smi / rocm-smi), then restart"
        )
    if info.runtime == "cuda" and not info.runtime_version:
        return warned(name, detail, "update the NVIDIA driver: it does not report a CUDA version")
    return passed(name, detail)


def proxy_protected(config: Config) -> Check:
    name = "proxy_protected"
    proxy = config.proxy
    try:
        tls = server_tls(config)
    except ConfigError as exc:
        return failed(name, str(exc), "fix the file named, or run ollama-sidecar tls dev-certs DIR")
    host, _ = parse_host_port(proxy.listen, "proxy.listen")
    token = proxy.auth_token_file
    guards = []
    if token is not None:
        guards.append(f"bearer token ({token})")
    if tls is not None and tls.mutual:
        guards.append(f"client certificates ({proxy.client_ca})")
    where = f"proxy listens on {proxy.listen}"
    if not guards and (proxy.require_auth or not is_loopback(host)):
        reason = "proxy.require_auth is on" if proxy.require_auth else "a non-loopback address"
        return failed(
            name,
            f"{where}: {reason} without a token or client CA (serve refuses to start)",
            "set --auth-token-file FILE or --client-ca CA.crt (ollama-sidecar tls dev-certs DIR)",
        )
    if token is not None:
        try:
            mode = token.stat().st_mode
        except OSError as exc:
            return failed(name, f"cannot read the token file {token}: {exc.strerror}", "create it")
        if mode & 0o077:
            return failed(
                name,
                f"token file {token} has mode {stat.filemode(mode)} (serve refuses to start)",
                f"chmod 600 {token}",
            )
    admin_host, _ = parse_host_port(proxy.admin_listen, "proxy.admin_listen")
    if not is_loopback(admin_host) and not (tls is not None and tls.mutual):
        return warned(
            name,
            f"{where}; the admin listener (no authentication) on {proxy.admin_listen}",
            "bind proxy.admin_listen to 127.0.0.1, or require client certificates",
        )
    protection = ", ".join(guards) if guards else "loopback only"
    return passed(name, f"{where}: {protection}" + (", TLS" if tls is not None else ""))


def key_file_mode(config: Config) -> Check:
    name = "key_file_mode"
    if not config.receipts.enabled:
        return passed(name, "receipts are off ([receipts] enabled = false): no key in use")
    key = config.proxy.data_dir / KEY_FILE
    try:
        mode = key.stat().st_mode
    except FileNotFoundError:
        return warned(name, f"{key} does not exist yet; serve creates it with mode 0600")
    except OSError as exc:
        return failed(name, f"cannot stat {key}: {exc.strerror}", "check the data dir's owner")
    if mode & 0o077:
        return failed(
            name,
            f"{key} has mode {stat.filemode(mode)}: others can read the signing key",
            f"chmod 600 {key} (and rotate the key if others had access)",
        )
    return passed(name, f"{key} has mode {stat.filemode(mode)}")


def container_path(config: Config, host: Host) -> Check:
    name = "container_path"
    runtimes = container_runtimes(host.root, host.which)
    _, port = parse_host_port(config.proxy.listen, "proxy.listen")
    if host.system == "Darwin":
        route = (
            f"containers reach the sidecar at http://host.docker.internal:{port} "
            "(deploy/compose/compose.yaml)"
        )
        cgroups = "cgroups: inside the runtime's VM"
    else:
        route = (
            f"containers reach the sidecar with network_mode: host at http://127.0.0.1:{port} "
            "(deploy/compose/compose.linux.yaml)"
        )
        cgroups = f"cgroup {cgroup_version(host.root)}"
    if not runtimes:
        return warned(
            name,
            f"no container runtime found (docker, podman, containerd); {cgroups}; {route}",
            "install Docker or Podman if provider workloads run in containers",
        )
    return passed(name, f"{', '.join(runtimes)}; {cgroups}; {route}")


def data_dir_space(config: Config) -> Check:
    name = "data_dir_space"
    data_dir = config.proxy.data_dir
    existing = first_existing(data_dir)
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        return failed(name, f"cannot stat {existing}: {exc.strerror}", "check the data dir")
    if not os.access(existing, os.W_OK):
        return failed(
            name, f"{existing} is not writable by this user", "chown it or set --data-dir"
        )
    detail = f"{free / _GIB:.1f} GiB free for {data_dir}"
    if free < DISK_FAIL_BYTES:
        return failed(name, detail, "free space: receipts and checkpoints are never deleted")
    if free < DISK_WARN_BYTES:
        return warned(name, detail, "plan for growth: about 1 KiB per request stays forever")
    return passed(name, detail)


def clock(host: Host, now: float | None = None) -> Check:
    name = "clock"
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if moment < CLOCK_FLOOR:
        return failed(
            name,
            f"the clock reads {stamp}: checkpoints and receipts would carry that time",
            "set the time and enable NTP (timedatectl set-ntp true)",
        )
    synced = _synchronised(host)
    if synced is None:
        return warned(
            name,
            f"{stamp}; cannot tell whether the clock is synchronised "
            "(no timedatectl, chronyc or systemd-timesyncd state)",
            "run an NTP client (systemd-timesyncd, chrony)",
        )
    if not synced:
        return warned(name, f"{stamp}; NTP is not synchronised", "timedatectl set-ntp true")
    return passed(name, f"{stamp}, NTP synchronised")


def _synchronised(host: Host) -> bool | None:
    answer = host.run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if answer is not None and answer.strip() in ("yes", "no"):
        return answer.strip() == "yes"
    if (host.root / "run" / "systemd" / "timesync" / "synchronized").exists():
        return True
    tracking = host.run("chronyc", "tracking")
    if tracking is not None:
        return "Leap status     : Normal" in tracking
    return None
