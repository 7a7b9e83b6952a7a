"""The test doubles live in `exporters.testing`, and importing `exporters` alone stays free of
`pynvml` (whose import the NVML source defers until a sampler opens it)."""

import subprocess
import sys

import exporters
import exporters.testing as testing


def test_importing_exporters_does_not_import_pynvml() -> None:
    check = "import exporters, sys; assert 'pynvml' not in sys.modules, 'pynvml imported'"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_doubles_are_offered_here_and_not_by_the_package() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None
        assert not hasattr(exporters, name)
    reading = testing.fake_reading(2, power_watts=100.0)
    source = testing.FakeGpuSource([testing.fake_reading(0), reading])
    assert source.open().device_count == 2
    assert source.read(1) is reading
