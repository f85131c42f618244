from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common.errors import AuthenticationError, PayloadNotFoundError, PayloadUnrecoverableError
from common.payload import container, crypto
from common.payload.codecs import CODECS, decode_audio, encode_audio, encoded_sample_rate
from common.payload.container import (
    HEADER_BITS,
    HEADER_CODE,
    HEADER_CODEWORD_BITS,
    HEADER_REPETITIONS,
    NOT_FOUND_MESSAGE,
    AudioMeta,
    Header,
    encode_header,
    frame_bits,
    header_bits,
    header_repetitions,
    max_payload_bytes,
    pack,
    read_header,
    unpack,
    whiten,
)
from common.payload.ecc import bch_code

PASSPHRASE = b"correct horse battery staple"
#: A body code ``(t, m)`` correcting more than 2 % of its bits: its frame repeats the header.
HEAVY_T, HEAVY_M = 30, 10


@functools.cache
def sample_frame(bch_t: int = 8, bch_m: int = 13, size: int = 1500) -> tuple[bytes, np.ndarray]:
    audio = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    return audio, pack(audio, AudioMeta("opus", 16000, 1), PASSPHRASE, bch_t, bch_m)


def header_copies(frame: np.ndarray, repetitions: int, passphrase: bytes = PASSPHRASE) -> np.ndarray:
    """The de-whitened, un-permuted header copies ``(repetitions, codeword bits)``."""
    plain = whiten(frame[: repetitions * HEADER_CODEWORD_BITS], passphrase)
    return container._unpermute(plain, container._header_permutation(passphrase, repetitions)).reshape(repetitions, -1)


def to_channel_header(copy_errors: np.ndarray, passphrase: bytes = PASSPHRASE) -> np.ndarray:
    """Errors given per header copy ``(repetitions, bits)`` at their channel positions."""
    return container._permute(copy_errors.reshape(-1), container._header_permutation(passphrase, len(copy_errors)))


def body_errors(
    frame: np.ndarray, bch_t: int, bch_m: int, per_codeword: int, rng: np.random.Generator
) -> np.ndarray:
    """``frame`` with ``per_codeword`` flips in every body codeword (before interleaving)."""
    code = bch_code(bch_t, bch_m)
    errors = np.zeros(len(frame) - header_bits(bch_t, bch_m), dtype=np.uint8)
    for start in range(0, len(errors), code.codeword_bits):
        length = min(code.codeword_bits, len(errors) - start)
        errors[start + rng.choice(length, per_codeword, replace=False)] = 1
    channel = container._permute(errors, container._body_permutation(PASSPHRASE, errors.size))
    return frame ^ np.concatenate([np.zeros(header_bits(bch_t, bch_m), dtype=np.uint8), channel])


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_is_byte_identical(codec: str) -> None:
    time = torch.arange(8000) / 16000
    wave = (0.3 * torch.sin(2 * math.pi * 180 * time) * torch.sin(2 * math.pi * 3 * time))[None]
    audio = encode_audio(wave, 16000, codec)
    meta = AudioMeta(codec, encoded_sample_rate(codec, 16000), 1)
    bits = pack(audio, meta, PASSPHRASE, bch_t=6)
    assert bits.dtype == np.uint8 and len(bits) == frame_bits(len(audio), 6)
    extra = np.random.default_rng(0).integers(0, 2, 777).astype(np.uint8)  # unused capacity
    recovered, recovered_meta, stats = unpack(np.concatenate([bits, extra]), PASSPHRASE)
    assert recovered == audio
    assert recovered_meta == meta
    assert stats.body_errors == 0 and stats.frame_bits == len(bits)
    assert decode_audio(recovered)[1] == meta.sample_rate


def test_capacity_arithmetic() -> None:
    for capacity in [HEADER_BITS + 500, 20_000, 123_457]:
        for t, m in [(4, 13), (30, 10)]:
            fit = max_payload_bytes(capacity, t, m)
            assert frame_bits(fit + 1, t, m) > capacity
            assert fit == 0 or frame_bits(fit, t, m) <= capacity
    assert max_payload_bytes(HEADER_CODEWORD_BITS - 1, 8) == 0 and max_payload_bytes(HEADER_BITS - 1, HEAVY_T, HEAVY_M) == 0


