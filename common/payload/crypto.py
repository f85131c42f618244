"""AES-256-GCM encryption of the payload with a key stretched from a passphrase by scrypt.

Every message gets a fresh random 16-byte salt (hence a fresh key) and a random 12-byte nonce.
scrypt uses n = 2**15, r = 8, p = 1 (32 MiB of memory, about 0.1-0.2 s on one core): above the
n = 2**14 that `cryptography` recommends for interactive logins, because a stego image may be
attacked offline. These parameters are part of container format version 1.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from common.errors import AuthenticationError, InputError

SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
PASSPHRASE_ENV_VAR = "STEGAVOX_PASSPHRASE"


@functools.lru_cache(maxsize=4)
def derive_key(passphrase: bytes, salt: bytes) -> bytes:
    """The 256-bit AES key scrypt(passphrase, salt) with the module's n, r, p.

    Cached per process: ``hide`` decrypts what it just encrypted to check the stego image, and
    re-deriving the same key would cost another scrypt.
    """
    return Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def encrypt(plaintext: bytes, passphrase: bytes, associated_data: bytes) -> tuple[bytes, bytes, bytes]:
    """Encrypt and authenticate ``plaintext`` (``associated_data`` is authenticated, not encrypted).

    Returns:
        ``(salt, nonce, ciphertext_with_tag)``; the ciphertext is ``len(plaintext) + TAG_BYTES``.
    """
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(derive_key(passphrase, salt)).encrypt(nonce, plaintext, associated_data)
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
        AuthenticationError: the tag does not verify: wrong passphrase, or the ciphertext, salt,
            nonce or associated data changed since encryption.
    """
    try:
        return AESGCM(derive_key(passphrase, salt)).decrypt(nonce, ciphertext_with_tag, associated_data)
    except (InvalidTag, ValueError) as err:
        raise AuthenticationError(
            "authentication failed: wrong passphrase or corrupted payload"
        ) from err


def read_passphrase(passphrase_file: str | None, env_var: str = PASSPHRASE_ENV_VAR) -> bytes:
    """The passphrase from ``passphrase_file`` if given, else from the environment variable.

    A file's trailing line break(s) are removed; the passphrase is never printed or put in an
    error message.

    Raises:
        InputError: neither source is given, the file is unreadable, or the passphrase is empty.
    """
    if passphrase_file is not None:
        try:
            passphrase = Path(passphrase_file).read_bytes().rstrip(b"\r\n")
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise InputError(f"cannot read passphrase file {passphrase_file}: {reason}") from None
        source = f"passphrase file {passphrase_file}"
    elif env_var in os.environ:
        passphrase = os.environ[env_var].encode("utf-8", "surrogateescape")
        source = f"environment variable {env_var}"
    else:
        raise InputError(f"no passphrase: give --passphrase-file or set {env_var}")
    if not passphrase:
        raise InputError(f"the passphrase from {source} is empty")
    return passphrase
