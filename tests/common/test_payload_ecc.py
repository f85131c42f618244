from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from common.errors import PayloadUnrecoverableError
from common.payload.ecc import (
    MAX_BCH_T,
    BCHCode,
    choose_bch_params,
    choose_bch_t,
    conservative_ber,
    deinterleave,
    interleave,
    interleaver_permutation,
)


def flip_per_codeword(
    code: BCHCode, bits: np.ndarray, errors: int, rng: np.random.Generator
) -> np.ndarray:
    """Flip ``errors`` random bits (data or parity) inside every codeword of ``bits``."""
    noisy = bits.copy()
    for start in range(0, len(bits), code.codeword_bits):
        length = min(code.codeword_bits, len(bits) - start)
        noisy[start + rng.choice(length, errors, replace=False)] ^= 1
    return noisy


@pytest.mark.parametrize("m", [10, 13])
@pytest.mark.parametrize("t", [1, 2, 4, 7, 10, 16, 23, 31, 40, 52, MAX_BCH_T])
def test_corrects_exactly_t_errors_and_detects_more(t: int, m: int) -> None:
    code = BCHCode(t, m)
    rng = np.random.default_rng(t * 100 + m)
    num_bytes = code.data_bytes_per_codeword + 7  # one full and one shortened codeword
    data = rng.integers(0, 256, num_bytes, dtype=np.uint8).tobytes()
    bits = code.encode(data)
    assert len(bits) == code.encoded_bits(len(data)) == code.codeword_bits + 8 * 7 + code.ecc_bits

    decoded, corrected = code.decode(flip_per_codeword(code, bits, t, rng))
    assert decoded == data
    assert corrected == [t, t]

    # Beyond t a BCH decoder may miscorrect to another codeword with probability ~1/t!, which
    # the container's AES-GCM tag catches (test_payload_container); for t >= 7 it must report.
    if t >= 7:
        for errors in (t + 1, 3 * t):
            with pytest.raises(PayloadUnrecoverableError, match="of 2 codewords uncorrectable"):
                code.decode(flip_per_codeword(code, bits, errors, rng))


def test_decode_accepts_soft_bits() -> None:
    code = BCHCode(8, 10)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    bits = flip_per_codeword(code, code.encode(data), 8, rng)
    soft = (2.0 * bits - 1.0) * rng.uniform(0.01, 3.0, len(bits))
    assert code.decode(soft)[0] == data


def test_sizes_are_consistent() -> None:
    code = BCHCode(20, 13)
    assert code.encoded_bits(0) == 0 and len(code.encode(b"")) == 0
    sizes = [0, code.ecc_bits + 7, code.ecc_bits + 8, code.codeword_bits, 3 * code.codeword_bits + 999]
    for num_bits in sizes:
        fit = code.max_data_bytes(num_bits)
        assert code.encoded_bits(fit) <= num_bits < code.encoded_bits(fit + 1)
    with pytest.raises(ValueError, match="whole number"):
        code.decode_codewords(np.zeros(code.ecc_bits + 3))


@pytest.mark.parametrize(("t", "m"), [(0, 13), (MAX_BCH_T + 1, 13), (8, 4), (40, 8)])
def test_invalid_codes_rejected(t: int, m: int) -> None:
    with pytest.raises(ValueError):
        BCHCode(t, m)


def test_interleaver_round_trip_and_stability() -> None:
    rng = np.random.default_rng(0)
    soft = rng.standard_normal(1000)
    assert np.array_equal(deinterleave(interleave(soft, 7), 7), soft)
    assert not np.array_equal(interleave(soft, 7), interleave(soft, 8))
    # Part of the stego format: must never change across library versions.
    assert interleaver_permutation(8, 0).tolist() == [5, 2, 7, 0, 6, 1, 4, 3]


def test_interleaving_spreads_a_burst() -> None:
    code = BCHCode(8, 10)
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 40 * code.data_bytes_per_codeword, dtype=np.uint8).tobytes()
    bits = code.encode(data)
    burst = np.zeros_like(bits)
    burst[5000:5064] = 1  # e.g. every bit of one destroyed 8x8 block
    with pytest.raises(PayloadUnrecoverableError):
        code.decode(bits ^ burst)
    received = deinterleave(interleave(bits, 3) ^ burst, 3)
    decoded, corrected = code.decode(received)
    assert decoded == data
    assert sum(corrected) == 64 and max(corrected) <= 5


def test_choose_bch_t_meets_target_minimally_and_is_monotone() -> None:
    chosen = []
    for ber in [1e-5, 1e-4, 5e-4, 1e-3, 2e-3, 3e-3]:
        t = choose_bch_t([ber], 1e-6, m=13)
        code = BCHCode(t, 13)
        assert binom.sf(t, code.codeword_bits, ber) <= 1e-6
        if t > 1:
            shorter = BCHCode(t - 1, 13)
            assert binom.sf(t - 1, shorter.codeword_bits, ber) > 1e-6
        chosen.append(t)
    assert chosen == sorted(chosen) and chosen[0] < chosen[-1]
    assert choose_bch_t([1e-3], 1e-9) > choose_bch_t([1e-3], 1e-6)


def test_spread_over_images_is_conservative() -> None:
    assert conservative_ber([0.001, 0.003]) == pytest.approx(0.002 + 3 * 0.001)
    assert conservative_ber([0.001] * 20 + [0.002]) == 0.002  # the worst image beats mean + 3 std
    assert choose_bch_t([0.001, 0.002]) > choose_bch_t([0.002])
    with pytest.raises(ValueError):
        conservative_ber([])


def test_choose_params_when_long_codes_cannot_reach_the_target() -> None:
    with pytest.raises(ValueError, match="GF"):
        choose_bch_t([0.02], m=13)
    t, m = choose_bch_params([0.02])
    code = BCHCode(t, m)
    assert m < 13 and binom.sf(t, code.codeword_bits, 0.02) <= 1e-6
    low_t, low_m = choose_bch_params([1e-4])
    assert BCHCode(low_t, low_m).rate > code.rate
    with pytest.raises(ValueError):
        choose_bch_params([0.3])


def test_chase_decoding_corrects_errors_beyond_t_on_the_least_reliable_bits():
    code = BCHCode(t=4, m=10)
    data = np.random.default_rng(0).integers(0, 256, 40, dtype=np.uint8).tobytes()
    word = code.encode(data)
    soft = (2.0 * word - 1.0) * np.random.default_rng(1).uniform(0.5, 1.0, word.size)
    wrong = np.random.default_rng(2).choice(word.size, code.t + 2, replace=False)
    soft[wrong] *= -0.1  # t + 2 errors, all of them weak
    assert code.decode_codewords(soft)[1] == [-1]
    decoded, errors = code.decode_codewords(soft, chase_bits=6)
    assert decoded == data and errors == [code.t + 2]
    hard = (soft > 0).astype(np.uint8)  # without reliabilities there is nothing to search
    assert code.decode_codewords(hard, chase_bits=6)[1] == [-1]
