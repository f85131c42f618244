"""Publishing files safely: no partial output, no overwritten input, nothing left on a signal.

:func:`write_atomic` writes through a temporary file in the target folder and publishes it in
one step; :func:`cleanup_on_termination` turns SIGTERM/SIGHUP/SIGINT into exceptions so that
temporary files are removed on the way out; :func:`check_output` refuses to write over an input
or, without ``force``, over any existing file; :func:`check_stego_name` the output name a
platform's file needs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from common.errors import InputError

#: Signals after which ``stegavox`` removes its temporary files and exits with 128 + signal.
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
#: Suffixes of lossless stego images (a plain hide, ``--platform any``, PNG platforms).
LOSSLESS_SUFFIXES = (".png",)
#: Suffixes of JPEG stego images (platforms that keep the JPEG they get).
JPEG_SUFFIXES = (".jpg", ".jpeg")


def check_stego_name(path: Path, output_format: str, target: str = "this") -> None:
    """Refuse a stego file name whose suffix does not match the file :func:`steganography.app.api.hide`
    writes (``output_format`` ``"png"`` or ``"jpeg"``, see :class:`steganography.app.api.Design`)."""
    suffixes = JPEG_SUFFIXES if output_format == "jpeg" else LOSSLESS_SUFFIXES
    if path.suffix.lower() not in suffixes:
        raise InputError(f"write the stego image for {target} as {' or '.join(suffixes)}, not {path.name}")


def check_output(path: Path, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse to write ``path`` over an input, or over an existing file without ``force``."""
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise InputError(f"refusing to overwrite the input {source} with the output")
    if path.exists() and not force:
        raise InputError(f"{path} exists; use --force to overwrite it")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} exists and is not a regular file")
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")


#: Temporary files of this process not yet published or removed (cleaned up on SIGTERM/SIGHUP).
_PENDING_TEMPORARIES: set[str] = set()


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP, so that ``finally`` clauses clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Deferral(threading.local):
    """Per thread: depth of :func:`_signals_deferred` blocks and a signal that arrived in one
    (handlers run in the main thread, so only its blocks ever defer anything)."""

    depth = 0
    pending: int | None = None


_DEFERRAL = _Deferral()


def _interruption(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Postpone SIGINT, SIGTERM and SIGHUP (as handled by :func:`main`) to the end of the block,
    so that a temporary file is always either registered for clean-up or already gone.

    Python runs signal handlers in the main thread whichever thread the signal hits, so this is
    a flag checked by the handler, not a signal mask (other threads, e.g. torch's, do not block).
    """
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.depth -= 1
    if _DEFERRAL.depth == 0 and _DEFERRAL.pending is not None:
        signum, _DEFERRAL.pending = _DEFERRAL.pending, None
        raise _interruption(signum)


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file."""
    try:  # Linux: read it without changing it (os.umask would, for a moment, for every thread)
        status = Path("/proc/self/status").read_text()
        umask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _publish(temporary: Path, path: Path, force: bool) -> None:
    """Move the finished ``temporary`` to ``path``; without ``force`` only if ``path`` is absent
    *now* (a hard link fails if the name exists, so concurrent writers cannot both win)."""
    if force:
        if path.exists() and not path.is_file():
            raise InputError(f"{path} exists and is not a regular file")
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise InputError(f"{path} exists; use --force to overwrite it") from None
    except OSError:  # no hard links on this file system: reserve the name exclusively, then replace
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise InputError(f"{path} exists; use --force to overwrite it") from None
        os.replace(temporary, path)
    else:
        os.unlink(temporary)


def write_atomic(path: Path, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The temporary file never outlives the call (nor SIGTERM/SIGHUP, see :func:`main`); the
    output gets the mode a plain ``open()`` would give it (umask), and without ``force`` an
    existing ``path`` is never replaced, even one created by a concurrent writer since
    :func:`check_output`.

    Raises:
        InputError: ``path`` exists (without ``force``), or the folder is not writable.
    """
    try:
        with _signals_deferred():
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            _PENDING_TEMPORARIES.add(temporary)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), _file_mode())
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        with _signals_deferred():
            _publish(Path(temporary), path, force)
            _PENDING_TEMPORARIES.discard(temporary)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        with _signals_deferred():
            if temporary in _PENDING_TEMPORARIES:
                Path(temporary).unlink(missing_ok=True)
                _PENDING_TEMPORARIES.discard(temporary)


def remove_pending_temporaries() -> None:
    for temporary in list(_PENDING_TEMPORARIES):
        Path(temporary).unlink(missing_ok=True)
        _PENDING_TEMPORARIES.discard(temporary)




def _on_signal(signum: int, frame: object) -> None:
    if _DEFERRAL.depth > 0:
        _DEFERRAL.pending = signum
        return
    raise _interruption(signum)


@contextlib.contextmanager
def cleanup_on_termination() -> Iterator[None]:
    """In the main thread: turn SIGTERM/SIGHUP into :class:`Terminated` and SIGINT into
    KeyboardInterrupt (so temporary files are removed on the way out, see
    :func:`_signals_deferred`) for the duration of the block; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (*TERMINATING_SIGNALS, signal.SIGINT)
    previous = {signum: signal.signal(signum, _on_signal) for signum in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