def test_the_header_is_repeated_only_for_a_body_code_designed_for_many_errors() -> None:
    # One copy up to 2 % of a body codeword's bits (t / (2^m - 1)), three above.
    assert [header_repetitions(t, m) for t, m in ((2, 13), (64, 13), (64, 12))] == [1, 1, 1]
    assert [header_repetitions(t, 11) for t in (40, 41)] == [1, HEADER_REPETITIONS]
    assert [header_repetitions(t, 10) for t in (20, 21, HEAVY_T)] == [1, HEADER_REPETITIONS, HEADER_REPETITIONS]
    for t, m in ((8, 13), (HEAVY_T, HEAVY_M)):
        audio, frame = sample_frame(bch_t=t, bch_m=m)
        assert len(frame) == frame_bits(len(audio), t, m) == header_bits(t, m) + bch_code(t, m).encoded_bits(len(audio) + 16)
    # The single copy corrects its t = 24 errors.
    audio, frame = sample_frame()
    errors = np.zeros((1, HEADER_CODEWORD_BITS), dtype=np.uint8)
    errors[0, np.random.default_rng(6).permutation(HEADER_CODEWORD_BITS)[: HEADER_CODE.t]] = 1
    noisy = frame.copy()
    noisy[:HEADER_CODEWORD_BITS] ^= to_channel_header(errors)
    recovered, _, stats = unpack(noisy, PASSPHRASE)
    assert recovered == audio and stats.header_errors == HEADER_CODE.t and stats.header_bits == HEADER_CODEWORD_BITS


def test_corrects_t_body_errors_and_header_copies_each_beyond_repair() -> None:
    audio, frame = sample_frame(bch_t=HEAVY_T, bch_m=HEAVY_M)
    rng = np.random.default_rng(1)
    noisy = body_errors(frame, HEAVY_T, HEAVY_M, 8, rng)
    copy_bits = HEADER_CODEWORD_BITS
    positions = rng.permutation(copy_bits)[: 40 * HEADER_REPETITIONS].reshape(HEADER_REPETITIONS, 40)
    copy_errors = np.zeros((HEADER_REPETITIONS, copy_bits), dtype=np.uint8)
    for copy, flips in enumerate(positions):  # 40 > t = 24 errors in every copy, never the same bit
        copy_errors[copy, flips] = 1
    noisy[:HEADER_BITS] ^= to_channel_header(copy_errors)
    for copy in header_copies(noisy, HEADER_REPETITIONS):
        with pytest.raises(PayloadUnrecoverableError):
            HEADER_CODE.decode(copy)
    recovered, _, stats = unpack(noisy, PASSPHRASE)
    assert recovered == audio
    assert stats.header_errors == 0
    assert set(stats.codeword_errors) == {8}
    body_bits = len(frame) - HEADER_BITS
    assert stats.estimated_ber == pytest.approx(8 * len(stats.codeword_errors) / body_bits)


def test_soft_bits_with_noise() -> None:
    audio, frame = sample_frame()
    rng = np.random.default_rng(2)
    # Noise relative to each bit's sign: which positions flip (BER ~4e-4) is fixed by the seed,
    # not by the frame's random salt and nonce, so the outcome is the same in every run.
    soft = (2.0 * frame - 1.0) * (1.0 + 0.3 * rng.standard_normal(len(frame)))
    assert 0 < np.sum(soft * (2.0 * frame - 1.0) < 0) < 20
    soft[rng.choice(len(frame), 10, replace=False)] = np.nan  # erasures
    assert unpack(soft.astype(np.float32), PASSPHRASE)[0] == audio


