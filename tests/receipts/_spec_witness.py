"""A second witness, written only from the text of C2SP tlog-witness v1.0.0, tlog-cosignature
v1 (Ed25519), signed-note and RFC 9162 §2.1.4: it shares no code with `receipts`, so a bug that
both sides share cannot make the interoperability tests pass. It runs on `http.server` in a
thread; state is in memory (the crash tests use the project's witness).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DASH = "\u2014"


def _kid(name: str, sig_type: int, key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + key).digest()[:4]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _consistent(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step by step."""
    if m == n:
        return not proof and old == new
    if m == 0 or m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old, *proof]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old and sr == new


class SpecWitness:
    def __init__(self, name: str, log_vkey: str) -> None:
        self.name = name
        self._private = Ed25519PrivateKey.generate()
        public = self._private.public_key().public_bytes_raw()
        self._kid = _kid(name, 0x04, public)
        encoded = base64.b64encode(b"\x04" + public).decode()
        self.vkey = f"{name}+{self._kid.hex()}+{encoded}"
        log_name, log_kid, log_key = log_vkey.split("+", 2)
        raw = base64.b64decode(log_key)
        assert raw[0] == 0x01
        self._log = (log_name, bytes.fromhex(log_kid), Ed25519PublicKey.from_public_bytes(raw[1:]))
        self.size, self.root = 0, hashlib.sha256(b"").digest()
        self._lock = threading.Lock()
        self.answers: list[int] = []

    def handle(self, body: bytes) -> tuple[int, str, bytes]:
        status, ctype, out = self._handle(body)
        self.answers.append(status)
        return status, ctype, out

    def _handle(self, body: bytes) -> tuple[int, str, bytes]:
        try:
            head, checkpoint = body.split(b"\n\n", 1)
            lines = head.decode().split("\n")
            assert lines[0].startswith("old ")
            old = int(lines[0][4:])
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
            assert len(proof) <= 63
            text_end = checkpoint.rindex(b"\n\n") + 1
            text = checkpoint[:text_end].decode()
            sig_lines = checkpoint[text_end + 1 :].decode().split("\n")[:-1]
            origin, size_text, root_text = text.split("\n")[:3]
            size, root = int(size_text), base64.b64decode(root_text)
        except (ValueError, AssertionError, UnicodeDecodeError):
            return 400, "text/plain", b"bad request\n"
        name, kid, key = self._log
        if origin != name:
            return 404, "text/plain", b"unknown log\n"
        verified = False
        for line in sig_lines:
            _, signer, b64 = line.split(" ")
            raw = base64.b64decode(b64)
            if signer == name and raw[:4] == kid:
                try:
                    key.verify(raw[4:], text.encode())
                except InvalidSignature:
                    return 403, "text/plain", b"bad log signature\n"
                verified = True
        if not verified:
            return 403, "text/plain", b"no log signature\n"
        if old > size:
            return 400, "text/plain", b"old > size\n"
        with self._lock:
            if old != self.size:
                return 409, "text/x.tlog.size", f"{self.size}\n".encode()
            if size == 0 and root != hashlib.sha256(b"").digest():
                return 422, "text/plain", b"size 0 needs the empty root\n"
            if old == 0 and proof:
                return 422, "text/plain", b"proof from 0 must be empty\n"
            if old and not _consistent(old, size, self.root, root, proof):
                return 422, "text/plain", b"inconsistent\n"
            self.size, self.root = size, root
        stamp = int(time.time())
        message = f"cosignature/v1\ntime {stamp}\n".encode() + text.encode()
        payload = self._kid + stamp.to_bytes(8, "big") + self._private.sign(message)
        return (
            200,
            "text/plain",
            f"{DASH} {self.name} {base64.b64encode(payload).decode()}\n".encode(),
        )


class SpecWitnessServer:
    """Serves `POST /add-checkpoint` on 127.0.0.1 (an ephemeral port) until `close`."""

    def __init__(self, witness: SpecWitness) -> None:
        spec = witness

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/add-checkpoint":
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, ctype, out = spec.handle(body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
