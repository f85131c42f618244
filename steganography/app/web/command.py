"""The ``stegavox serve`` subcommand: parser (:func:`add_serve_command`) and runner (:func:`run_serve`).

Kept light: nothing heavier than the standard library is imported until the command runs.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys

from common.errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Bytes of randomness of the token a server reachable from the network requires (URL-safe base64).
TOKEN_BYTES = 24

SERVE_DESCRIPTION = """\
start a local web page to send and receive hidden speech (no terminal needed)

The page records or uploads speech, takes a photo, hides the speech for a platform and gives the
photo to download; on the receiving side it takes the photo and the passphrase and plays the
speech. Everything stays on this machine: the page loads nothing from the network, stores nothing
on disk after a response, and the passphrase travels only in request bodies (never in a URL or a
log line).

By default the server listens on 127.0.0.1 only and refuses requests for any other host name or
from any other site (DNS rebinding, cross-site requests). With --host 0.0.0.0 (to open the page
from a phone on the same network) it requires a random token, part of the address it prints."""


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the ``stegavox`` subparsers."""
    parser = subparsers.add_parser(
        "serve",
        help="start a local web page to send and receive hidden speech",
        description=SERVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0: the network, with a token)",
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port, 0: any free one (default: %(default)s)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (recording needs HTTPS off localhost)")
    parser.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key")
    parser.set_defaults(func=run_serve)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is in 0..65535, got {value}")
    return value


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one).

    Raises:
        InputError: the address cannot be used (in use, not this machine's, ...).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def _lan_address() -> str | None:
    """This machine's address on its default route (a UDP socket is connected; nothing is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()


def page_url(host: str, port: int, token: str | None, scheme: str = "http") -> str:
    """The address to open: for a wildcard host this machine's network address, with ``?token=``."""
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = _lan_address() or socket.gethostname()
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"{scheme}://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve_config(host: str, port: int) -> tuple[frozenset[str] | None, str | None]:
    """``(allowed Host values, token)`` for a server on ``host``:``port``: a loopback host serves its
    loopback names without a token; any other host needs a fresh random token and answers any name."""
    from steganography.app.web.server import allowed_host_names, is_loopback

    if is_loopback(host):
        return allowed_host_names(host, port), None
    return None, secrets.token_urlsafe(TOKEN_BYTES)


def run_serve(args: argparse.Namespace) -> int:
    """``stegavox serve``: bind, print the address, serve until Ctrl+C."""
    try:
        import uvicorn

        from steganography.app.web.server import create_app
    except ImportError as err:  # a partial install
        raise InputError(f"stegavox serve needs starlette, uvicorn and python-multipart ({err.name} is missing): pip install stegavox") from None
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise InputError("give both --ssl-certfile and --ssl-keyfile, or neither")
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    allowed_hosts, token = serve_config(args.host, port)
    scheme = "https" if args.ssl_certfile else "http"
    app = create_app(allowed_hosts=allowed_hosts, token=token)
    config = uvicorn.Config(
        app,
        access_log=False,  # the first address carries the token; no request is logged
        log_level="warning",
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    url = page_url(args.host, port, token, scheme)
    print(f"stegavox serve: open {url}  (Ctrl+C stops it)", flush=True)
    if token:
        print("stegavox serve: reachable from the network; only someone with this address (its token) gets in", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("stegavox serve: stopped", file=sys.stderr)
    return 0
