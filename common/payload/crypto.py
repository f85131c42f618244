"""Keys from the passphrase: the frame key (memory-hard, fixed salt) and AES-256-GCM for the audio.

One scrypt per passphrase and process (n = 2**17, r = 8, p = 1: 128 MiB of memory and 256 MiB
of memory traffic per guess, about 0.4 s on one core) stretches the passphrase into a 256-bit
master key. Its salt is the fixed, public domain-separation string :data:`FRAME_KDF_SALT`: the
receiver must derive the key before it can find anything in the image, so no per-message salt
can be stored. The price is that one precomputed table of scrypt outputs applies to every
stegavox image; the cost per guess and a long random passphrase are the defence (see docs/app.md).

Independent subkeys are HMAC-SHA256(master, label) (:class:`FrameKeys`): they permute and
whiten the hidden frame and authenticate its header (:mod:`common.payload.container`). The
audio itself is encrypted with AES-256-GCM under HMAC-SHA256(audio subkey, random 16-byte salt)
and a random 12-byte nonce, so every message still gets a fresh key.

Every passphrase goes through :func:`normalise_passphrase` (trailing line breaks removed, UTF-8
text NFC-normalised), whether it comes from the command line's sources or the Python API, so the
same visible passphrase gives the same key however it was typed. These parameters are part of
container format version 5 (unchanged since format 4, whose name the KDF salt keeps).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
import unicodedata
from pathlib import Path

from common.errors import AuthenticationError, InputError

SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
#: Public salt of the frame key: domain separation from any other use of the passphrase (and
#: from the keys of format 3, which used scrypt n = 2**15).
FRAME_KDF_SALT = b"stegavox frame key, format 4"
PASSPHRASE_ENV_VAR = "STEGAVOX_PASSPHRASE"


@dataclasses.dataclass(frozen=True)
class FrameKeys:
    """Subkeys derived from one passphrase (each 32 bytes, independent for any practical use)."""

    #: Seeds the permutation of the header bits and the interleaver of the body.
    permutation: bytes
    #: Seeds the keystream XORed onto every frame bit.
    whitening: bytes
    #: HMAC key of the header's authentication tag.
    header_mac: bytes
    #: Keys AES-256-GCM of the audio (with the message's random salt).
    audio: bytes


def normalise_passphrase(passphrase: str | bytes) -> bytes:
    """The passphrase keys are derived from: trailing line breaks (``\\n``, ``\\r``) removed, other
    white space kept, UTF-8 text NFC-normalised (other bytes unchanged).

    The one normalisation of the command line (:func:`read_passphrase`), the Python API and
    :func:`frame_keys`. A ``str`` is encoded as UTF-8 (``surrogateescape``: the bytes of an
    environment variable that is not UTF-8 come back as they were).
    """
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8", "surrogateescape")
    passphrase = bytes(passphrase).rstrip(b"\r\n")
    try:
        text = passphrase.decode("utf-8")
    except UnicodeDecodeError:
        return passphrase
    return unicodedata.normalize("NFC", text).encode("utf-8")


def _subkey(master: bytes, label: str) -> bytes:
    return hmac.new(master, b"stegavox/" + label.encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=4)
def frame_keys(passphrase: bytes) -> FrameKeys:
    """The :class:`FrameKeys` of ``passphrase``: one scrypt, cached per process.

    ``hide`` packs and checks several times with the same passphrase, and ``reveal`` needs the
    key for the header and the audio: each pays for one scrypt only.
    """
    master = hashlib.scrypt(
        normalise_passphrase(passphrase),
        salt=FRAME_KDF_SALT,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=2 * 128 * SCRYPT_R * SCRYPT_N,
        dklen=KEY_BYTES,
    )
    return FrameKeys(*(_subkey(master, field.name) for field in dataclasses.fields(FrameKeys)))


def header_tag(passphrase: bytes, data: bytes, size: int = TAG_BYTES) -> bytes:
    """The first ``size`` bytes of HMAC-SHA256 of ``data`` under the header subkey."""
    return hmac.new(frame_keys(passphrase).header_mac, data, hashlib.sha256).digest()[:size]


def embedding_seed(passphrase: bytes) -> int:
    """A keyed 63-bit seed for an embedder's own position layout (e.g. a classical preamble's
    blocks), for embedders that take a ``seed``: with it even the embedder's markers are keyed."""
    digest = hmac.new(frame_keys(passphrase).permutation, b"stegavox/embedder-seed", hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def audio_key(passphrase: bytes, salt: bytes) -> bytes:
    """The AES-256 key of one message: HMAC-SHA256(audio subkey, ``salt``)."""
    return hmac.new(frame_keys(passphrase).audio, salt, hashlib.sha256).digest()


def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def encrypt(plaintext: bytes, passphrase: bytes, associated_data: bytes) -> tuple[bytes, bytes, bytes]:
    """Encrypt and authenticate ``plaintext`` (``associated_data`` is authenticated, not encrypted).

    Returns:
        ``(salt, nonce, ciphertext_with_tag)``; the ciphertext is ``len(plaintext) + TAG_BYTES``.
    """
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _aesgcm(audio_key(passphrase, salt)).encrypt(nonce, plaintext, associated_data)
    return salt, nonce, ciphertext


def decrypt(
    salt: bytes,
    nonce: bytes,
    ciphertext_with_tag: bytes,
    passphrase: bytes,
    associated_data: bytes,
) -> bytes:
    """Inverse of :func:`encrypt`.

    Raises:
        AuthenticationError: the tag does not verify: the ciphertext, salt, nonce or associated
            data changed since encryption (or another passphrase).
    """
    from cryptography.exceptions import InvalidTag

    try:
        return _aesgcm(audio_key(passphrase, salt)).decrypt(nonce, ciphertext_with_tag, associated_data)
    except (InvalidTag, ValueError) as err:
        raise AuthenticationError(
            "authentication failed: the hidden audio was altered beyond what error correction repaired"
        ) from err


def read_passphrase(passphrase_file: str | None, env_var: str = PASSPHRASE_ENV_VAR) -> bytes:
    """The passphrase from ``passphrase_file`` if given, else from the environment variable.

    Both sources are treated alike, by :func:`normalise_passphrase`. The passphrase is never
    printed or put in an error message.

    Raises:
        InputError: neither source is given, the file is unreadable, or the passphrase is empty.
    """
    if passphrase_file is not None:
        try:
            passphrase = normalise_passphrase(Path(passphrase_file).read_bytes())
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise InputError(f"cannot read passphrase file {passphrase_file}: {reason}") from None
        source = f"passphrase file {passphrase_file}"
    elif env_var in os.environ:
        passphrase = normalise_passphrase(os.environ[env_var])
        source = f"environment variable {env_var}"
    else:
        raise InputError(f"no passphrase: give --passphrase-file or set {env_var}")
    if not passphrase:
        raise InputError(f"the passphrase from {source} is empty")
    return passphrase