def test_wrong_passphrase_and_no_payload_are_the_same_outcome() -> None:
    _, frame = sample_frame()
    outcomes = []
    for bits, passphrase in [
        (frame, b"not the passphrase"),
        (frame, PASSPHRASE + b" "),
        (np.random.default_rng(5).integers(0, 2, len(frame)), PASSPHRASE),
        (np.zeros(len(frame), dtype=np.uint8), PASSPHRASE),
        (frame[::-1].copy(), PASSPHRASE),
    ]:
        with pytest.raises(PayloadUnrecoverableError) as info:
            unpack(bits, passphrase)
        outcomes.append((info.type, str(info.value)))
    assert set(outcomes) == {(PayloadNotFoundError, NOT_FOUND_MESSAGE)}


def test_no_plain_magic_and_no_public_structure() -> None:
    """The same payload under two passphrases, or twice under one: unrelated channel bits."""
    audio, frame = sample_frame()
    again = pack(audio, AudioMeta("opus", 16000, 1), PASSPHRASE, 8, 13)  # fresh salt and nonce
    other = pack(audio, AudioMeta("opus", 16000, 1), b"another passphrase", 8, 13)
    assert len(frame) == len(again) == len(other)
    assert abs(np.mean(frame == other) - 0.5) < 0.02  # every bit, header included, is keyed
    # Same key: only the fixed parameters (13 of 57 header bytes) and the body's keystream repeat.
    assert np.mean(frame[:HEADER_CODEWORD_BITS] == again[:HEADER_CODEWORD_BITS]) < 0.7
    assert b"SVOX" not in np.packbits(frame).tobytes()
    # Unkeyed, the three header copies of a frame agree like coin flips (they agreed on all bits).
    _, repeated = sample_frame(bch_t=HEAVY_T, bch_m=HEAVY_M)
    public_copies = repeated[:HEADER_BITS].reshape(HEADER_REPETITIONS, -1)
    assert abs(np.mean(public_copies[0] == public_copies[1]) - 0.5) < 0.06
    keyed = header_copies(repeated, HEADER_REPETITIONS)
    assert (keyed == keyed[0]).all()


def test_header_bits_look_like_coin_flips_over_many_frames() -> None:
    """Balance and copy agreement of the public header region over 200 frames: binomial(0.5)."""
    rng = np.random.default_rng(9)
    copy_bits = HEADER_CODEWORD_BITS
    balance, agreement = [], []
    for index in range(200):
        audio = rng.bytes(int(rng.integers(10, 300)))
        meta = AudioMeta(str(rng.choice(["pcm16", "flac", "opus"])), 16000, 1)
        frame = pack(audio, meta, b"passphrase %d" % (index % 4), int(rng.integers(21, 40)), 10)  # repeated headers
        region = frame[:HEADER_BITS].astype(np.int64)
        balance.append(region.mean())
        copies = region.reshape(HEADER_REPETITIONS, copy_bits)
        agreement.append(np.mean(copies[0] == copies[1]))
    for values, bits in [(balance, HEADER_BITS), (agreement, copy_bits)]:
        z = (np.array(values) - 0.5) / np.sqrt(0.25 / bits)
        # Frames under one passphrase share a few fixed header fields, so the mean is not tested
        # against 1/sqrt(200); the plain frames' three identical copies give z = +26.
        assert abs(z.mean()) < 1.0 and 0.6 < z.std() < 1.5 and np.abs(z).max() < 5.0


def test_too_many_errors_and_truncation() -> None:
    _, frame = sample_frame()
    noisy = body_errors(frame, 8, 13, 12, np.random.default_rng(3))
    with pytest.raises(PayloadUnrecoverableError, match="2 of 2 codewords uncorrectable"):
        unpack(noisy, PASSPHRASE)
    with pytest.raises(PayloadUnrecoverableError, match="truncated"):
        unpack(frame[:-1], PASSPHRASE)
    with pytest.raises(PayloadUnrecoverableError, match="truncated"):
        unpack(frame[: HEADER_CODEWORD_BITS + 1], PASSPHRASE)  # the header is whole
    with pytest.raises(PayloadUnrecoverableError, match="no stegavox payload found for this passphrase"):
        unpack(frame[:100], PASSPHRASE)
    with pytest.raises(PayloadUnrecoverableError, match="no stegavox payload"):
        unpack(np.random.default_rng(4).integers(0, 2, 50_000), PASSPHRASE)


