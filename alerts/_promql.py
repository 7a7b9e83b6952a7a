"""Small PromQL helpers: durations, `le` matchers, and the metric names an expression reads.

`metric_names` is a tokenizer, not a parser: it is enough to list the series names used by the
expressions this project generates (and by hand-written ones in the same style), so that tests
can compare them with what the sidecar exports.
"""

from __future__ import annotations

import re

from alerts._errors import SettingsError

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: float) -> str:
    """`3600` → `"1h"`, `90` → `"1m30s"`; whole seconds only, as Prometheus rule files want."""
    if seconds <= 0 or seconds != int(seconds):
        raise SettingsError(f"duration must be a positive whole number of seconds, got {seconds}")
    rest = int(seconds)
    parts = []
    for suffix, size in _UNITS:
        if rest >= size:
            parts.append(f"{rest // size}{suffix}")
            rest %= size
    return "".join(parts)


def le_matcher(bound: float) -> str:
    """A regex matching a bucket edge however the client formatted it (`15`, `15.0`)."""
    text = repr(float(bound))
    if text.endswith(".0"):
        text = text[:-2]
    escaped = text.replace(".", "\\\\.")
    return f'le=~"{escaped}(\\\\.0+)?"' if "e" not in text else f'le="{text}"'


_KEYWORDS = frozenset(
    """
    and or unless by without on ignoring group_left group_right bool offset
    sum min max avg group stddev stdvar count count_values bottomk topk quantile
    inf nan
    """.split()
)
_TOKEN = re.compile(
    r"""
    "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*' | `[^`]*`   # strings
    | \{[^}]*\}                                       # label matchers
    | \[[^\]]*\]                                      # range and subquery selectors
    | \d[\w.]*                                        # numbers and durations
    | [A-Za-z_:][A-Za-z0-9_:]*                        # identifiers
    | \S                                              # anything else, one character
    """,
    re.VERBOSE,
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\Z")


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (functions, keywords and label names excluded)."""
    tokens = _TOKEN.findall(expr)
    names: set[str] = set()
    depth_after_grouping: list[int] = []
    depth = 0
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "(":
            depth += 1
            continue
        if token == ")":
            depth -= 1
            if depth_after_grouping and depth_after_grouping[-1] == depth:
                depth_after_grouping.pop()
            continue
        if depth_after_grouping:
            continue
        if not _IDENT.match(token):
            continue
        lowered = token.lower()
        if lowered in {"by", "without", "on", "ignoring", "group_left", "group_right"}:
            if following == "(":
                depth_after_grouping.append(depth)
            continue
        if lowered in _KEYWORDS or following == "(":
            continue
        previous = tokens[index - 1] if index else ""
        if previous == "offset":
            continue
        names.add(token)
    return names
