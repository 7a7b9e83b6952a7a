"""A process that runs a ReceiptService and feeds it records until it is signalled.

After every stored batch it prints `stored N` (N = receipts known committed), so the test knows
what must survive. SIGTERM stops the service gracefully; SIGKILL does not.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from receipts import ReceiptService
from tests.receipts._support import config, record


def main() -> None:
    service = ReceiptService(config(Path(sys.argv[1]), checkpoint_interval_seconds=0.1))
    service.start()
    terminated = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        # Only note it: stopping inside the handler could re-enter a lock `flush` holds.
        terminated.set()

    signal.signal(signal.SIGTERM, on_term)
    i = 0
    while not terminated.is_set():
        for _ in range(50):
            service.submit(record(i))
            i += 1
        if service.flush(10):
            print(f"stored {i}", flush=True)
    service.stop()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