def test_header_is_authenticated() -> None:
    _, frame = sample_frame()
    header, _ = read_header(frame, PASSPHRASE)
    forged = dataclasses.replace(header, meta=AudioMeta("opus", 48000, 1))  # valid tag, other rate
    tampered = frame.copy()
    tampered[:HEADER_CODEWORD_BITS] = whiten(encode_header(forged, PASSPHRASE), PASSPHRASE)
    with pytest.raises(AuthenticationError):
        unpack(tampered, PASSPHRASE)
    raw = bytearray(header.to_bytes(PASSPHRASE))
    raw[3] ^= 1  # one bit of the sample rate, tag not recomputed
    with pytest.raises(PayloadUnrecoverableError, match="no stegavox payload found for this passphrase"):
        Header.from_bytes(bytes(raw), PASSPHRASE)


def test_hiding_method_is_recorded_in_the_authenticated_header() -> None:
    meta = AudioMeta("opus", 16000, 1)
    for method in (0, 3, 255):
        _, _, stats = unpack(pack(b"speech bytes", meta, PASSPHRASE, bch_t=4, method=method), PASSPHRASE)
        assert stats.method == method
    header, _ = read_header(pack(b"speech bytes", meta, PASSPHRASE, bch_t=4, method=3), PASSPHRASE)
    raw = bytearray(header.to_bytes(PASSPHRASE))
    raw[1] = 1  # the method byte, tag not recomputed: not an authentic header
    with pytest.raises(PayloadNotFoundError):
        Header.from_bytes(bytes(raw), PASSPHRASE)
    with pytest.raises(ValueError, match="not a byte"):
        Header(meta, 1, 4, 13, method=256)


def test_unsupported_version_is_named() -> None:
    _, frame = sample_frame()
    raw = bytearray(read_header(frame, PASSPHRASE)[0].to_bytes(PASSPHRASE))
    raw[0] = 99  # version byte
    raw[-16:] = crypto.header_tag(PASSPHRASE, bytes(raw[:-16]))
    with pytest.raises(PayloadUnrecoverableError, match="version 99"):
        Header.from_bytes(bytes(raw), PASSPHRASE)


def test_bch_miscorrection_is_caught_by_authentication() -> None:
    """With t = 2, three errors in a full-length codeword often decode to a wrong codeword."""
    one_codeword = bch_code(2, 13).data_bytes_per_codeword - 16  # minus the GCM tag
    _, frame = sample_frame(bch_t=2, size=one_codeword)
    outcomes = []
    for seed in range(8):
        noisy = body_errors(frame, 2, 13, 3, np.random.default_rng(seed))
        with pytest.raises((AuthenticationError, PayloadUnrecoverableError)) as info:
            unpack(noisy, PASSPHRASE)
        outcomes.append(info.type)
    assert AuthenticationError in outcomes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int64, np.bool_, np.float32, np.float64]),
        shape=st.integers(0, 3 * HEADER_BITS),
    )
)
def test_arbitrary_input_raises_only_documented_errors(bits: np.ndarray) -> None:
    with pytest.raises(PayloadUnrecoverableError):
        unpack(bits, PASSPHRASE)


@settings(max_examples=25, deadline=None)
@given(flips=st.lists(st.integers(0, 10**6), max_size=400), keep=st.integers(0, 10**6))
def test_corrupted_frames_give_exact_audio_or_a_documented_error(flips: list[int], keep: int) -> None:
    audio, frame = sample_frame(bch_t=4, size=200)
    noisy = frame.copy()
    noisy[np.array(flips, dtype=np.int64) % len(frame)] ^= 1
    noisy = noisy[: keep % (len(frame) + 100)]
    try:
        recovered, _, _ = unpack(noisy, PASSPHRASE)
    except (PayloadUnrecoverableError, AuthenticationError):
        return
    assert recovered == audio
