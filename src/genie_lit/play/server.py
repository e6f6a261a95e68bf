"""The browser play server: standard library only (``http.server.ThreadingHTTPServer``).

Bound to 127.0.0.1 unless ``--host`` says otherwise. Endpoints (JSON unless noted):

====================  ======================================================================
``GET /``             the play page (``static/index.html``)
``GET /api/info``     world settings, key map, current frame index
``POST /api/reset``   body ``{}`` or ``{"seed": int}``: new episode from the prompt -> frame
``POST /api/step``    body ``{"action": int}``: the next frame -> frame
``GET /api/frame.png``  the latest frame (PNG, world resolution)
``GET /api/session.mp4``  the episode so far (mp4 download, upscaled, actions drawn on frames)
``GET /api/session.json`` the action of every frame of the episode
====================  ======================================================================

A frame answer is ``{"frame": base64 PNG at world resolution, "action", "frame_index", "episode",
"step_ms", "frames_kept"}``. A malformed request (bad JSON, a body over 4 KiB, an unknown or
out-of-range action, an unknown path or method) gets a 4xx ``{"error": message}``; an unexpected
failure inside the world gets a 500; in every case the server keeps serving.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from genie_lit.play.session import PlaySession

MAX_BODY = 4096


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def _page() -> bytes:
    return resources.files("genie_lit.play").joinpath("static", "index.html").read_bytes()


class PlayHandler(BaseHTTPRequestHandler):
    """Routes requests to the server's :class:`PlaySession`."""

    server: PlayServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle or stalled connection is dropped, its thread ends

    # --------------------------------------------------------------------------- replies
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": message, "status": int(status)}).encode(), "application/json",
                   headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own rejections (unparsable request line or headers, unknown method) as JSON 4xx."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no handler exists for
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command!r} is not supported; use GET or POST"
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # no HTTP/0.9 clients exist: always answer with a status line
        try:
            self._error(HTTPStatus(code), message or HTTPStatus(code).phrase, {"Connection": "close"})
        except OSError:  # the client has gone
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if self.server.verbose:
            sys.stderr.write(f"genie-lit play: {self.address_string()} {format % args}\n")

    # -------------------------------------------------------------------------- requests
    def _body(self) -> dict[str, Any]:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the JSON body with a Content-Length, not chunked")
        if length is None:
            return {}
        if not length.isdigit():
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length!r}")
        if int(length) > MAX_BODY:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes; at most {MAX_BODY}")
        raw = self.rfile.read(int(length))
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({err})") from None
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object, e.g. {\"action\": 3}")
        return body

    def _integer(self, body: dict[str, Any], name: str, required: bool) -> int | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"{name!r} must be an integer, got {value!r}; "
                               f"send e.g. {{\"{name}\": 3}}")
        return value

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        session = self.server.session
        try:
            route = (method, path)
            if route in (("GET", "/"), ("GET", "/index.html")):
                self._send(HTTPStatus.OK, _page(), "text/html; charset=utf-8")
            elif route == ("GET", "/api/info"):
                self._json(session.info())
            elif route == ("GET", "/api/frame.png"):
                self._send(HTTPStatus.OK, session.latest_png(), "image/png")
            elif route == ("GET", "/api/session.json"):
                self._json(session.history())
            elif route == ("GET", "/api/session.mp4"):
                self._send(HTTPStatus.OK, session.session_mp4(), "video/mp4",
                           {"Content-Disposition": 'attachment; filename="genie_session.mp4"'})
            elif route == ("POST", "/api/reset"):
                seed = self._integer(self._body(), "seed", required=False)
                self._json(session.reset(seed))
            elif route == ("POST", "/api/step"):
                action = self._integer(self._body(), "action", required=True)
                try:
                    session.world.check_actions(action)
                except ValueError as err:
                    raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
                self._json(session.step(action))
            elif path in KNOWN_PATHS:
                raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {path} is not allowed; use "
                                   f"{KNOWN_PATHS[path]}", {"Allow": KNOWN_PATHS[path]})
            else:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no such path {path!r}; the page is at /")
        except RequestError as err:
            self._error(err.status, str(err), err.headers)
        except Exception as err:  # noqa: BLE001 - a failure inside the world must not stop the server
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(err).__name__}: {err}")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


KNOWN_PATHS = {"/": "GET", "/index.html": "GET", "/api/info": "GET", "/api/frame.png": "GET",
               "/api/session.json": "GET", "/api/session.mp4": "GET", "/api/reset": "POST", "/api/step": "POST"}


class PlayServer(ThreadingHTTPServer):
    """A threading HTTP server around one :class:`PlaySession`."""

    daemon_threads = True

    def __init__(self, session: PlaySession, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.session, self.verbose = session, verbose
        super().__init__((host, port), PlayHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"
