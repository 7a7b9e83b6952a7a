from __future__ import annotations

import shutil

import pytest

from alerts import Promtool


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return Promtool()
