"""Exceptions of the receipts package.

ReceiptsError
├── FormatError            malformed input: bad base64, truncated proof, bad key string, bad JSON
├── VerificationError      something did not verify; the message says what
│   ├── InclusionError     a leaf is not in the tree the proof claims
│   ├── ConsistencyError   a tree is not an extension of an older one
│   └── SignatureError     a signature is missing, unknown or wrong
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


class KeyFileError(ReceiptsError):
    pass


class StoreError(ReceiptsError):
    pass


class StoreLockedError(StoreError):
    """Another process (a running sidecar) holds the database."""


class StoreRefusedError(StoreError):
    pass
