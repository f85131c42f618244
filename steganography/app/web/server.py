"""The Starlette application behind ``stegavox serve``: the page and its JSON API over
:mod:`steganography.app.api`.

Routes (every ``POST`` takes ``multipart/form-data``; the passphrase travels only in a ``POST``
body, never in a URL, a log line or a file):

* ``GET /`` the page; ``GET /static/…`` its script and style (package files, nothing from the network);
* ``GET /api/platforms`` the choices of the platform menu (the profiles, ``any`` and ``none``);
* ``POST /api/capacity`` (``cover``, ``platform``, ``hd``, ``crop_robust``): covert and maximum seconds per codec;
* ``POST /api/enhance`` (``audio``): the enhanced speech as a WAV, for the before/after players;
* ``POST /api/hide`` (``cover``, ``audio``, ``passphrase``, ``platform``, ``enhance``, ``hd``,
  ``crop_robust``, ``detectable_ok``): starts a hide in a background thread, answers ``202 {"job": id}`` at once;
* ``GET /api/jobs/{id}`` its state, stage and fraction done (polled by the page), then the report;
* ``GET /api/jobs/{id}/file`` the stego file to download; ``DELETE /api/jobs/{id}`` forgets it;
* ``POST /api/reveal`` (``stego``, ``passphrase``): the hidden speech as a WAV, or the one line.

A refusal is ``{"error": line}`` with the line the command line prints after ``stegavox: error:``
(:class:`common.errors.StegavoxError`), the upload's file name standing where the command line
would show its path. Uploads go to a private temporary folder that is removed before the response
(for a hide: when its thread ends, also on errors); results are kept in memory only, for
:data:`JOB_TTL_SECONDS`.

Security (:class:`Guard`, in front of everything): a request whose ``Host`` is not one of the
server's own names, whose ``Origin`` is not the server's own origin, or that a browser marks as
cross-site (``Sec-Fetch-Site``) gets 403 before any route runs (DNS rebinding, cross-site
``POST``); with a ``token`` every request must carry it (``?token=`` once, then a cookie), as
Jupyter does for a server reachable from the network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from common import platforms
from common.errors import InputError, StegavoxError
from common.settings import JPEG_QUALITY_TARGET

#: Largest photo accepted (bytes); :data:`common.image.MAX_PIXELS` bounds its pixels too.
MAX_IMAGE_BYTES = 50 * 2**20
#: Largest audio file accepted (bytes): about 11 minutes of 48 kHz stereo 16-bit WAV.
MAX_AUDIO_BYTES = 128 * 2**20
#: Largest text field (the passphrase, the platform name).
MAX_FIELD_BYTES = 4096
#: Largest request body: a photo, an audio file and the fields.
MAX_REQUEST_BYTES = MAX_IMAGE_BYTES + MAX_AUDIO_BYTES + 2**20
#: A finished hide's file is kept in memory this long (seconds) for its download.
JOB_TTL_SECONDS = 15 * 60
#: Most hides known at once (queued, running or finished and not yet expired).
MAX_JOBS = 16
#: Capacity measurements kept (per photo, platform and HD option): the page asks again on every change.
CAPACITY_CACHE_SIZE = 16
#: The platform menu's entry for no platform: a plain PNG designed for one JPEG quality.
PLATFORM_NONE = "none"
#: Cookie holding the token after the first visit with ``?token=``.
TOKEN_COOKIE = "stegavox_token"

STATIC_DIR = Path(__file__).resolve().parent / "static"
_LOG = logging.getLogger("stegavox.serve")

#: Headers of every response: nothing from elsewhere, no framing, no referrer.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "microphone=(self), camera=(), geolocation=()",
    "cross-origin-resource-policy": "same-origin",
}


def allowed_host_names(host: str, port: int) -> frozenset[str]:
    """``Host`` header values a server bound to ``host``:``port`` answers: for a loopback
    address its loopback names (``127.0.0.1``, ``localhost``, ``[::1]``), with the port (and
    without it for port 80)."""
    names = {"127.0.0.1", "localhost", "[::1]"} if is_loopback(host) else {_bracketed(host)}
    values = {f"{name}:{port}" for name in names}
    if port == 80:
        values |= names
    return frozenset(value.lower() for value in values)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _TooLarge(Exception):
    """The request body grew past :data:`MAX_REQUEST_BYTES`."""


class Guard:
    """ASGI middleware: refuse foreign ``Host``/``Origin``/cross-site requests and requests without
    the token (403, before the application sees them), bound request bodies (413), and add
    :data:`SECURITY_HEADERS` to every response.

    Args:
        app: the application behind it.
        allowed_hosts: ``Host`` values served (lower case, with port); ``None``: any (only
            with a token: the server is then meant to be reached by addresses it cannot list).
        token: the secret every request must carry, or ``None``.
        max_body: largest request body in bytes.
    """

    def __init__(self, app, allowed_hosts: Iterable[str] | None, token: str | None, max_body: int = MAX_REQUEST_BYTES) -> None:
        if allowed_hosts is None and not token:
            raise ValueError("a server answering any Host name needs a token")
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else frozenset(name.lower() for name in allowed_hosts)
        self.token = token
        self.max_body = max_body

    def refusal(self, scope, headers: Headers) -> str | None:
        """Why this request is refused, or ``None``."""
        host = headers.get("host", "").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return "stegavox serve: refused: this server does not answer for that host name"
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}":
            return "stegavox serve: refused: a request from another site"
        if headers.get("sec-fetch-site", "same-origin").lower() in ("cross-site", "same-site"):
            return "stegavox serve: refused: a request from another site"
        if self.token and not self._has_token(scope, headers):
            return "stegavox serve: this server needs its token: open the address stegavox serve printed (with ?token=...)"
        return None

    def _query_token(self, scope) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None

    def _has_token(self, scope, headers: Headers) -> bool:
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a malformed cookie header is simply no token
            cookie = SimpleCookie()
        supplied = [self._query_token(scope), headers.get("x-stegavox-token")]
        if TOKEN_COOKIE in cookie:
            supplied.append(cookie[TOKEN_COOKIE].value)
        return any(value and secrets.compare_digest(value.encode(), self.token.encode()) for value in supplied)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        reason = self.refusal(scope, headers)
        if reason is not None:
            await PlainTextResponse(reason, 403, headers=SECURITY_HEADERS)(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            message = f"the upload is larger than {size_text(self.max_body)}, this page's limit"
            await JSONResponse({"error": message}, 413, headers=SECURITY_HEADERS)(scope, receive, send)
            return
        set_cookie = bool(self.token) and self._query_token(scope) is not None
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise _TooLarge
            return message

        async def secured_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                response_headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    response_headers.setdefault(name, value)
                if set_cookie:
                    response_headers.append("set-cookie", f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            if not started:
                message = f"the upload is larger than {size_text(self.max_body)}, this page's limit"
                await JSONResponse({"error": message}, 413, headers=SECURITY_HEADERS)(scope, receive, send)


@dataclasses.dataclass
class Job:
    """One hide running in a background thread: its progress, then its file or its one line."""

    id: str
    state: str = "queued"  # queued, running, done, error
    stage: str = "waiting for the previous hide"
    fraction: float | None = 0.0
    error: str | None = None
    report: dict | None = None
    data: bytes | None = None
    filename: str = ""
    media_type: str = ""
    created: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None

    def progress(self, stage: str, fraction: float | None) -> None:
        """The ``progress`` callback given to :func:`steganography.app.api.hide`."""
        self.stage = str(stage)
        self.fraction = None if fraction is None else min(1.0, max(0.0, float(fraction)))

    def status(self) -> dict:
        return {
            "job": self.id,
            "state": self.state,
            "stage": self.stage,
            "fraction": self.fraction,
            "error": self.error,
            "report": self.report,
        }


class _Workspace:
    """A private temporary folder for one request's uploads (mode 0700), removed by :meth:`remove`.

    Each upload is saved under its own (sanitised) file name in a sub-folder per role, so that a
    refusal names the file as the command line would name it; :meth:`clean` strips the folder.
    """

    def __init__(self, root: str | os.PathLike | None, alive: set[_Workspace]) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="stegavox-web-", dir=root))
        self.roles: set[str] = set()
        self.alive = alive  # the application's workspaces not yet removed (removed at its shutdown)
        alive.add(self)

    def save(self, role: str, filename: str | None, data: bytes, default: str) -> Path:
        folder = self.path / role
        folder.mkdir(mode=0o700, exist_ok=True)
        self.roles.add(role)
        path = folder / safe_filename(filename, default)
        with open(path, "xb") as file:
            file.write(data)
        return path

    def clean(self, text: str) -> str:
        for role in self.roles:
            text = text.replace(f"{self.path / role}{os.sep}", "")
        return text.replace(f"{self.path}{os.sep}", "")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.alive.discard(self)


def safe_filename(filename: str | None, default: str) -> str:
    """The last component of an upload's file name, with only letters, digits, ``._-`` and
    spaces (others become ``_``), at most 100 characters; ``default`` if nothing is left."""
    name = re.sub(r"[^\w. -]", "_", Path((filename or "").replace("\\", "/")).name, flags=re.ASCII).strip(" .")
    if len(name) > 100:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: 90] + dot + suffix[:9]) if dot and len(suffix) < 10 else name[:100]
    return name or default


def size_text(size: int) -> str:
    """``"50 MiB"``, ``"4 KiB"``, ``"512 bytes"``."""
    if size >= 2**20:
        return f"{size / 2**20:.3g} MiB"
    return f"{size / 2**10:.3g} KiB" if size >= 2**10 else f"{size} bytes"


def _error(message: str, status: int = 400, exit_code: int | None = None) -> JSONResponse:
    body = {"error": message}
    if exit_code is not None:
        body["exit_code"] = exit_code
    return JSONResponse(body, status, headers={"cache-control": "no-store"})


def _refusal(err: StegavoxError, workspace: _Workspace | None = None) -> JSONResponse:
    """The command line's one line for ``err``: 400 for bad input, 422 for a payload that is not there."""
    message = workspace.clean(str(err)) if workspace else str(err)
    return _error(message, 400 if isinstance(err, InputError) else 422, err.exit_code)


