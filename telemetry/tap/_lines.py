"""Bounded line splitting for NDJSON and SSE bodies.

Network reads cut a body anywhere: mid-line, mid-UTF-8 sequence, or several lines at once. The
splitter keeps only the unfinished tail of the current line, and stops keeping even that once
the line grows past the cap: an over-long line is dropped whole, so memory per stream stays
bounded whatever the upstream sends.
"""

from __future__ import annotations


class LineSplitter:
    """Turns arbitrary chunks into complete `\\n`-terminated lines (terminator removed)."""

    __slots__ = ("_buf", "_max", "_skipping", "skipped")

    def __init__(self, max_line_bytes: int) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self._max = max_line_bytes
        self._buf = bytearray()
        self._skipping = False
        self.skipped = 0
        """Lines dropped for being longer than `max_line_bytes`."""

    def split(self, data: bytes) -> list[bytes]:
        """The lines that `data` completes, in order; the unfinished rest is kept for later."""
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            if self._skipping:
                self._skipping = False
                del lines[0]
            elif self._buf:
                self._buf += lines[0]
                lines[0] = bytes(self._buf)
                self._buf.clear()
            if len(lines) == 1:
                if len(lines[0]) > self._max:
                    self.skipped += 1
                    lines = []
            elif lines:
                kept = [line for line in lines if len(line) <= self._max]
                self.skipped += len(lines) - len(kept)
                lines = kept
        if rest:
            self._keep(rest)
        return lines

    def tail(self) -> bytes | None:
        """The unterminated last line at end of body, or None when there is none."""
        if self._skipping or not self._buf:
            return None
        line = bytes(self._buf)
        self._buf.clear()
        return line

    def _keep(self, rest: bytes) -> None:
        if self._skipping:
            return
        if len(self._buf) + len(rest) > self._max:
            self._buf.clear()
            self._skipping = True
            self.skipped += 1
        else:
            self._buf += rest
