"""The frame hidden in the image: a keyed, whitened header, then the BCH-coded ciphertext.

Layout (format version 5), as channel bits::

    whiten( [permute_H(header codeword x repetitions)] [permute_B(BCH_t,m(AES-GCM(audio)))] )

Everything is keyed by the passphrase (:func:`common.payload.crypto.frame_keys`: one scrypt with
a fixed public salt, computed once per process): ``permute_H`` and ``permute_B`` are keyed
permutations of the header region and of the body, and ``whiten`` XORs every bit with a SHAKE-256
keystream. There is no plain magic: the header (:class:`Header`, :data:`HEADER_BYTES` bytes) ends
with a 16-byte HMAC-SHA256 tag under the frame key, which is how the receiver recognises it.
Without the passphrase the frame's bits look like coin flips — balance, the agreement between
the header copies and any unkeyed header parsing give what random bits give — and
"wrong passphrase" and "no payload" are one and the same outcome
(:class:`~common.errors.PayloadUnrecoverableError`, after the same work: one key derivation and
one header decoding attempt).

The header is one codeword of a fixed strong code (t = 24 over GF(2^10): 3.4 % of its bits)
sent once where the body's code corrects at most :data:`LIGHT_HEADER_ERROR_RATE` of its bits,
else :data:`HEADER_REPETITIONS` times (:func:`header_repetitions`): a frame changes no
more of the image than its channel needs. The receiver tries both lengths; with copies it adds
their soft values before decoding, so the header survives even when every single copy is
uncorrectable. Its parameters are the AES-GCM associated
data of the audio, and salt and nonce are covered by the tag, so any change to the header fails.
A body that BCH miscorrected fails AES-GCM (:class:`~common.errors.AuthenticationError`), which
only a holder of the passphrase can reach.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import struct

import numpy as np

from common.errors import PayloadNotFoundError, PayloadUnrecoverableError
from common.payload import crypto
from common.payload.ecc import DEFAULT_BCH_M, BCHCode, bch_code

FORMAT_VERSION = 5
HEADER_CODE = BCHCode(t=24, m=10)
#: Copies of the header codeword where the body's code corrects more than
#: :data:`LIGHT_HEADER_ERROR_RATE` of its bits (one copy otherwise).
HEADER_REPETITIONS = 3
#: The most errors per codeword bit a body code may be designed to correct (its ``t`` over
#: ``2^m - 1``) for the frame to send one header copy. The code's ``t`` is about twice the bit-error
#: rate it was chosen for (a 1e-6 codeword failure), so the one copy sees about 1 % errors at most
#: and corrects 3.4 %.
LIGHT_HEADER_ERROR_RATE = 0.02
#: Least reliable bits flipped in every pattern when a body codeword needs soft decoding (Chase-2).
CHASE_BITS = 6
#: Codecs by their id in the header (append only: ids are part of the format).
CODEC_IDS = {"pcm16": 1, "flac": 2, "opus": 3, "codec2": 4}

#: version, hiding method id, codec id, channels, sample rate, payload length, bch t, bch m
_PARAMETERS = struct.Struct(">BBBBIIBB")
HEADER_BYTES = _PARAMETERS.size + crypto.SALT_BYTES + crypto.NONCE_BYTES + crypto.TAG_BYTES
#: Channel bits of one header codeword: the shortest header.
HEADER_CODEWORD_BITS = HEADER_CODE.encoded_bits(HEADER_BYTES)
#: Channel bits of the longest header (:data:`HEADER_REPETITIONS` copies).
HEADER_BITS = HEADER_REPETITIONS * HEADER_CODEWORD_BITS
#: The one message for "no payload" and "another passphrase": they must not be told apart.
NOT_FOUND_MESSAGE = (
    "no stegavox payload found for this passphrase "
    "(nothing hidden, another passphrase, or damaged beyond repair)"
)


@dataclasses.dataclass(frozen=True)
class AudioMeta:
    """What the receiver needs to know about the audio file carried by the payload."""

    codec: str
    sample_rate: int
    channels: int

    def __post_init__(self) -> None:
        if self.codec not in CODEC_IDS:
            raise ValueError(f"unknown codec {self.codec!r}")
        if not (0 < self.sample_rate < 2**32 and 0 < self.channels < 256):
            raise ValueError(f"unsupported sample rate {self.sample_rate} or channels {self.channels}")


@dataclasses.dataclass(frozen=True)
class Header:
    """The container header; :meth:`to_bytes` is its :data:`HEADER_BYTES`-byte wire form.

    ``method`` identifies how the frame was hidden in the image (an id the application assigns
    to each hiding method, 0 = unspecified), so that the receiver learns it from authenticated data.
    """

    meta: AudioMeta
    payload_bytes: int
    bch_t: int
    bch_m: int
    salt: bytes = b""
    nonce: bytes = b""
    method: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.method < 256:
            raise ValueError(f"method id {self.method} is not a byte")

    @property
    def associated_data(self) -> bytes:
        """The header's parameters, authenticated by AES-GCM."""
        return _PARAMETERS.pack(
            FORMAT_VERSION,
            self.method,
            CODEC_IDS[self.meta.codec],
            self.meta.channels,
            self.meta.sample_rate,
            self.payload_bytes,
            self.bch_t,
            self.bch_m,
        )

    def to_bytes(self, passphrase: bytes) -> bytes:
        """Parameters, salt, nonce and their HMAC tag under the passphrase's header key."""
        body = self.associated_data + self.salt + self.nonce
        return body + crypto.header_tag(passphrase, body)

    @classmethod
    def from_bytes(cls, data: bytes, passphrase: bytes) -> Header:
        """Authenticate and parse :meth:`to_bytes` output.

        Raises:
            PayloadNotFoundError: wrong size or tag (:data:`NOT_FOUND_MESSAGE`: no header
                under this passphrase).
            PayloadUnrecoverableError: an authentic header of another version or with invalid fields.
        """
        body, tag = data[: -crypto.TAG_BYTES], data[-crypto.TAG_BYTES :]
        if len(data) != HEADER_BYTES or not hmac.compare_digest(tag, crypto.header_tag(passphrase, body)):
            raise PayloadNotFoundError(NOT_FOUND_MESSAGE)
        version, method, codec_id, channels, sample_rate, payload_bytes, bch_t, bch_m = _PARAMETERS.unpack(
            data[: _PARAMETERS.size]
        )
        if version != FORMAT_VERSION:
            raise PayloadUnrecoverableError(f"unsupported stegavox format version {version}")
        codecs = {index: codec for codec, index in CODEC_IDS.items()}
        try:
            meta = AudioMeta(codecs.get(codec_id, ""), sample_rate, channels)
            bch_code(bch_t, bch_m)
        except ValueError as err:
            raise PayloadUnrecoverableError(f"stegavox header has invalid fields ({err})") from None
        salt_end = _PARAMETERS.size + crypto.SALT_BYTES
        return cls(
            meta,
            payload_bytes,
            bch_t,
            bch_m,
            salt=data[_PARAMETERS.size : salt_end],
            nonce=data[salt_end : salt_end + crypto.NONCE_BYTES],
            method=method,
        )


