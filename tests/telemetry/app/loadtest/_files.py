"""Checks on written reports shared by the report, plot, merge and CLI tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import jsonschema

from telemetry.app.loadtest._report import SCHEMA_FILE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def valid_report(path: Path) -> dict[str, Any]:
    """report.json parsed and checked against the shipped JSON schema."""
    report: dict[str, Any] = json.loads(path.read_text())
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)
    return report


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk; AssertionError if not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height
