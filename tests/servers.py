"""Real HTTP servers on 127.0.0.1 (stdlib http.server, in a thread of the test process) that misbehave the way
broken deployments do: a server that accepts requests and never answers, or one that answers 200 with a body
that is not what the OpenAI API specifies (an HTML error page from a proxy, truncated JSON, ...)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# (status, content type, body) of an answer; None: accept the request and never answer.
Answer = tuple[int, str, str] | None


@dataclass
class Served:
    url: str  # base URL, ending in /v1
    requests: list[int] = field(default_factory=lambda: [0])  # POSTs received so far

    def wait_for_requests(self, n: int, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while self.requests[0] < n:
            assert time.monotonic() < end, f"only {self.requests[0]} of {n} requests arrived"
            time.sleep(0.05)


@contextmanager
def serving(answer: Callable[[int], Answer]) -> Iterator[Served]:
    """Serve `answer(n)` to the n-th POST (0-based). Requests left hanging are released when the block ends."""
    release = threading.Event()
    served = Served("")
    count = served.requests
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                n, count[0] = count[0], count[0] + 1
            reply = answer(n)
            if reply is None:
                release.wait()
                return
            status, ctype, body = reply
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up on this request (it was cancelled): nothing to do
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield served
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def hang(n: int) -> Answer:
    return None
