"""The frame hidden in the image: a protected header, then the BCH-coded, interleaved ciphertext.

Layout (format version 1), as bits MSB first::

    [header codeword x HEADER_REPETITIONS][body: interleave(BCH_t,m(AES-GCM(audio file bytes)))]

The header (:class:`Header`, :data:`HEADER_BYTES` bytes with a CRC-32) is one BCH codeword of a
fixed strong code (t = 24 over GF(2^10)) sent :data:`HEADER_REPETITIONS` times; the receiver
adds the copies' soft values before decoding, so the header survives even when every single
copy is uncorrectable. It sits at the start of the bit stream, so the receiver needs only the
extracted bits and the passphrase. Its parameters (everything but salt, nonce and CRC) are the
AES-GCM associated data; salt and nonce are bound implicitly (another salt gives another key,
another nonce another keystream and tag), so any change to the header fails authentication.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from common.errors import PayloadUnrecoverableError
from common.payload import crypto
from common.payload.codecs import CODECS
from common.payload.ecc import DEFAULT_BCH_M, BCHCode, bch_code, deinterleave, interleave

MAGIC = b"SVOX"
FORMAT_VERSION = 1
#: Default seed of the body interleaver (stored in the header, so any seed can be read back).
DEFAULT_INTERLEAVE_SEED = 0x5345_4544
HEADER_REPETITIONS = 3
HEADER_CODE = BCHCode(t=24, m=10)

#: magic, version, codec id, channels, sample rate, payload length, bch t, bch m, interleave seed
_PARAMETERS = struct.Struct(">4sBBBIIBBI")
_CRC = struct.Struct(">I")
_CODEC_IDS = {codec: index + 1 for index, codec in enumerate(CODECS)}
HEADER_BYTES = _PARAMETERS.size + crypto.SALT_BYTES + crypto.NONCE_BYTES + _CRC.size
#: Channel bits taken by the repeated header codeword.
HEADER_BITS = HEADER_REPETITIONS * HEADER_CODE.encoded_bits(HEADER_BYTES)


@dataclasses.dataclass(frozen=True)
class AudioMeta:
    """What the receiver needs to know about the audio file carried by the payload."""

    codec: str
    sample_rate: int
    channels: int

    def __post_init__(self) -> None:
        if self.codec not in _CODEC_IDS:
            raise ValueError(f"unknown codec {self.codec!r}")
        if not (0 < self.sample_rate < 2**32 and 0 < self.channels < 256):
            raise ValueError(f"unsupported sample rate {self.sample_rate} or channels {self.channels}")


@dataclasses.dataclass(frozen=True)
class Header:
    """The container header; :meth:`to_bytes` is its :data:`HEADER_BYTES`-byte wire form."""

    meta: AudioMeta
    payload_bytes: int
    bch_t: int
    bch_m: int
    interleave_seed: int
    salt: bytes = b""
    nonce: bytes = b""

    @property
    def associated_data(self) -> bytes:
        """The header's parameters, authenticated by AES-GCM."""
        return _PARAMETERS.pack(
            MAGIC,
            FORMAT_VERSION,
            _CODEC_IDS[self.meta.codec],
            self.meta.channels,
            self.meta.sample_rate,
            self.payload_bytes,
            self.bch_t,
            self.bch_m,
            self.interleave_seed,
        )

    def to_bytes(self) -> bytes:
        """Parameters, salt, nonce and the CRC-32 of all of them."""
        body = self.associated_data + self.salt + self.nonce
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        """Parse and validate :meth:`to_bytes` output.

        Raises:
            PayloadUnrecoverableError: wrong size, CRC, magic, version or field values.
        """
        body, checksum = data[: -_CRC.size], data[-_CRC.size :]
        if len(data) != HEADER_BYTES or _CRC.unpack(checksum)[0] != zlib.crc32(body):
            raise PayloadUnrecoverableError("no stegavox payload found (header checksum mismatch)")
        fields = _PARAMETERS.unpack(data[: _PARAMETERS.size])
        magic, version, codec_id, channels, sample_rate, payload_bytes, bch_t, bch_m, seed = fields
        if magic != MAGIC:
            raise PayloadUnrecoverableError("no stegavox payload found (bad magic)")
        if version != FORMAT_VERSION:
            raise PayloadUnrecoverableError(f"unsupported stegavox format version {version}")
        codecs = {index: codec for codec, index in _CODEC_IDS.items()}
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
            seed,
            salt=data[_PARAMETERS.size : salt_end],
            nonce=data[salt_end : salt_end + crypto.NONCE_BYTES],
        )


@dataclasses.dataclass(frozen=True)
class UnpackStats:
    """How hard the channel hit the frame (all counts are corrected bit errors)."""

    header_errors: int
    codeword_errors: tuple[int, ...]
    frame_bits: int

    @property
    def body_errors(self) -> int:
        """Bit errors corrected in the body."""
        return sum(self.codeword_errors)

    @property
    def estimated_ber(self) -> float:
        """Corrected errors of the body per body bit: the raw BER the payload went through."""
        return self.body_errors / max(self.frame_bits - HEADER_BITS, 1)


