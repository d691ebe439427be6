"""A fake Slack Web API on 127.0.0.1, as strict as Slack where our code could notice.

Methods: ``auth.test``, ``files.getUploadURLExternal``, the raw upload to the returned URL,
``files.completeUploadExternal``, ``files.info``, ``chat.postMessage`` and ``conversations.history``:
the calls slack_sdk's ``files_upload_v2`` flow and our reports make.

- Every method answers HTTP 200 with ``{"ok": true|false, ...}``; a missing bot token is
  ``not_authed``, a wrong or revoked one ``invalid_auth`` (still HTTP 200, as Slack does).
- ``files.getUploadURLExternal`` needs ``filename`` and ``length`` and returns an ``upload_url``
  on this server and a ``file_id``; the upload is a raw POST of the bytes (``OK - <length>``).
- ``files.completeUploadExternal`` needs every file uploaded with the announced length and a
  channel *ID* (``C…``/``G…``/``D…``; a ``#name`` is ``channel_not_found``). Completing a file
  that is already shared shares it again: a second post, as a careless retry would make.
- ``files.info`` shows where a file is shared (``channels`` and ``shares``).
- Faults (``fail_next``), once per matching call: ``"429"`` (HTTP 429 ``ratelimited`` with a
  ``Retry-After`` header), ``"500"`` / ``"503"`` (the request is not processed), ``"lost"``
  (processed, then the connection is cut before any answer: the client cannot know).
  ``revoke()`` makes the token invalid from then on.

Everything received is recorded for tests and the demo.

    with FakeSlack(token="xoxb-local") as slack:
        client = WebClient(token="xoxb-local", base_url=slack.api_url)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from localdev.fakes.faults import Fault, FaultQueue
from localdev.fakes.server import FakeHandler, FakeServer

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
LOCAL_TOKEN = "xoxb-local-fake"  # noqa: S105 (a fake server's fixed token, not a secret)
FAULT_KINDS = ("429", "500", "503", "lost")
UPLOAD = "upload"  # the method name faults use for the raw upload to upload_url


@dataclass
class Call:
    method: str
    params: dict[str, str]
    authorization: str | None
    answered: str = "ok"  # ok | error code | http_429 | http_500 | lost


@dataclass
class Share:
    file_id: str
    channel: str
    title: str | None
    initial_comment: str | None
    ts: str


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
class Message:
    channel: str
    text: str
    ts: str


@dataclass
class Recorded:
    calls: list[Call] = field(default_factory=list)
    files: dict[str, SlackFile] = field(default_factory=dict)
    shares: list[Share] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def shared(self) -> list[SlackFile]:
        """Files completed into a channel, in order (a file shared twice is listed once)."""
        return [f for f in self.files.values() if f.channel]

    def posts(self) -> int:
        """What a channel member sees: every file share and every message."""
        return len(self.shares) + len(self.messages)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


class FakeSlack:
    def __init__(self, token: str = LOCAL_TOKEN, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.recorded = Recorded()
        self._revoked = False
        self.faults = FaultQueue(FAULT_KINDS)  # targets: Web API methods, or UPLOAD
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        handler = type("Handler", (_SlackHandler,), {"fake": self})
        self._server = FakeServer(handler, host=host, port=port, name="fake-slack")

    @property
    def base_url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def start(self) -> FakeSlack:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control -----------------------------------------------------------------------
    def fail_next(self, kind: str, method: str | None = None, count: int = 1, retry_after: int = 1) -> None:
        """The next ``count`` calls of ``method`` (any method when None; ``"upload"`` for the raw
        upload) fail with ``kind``."""
        self.faults.add(kind, count, method, retry_after)

    def revoke(self) -> None:
        """The bot token is no longer valid (uninstalled app, rotated token): ``invalid_auth``."""
        self._revoked = True

    # --- the API ---------------------------------------------------------------------
    def _api(self, method: str, params: dict[str, str], authorization: str | None) -> dict[str, Any]:
        with self._lock:
            if not authorization:
                return {"ok": False, "error": "not_authed"}
            if authorization != f"Bearer {self.token}" or self._revoked:
                return {"ok": False, "error": "invalid_auth"}
            if method == "auth.test":
                return {"ok": True, "url": "https://julo-local.slack.com/", "team": "JULO local",
                        "user": "reports-bot", "team_id": "T0LOCAL", "user_id": "U0REPORTS", "bot_id": "B0REPORTS"}
            if method == "files.getUploadURLExternal":
                return self._get_upload_url(params)
            if method == "files.completeUploadExternal":
                return self._complete(params)
            if method == "files.info":
                return self._info(params)
            if method == "chat.postMessage":
                return self._post_message(params)
            if method == "conversations.history":
                return self._history(params)
            return {"ok": False, "error": "unknown_method"}

    def _ts(self) -> str:
        return f"{time.time():.6f}"

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
            if channel:
                self.recorded.shares.append(Share(f.file_id, channel, f.title, f.initial_comment, self._ts()))
            done.append({"id": f.file_id, "title": f.title, "name": f.filename, "size": f.length})
        return {"ok": True, "files": done}

    def _info(self, params: dict[str, str]) -> dict[str, Any]:
        f = self.recorded.files.get(params.get("file", ""))
        if f is None:
            return {"ok": False, "error": "file_not_found"}
        shares = [s for s in self.recorded.shares if s.file_id == f.file_id]
        channels = sorted({s.channel for s in shares})
        return {"ok": True, "file": {
            "id": f.file_id, "name": f.filename, "title": f.title, "size": f.length, "channels": channels,
            "shares": {"public": {c: [{"ts": s.ts} for s in shares if s.channel == c] for c in channels}},
        }}

    def _post_message(self, params: dict[str, str]) -> dict[str, Any]:
        channel = params.get("channel", "")
        if not CHANNEL_ID.match(channel):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text"):
            return {"ok": False, "error": "no_text"}
        message = Message(channel, params["text"], self._ts())
        self.recorded.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": {"text": message.text}}

    def _history(self, params: dict[str, str]) -> dict[str, Any]:
        """Newest first, messages after ``oldest`` (one page: the fake's channels are short)."""
        channel = params.get("channel", "")
        if not CHANNEL_ID.match(channel):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        found = [{"type": "message", "ts": m.ts, "text": m.text} for m in reversed(self.recorded.messages)
                 if m.channel == channel and float(m.ts) > oldest]
        return {"ok": True, "messages": found, "has_more": False}

    def _upload(self, file_id: str, body: bytes) -> tuple[int, str]:
        with self._lock:
            f = self.recorded.files.get(file_id)
            if f is None:
                return 404, "Not Found"
            f.content = body
            return 200, f"OK - {len(body)}"



class _SlackHandler(FakeHandler):
    """The Web API and upload URLs of one ``FakeSlack`` (bound to it as ``fake``)."""

    fake: FakeSlack

    def _fault_answer(self, fault: Fault) -> None:
        if fault.kind == "429":
            self.send_json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)},
                           content_type="application/json; charset=utf-8")
        else:
            self.send(int(fault.kind), b"<html><body>Service Unavailable</body></html>", "text/html")

    def _params(self, body: bytes) -> dict[str, str]:
        if self.headers.get("Content-Type", "").startswith("application/json"):
            raw = json.loads(body or b"{}")
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.read_body()
        if path.startswith("/upload/v1/"):
            self._serve(UPLOAD, lambda: self.fake._upload(path.rsplit("/", 1)[-1], body), text=True)
            return
        if not path.startswith("/api/"):
            self.send(404, b"Not Found", "text/plain")
            return
        method = path[len("/api/"):]
        params = {**dict(parse_qsl(query)), **self._params(body)}
        auth = self.headers.get("Authorization")
        self._serve(method, lambda: (200, json.dumps(self.fake._api(method, params, auth))), params, auth)

    def _serve(self, method: str, run: Callable[[], tuple[int, str]], params: dict[str, str] | None = None,
               auth: str | None = None, text: bool = False) -> None:
        call = Call(method, params or {}, auth)
        with self.fake._lock:
            self.fake.recorded.calls.append(call)
        fault = self.fake.faults.take(method)
        if fault is not None and fault.kind != "lost":
            call.answered = f"http_{fault.kind}"
            self._fault_answer(fault)
            return
        status, answer = run()
        if fault is not None:  # processed, but the answer never arrives
            call.answered = "lost"
            self.hang_up()
            return
        if not text:
            decoded = json.loads(answer)
            call.answered = "ok" if decoded.get("ok") else str(decoded.get("error"))
        ctype = "text/plain; charset=utf-8" if text else "application/json; charset=utf-8"
        self.send(status, answer.encode(), ctype)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m localdev.fakes.slack")
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