@dataclasses.dataclass(frozen=True)
class UnpackStats:
    """How hard the channel hit the frame (all counts are corrected bit errors)."""

    header_errors: int
    codeword_errors: tuple[int, ...]
    frame_bits: int
    header_bits: int
    #: The hiding method id recorded in the header (see :class:`Header`).
    method: int = 0

    @property
    def body_errors(self) -> int:
        """Bit errors corrected in the body."""
        return sum(self.codeword_errors)

    @property
    def estimated_ber(self) -> float:
        """Corrected errors of the body per body bit: the raw BER the payload went through."""
        return self.body_errors / max(self.frame_bits - self.header_bits, 1)


@functools.lru_cache(maxsize=16)
def keyed_permutation(key: bytes, length: int) -> np.ndarray:
    """A permutation of ``range(length)`` determined by ``key``, library-independent.

    Positions are sorted by 64-bit values of SHAKE-256(key, length), so the permutation depends
    on no random-number stream (a stego image stays readable across numpy versions). Read-only.
    """
    seed = key + length.to_bytes(8, "big")
    values = np.frombuffer(hashlib.shake_256(seed).digest(8 * length), dtype=">u8")
    permutation = np.argsort(values, kind="stable")
    permutation.flags.writeable = False
    return permutation


def keystream_signs(passphrase: bytes, length: int) -> np.ndarray:
    """The first ``length`` whitening bits as float64 signs: +1 keeps a bit, -1 flips it.

    SHAKE-256 is an extendable-output function, so a shorter stream is a prefix of a longer
    one: the receiver can de-whiten the header before it knows the frame's length.
    """
    stream = hashlib.shake_256(crypto.frame_keys(passphrase).whitening).digest((length + 7) // 8)
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))[:length]
    return 1.0 - 2.0 * bits