def _truthy(value) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "on", "yes")


def platform_choices() -> list[dict]:
    """The platform menu: every profile, ``any`` and :data:`PLATFORM_NONE`."""
    choices = [
        {
            "name": profile.name,
            "label": profile.label,
            "summary": profile.notes or profile.summary(),
            "output_format": profile.output_format,
            "hd": profile.hd_max_size is not None,
            "crop_robust": True,
        }
        for profile in platforms.PROFILES.values()
    ]
    low, high = platforms.UNKNOWN_QUALITY_RANGE
    choices.append({
        "name": platforms.ANY_PLATFORM,
        "label": "Any platform",
        "summary": f"unknown size, crop and quality (Q{low}-{high}): learned canonical-grid hider",
        "output_format": "png",
        "hd": False,
        "crop_robust": False,
    })
    choices.append({
        "name": PLATFORM_NONE,
        "label": "None (plain PNG)",
        "summary": f"no platform: a PNG that survives one JPEG at quality {JPEG_QUALITY_TARGET} or above",
        "output_format": "png",
        "hd": False,
        "crop_robust": False,
    })
    return choices


def _platform_argument(value: str | None) -> str | None:
    """The ``platform=`` of :mod:`steganography.app.api` for a menu value (``none``: ``None``).

    Raises:
        InputError: not a menu value (the command line's message).
    """
    name = (value or PLATFORM_NONE).strip().lower()
    if name == PLATFORM_NONE:
        return None
    if name != platforms.ANY_PLATFORM and name not in platforms.PROFILES:
        raise InputError(f"unknown platform {name!r}; choose one of {', '.join(platforms.PROFILES)}, {platforms.ANY_PLATFORM}")
    return name


