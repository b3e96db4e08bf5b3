"""A small SMTP server on 127.0.0.1 (port 0) that keeps what it accepts, counted by Message-ID.

It speaks enough of RFC 5321 for Django's SMTP backend (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT; no TLS, no AUTH). Tests steer it with `fail(n, code)` (refuse the next n messages at the end
of DATA with a 4xx/5xx reply) and read `messages` / `by_message_id()`.
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
import time
from collections import Counter
from dataclasses import dataclass


@dataclass
class Accepted:
    sender: str
    recipients: list[str]
    message_id: str
    subject: str
    body: str


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        try:
            self._converse()
        except OSError:
            return  # the client went away (a killed worker)

    def _converse(self) -> None:
        self.reply("220 emulator ESMTP ready")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-emulator\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                self.wfile.flush()
            elif verb == "HELO":
                self.reply("250 emulator")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.reply(self.server.emulator.receive(sender, recipients, self._read_data()))
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def _read_data(self) -> bytes:
        lines = []
        while True:
            raw = self.rfile.readline()
            if not raw:  # the client went away mid-message: a server keeps nothing of it
                raise ConnectionAbortedError("connection closed inside DATA")
            if raw in (b".\r\n", b".\n"):
                return b"".join(lines)
            lines.append(raw[1:] if raw.startswith(b"..") else raw)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: SmtpEmulator


class SmtpEmulator:
    """`with SmtpEmulator() as smtp:` serves on smtp.port until the block ends."""

    def __init__(self) -> None:
        self.messages: list[Accepted] = []
        self._failures: list[int] = []
        self.delay = 0.0  # seconds spent on each message before answering DATA
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.emulator = self
        self.port = self._server.server_address[1]

    def fail(self, count: int, code: int = 451) -> None:
        with self._lock:
            self._failures = [code] * count

    def receive(self, sender: str, recipients: list[str], data: bytes) -> str:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self._failures:
                code = self._failures.pop(0)
                return f"{code} {'Try again later' if code < 500 else 'Message refused'}"
            parsed = email.message_from_bytes(data, policy=email.policy.default)
            body = parsed.get_body(preferencelist=("plain",))
            self.messages.append(
                Accepted(
                    sender=sender,
                    recipients=recipients,
                    message_id=str(parsed["Message-ID"] or ""),
                    subject=str(parsed["Subject"] or ""),
                    body=body.get_content() if body is not None else "",
                )
            )
            return "250 OK: queued"

    def by_message_id(self) -> Counter[str]:
        with self._lock:
            return Counter(message.message_id for message in self.messages)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpEmulator:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
