from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import AuthenticationError, InputError
from common.payload import crypto
from common.payload.crypto import NONCE_BYTES, SALT_BYTES, TAG_BYTES, decrypt, encrypt, read_passphrase


def test_round_trip_and_fresh_randomness() -> None:
    salt, nonce, ciphertext = encrypt(b"speech bytes", b"secret", b"header")
    assert (len(salt), len(nonce), len(ciphertext)) == (SALT_BYTES, NONCE_BYTES, 12 + TAG_BYTES)
    assert decrypt(salt, nonce, ciphertext, b"secret", b"header") == b"speech bytes"
    other_salt, other_nonce, _ = encrypt(b"speech bytes", b"secret", b"header")
    assert other_salt != salt and other_nonce != nonce


def test_any_change_fails_authentication() -> None:
    salt, nonce, ciphertext = encrypt(b"speech bytes", b"secret", b"header")
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    for arguments in [
        (salt, nonce, ciphertext, b"wrong", b"header"),
        (salt, nonce, ciphertext, b"secret", b"Header"),
        (salt, nonce, flipped, b"secret", b"header"),
    ]:
        with pytest.raises(AuthenticationError, match="altered"):
            decrypt(*arguments)


def test_read_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEGAVOX_PASSPHRASE", raising=False)
    with pytest.raises(InputError, match="no passphrase"):
        read_passphrase(None)
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", "from env")
    assert read_passphrase(None) == b"from env"
    path = tmp_path / "pass.txt"
    path.write_bytes(b"from file\r\n")
    assert read_passphrase(str(path)) == b"from file"


@pytest.mark.parametrize("content", [None, b"\n"])
def test_read_passphrase_file_errors(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "pass.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_passphrase(str(path))
    assert str(path) in str(info.value)


def test_empty_env_passphrase_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", "")
    with pytest.raises(InputError, match="empty"):
        read_passphrase(None)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\n\n"])
def test_file_and_environment_passphrases_are_read_alike(
    ending: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: a trailing newline was stripped from a file but not from the variable."""
    path = tmp_path / "pass.txt"
    path.write_bytes(("pass word " + ending).encode())
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", "pass word " + ending)
    assert read_passphrase(str(path)) == read_passphrase(None) == b"pass word "  # inner/trailing spaces kept
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", ending)
    with pytest.raises(InputError, match="empty"):
        read_passphrase(None)


def test_unicode_normalisation_variants_give_one_key() -> None:
    composed, decomposed = "caf\u00e9 \u00c5ngstr\u00f6m".encode(), "cafe\u0301 A\u030angstro\u0308m".encode()
    assert composed != decomposed
    assert crypto.frame_keys(composed) == crypto.frame_keys(decomposed)
    assert crypto.frame_keys(composed) != crypto.frame_keys(b"cafe Angstrom")
    assert crypto.normalise_passphrase(b"\xff\xfe not utf-8") == b"\xff\xfe not utf-8"


def test_frame_subkeys_are_distinct_and_cached() -> None:
    keys = crypto.frame_keys(b"secret")
    values = [keys.permutation, keys.whitening, keys.header_mac, keys.audio]
    assert len(set(values)) == 4 and all(len(value) == 32 for value in values)
    assert crypto.frame_keys(b"secret") is keys  # one scrypt per passphrase and process
    assert crypto.audio_key(b"secret", bytes(16)) != crypto.audio_key(b"secret", bytes(15) + b"\x01")
    assert 0 <= crypto.embedding_seed(b"secret") < 2**63
    assert crypto.embedding_seed(b"secret") != crypto.embedding_seed(b"secret ")


@pytest.mark.parametrize("typed, meant", [("pass\n", "pass"), ("pass\r\n", "pass"), ("cafe\u0301", "caf\u00e9")])
def test_normalise_passphrase_is_one_function_for_str_bytes_file_and_environment(
    typed: str, meant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pass.txt"
    path.write_bytes(typed.encode())
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", typed)
    expected = meant.encode()
    assert crypto.normalise_passphrase(typed) == crypto.normalise_passphrase(typed.encode()) == expected
    assert read_passphrase(str(path)) == read_passphrase(None) == expected
    assert crypto.frame_keys(typed.encode()) == crypto.frame_keys(expected)


def test_docs_name_the_current_format_and_the_keys_are_unchanged() -> None:
    from common.payload import container

    assert f"format version {container.FORMAT_VERSION}" in " ".join(crypto.__doc__.split())
    assert "version 3" not in crypto.__doc__ and "n = 2**15" not in crypto.__doc__
    # A known answer of format 4: any change of the KDF, its salt or the subkey labels changes every key.
    permutation = crypto.frame_keys(b"correct horse battery staple").permutation
    assert permutation.hex() == "c70f2a845e8a2401e9898220b0c4ea1f460ecc1e166eae955285d7dfd6c84fa2"


def test_kdf_cost_per_guess() -> None:
    """Issue 19: scrypt ran at n = 2**15 with a public salt; format 4 costs 128 MiB per guess."""
    assert crypto.SCRYPT_N >= 2**17 and crypto.SCRYPT_R * crypto.SCRYPT_N * 128 >= 128 * 2**20
