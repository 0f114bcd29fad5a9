"""A local HTTP server speaking the OpenAI chat-completions protocol, for the copywriter tests.

It answers `POST /v1/chat/completions` with the copy its current `reply` function returns, and
records each request so tests can check what left the process (model, key, no e-mail address).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeLlm:
    """Behaviour of the server: `reply(request) -> (status, body)`; `delay_s` before answering."""

    reply: Callable[[dict[str, Any]], tuple[int, Any]] = lambda _req: (200, completion({"subject": "Hi", "preheader": "", "intro": "Hello."}))
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


def completion(copy: dict[str, str] | str) -> dict[str, Any]:
    content = copy if isinstance(copy, str) else json.dumps(copy)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }


@contextmanager
def fake_llm_server() -> Iterator[FakeLlm]:
    state = FakeLlm()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/chat/completions":
                status, payload = 404, {"error": "not found"}
            else:
                time.sleep(state.delay_s)
                status, payload = state.reply(body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
