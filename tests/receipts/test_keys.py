"""Verifier key strings, Go signer key strings, the signer and the key file rules."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receipts._errors import FormatError, KeyFileError, SignatureError
from receipts._keys import (
    COSIGNATURE_V1,
    ED25519,
    Signer,
    VerifierKey,
    b64decode,
    generate_key_file,
    key_id,
    load_key_file,
    parse_signer_key,
)

EXAMPLE_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"


@pytest.mark.parametrize("text", [EXAMPLE_KEY, PETER_KEY, ENOCH_KEY])
def test_verifier_key_round_trip(text: str) -> None:
    key = VerifierKey.parse(text)
    assert str(key) == text
    assert key.type_byte == ED25519
    assert key.kind == "ed25519"
    assert len(key.public_key) == 32
    assert key.key_id == key_id(key.name, ED25519, key.public_key)


def test_verifier_key_fields() -> None:
    key = VerifierKey.parse(EXAMPLE_KEY)
    assert key.name == "example.com/foo"
    assert key.key_id == bytes.fromhex("530d903a")


def test_go_signer_key_matches_its_verifier() -> None:
    # The base64 part of this signer key contains a '+': split into at most five fields.
    signer = parse_signer_key(PETER_SIGNER)
    assert signer.name == "PeterNeumann"
    assert str(signer.verifier()) == PETER_KEY


def test_cosignature_key_id_uses_type_4() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key().public_bytes_raw()
    kid = key_id("witness.example", COSIGNATURE_V1, public)
    b64 = base64.b64encode(bytes([COSIGNATURE_V1]) + public).decode()
    assert b64.startswith("B")
    key = VerifierKey.parse(f"witness.example+{kid.hex()}+{b64}")
    assert key.kind == "cosignature/v1"
    assert key.key_id != key_id("witness.example", ED25519, public)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected"),
        ("example.com/foo+530d903a", "expected"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
        ("bad name+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
        ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key ID"),
        ("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key ID"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "base64"),
        ("example.com/foo+530d903a+A!kyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "base64"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv", "32 bytes"),
        ("example.com/foo+530d903a+AekzeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+", "no key type"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x02"),
    ],
)
def test_verifier_key_rejects_bad_strings(text: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        VerifierKey.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "PRIVATE+KEY+PeterNeumann+c74f20a3",
        "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKD",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ],
)
def test_signer_key_rejects_bad_strings(text: str) -> None:
    with pytest.raises(FormatError):
        parse_signer_key(text)


def test_signer_signs_and_verifier_checks() -> None:
    signer = Signer(Ed25519PrivateKey.generate(), "receipts.example/provider")
    key = signer.verifier()
    assert key.key_id == signer.key_id
    sig = signer.sign(b"message")
    key.verify(b"message", sig)
    with pytest.raises(SignatureError, match="does not verify"):
        key.verify(b"messagE", sig)
    with pytest.raises(SignatureError, match="wrong length"):
        key.verify(b"message", sig[:-1])
    other = Signer(Ed25519PrivateKey.generate(), "receipts.example/provider").verifier()
    with pytest.raises(SignatureError):
        other.verify(b"message", sig)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname"])
def test_signer_rejects_bad_names(name: str) -> None:
    with pytest.raises(FormatError):
        Signer(Ed25519PrivateKey.generate(), name)


def test_generate_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "provider.pem"
    old_umask = os.umask(0)
    try:
        key = generate_key_file(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_key_file(path)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()


def test_generate_key_file_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "provider.pem"
    first = generate_key_file(path)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(path)
    assert load_key_file(path).private_bytes_raw() == first.private_bytes_raw()


def test_load_refuses_world_readable_key(tmp_path: Path) -> None:
    path = tmp_path / "provider.pem"
    generate_key_file(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"mode 0644 .*chmod 600"):
        load_key_file(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="group or others"):
        load_key_file(path)


def test_load_reports_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key_file(tmp_path / "absent.pem")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key_file(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_key_file(garbage)


def test_load_refuses_non_ed25519_keys(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="Ed25519"):
        load_key_file(path)


def test_non_canonical_base64_is_refused() -> None:
    # "QQ==" and "QR==" both decode to b"A" in lenient decoders (the unused low bits differ),
    # so a changed byte could go unnoticed in a signature or a proof.
    assert b64decode("QQ==", "test") == b"A"
    with pytest.raises(FormatError, match="canonical"):
        b64decode("QR==", "test")
    with pytest.raises(FormatError, match="canonical"):
        b64decode("QUI=".replace("I=", "J="), "test")