def _permute(bits: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    return np.asarray(bits)[permutation]


def _unpermute(bits: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    restored = np.empty_like(bits)
    restored[permutation] = bits
    return restored


def _header_permutation(passphrase: bytes, repetitions: int) -> np.ndarray:
    return keyed_permutation(crypto.frame_keys(passphrase).permutation + b"header", repetitions * HEADER_CODEWORD_BITS)


def _body_permutation(passphrase: bytes, length: int) -> np.ndarray:
    return keyed_permutation(crypto.frame_keys(passphrase).permutation + b"body", length)


def header_repetitions(bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """Copies of the header codeword in a frame whose body has the BCH code ``(bch_t, bch_m)``:
    one where that code corrects at most :data:`LIGHT_HEADER_ERROR_RATE` of a codeword's bits,
    else :data:`HEADER_REPETITIONS`."""
    return 1 if bch_t <= LIGHT_HEADER_ERROR_RATE * (2**bch_m - 1) else HEADER_REPETITIONS


def header_bits(bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """Channel bits of the header of a frame whose body has the BCH code ``(bch_t, bch_m)``."""
    return header_repetitions(bch_t, bch_m) * HEADER_CODEWORD_BITS


def encode_header(header: Header, passphrase: bytes) -> np.ndarray:
    """The header codeword in its :func:`header_repetitions` copies, permuted (uint8 bits, not whitened)."""
    repetitions = header_repetitions(header.bch_t, header.bch_m)
    copies = np.tile(HEADER_CODE.encode(header.to_bytes(passphrase)), repetitions)
    return _permute(copies, _header_permutation(passphrase, repetitions))


def frame_bits(payload_bytes: int, bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """Channel bits of the frame carrying ``payload_bytes`` bytes of audio file."""
    return header_bits(bch_t, bch_m) + bch_code(bch_t, bch_m).encoded_bits(payload_bytes + crypto.TAG_BYTES)


def max_payload_bytes(capacity_bits: int, bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """The largest audio file (bytes) whose frame fits in ``capacity_bits``; 0 if none does."""
    ciphertext = bch_code(bch_t, bch_m).max_data_bytes(capacity_bits - header_bits(bch_t, bch_m))
    return max(ciphertext - crypto.TAG_BYTES, 0)


def whiten(bits: np.ndarray, passphrase: bytes) -> np.ndarray:
    """XOR 0/1 ``bits`` with the passphrase's keystream (its own inverse)."""
    bits = np.asarray(bits, dtype=np.uint8)
    return bits ^ (keystream_signs(passphrase, bits.size) < 0).astype(np.uint8)


def pack(
    audio_bytes: bytes,
    meta: AudioMeta,
    passphrase: bytes,
    bch_t: int,
    bch_m: int = DEFAULT_BCH_M,
    method: int = 0,
) -> np.ndarray:
    """Encrypt, code, permute and whiten an audio file for hiding.

    Args:
        audio_bytes: the complete audio file (see :func:`common.payload.codecs.encode_audio`).
        meta: its codec, sample rate and channel count.
        passphrase: the secret every key derives from.
        bch_t: bit errors corrected per body codeword (see :func:`~common.payload.ecc.choose_bch_t`).
        bch_m: Galois field order of the body code.
        method: id of the hiding method, recorded in the header (see :class:`Header`).

    Returns:
        ``frame_bits(len(audio_bytes), bch_t, bch_m)`` bits as uint8 0/1.

    Raises:
        ValueError: no BCH code for ``(bch_t, bch_m)``, or a payload of 4 GiB or more.
    """
    code = bch_code(bch_t, bch_m)
    if len(audio_bytes) >= 2**32:
        raise ValueError("payload too large")
    header = Header(meta, len(audio_bytes), bch_t, bch_m, method=method)
    salt, nonce, ciphertext = crypto.encrypt(audio_bytes, passphrase, header.associated_data)
    header = dataclasses.replace(header, salt=salt, nonce=nonce)
    body = code.encode(ciphertext)
    frame = np.concatenate([encode_header(header, passphrase), _permute(body, _body_permutation(passphrase, body.size))])
    return whiten(frame, passphrase)


def _as_soft(bits: np.ndarray) -> np.ndarray:
    """Float soft values (positive means 1): hard 0/1 (bool, integer) become -1/+1."""
    try:
        array = np.asarray(bits).reshape(-1)
        if array.dtype.kind in "biu":
            return np.where(array > 0, 1.0, -1.0)
        if array.dtype.kind != "f":
            raise TypeError(f"bits of dtype {array.dtype}")
        return np.clip(np.nan_to_num(array.astype(np.float64), nan=0.0), -1e6, 1e6)
    except (TypeError, ValueError) as err:
        raise PayloadUnrecoverableError(f"no stegavox payload found (not a bit array: {err})") from None


def read_header(bits: np.ndarray, passphrase: bytes) -> tuple[Header, int]:
    """The authenticated header at the start of ``bits`` and its corrected bit errors.

    The header is read as one copy, then as :data:`HEADER_REPETITIONS` copies; a reading counts
    if its tag checks and its body code asks for that many copies (:func:`header_repetitions`).

    Raises:
        PayloadNotFoundError: no header under this passphrase (:data:`NOT_FOUND_MESSAGE`;
            also for fewer than :data:`HEADER_BITS` bits, after the same work).
    """
    soft = _as_soft(bits)
    if len(soft) < HEADER_BITS:  # too few bits: still the same work and the same answer
        soft = np.concatenate([soft, np.zeros(HEADER_BITS - len(soft))])
    for repetitions in (1, HEADER_REPETITIONS):
        length = repetitions * HEADER_CODEWORD_BITS
        copies = _unpermute(soft[:length] * keystream_signs(passphrase, length), _header_permutation(passphrase, repetitions))
        data, (errors,) = HEADER_CODE.decode_codewords(copies.reshape(repetitions, -1).sum(axis=0))
        if errors < 0:  # not a codeword: checking a tag anyway keeps the work (and time) the same
            data = bytes(HEADER_BYTES)
        try:
            header = Header.from_bytes(data, passphrase)
        except PayloadNotFoundError:
            continue
        if header_repetitions(header.bch_t, header.bch_m) == repetitions:
            return header, errors
    raise PayloadNotFoundError(NOT_FOUND_MESSAGE)


def unpack(bits: np.ndarray, passphrase: bytes) -> tuple[bytes, AudioMeta, UnpackStats]:
    """Recover the audio file from extracted bits (extra bits after the frame are ignored).

    Args:
        bits: hard bits (bool or integer 0/1) or soft values (float, positive means 1, 0 or NaN
            means unknown), starting at the first hidden bit.
        passphrase: the sender's passphrase.

    Returns:
        The audio file bytes exactly as packed, their :class:`AudioMeta`, and :class:`UnpackStats`.

    Raises:
        PayloadNotFoundError: no header under this passphrase (nothing hidden, another
            passphrase, or a header damaged beyond repair: one message for all three).
        PayloadUnrecoverableError: too few bits for the frame, or some body codeword uncorrectable.
        AuthenticationError: the body was miscorrected or altered (AES-GCM tag; this needs an
            authentic header, so only a holder of the passphrase can see it).
    """
    soft = _as_soft(bits)
    header, header_errors = read_header(soft, passphrase)
    code = bch_code(header.bch_t, header.bch_m)
    body_bits = code.encoded_bits(header.payload_bytes + crypto.TAG_BYTES)
    start = header_bits(header.bch_t, header.bch_m)
    total_bits = start + body_bits
    if len(soft) < total_bits:
        raise PayloadUnrecoverableError(
            f"payload truncated: the frame needs {total_bits} bits but only {len(soft)} were extracted"
        )
    signs = keystream_signs(passphrase, total_bits)[start:]
    body = _unpermute(soft[start:total_bits] * signs, _body_permutation(passphrase, body_bits))
    ciphertext, codeword_errors = code.decode(body, CHASE_BITS)
    audio = crypto.decrypt(header.salt, header.nonce, ciphertext, passphrase, header.associated_data)
    return audio, header.meta, UnpackStats(header_errors, tuple(codeword_errors), total_bits, start, header.method)
