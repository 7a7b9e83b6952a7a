"""Exceptions of the receipts package.

ReceiptsError
├── FormatError            malformed input: bad base64, truncated proof, bad key string, bad JSON
├── VerificationError      something did not verify; the message says what
│   ├── InclusionError     a leaf is not in the tree the proof claims
│   ├── ConsistencyError   a tree is not an extension of an older one
│   ├── SignatureError     a signature is missing, unknown or wrong
│   ├── QuorumError        fewer valid witness cosignatures than the policy's quorum
│   ├── CommitmentError    a receipt does not commit to the bytes (or the salt) at hand
│   ├── UnknownReceiptError  no receipt with this request ID and salt (the same for both)
│   ├── NotCoveredError    the receipt exists; no signed checkpoint covers it yet
│   └── BillingError       a Golem bill claims more than the signed receipts show
├── FetchError             the sidecar could not be asked (unreachable, refused, not answering)
├── KeyFileError           key file missing, unreadable, invalid or readable by group/others
└── StoreError             database missing, corrupt, locked or out of space
    ├── StoreLockedError   another process (a running sidecar) holds the database
    └── StoreRefusedError  the database refuses a row for its content (a constraint or
                           conversion error): writing the same rows again cannot succeed
"""


class ReceiptsError(Exception):
    """Root of every error the receipts package raises on purpose."""


class FormatError(ReceiptsError):
    pass


class VerificationError(ReceiptsError):
    pass


class InclusionError(VerificationError):
    pass


class ConsistencyError(VerificationError):
    pass


class SignatureError(VerificationError):
    pass


class QuorumError(VerificationError):
    """A checkpoint carries `found` valid witness cosignatures; the policy wants `required`."""

    def __init__(self, message: str, *, found: int, required: int) -> None:
        super().__init__(message)
        self.found = found
        self.required = required


class CommitmentError(VerificationError):
    pass


class UnknownReceiptError(VerificationError):
    pass


class NotCoveredError(VerificationError):
    pass


class BillingError(VerificationError):
    pass


class FetchError(ReceiptsError):
    pass


class KeyFileError(ReceiptsError):
    pass


class StoreError(ReceiptsError):
    pass


class StoreLockedError(StoreError):
    """Another process (a running sidecar) holds the database."""


class StoreRefusedError(StoreError):
    pass
