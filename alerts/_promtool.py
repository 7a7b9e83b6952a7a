"""promtool, the Prometheus rule checker, run as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alerts._errors import PromtoolError


@dataclass(frozen=True, slots=True)
class PromtoolResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Promtool:
    """`promtool check rules` and `promtool test rules` on files."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0) -> None:
        found = binary or shutil.which("promtool")
        if found is None:
            raise PromtoolError(
                "promtool not found: install Debian's `prometheus` package or put promtool on PATH"
            )
        self.binary = found
        self.timeout = timeout

    def _run(self, *args: str) -> PromtoolResult:
        try:
            done = subprocess.run(
                [self.binary, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PromtoolError(f"running {self.binary} {args[0]} failed: {exc}") from exc
        return PromtoolResult(done.returncode, done.stdout + done.stderr)

    def check_rules(self, *paths: Path) -> PromtoolResult:
        return self._run("check", "rules", *map(str, paths))

    def test_rules(self, *paths: Path) -> PromtoolResult:
        return self._run("test", "rules", *map(str, paths))
