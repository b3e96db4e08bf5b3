"""A small threaded HTTP server with routing and fault injection, shared by every emulator.

An emulator subclasses `Emulator`, registers routes with `@route("GET", r"/api/v1/groups/(?P<gid>[^/]+)")`
and returns `Reply` objects. Tests steer it with `throttle(n)`, `fail(n)`, `latency` and read
`calls` to see what the client really sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> sent as is; None -> no body
    headers: dict[str, str | list[str]] = field(default_factory=dict)  # a list: one header line per value
    content_type: str | None = "application/json"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)
    status: int | None = None  # what it was answered, once answered
    answered_at: float | None = None  # when the answer was ready (epoch seconds), once answered

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Incoming:
    """What a route handler receives."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


Handler = Callable[["Emulator", Incoming], Reply]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark an emulator method as the handler of `method` requests whose path matches `pattern`."""

    def mark(func: Handler) -> Handler:
        func._route = (method.upper(), re.compile(f"^{pattern}$"))  # type: ignore[attr-defined]
        return func

    return mark


class Emulator:
    """Base class. Subclasses add routes, state, and the provider's error shapes."""

    #: paths that injected throttles and failures never hit (e.g. a token endpoint beside the API)
    unfaulted_paths: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.latency: float = 0.0  # seconds added to every request
        self.in_flight = 0  # requests being answered right now
        self.max_in_flight = 0  # the most answered at once since start
        self._throttle_left = 0
        self._fail_left = 0
        self._fail_status = 503
        self._path_faults: list[list] = []  # [pattern, requests left, status]
        self._routes = [
            (*getattr(self, name)._route, getattr(self, name))
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "_route")
        ]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- fault injection -------------------------------------------------------------------
    def throttle(self, count: int) -> None:
        """The next `count` requests answer 429 with the provider's rate-limit headers."""
        with self.lock:
            self._throttle_left = count

    def fail(self, count: int, status: int = 503) -> None:
        """The next `count` requests answer `status` (a 5xx) with the provider's error body."""
        with self.lock:
            self._fail_left = count
            self._fail_status = status

    def fail_path(self, path_regex: str, count: int, status: int = 503) -> None:
        """The next `count` requests whose path matches `path_regex` answer `status` (429: the
        provider's throttled reply), whatever else is asked meanwhile."""
        with self.lock:
            self._path_faults.append([re.compile(path_regex), count, status])

    def throttled_reply(self) -> Reply:
        """Override: the provider's 429 (headers and body)."""
        return Reply(429, {"error": "too many requests"}, {"Retry-After": "1"})

    def error_reply(self, status: int, message: str) -> Reply:
        """Override: the provider's error body for `status`."""
        return Reply(status, {"error": message})

    def before_request(self, incoming: Incoming) -> Reply | None:
        """Override for auth checks or rate accounting; a Reply here short-circuits the route."""
        return None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are written separately: without TCP_NODELAY a keep-alive client
            # waits on delayed ACKs (~40 ms a request).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                emulator._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- dispatch -------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        query = parse_qs(parts.query, keep_blank_values=True)
        method = handler.command.upper()
        call = Call(method, parts.path, query, headers, body)
        with self.lock:
            self.calls.append(call)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            fault = None if parts.path in self.unfaulted_paths else (self._fault() or self._path_fault(parts.path))
            reply = fault or self._route(method, parts.path, query, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1
        call.status, call.answered_at = reply.status, time.time()
        self._send(handler, reply)

    def _fault(self) -> Reply | None:
        with self.lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                return self.throttled_reply()
            if self._fail_left > 0:
                self._fail_left -= 1
                return self.error_reply(self._fail_status, "injected failure")
        return None

    def _path_fault(self, path: str) -> Reply | None:
        with self.lock:
            for fault in self._path_faults:
                pattern, left, status = fault
                if left > 0 and pattern.search(path):
                    fault[1] -= 1
                    return self.throttled_reply() if status == 429 else self.error_reply(status, "injected failure")
        return None

    def _route(self, method: str, path: str, query, headers, body) -> Reply:
        path_matched = False
        for route_method, pattern, func in self._routes:
            match = pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route_method != method:
                continue
            incoming = Incoming(method, path, query, headers, body, match.groupdict())
            early = self.before_request(incoming)
            if early is not None:
                return early
            try:
                with self.lock:
                    return func(incoming)
            except Exception as exc:
                return self.error_reply(500, f"emulator error: {exc!r}")
        if path_matched:
            return self.error_reply(405, f"{method} not allowed on {path}")
        return self.error_reply(404, f"no route for {method} {path}")

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.body is None:
            payload = b""
        elif isinstance(reply.body, bytes):
            payload = reply.body
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
        else:
            payload = json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Date", formatdate(usegmt=True))
        if payload and reply.content_type:
            handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            for line in value if isinstance(value, list) else [value]:
                handler.send_header(name, line)
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        pattern = re.compile(path_regex)
        with self.lock:
            return [c for c in self.calls if c.method == method and pattern.search(c.path)]
