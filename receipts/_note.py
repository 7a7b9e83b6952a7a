"""C2SP signed notes, tlog checkpoints and tlog-cosignature/v1 witness signatures.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
`— <key name> <base64(4-byte key ID || payload)>`. The last blank line separates the two. Verifiers
match signatures to keys by (name, key ID) as Go's `sumdb/note` does: unknown signers are ignored,
a known key whose signature fails rejects the note, and at least one known key must verify.

A checkpoint is the note text `<origin>\\n<size>\\n<base64 root>\\n[extension lines]`. A witness
cosignature (key type 0x04) signs `cosignature/v1\\ntime <t>\\n` + the checkpoint text, and its
payload is an 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from receipts._errors import FormatError, SignatureError
from receipts._keys import COSIGNATURE_V1, ED25519, Signer, VerifierKey, b64decode, check_key_name
from receipts._merkle import HASH_SIZE

_DASH = "\u2014"
_MAX_SIGNATURES = 100
_MAX_TIMESTAMP = 2**63 - 1
_MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the bytes after the key ID."""

    name: str
    key_id: bytes
    payload: bytes

    def to_line(self) -> str:
        b64 = base64.b64encode(self.key_id + self.payload).decode()
        return f"{_DASH} {self.name} {b64}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    if _CONTROL.search(text):
        raise FormatError("note text contains control characters")


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH + " "):
        raise FormatError("malformed note signature line: must start with an em dash")
    fields = line[2:].split(" ")
    if len(fields) != 2:
        raise FormatError("malformed note signature line: expected a key name and a signature")
    name, b64 = fields
    check_key_name(name)
    raw = b64decode(b64, f"signature by {name}")
    if len(raw) < 5:
        raise FormatError(f"signature by {name} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class SignedNote:
    """A note's text (including its final newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: bytes) -> SignedNote:
        """Parse note bytes; FormatError if they are not a well-formed signed note."""
        try:
            whole = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("note is not valid UTF-8") from None
        split = whole.rfind("\n\n")
        if split < 0:
            raise FormatError("note has no blank line before its signatures")
        text, sigs = whole[: split + 1], whole[split + 2 :]
        _check_text(text)
        if not sigs.endswith("\n") or _CONTROL.search(sigs):
            raise FormatError("note signatures must be complete lines")
        lines = sigs[:-1].split("\n")
        if len(lines) > _MAX_SIGNATURES:
            raise FormatError(f"note has more than {_MAX_SIGNATURES} signatures")
        return cls(text, tuple(_parse_signature_line(line) for line in lines))

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.to_line() for s in self.signatures)).encode()


def sign_note(text: str, signer: Signer) -> SignedNote:
    """Sign `text` (which must end with a newline) with an Ed25519 note signature."""
    _check_text(text)
    signature = NoteSignature(signer.name, signer.key_id, signer.sign(text.encode()))
    return SignedNote(text, (signature,))


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 witness signs for checkpoint `text` at Unix time `timestamp`."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _verify_one(key: VerifierKey, text: str, sig: NoteSignature) -> None:
    if key.type_byte == ED25519:
        key.verify(text.encode(), sig.payload)
    elif key.type_byte == COSIGNATURE_V1:
        if len(sig.payload) != 8 + 64:
            raise SignatureError(f"cosignature by {key.name} has the wrong length")
        timestamp = int.from_bytes(sig.payload[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise SignatureError(f"cosignature by {key.name} has an invalid timestamp")
        key.verify(cosignature_message(text, timestamp), sig.payload[8:])
    else:
        raise SignatureError(f"key {key.name} has unsupported type 0x{key.type_byte:02x}")


def verify_note(note: SignedNote, keys: Sequence[VerifierKey]) -> list[VerifierKey]:
    """The keys among `keys` whose signatures on `note` verify.

    Signatures by unknown keys are ignored. SignatureError if a known key's signature fails or
    if no known key signed the note.
    """
    by_id = {(k.name, k.key_id): k for k in keys}
    verified: list[VerifierKey] = []
    for sig in note.signatures:
        key = by_id.get((sig.name, sig.key_id))
        if key is None:
            continue
        try:
            _verify_one(key, note.text, sig)
        except SignatureError as exc:
            raise SignatureError(f"note signature by {key} does not verify: {exc}") from None
        if key not in verified:
            verified.append(key)
    if not verified:
        names = ", ".join(sorted({s.name for s in note.signatures}))
        raise SignatureError(f"no known key signed this note (signed by: {names})")
    return verified


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text; FormatError names the bad line."""
        _check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise FormatError("checkpoint needs an origin, a size and a root line")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise FormatError("checkpoint origin is empty")
        if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
            raise FormatError(f"checkpoint size {size_text!r} is not a decimal tree size")
        root = b64decode(root_text, "checkpoint root")
        if len(root) != HASH_SIZE:
            raise FormatError(f"checkpoint root must be {HASH_SIZE} bytes")
        if any(not line for line in extensions):
            raise FormatError("checkpoint extension lines must not be empty")
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The signed note bytes of `checkpoint`; the key name must be the checkpoint's origin."""
    if signer.name != checkpoint.origin:
        raise ValueError(f"key {signer.name!r} cannot sign for origin {checkpoint.origin!r}")
    return sign_note(checkpoint.to_text(), signer).to_bytes()


def open_checkpoint(
    note: bytes, keys: Sequence[VerifierKey], origin: str | None = None
) -> tuple[Checkpoint, list[VerifierKey]]:
    """Parse and verify a signed checkpoint: (checkpoint, keys that signed it).

    FormatError for malformed notes; SignatureError if a known key fails, none verified, or the
    origin differs from `origin` when one is required.
    """
    signed = SignedNote.parse(note)
    checkpoint = Checkpoint.from_text(signed.text)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint, verify_note(signed, keys)
