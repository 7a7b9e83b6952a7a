"""The project's witness in a process that SIGKILLs itself right after persisting a new state,
before answering, when the file named by `argv[4]` exists (it is removed first, so the restarted
witness runs normally). Arguments: key file, log verifier key, state directory, crash marker,
port."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from receipts._keys import VerifierKey, load_cosigner_file
from receipts._witness import Cosigned, DirectoryState, Witness
from receipts._witness_server import serve
from telemetry.core._runtime import run


class CrashAfterSave(DirectoryState):
    def __init__(self, root: Path, marker: Path) -> None:
        super().__init__(root)
        self._marker = marker

    def save(self, origin: str, state: Cosigned) -> None:
        super().save(origin, state)
        if self._marker.exists():
            self._marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    key, log_key, state, marker, port = sys.argv[1:6]
    witness = Witness(
        load_cosigner_file(Path(key)),
        [VerifierKey.parse(log_key)],
        CrashAfterSave(Path(state), Path(marker)),
    )
    run(serve(witness, "127.0.0.1", int(port), lambda _: print("ready", flush=True)))


if __name__ == "__main__":
    main()
