"""The host lines: GPU stack per vendor through the real exporters (fake NVML), key file modes,
proxy protection, containers per OS, disk space, and the clock."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from exporters import NvmlSource
from exporters.inventory_cli import probe_once
from exporters.testing import FakeDevice, FakeGpuSource, FakeNvml
from telemetry.app.doctor import Host, Status
from telemetry.app.doctor import _host_checks as hc
from telemetry.app.tls import write_dev_certs
from telemetry.core import Config, load_config


def config(tmp_path: Path, toml: str = "", **proxy: object) -> Config:
    path = tmp_path / "sidecar.toml"
    path.write_text(toml)
    return load_config(path, env={}, overrides={"proxy": {"data_dir": tmp_path, **proxy}})


def test_gpu_stack_nvidia_reports_driver_and_cuda(tmp_path: Path) -> None:
    snapshot = probe_once([NvmlSource(FakeNvml([FakeDevice(), FakeDevice()]))])
    check = hc.gpu_stack(config(tmp_path), snapshot)
    assert check.status is Status.PASS
    assert check.detail.startswith("NVIDIA via nvml: 2 x ")
    assert "driver 560.35.03, CUDA 12.6" in check.detail


def test_gpu_stack_cpu_only_says_what_was_tried(tmp_path: Path) -> None:
    snapshot = probe_once([FakeGpuSource([], backend="nvml", unavailable="library_missing")])
    check = hc.gpu_stack(config(tmp_path), snapshot)
    assert check.status is Status.WARN
    assert check.detail == "CPU-only: no GPU library answered (nvml: library_missing)"
    required = hc.gpu_stack(config(tmp_path, "[gpu]\nrequire_gpu = true\n"), snapshot)
    assert required.status is Status.FAIL
    off = hc.gpu_stack(config(tmp_path), None)
    assert off.status is Status.PASS and "probing is off" in off.detail


def test_key_file_mode(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert hc.key_file_mode(cfg).status is Status.WARN  # not created yet
    key = tmp_path / "provider.key"
    key.write_text("k")
    key.chmod(0o644)
    loose = hc.key_file_mode(cfg)
    assert loose.status is Status.FAIL and loose.fix.startswith(f"chmod 600 {key}")
    key.chmod(0o600)
    assert hc.key_file_mode(cfg).status is Status.PASS
    off = config(tmp_path, "[receipts]\nenabled = false\n")
    key.chmod(0o644)
    assert hc.key_file_mode(off).status is Status.PASS


def test_proxy_protected(tmp_path: Path) -> None:
    assert hc.proxy_protected(config(tmp_path)).status is Status.PASS
    open_port = hc.proxy_protected(config(tmp_path, listen="0.0.0.0:11435"))
    assert open_port.status is Status.FAIL and "--auth-token-file" in open_port.fix
    token = tmp_path / "token"
    token.write_text("t")
    token.chmod(0o600)
    guarded = hc.proxy_protected(config(tmp_path, listen="0.0.0.0:11435", auth_token_file=token))
    assert guarded.status is Status.PASS and "bearer token" in guarded.detail
    token.chmod(0o644)
    loose = hc.proxy_protected(config(tmp_path, listen="0.0.0.0:11435", auth_token_file=token))
    assert loose.status is Status.FAIL and loose.fix == f"chmod 600 {token}"
    certs = tmp_path / "certs"
    write_dev_certs(certs)
    mtls = config(
        tmp_path,
        listen="0.0.0.0:11435",
        tls_cert=certs / "server.crt",
        tls_key=certs / "server.key",
        client_ca=certs / "ca.crt",
    )
    assert "client certificates" in hc.proxy_protected(mtls).detail
    broken = config(tmp_path, tls_cert=certs / "server.crt", tls_key=certs / "client.key")
    assert hc.proxy_protected(broken).status is Status.FAIL
    required = config(tmp_path, "[proxy]\nrequire_auth = true\n")
    assert hc.proxy_protected(required).status is Status.FAIL


def test_container_path_per_os(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "docker.sock").touch()
    (tmp_path / "sys" / "fs" / "cgroup").mkdir(parents=True)
    (tmp_path / "sys" / "fs" / "cgroup" / "cgroup.controllers").touch()
    linux = hc.container_path(config(tmp_path), Host(root=tmp_path, system="Linux", path=""))
    assert linux.status is Status.PASS
    assert linux.detail.startswith("docker; cgroup v2; ")
    assert "network_mode: host at http://127.0.0.1:11435" in linux.detail
    mac = hc.container_path(config(tmp_path), Host(root=tmp_path, system="Darwin", path=""))
    assert "http://host.docker.internal:11435" in mac.detail
    none = hc.container_path(config(tmp_path), Host(root=tmp_path / "x", system="Linux", path=""))
    assert none.status is Status.WARN and "no container runtime" in none.detail


def test_data_dir_space(tmp_path: Path) -> None:
    check = hc.data_dir_space(config(tmp_path, data_dir=tmp_path / "not" / "yet"))
    assert check.status in (Status.PASS, Status.WARN)
    assert "GiB free for" in check.detail
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=stat.S_IRUSR | stat.S_IXUSR)
        assert hc.data_dir_space(config(tmp_path, data_dir=locked)).status is Status.FAIL


def test_clock(tmp_path: Path) -> None:
    host = Host(root=tmp_path, path="")
    epoch = hc.clock(host, now=0)
    assert epoch.status is Status.FAIL and "1970-01-01" in epoch.detail
    unknown = hc.clock(host)
    assert unknown.status is Status.WARN and "cannot tell" in unknown.detail
    marker = tmp_path / "run" / "systemd" / "timesync"
    marker.mkdir(parents=True)
    (marker / "synchronized").touch()
    assert hc.clock(host).status is Status.PASS
