"""`ollama-sidecar service`: install the systemd units or launchd plists from deploy/."""

from telemetry.app.service._units import UnitFile, deploy_dir, launchd_files, systemd_files

__all__ = ["UnitFile", "deploy_dir", "launchd_files", "systemd_files"]
