"""Ed25519 keys: C2SP signed-note verifier key strings, the signer, and the private key file.

A verifier key string is `<name>+<key ID as 8 hex digits>+<base64(type byte || public key)>`; the
key ID is the first 4 bytes of SHA-256(name || "\\n" || type byte || public key). Base64 may hold
`+`, so only the first two `+` separate fields. Go's signer key strings
(`PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>`) are read by `parse_signer_key`.

The private key lives in a PEM PKCS#8 file created with mode 0600; a key file that group or
others may access is refused, the way ssh refuses such identity files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from receipts._errors import FormatError, KeyFileError, SignatureError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04

_KEY_TYPES = {ED25519: "ed25519", COSIGNATURE_V1: "cosignature/v1"}
_PUBLIC_KEY_SIZE = 32
_SIGNATURE_SIZE = 64


def key_id(name: str, type_byte: int, public_key: bytes) -> bytes:
    """The 4-byte C2SP key ID of a named key."""
    data = name.encode() + b"\n" + bytes([type_byte]) + public_key
    return hashlib.sha256(data).digest()[:4]


def check_key_name(name: str) -> None:
    """Raise FormatError unless `name` is a valid note key name (non-empty, no space, no `+`)."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise FormatError(f"invalid key name {name!r}: must be non-empty, no spaces and no '+'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise FormatError("invalid key name: contains control characters")


def b64decode(text: str, what: str) -> bytes:
    """Strict, canonical standard base64 (with padding); FormatError naming `what` otherwise.

    Canonical means unused trailing bits are zero, so each byte string has exactly one encoding
    and no byte of a signed artifact can change without changing what it decodes to.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FormatError(f"bad base64 in {what}") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise FormatError(f"bad base64 in {what}: not in canonical form")
    return data


def _parse_hex_id(text: str, what: str) -> bytes:
    if len(text) != 8 or any(c not in "0123456789abcdef" for c in text):
        raise FormatError(f"bad key ID in {what}: expected 8 lowercase hex digits")
    return bytes.fromhex(text)


@dataclass(frozen=True)
class VerifierKey:
    """A public key that checks note signatures: an Ed25519 log key or a cosignature/v1 key."""

    name: str
    key_id: bytes
    type_byte: int
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse a C2SP verifier key string; FormatError names what is wrong."""
        text = text.strip()
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise FormatError("bad verifier key: expected <name>+<hex8>+<base64>")
        name, hex_id, b64 = parts
        check_key_name(name)
        kid = _parse_hex_id(hex_id, "verifier key")
        raw = b64decode(b64, "verifier key")
        if not raw:
            raise FormatError("bad verifier key: no key type")
        type_byte, public_key = raw[0], raw[1:]
        if type_byte not in _KEY_TYPES:
            raise FormatError(f"unsupported verifier key type 0x{type_byte:02x}")
        if len(public_key) != _PUBLIC_KEY_SIZE:
            raise FormatError(f"bad verifier key: public key must be {_PUBLIC_KEY_SIZE} bytes")
        if key_id(name, type_byte, public_key) != kid:
            raise FormatError(f"bad verifier key: key ID {hex_id} does not match the key")
        return cls(name, kid, type_byte, public_key)

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([self.type_byte]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"

    @property
    def kind(self) -> str:
        """`ed25519` or `cosignature/v1`."""
        return _KEY_TYPES.get(self.type_byte, f"0x{self.type_byte:02x}")

    @cached_property
    def _ed25519(self) -> Ed25519PublicKey:
        # Loaded once: an audit checks a million signatures with one key.
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check a raw Ed25519 signature over `message`; SignatureError if it does not hold."""
        if len(signature) != _SIGNATURE_SIZE:
            raise SignatureError(f"signature by {self.name} has the wrong length")
        try:
            self._ed25519.verify(signature, message)
        except (InvalidSignature, ValueError):
            raise SignatureError(f"signature by {self.name} does not verify") from None


class _NoteSigner:
    """An Ed25519 private key with its note key name, signing as key type `TYPE`."""

    TYPE: ClassVar[int]

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        check_key_name(name)
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes_raw()
        self.name = name
        self.key_id = key_id(name, self.TYPE, self._public_key)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature over `message`."""
        return self._private_key.sign(message)

    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_id, self.TYPE, self._public_key)


class Signer(_NoteSigner):
    """An Ed25519 private key together with its note key name (the log origin)."""

    TYPE = ED25519


def _parse_private_key_string(text: str, type_byte: int) -> tuple[Ed25519PrivateKey, str]:
    """The key and name of `PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>`."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise FormatError("bad signer key: expected PRIVATE+KEY+<name>+<hex8>+<base64>")
    _, _, name, hex_id, b64 = parts
    check_key_name(name)
    kid = _parse_hex_id(hex_id, "signer key")
    raw = b64decode(b64, "signer key")
    if len(raw) != 1 + 32 or raw[0] != type_byte:
        raise FormatError(
            f"bad signer key: expected the {_KEY_TYPES[type_byte]} type byte and a 32-byte seed"
        )
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_id(name, type_byte, private_key.public_key().public_bytes_raw()) != kid:
        raise FormatError(f"bad signer key: key ID {hex_id} does not match the key")
    return private_key, name


def parse_signer_key(text: str) -> Signer:
    """Read Go's `PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>` signer key string."""
    return Signer(*_parse_private_key_string(text, ED25519))


class Cosigner(_NoteSigner):
    """A witness's Ed25519 key used for tlog-cosignature/v1 (key type 0x04) and its name.

    Its key file holds the signer key string `PRIVATE+KEY+<name>+<hex8>+<base64(0x04 || seed)>`
    (mode 0600), so the name travels with the key and it cannot pass for a log signing key.
    """

    TYPE = COSIGNATURE_V1

    def key_string(self) -> str:
        seed = self._private_key.private_bytes_raw()
        b64 = base64.b64encode(bytes([COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64}"


def generate_cosigner_file(path: Path, name: str) -> Cosigner:
    """Create a new witness key named `name` at `path` (mode 0600); never overwrites."""
    cosigner = Cosigner(Ed25519PrivateKey.generate(), name)
    _write_private_file(path, (cosigner.key_string() + "\n").encode())
    return cosigner


def load_cosigner_file(path: Path) -> Cosigner:
    """The witness key at `path`, refusing files that group or others can access."""
    data = _read_private_file(path, "receipts witness keygen")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {path} is not a witness key") from None
    try:
        return Cosigner(*_parse_private_key_string(text, COSIGNATURE_V1))
    except FormatError as exc:
        raise KeyFileError(f"key file {path}: {exc}") from None


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 key as PEM PKCS#8 at `path`, mode 0600; never overwrites.

    A missing parent directory is created with mode 0700. KeyFileError if the file exists or
    cannot be written.
    """
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private_file(path, pem)
    return private_key


def _write_private_file(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; not overwriting it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from None
    os.close(fd)


def _read_private_file(path: Path, create_with: str) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} does not exist; create one with `{create_with}`"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"key file {path} has mode {mode:04o} and is accessible by group or others; "
            f"run `chmod 600 {path}`"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """Load the Ed25519 key at `path`, refusing files that group or others can access."""
    data = _read_private_file(path, "receipts keygen")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"key file {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} does not hold an Ed25519 key")
    return key