def _accepts_progress(function: Callable) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "progress" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def jsonable(value):
    """``value`` with tuples as lists, mapping keys as strings, numpy scalars as Python numbers and
    non-finite numbers as ``None`` (JSON has no infinity)."""
    import math

    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _report_json(report) -> dict:
    """A :class:`steganography.app.api.HideReport` as JSON (plus the codec's label)."""
    from steganography.app import api

    data = jsonable(dataclasses.asdict(report))
    data["codec_label"] = api.codec_label(report.codec, report.bitrate)
    return data


async def _read_upload(form, field: str, limit: int, what: str) -> tuple[str | None, bytes]:
    """``(file name, bytes)`` of the file field ``field``.

    Raises:
        InputError: missing, empty or larger than ``limit``.
    """
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise InputError(f"choose {what}")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{safe_filename(upload.filename, what)}: larger than {size_text(limit)}, this page's limit for {what}")
    if not data:
        raise InputError(f"{safe_filename(upload.filename, what)}: the file is empty")
    return upload.filename, data


def _text_field(form, field: str, default: str = "") -> str:
    value = form.get(field, default)
    if isinstance(value, UploadFile):
        raise InputError(f"{field} must be text")
    return value


def create_app(
    allowed_hosts: Iterable[str] | None = ("127.0.0.1:8765", "localhost:8765"),
    token: str | None = None,
    temp_root: str | os.PathLike | None = None,
    max_body: int = MAX_REQUEST_BYTES,
) -> Guard:
    """The ``stegavox serve`` ASGI application behind its :class:`Guard`.

    Args:
        allowed_hosts: ``Host`` header values served (see :func:`allowed_host_names`); ``None``:
            any, which needs ``token``.
        token: secret every request must carry (``?token=``, then a cookie), or ``None``.
        temp_root: folder for the per-request temporary folders (default: the system's).
        max_body: largest request body in bytes.

    The Starlette application is the returned guard's ``app``; its ``state.jobs`` holds the hides
    (id → :class:`Job`).
    """
    jobs: OrderedDict[str, Job] = OrderedDict()
    jobs_lock = threading.Lock()
    hide_lock = threading.Lock()  # one hide at a time: each uses every core
    capacity_cache: OrderedDict[tuple, dict] = OrderedDict()
    alive: set[_Workspace] = set()

    def purge() -> None:
        now = time.monotonic()
        with jobs_lock:
            for key in [k for k, job in jobs.items() if job.finished is not None and now - job.finished > JOB_TTL_SECONDS]:
                del jobs[key]

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-store"})

    async def platform_list(request: Request) -> Response:
        return JSONResponse({"platforms": platform_choices(), "default": "whatsapp",
                             "limits": {"image_bytes": MAX_IMAGE_BYTES, "audio_bytes": MAX_AUDIO_BYTES}})

    async def capacity(request: Request) -> Response:
        async with request.form(max_files=2, max_fields=8, max_part_size=MAX_FIELD_BYTES) as form:
            try:
                name, data = await _read_upload(form, "cover", MAX_IMAGE_BYTES, "a photo")
                platform = _platform_argument(_text_field(form, "platform"))
                hd = _truthy(_text_field(form, "hd"))
                crop_robust = _truthy(_text_field(form, "crop_robust"))
            except StegavoxError as err:
                return _refusal(err)
        key = (hashlib.sha256(data).hexdigest(), safe_filename(name, "photo"), platform, hd, crop_robust)
        if key in capacity_cache:
            capacity_cache.move_to_end(key)
            return JSONResponse(capacity_cache[key])
        workspace = _Workspace(temp_root, alive)
        try:
            path = workspace.save("cover", name, data, "photo")
            result = await run_in_threadpool(_measure_capacity, path, platform, hd, crop_robust)
        except StegavoxError as err:
            return _refusal(err, workspace)
        finally:
            workspace.remove()
        result["notes"] = [workspace.clean(line) for line in result["notes"]]
        capacity_cache[key] = result
        while len(capacity_cache) > CAPACITY_CACHE_SIZE:
            capacity_cache.popitem(last=False)
        return JSONResponse(result)

    async def enhance(request: Request) -> Response:
        async with request.form(max_files=2, max_fields=8, max_part_size=MAX_FIELD_BYTES) as form:
            try:
                name, data = await _read_upload(form, "audio", MAX_AUDIO_BYTES, "a recording")
            except StegavoxError as err:
                return _refusal(err)
        workspace = _Workspace(temp_root, alive)
        try:
            path = workspace.save("audio", name, data, "speech.wav")
            wav = await run_in_threadpool(enhanced_wav, path)
        except StegavoxError as err:
            return _refusal(err, workspace)
        finally:
            workspace.remove()
        return Response(wav, media_type="audio/wav", headers={"cache-control": "no-store"})

    async def hide(request: Request) -> Response:
        async with request.form(max_files=3, max_fields=12, max_part_size=MAX_FIELD_BYTES) as form:
            try:
                cover_name, cover = await _read_upload(form, "cover", MAX_IMAGE_BYTES, "a photo")
                audio_name, audio = await _read_upload(form, "audio", MAX_AUDIO_BYTES, "a recording")
                passphrase = _text_field(form, "passphrase")
                platform = _platform_argument(_text_field(form, "platform"))
                options = {
                    "enhance": _truthy(_text_field(form, "enhance")),
                    "hd": _truthy(_text_field(form, "hd")),
                    "crop_robust": _truthy(_text_field(form, "crop_robust")),
                    "detectable_ok": _truthy(_text_field(form, "detectable_ok")),
                }
            except StegavoxError as err:
                return _refusal(err)
        if not passphrase.rstrip("\r\n"):
            return _error("the passphrase is empty", 400, InputError.exit_code)
        purge()
        with jobs_lock:
            if len(jobs) >= MAX_JOBS:
                return _error(f"busy: {MAX_JOBS} hides are waiting or finished; download or wait a few minutes", 503)
            job = Job(secrets.token_urlsafe(16))
            jobs[job.id] = job
        workspace = _Workspace(temp_root, alive)
        try:
            cover_path = workspace.save("cover", cover_name, cover, "photo")
            audio_path = workspace.save("audio", audio_name, audio, "speech.wav")
        except BaseException:
            workspace.remove()
            with jobs_lock:
                jobs.pop(job.id, None)
            raise
        del cover, audio
        thread = threading.Thread(
            target=_run_hide,
            args=(job, workspace, hide_lock, cover_path, audio_path, passphrase, platform, options),
            name=f"stegavox-hide-{job.id[:6]}",
            daemon=True,
        )
        thread.start()
        return JSONResponse(job.status(), 202, headers={"cache-control": "no-store"})

    def find(request: Request) -> Job | None:
        purge()
        with jobs_lock:
            return jobs.get(request.path_params["job"])

    async def job_status(request: Request) -> Response:
        job = find(request)
        if job is None:
            return _error("no such hide (finished more than 15 minutes ago, or the server restarted)", 404)
        if request.method == "DELETE":
            with jobs_lock:
                jobs.pop(job.id, None)
            return JSONResponse({"deleted": job.id})
        return JSONResponse(job.status(), headers={"cache-control": "no-store"})

    async def job_file(request: Request) -> Response:
        job = find(request)
        if job is None or job.data is None:
            return _error("no such file (not finished, failed, or expired)", 404)
        return Response(
            job.data,
            media_type=job.media_type,
            headers={"content-disposition": f'attachment; filename="{job.filename}"', "cache-control": "no-store"},
        )

    async def reveal(request: Request) -> Response:
        async with request.form(max_files=2, max_fields=8, max_part_size=MAX_FIELD_BYTES) as form:
            try:
                name, data = await _read_upload(form, "stego", MAX_IMAGE_BYTES, "a photo")
                passphrase = _text_field(form, "passphrase")
            except StegavoxError as err:
                return _refusal(err)
        workspace = _Workspace(temp_root, alive)
        try:
            path = workspace.save("stego", name, data, "photo")
            outcome = await run_in_threadpool(_reveal, path, passphrase)
        except StegavoxError as err:
            return _refusal(err, workspace)
        finally:
            workspace.remove()
        wav, codec, method, corrected, ber = outcome
        stem = Path(safe_filename(name, "photo")).stem or "speech"
        return Response(
            wav,
            media_type="audio/wav",
            headers={
                "content-disposition": f'attachment; filename="{stem}.wav"',
                "cache-control": "no-store",
                "x-stegavox-codec": codec,
                "x-stegavox-method": method,
                "x-stegavox-corrected": str(corrected),
                "x-stegavox-ber": f"{ber:.2e}",
            },
        )

    routes = [
        Route("/", index),
        Route("/api/platforms", platform_list),
        Route("/api/capacity", capacity, methods=["POST"]),
        Route("/api/enhance", enhance, methods=["POST"]),
        Route("/api/hide", hide, methods=["POST"]),
        Route("/api/jobs/{job}", job_status, methods=["GET", "DELETE"]),
        Route("/api/jobs/{job}/file", job_file),
        Route("/api/reveal", reveal, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for workspace in list(alive):  # a hide still running when the server stops
            workspace.remove()

    async def too_large(request: Request, exc: Exception) -> Response:
        return _error(f"the upload is larger than {size_text(max_body)}, this page's limit", 413)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={_TooLarge: too_large})
    app.state.jobs = jobs
    app.state.temp_root = temp_root
    return Guard(app, allowed_hosts, token, max_body)


def _measure_capacity(cover_path: Path, platform: str | None, hd: bool, crop_robust: bool) -> dict:
    """:func:`steganography.app.api.capacity` as ``stegavox capacity`` calls it, as JSON."""
    from common.image import open_image
    from steganography.app import api

    notes: list[str] = []
    cover = open_image(cover_path, note=notes.append)
    result = api.capacity(cover, platform, None, "classical", hd, crop_robust=crop_robust)
    return jsonable({
        "size": list(result["size"]),
        "method": result["method"],
        "design_quality": result["design_quality"],
        "covert_bytes": result["covert_bytes"],
        "bytes": result["bytes"],
        "covert_seconds": result["covert_seconds"],
        "seconds": result["seconds"],
        "notes": notes + list(result["notes"]),
    })


def enhanced_wav(path: Path) -> bytes:
    """``stegavox enhance IN OUT.wav`` in memory (:func:`steganography.app.api.enhance`): the
    enhanced speech as a WAV file, at the input's rate and channel count."""
    import io

    import soundfile as sf

    from steganography.app import api

    enhanced, sample_rate = api.enhance(path)
    buffer = io.BytesIO()
    sf.write(buffer, enhanced.T, sample_rate, format="WAV")
    return buffer.getvalue()


def _reveal(path: Path, passphrase: str) -> tuple[bytes, str, str, int, float]:
    from steganography.app import api

    outcome = api.reveal(path, passphrase)
    return outcome.wav_bytes(), outcome.codec, outcome.method, outcome.corrected_bits, outcome.estimated_ber


def _run_hide(
    job: Job,
    workspace: _Workspace,
    hide_lock: threading.Lock,
    cover_path: Path,
    audio_path: Path,
    passphrase: str,
    platform: str | None,
    options: dict,
) -> None:
    """The body of a hide's thread: :func:`steganography.app.api.hide` on the uploads, as
    ``stegavox hide --platform … --codec auto`` calls it; the workspace is removed at the end."""
    state, error = "error", None
    try:
        with hide_lock:
            job.state = "running"
            job.progress("starting", 0.0)
            from steganography.app import api

            kwargs = {}
            if _accepts_progress(api.hide):
                kwargs["progress"] = job.progress
            else:
                job.progress("hiding and checking the payload through the platform's JPEGs", None)
            outcome = api.hide(cover_path, audio_path, passphrase, platform=platform, codec="auto", **options, **kwargs)
            report = _report_json(outcome.report)
            report["notes"] = [workspace.clean(line) for line in report["notes"]]
            jpeg = outcome.report.output_format == "jpeg"
            job.data = outcome.data
            job.filename = "stego.jpg" if jpeg else "stego.png"
            job.media_type = "image/jpeg" if jpeg else "image/png"
            job.report = report
            state = "done"
    except StegavoxError as err:
        error = workspace.clean(str(err))
    except Exception as err:  # noqa: BLE001 - the page gets one line, the terminal the details
        _LOG.exception("hide failed")
        error = f"internal error ({type(err).__name__}); the terminal running stegavox serve has the details"
    finally:
        workspace.remove()  # before the state says the hide has ended
        job.error, job.finished = error, time.monotonic()
        if state == "done":
            job.progress("done", 1.0)
        job.state = state
