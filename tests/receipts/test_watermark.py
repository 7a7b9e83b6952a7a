"""The writer's durable count next to the database: written whole, read back, refused if not one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from receipts._errors import StoreError
from receipts._watermark import WATERMARK_FILE, Watermark, read_watermark, write_watermark


def test_a_watermark_is_replaced_whole_and_read_back(tmp_path: Path) -> None:
    assert read_watermark(tmp_path) is None
    write_watermark(tmp_path, Watermark(stored=80, refused=1, dropped=2))
    write_watermark(tmp_path, Watermark(stored=81, refused=1, dropped=2))
    assert read_watermark(tmp_path) == Watermark(stored=81, refused=1, dropped=2)
    assert stat.S_IMODE((tmp_path / WATERMARK_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [WATERMARK_FILE]  # no temporary left


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"stored": -1, "refused": 0, "dropped": 0}', '{"stored": "80"}', "{" * 100_000],
)
def test_a_file_that_is_not_a_watermark_is_a_store_error(tmp_path: Path, text: str) -> None:
    (tmp_path / WATERMARK_FILE).write_text(text)
    with pytest.raises(StoreError, match="not a receipts watermark"):
        read_watermark(tmp_path)
