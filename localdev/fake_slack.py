"""A fake Slack Web API on 127.0.0.1, enough for ``WebClient.files_upload_v2`` and ``auth.test``.

Behaves like Slack where our code could notice: every method answers HTTP 200 with
``{"ok": true|false, ...}``; a missing or unknown bot token is ``not_authed`` /
``invalid_auth``; ``files.getUploadURLExternal`` needs ``filename`` and ``length`` and returns an
``upload_url`` on this server; the upload is a raw POST of the bytes to that URL (answered
``OK - <length>``); ``files.completeUploadExternal`` needs every file uploaded with the announced
length and a channel *ID* (``C…``/``G…``/``D…``; a ``#name`` is ``channel_not_found``).
Everything received is recorded for tests and the demo.

    with FakeSlack(token="xoxb-local") as slack:
        client = WebClient(token="xoxb-local", base_url=slack.api_url)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
LOCAL_TOKEN = "xoxb-local-fake"  # noqa: S105 (a fake server's fixed token, not a secret)


@dataclass
class Call:
    method: str
    params: dict[str, str]
    authorization: str | None


@dataclass
class SlackFile:
    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None


@dataclass
class Recorded:
    calls: list[Call] = field(default_factory=list)
    files: dict[str, SlackFile] = field(default_factory=dict)

    def shared(self) -> list[SlackFile]:
        """Files completed into a channel, in order."""
        return [f for f in self.files.values() if f.channel]


class FakeSlack:
    def __init__(self, token: str = LOCAL_TOKEN, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.recorded = Recorded()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def start(self) -> FakeSlack:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the API ---------------------------------------------------------------------
    def _api(self, method: str, params: dict[str, str], authorization: str | None) -> dict[str, Any]:
        with self._lock:
            self.recorded.calls.append(Call(method, params, authorization))
            if not authorization:
                return {"ok": False, "error": "not_authed"}
            if authorization != f"Bearer {self.token}":
                return {"ok": False, "error": "invalid_auth"}
            if method == "auth.test":
                return {"ok": True, "url": "https://julo-local.slack.com/", "team": "JULO local",
                        "user": "reports-bot", "team_id": "T0LOCAL", "user_id": "U0REPORTS", "bot_id": "B0REPORTS"}
            if method == "files.getUploadURLExternal":
                return self._get_upload_url(params)
            if method == "files.completeUploadExternal":
                return self._complete(params)
            return {"ok": False, "error": "unknown_method"}

    def _get_upload_url(self, params: dict[str, str]) -> dict[str, Any]:
        if not params.get("filename"):
            return {"ok": False, "error": "invalid_arguments", "detail": "filename is required"}
        try:
            length = int(params.get("length", ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments", "detail": "length must be an integer"}
        file_id = f"F{next(self._ids):09d}"
        self.recorded.files[file_id] = SlackFile(file_id, params["filename"], length)
        return {"ok": True, "upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            items = json.loads(params.get("files", ""))
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments", "detail": "files must be a JSON array"}
        channel = params.get("channel_id")
        if channel is not None and not CHANNEL_ID.match(channel):
            return {"ok": False, "error": "channel_not_found"}
        done = []
        for item in items:
            f = self.recorded.files.get(item.get("id", ""))
            if f is None or f.content is None:
                return {"ok": False, "error": "file_not_found"}
            if len(f.content) != f.length:
                return {"ok": False, "error": "file_upload_size_mismatch"}
            f.title = item.get("title") or f.filename
            f.channel = channel
            f.initial_comment = params.get("initial_comment")
            done.append({"id": f.file_id, "title": f.title, "name": f.filename, "size": f.length})
        return {"ok": True, "files": done}

    def _upload(self, file_id: str, body: bytes) -> tuple[int, str]:
        with self._lock:
            f = self.recorded.files.get(file_id)
            if f is None:
                return 404, "Not Found"
            f.content = body
            return 200, f"OK - {len(body)}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self._body()
                if self.path.startswith("/upload/v1/"):
                    status, text = fake._upload(self.path.rsplit("/", 1)[-1], body)
                    self._send(status, text.encode(), "text/plain; charset=utf-8")
                    return
                if not self.path.startswith("/api/"):
                    self._send(404, b"Not Found", "text/plain")
                    return
                method = self.path[len("/api/"):].split("?", 1)[0]
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/json"):
                    raw = json.loads(body or b"{}")
                    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
                else:
                    params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                answer = fake._api(method, params, self.headers.get("Authorization"))
                self._send(200, json.dumps(answer).encode(), "application/json; charset=utf-8")

        return Handler


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m localdev.fake_slack")
    parser.add_argument("--port", type=int, default=5199)
    parser.add_argument("--token", default=LOCAL_TOKEN)
    args = parser.parse_args()
    slack = FakeSlack(token=args.token, port=args.port)
    print(f"fake Slack Web API on {slack.api_url} (token {args.token})", flush=True)
    try:
        slack._server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
