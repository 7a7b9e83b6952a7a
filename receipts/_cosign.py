"""Witness cosignatures on checkpoints: making them, merging them, and the k-of-n policy.

A witness policy is a set of cosignature/v1 verifier keys and a quorum: a checkpoint passes when
at least `quorum` of those keys cosigned it (tlog-cosignature/v1, key type 0x04). Signatures by
other keys are ignored; a cosignature by a listed key that does not verify fails the checkpoint
(as a signed note with a bad known signature is malformed). The CLI, the monitor and the
requestor API all call `verify_cosignatures`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from receipts._errors import FormatError, QuorumError
from receipts._keys import COSIGNATURE_V1, Cosigner, VerifierKey
from receipts._note import NoteSignature, SignedNote, cosignature_message, verify_note


def cosign(text: str, cosigner: Cosigner, timestamp: int) -> NoteSignature:
    """The tlog-cosignature/v1 signature line of `cosigner` on checkpoint `text` at `timestamp`."""
    payload = timestamp.to_bytes(8, "big") + cosigner.sign(cosignature_message(text, timestamp))
    return NoteSignature(cosigner.name, cosigner.key_id, payload)


def parse_signature_lines(data: bytes) -> list[NoteSignature]:
    """The note signature lines of a witness answer; FormatError if they are not that."""
    if not data.endswith(b"\n"):
        raise FormatError("signature lines must end with a newline")
    # Parsed as the signatures of a throwaway note, by the one note parser.
    return list(SignedNote.parse(b"x\n\n" + data).signatures)


def add_signatures(note: bytes, signatures: Iterable[NoteSignature]) -> bytes:
    """`note` with `signatures` appended, skipping any (name, key ID) it already carries."""
    signed = SignedNote.parse(note)
    have = {(s.name, s.key_id) for s in signed.signatures}
    extra = []
    for sig in signatures:
        if (sig.name, sig.key_id) not in have:
            have.add((sig.name, sig.key_id))
            extra.append(sig)
    return SignedNote(signed.text, (*signed.signatures, *extra)).to_bytes()


def verify_cosignatures(
    note: bytes, witness_keys: Sequence[VerifierKey], quorum: int
) -> list[VerifierKey]:
    """The witness keys whose valid cosignatures `note` carries; at least `quorum` of them.

    Raises `QuorumError` (with `.found` and `.required`) when fewer than `quorum` witnesses
    cosigned, also when `quorum` exceeds the number of keys given; `SignatureError` when a
    listed witness's cosignature does not verify; `FormatError` for a malformed note or a key
    that is not a cosignature/v1 key.
    """
    for key in witness_keys:
        if key.type_byte != COSIGNATURE_V1:
            raise FormatError(f"witness key {key.name} is a {key.kind} key, not cosignature/v1")
    if quorum < 0:
        raise FormatError("the witness quorum must be 0 or more")
    signed = SignedNote.parse(note)
    known = {(k.name, k.key_id) for k in witness_keys}
    cosigned = any((s.name, s.key_id) in known for s in signed.signatures)
    # verify_note raises SignatureError when a listed witness's cosignature fails.
    found = verify_note(signed, witness_keys) if cosigned else []
    if len(found) < quorum:
        names = ", ".join(k.name for k in found) or "none"
        beyond = (
            f" (only {len(witness_keys)} witness keys given)" if quorum > len(witness_keys) else ""
        )
        raise QuorumError(
            f"checkpoint has {len(found)} valid witness cosignatures ({names}), "
            f"quorum is {quorum}{beyond}",
            found=len(found),
            required=quorum,
        )
    return found


@dataclass(frozen=True)
class WitnessPolicy:
    """At least `quorum` of `keys` must have cosigned a checkpoint; the empty policy passes all."""

    keys: tuple[VerifierKey, ...] = ()
    quorum: int = 0

    @classmethod
    def parse(cls, keys: Sequence[VerifierKey | str], quorum: int | None) -> WitnessPolicy:
        """From verifier keys or their strings; the quorum defaults to every key given."""
        parsed = tuple(k if isinstance(k, VerifierKey) else VerifierKey.parse(k) for k in keys)
        return cls(parsed, len(parsed) if quorum is None else quorum)

    def check(self, note: bytes) -> list[VerifierKey]:
        """The witnesses that cosigned `note`; QuorumError when fewer than `quorum` did."""
        return verify_cosignatures(note, self.keys, self.quorum)


NO_WITNESSES = WitnessPolicy()
