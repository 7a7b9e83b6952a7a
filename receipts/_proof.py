"""The offline proof of one log entry: C2SP tlog-proof@v1.

    c2sp.org/tlog-proof@v1
    extra <base64>            optional application data, NOT authenticated
    index <leaf index>
    <base64 hash>             inclusion path, leaf sibling first, one per line
    (blank line)
    <the signed checkpoint note, verbatim, with its log signature and any cosignatures>

Verification trusts only the signed checkpoint for the tree size and root; the path and the
index are checked against it, never the other way round.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from receipts._errors import FormatError, SignatureError
from receipts._keys import ED25519, VerifierKey, b64decode
from receipts._merkle import HASH_SIZE, leaf_hash, verify_inclusion
from receipts._note import Checkpoint, open_checkpoint

HEADER = "c2sp.org/tlog-proof@v1"
_MAX_PATH = 64
_MAX_INDEX = 2**63 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class TlogProof:
    """Inclusion of leaf `index` in the tree the signed `checkpoint` describes."""

    index: int
    path: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse a .tlog-proof file; FormatError names what is wrong."""
        split = data.find(b"\n\n")
        if split < 0:
            raise FormatError("tlog-proof is truncated: no blank line before the checkpoint")
        head, checkpoint = data[: split + 1], data[split + 2 :]
        if not checkpoint:
            raise FormatError("tlog-proof is truncated: no checkpoint")
        try:
            lines = head.decode("ascii")[:-1].split("\n")
        except UnicodeDecodeError:
            raise FormatError("tlog-proof header is not ASCII") from None
        if lines[0] != HEADER:
            raise FormatError(f"not a tlog-proof: the first line must be {HEADER}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = b64decode(rest.pop(0)[len("extra ") :], "tlog-proof extra data")
        if not rest or not rest[0].startswith("index "):
            raise FormatError("tlog-proof has no index line")
        index_text = rest.pop(0)[len("index ") :]
        if not _DECIMAL.fullmatch(index_text) or int(index_text) > _MAX_INDEX:
            raise FormatError(f"tlog-proof index {index_text!r} is not a decimal leaf index")
        if len(rest) > _MAX_PATH:
            raise FormatError(f"tlog-proof path is longer than {_MAX_PATH} hashes")
        path = []
        for line in rest:
            value = b64decode(line, "tlog-proof path")
            if len(value) != HASH_SIZE:
                raise FormatError(f"tlog-proof path hashes must be {HASH_SIZE} bytes")
            path.append(value)
        return cls(int(index_text), tuple(path), bytes(checkpoint), extra)

    def to_bytes(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.path)
        return ("".join(line + "\n" for line in lines) + "\n").encode() + self.checkpoint


def verify_tlog_proof(proof: TlogProof, entry: bytes, key: VerifierKey) -> Checkpoint:
    """Check that `entry` (the exact signed receipt bytes) is in the log `key` signs for.

    The checkpoint must be for origin `key.name` and carry a valid signature by `key`; the
    inclusion path is checked against that signed size and root. Returns the checkpoint.
    Raises FormatError, SignatureError or InclusionError naming the problem.
    """
    if key.type_byte != ED25519:
        raise SignatureError(f"{key.name} is a {key.kind} key, not a log signing key")
    checkpoint, _ = open_checkpoint(proof.checkpoint, [key], origin=key.name)
    verify_inclusion(leaf_hash(entry), proof.index, checkpoint.size, proof.path, checkpoint.root)
    return checkpoint