def encode_header(header: Header) -> np.ndarray:
    """The repeated header codeword, :data:`HEADER_BITS` uint8 bits."""
    return np.tile(HEADER_CODE.encode(header.to_bytes()), HEADER_REPETITIONS)


def frame_bits(payload_bytes: int, bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """Channel bits of the frame carrying ``payload_bytes`` bytes of audio file."""
    return HEADER_BITS + bch_code(bch_t, bch_m).encoded_bits(payload_bytes + crypto.TAG_BYTES)


def max_payload_bytes(capacity_bits: int, bch_t: int, bch_m: int = DEFAULT_BCH_M) -> int:
    """The largest audio file (bytes) whose frame fits in ``capacity_bits``; 0 if none does."""
    ciphertext = bch_code(bch_t, bch_m).max_data_bytes(capacity_bits - HEADER_BITS)
    return max(ciphertext - crypto.TAG_BYTES, 0)


def pack(
    audio_bytes: bytes,
    meta: AudioMeta,
    passphrase: bytes,
    bch_t: int,
    bch_m: int = DEFAULT_BCH_M,
    interleave_seed: int = DEFAULT_INTERLEAVE_SEED,
) -> np.ndarray:
    """Encrypt, code and frame an audio file for hiding.

    Args:
        audio_bytes: the complete audio file (see :func:`common.payload.codecs.encode_audio`).
        meta: its codec, sample rate and channel count.
        passphrase: key material for scrypt.
        bch_t: bit errors corrected per body codeword (see :func:`~common.payload.ecc.choose_bch_t`).
        bch_m: Galois field order of the body code.
        interleave_seed: seed of the body interleaver (0 to 2**32 - 1).

    Returns:
        ``frame_bits(len(audio_bytes), bch_t, bch_m)`` bits as uint8 0/1.

    Raises:
        ValueError: no BCH code for ``(bch_t, bch_m)``, or a payload of 4 GiB or more.
    """
    code = bch_code(bch_t, bch_m)
    if len(audio_bytes) >= 2**32 or not 0 <= interleave_seed < 2**32:
        raise ValueError("payload too large or interleave seed out of range")
    header = Header(meta, len(audio_bytes), bch_t, bch_m, interleave_seed)
    salt, nonce, ciphertext = crypto.encrypt(audio_bytes, passphrase, header.associated_data)
    header = dataclasses.replace(header, salt=salt, nonce=nonce)
    body = interleave(code.encode(ciphertext), interleave_seed)
    return np.concatenate([encode_header(header), body])


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


def unpack(bits: np.ndarray, passphrase: bytes) -> tuple[bytes, AudioMeta, UnpackStats]:
    """Recover the audio file from extracted bits (extra bits after the frame are ignored).

    Args:
        bits: hard bits (bool or integer 0/1) or soft values (float, positive means 1, 0 or NaN
            means unknown), starting at the first hidden bit.
        passphrase: the sender's passphrase.

    Returns:
        The audio file bytes exactly as packed, their :class:`AudioMeta`, and :class:`UnpackStats`.

    Raises:
        PayloadUnrecoverableError: no readable header, too few bits for the frame, or some body
            codeword uncorrectable.
        AuthenticationError: wrong passphrase, or errors that BCH miscorrected.
    """
    soft = _as_soft(bits)
    if len(soft) < HEADER_BITS:
        raise PayloadUnrecoverableError(
            f"no stegavox payload found (only {len(soft)} bits; a header alone takes {HEADER_BITS})"
        )
    combined = soft[:HEADER_BITS].reshape(HEADER_REPETITIONS, -1).sum(axis=0)
    try:
        header_bytes, (header_errors,) = HEADER_CODE.decode(combined)
    except PayloadUnrecoverableError:
        raise PayloadUnrecoverableError("no stegavox payload found (header unreadable)") from None
    header = Header.from_bytes(header_bytes)
    code = bch_code(header.bch_t, header.bch_m)
    total_bits = HEADER_BITS + code.encoded_bits(header.payload_bytes + crypto.TAG_BYTES)
    if len(soft) < total_bits:
        raise PayloadUnrecoverableError(
            f"payload truncated: the frame needs {total_bits} bits but only {len(soft)} were extracted"
        )
    body = deinterleave(soft[HEADER_BITS:total_bits], header.interleave_seed)
    ciphertext, codeword_errors = code.decode(body)
    audio = crypto.decrypt(header.salt, header.nonce, ciphertext, passphrase, header.associated_data)
    return audio, header.meta, UnpackStats(header_errors, tuple(codeword_errors), total_bits)
