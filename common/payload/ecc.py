"""BCH error correction (bchlib), a burst-spreading interleaver, and the choice of BCH strength.

Bits are numpy arrays; an input bit is 1 where its value is > 0, so hard 0/1 bits and soft
estimates (positive means 1) are both accepted.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import bchlib
import numpy as np

from common.errors import PayloadUnrecoverableError

#: Galois field order of the payload code: codewords of up to 2**13 - 1 = 8191 bits (~1 kB).
DEFAULT_BCH_M = 13
#: bchlib supports 5 <= m <= 15 and (for m >= 10) t <= 64.
BCH_M_RANGE = range(5, 16)
MAX_BCH_T = 64


class BCHCode:
    """A binary BCH code correcting ``t`` bit errors per codeword, over GF(2**m).

    Data is cut into chunks of :attr:`data_bytes_per_codeword` bytes (the most a codeword of
    ``2**m - 1`` bits holds); the last chunk may be shorter (a shortened codeword). Each
    codeword is sent as its data bits followed by its :attr:`ecc_bits` parity bits (bchlib's
    zero padding of the parity bytes is not sent).

    Args:
        t: bit errors corrected per codeword (1 to :data:`MAX_BCH_T`).
        m: Galois field order (in :data:`BCH_M_RANGE`).

    Raises:
        ValueError: bchlib has no code for ``(t, m)`` or it leaves no room for data.
    """

    def __init__(self, t: int, m: int = DEFAULT_BCH_M) -> None:
        if not (1 <= t <= MAX_BCH_T and m in BCH_M_RANGE):
            raise ValueError(f"no BCH code with t={t}, m={m}")
        try:
            self._bch = bchlib.BCH(t, m=m)
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"no BCH code with t={t}, m={m}: {err}") from err
        self.t = t
        self.m = m
        self.ecc_bits = self._bch.ecc_bits
        self.data_bytes_per_codeword = (self._bch.n - self.ecc_bits) // 8
        if self.data_bytes_per_codeword < 1:
            raise ValueError(f"BCH t={t}, m={m} leaves no room for data")

    @property
    def codeword_bits(self) -> int:
        """Bits of a full (unshortened) codeword."""
        return 8 * self.data_bytes_per_codeword + self.ecc_bits

    @property
    def rate(self) -> float:
        """Data bits per transmitted bit of a full codeword."""
        return 8 * self.data_bytes_per_codeword / self.codeword_bits

    def _chunk_sizes(self, num_bytes: int) -> list[int]:
        full, rest = divmod(num_bytes, self.data_bytes_per_codeword)
        return [self.data_bytes_per_codeword] * full + ([rest] if rest else [])

    def encoded_bits(self, num_bytes: int) -> int:
        """Bits that :meth:`encode` produces for ``num_bytes`` bytes."""
        full, rest = divmod(num_bytes, self.data_bytes_per_codeword)
        return full * self.codeword_bits + (8 * rest + self.ecc_bits if rest else 0)

    def max_data_bytes(self, num_bits: int) -> int:
        """The most bytes whose encoding fits in ``num_bits`` bits."""
        full, rest = divmod(max(num_bits, 0), self.codeword_bits)
        return full * self.data_bytes_per_codeword + max((rest - self.ecc_bits) // 8, 0)

    def encode(self, data: bytes) -> np.ndarray:
        """Codewords (data bits then parity bits, MSB first) of ``data``, as uint8 0/1."""
        pieces = []
        start = 0
        for size in self._chunk_sizes(len(data)):
            chunk = bytes(data[start : start + size])
            start += size
            ecc = np.frombuffer(self._bch.encode(chunk), dtype=np.uint8)
            pieces.append(np.unpackbits(np.frombuffer(chunk, dtype=np.uint8)))
            pieces.append(np.unpackbits(ecc)[: self.ecc_bits])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)

    def decode_codewords(self, bits: np.ndarray, chase_bits: int = 0) -> tuple[bytes, list[int]]:
        """Correct every codeword of ``bits`` (the layout of :meth:`encode`).

        A codeword counts as corrected only if the corrected word re-encodes to its corrected
        parity: bchlib sometimes reports success on words with more than ``t`` errors (about 3%
        of words with ``t + 1`` errors, measured for t = 5..12), which this check rejects.

        With soft ``bits`` (floats, the magnitude being the reliability; NaN or 0 an erasure) and
        ``chase_bits > 0``, a codeword that hard decoding cannot correct is decoded again with
        every pattern of flips of its ``chase_bits`` least reliable bits (Chase-2), keeping the
        corrected word closest to the soft values; it then counts as corrected.

        Returns:
            The data bytes (uncorrectable chunks left as received) and, per codeword, the
            number of corrected bit errors or -1 if it was uncorrectable.

        Raises:
            ValueError: ``len(bits)`` is not the length of an encoding.
        """
        values = np.asarray(bits).reshape(-1)
        hard = values > 0
        reliability = np.nan_to_num(np.abs(values.astype(np.float64)), nan=0.0) if values.dtype.kind == "f" else None
        full, rest = divmod(len(hard), self.codeword_bits)
        if rest and (rest <= self.ecc_bits or (rest - self.ecc_bits) % 8):
            raise ValueError(f"{len(hard)} bits are not a whole number of BCH codewords")
        sizes = [self.data_bytes_per_codeword] * full + ([(rest - self.ecc_bits) // 8] if rest else [])
        data = bytearray()
        corrected = []
        start = 0
        for size in sizes:
            length = 8 * size + self.ecc_bits
            word = hard[start : start + length]
            chunk, errors = self._decode_word(word, size)
            if errors < 0 and chase_bits > 0 and reliability is not None:
                chunk, errors = self._chase(word, reliability[start : start + length], size, chase_bits, chunk)
            start += length
            data += chunk
            corrected.append(errors)
        return bytes(data), corrected

    def _decode_word(self, word: np.ndarray, size: int) -> tuple[bytearray, int]:
        """Hard-decision decoding of one codeword of ``size`` data bytes (see :meth:`decode_codewords`)."""
        chunk = bytearray(np.packbits(word[: 8 * size]).tobytes())
        ecc = bytearray(self._bch.ecc_bytes)  # bchlib may want more bytes than ecc_bits fill
        parity = np.packbits(word[8 * size :]).tobytes()
        ecc[: len(parity)] = parity
        errors = self._bch.decode(chunk, ecc)
        if errors > 0:
            self._bch.correct(chunk, ecc)
        if errors >= 0 and self._bch.encode(bytes(chunk)) != bytes(ecc):
            errors = -1
        return chunk, errors

    def _chase(self, word: np.ndarray, reliability: np.ndarray, size: int, chase_bits: int, received: bytearray) -> tuple[bytearray, int]:
        """Chase-2 decoding of one codeword: the corrected candidate nearest to the soft values."""
        weakest = np.argsort(reliability, kind="stable")[:chase_bits]
        best, best_cost, best_errors = received, np.inf, -1
        for pattern in range(1, 2 ** len(weakest)):
            flipped = word.copy()
            positions = weakest[[(pattern >> k) & 1 == 1 for k in range(len(weakest))]]
            flipped[positions] = ~flipped[positions]
            chunk, errors = self._decode_word(flipped, size)
            if errors < 0:
                continue
            decided = np.unpackbits(np.frombuffer(bytes(chunk), dtype=np.uint8)).astype(bool)
            encoded = np.unpackbits(np.frombuffer(self._bch.encode(bytes(chunk)), dtype=np.uint8))[: self.ecc_bits].astype(bool)
            differs = np.concatenate([decided, encoded]) != word
            cost = float(reliability[differs].sum())
            if cost < best_cost:
                best, best_cost, best_errors = chunk, cost, int(differs.sum())
        return best, best_errors

    def decode(self, bits: np.ndarray, chase_bits: int = 0) -> tuple[bytes, list[int]]:
        """Like :meth:`decode_codewords`, but all codewords must be corrected.

        Raises:
            PayloadUnrecoverableError: some codeword had more errors than ``t``.
            ValueError: ``len(bits)`` is not the length of an encoding.
        """
        data, corrected = self.decode_codewords(bits, chase_bits)
        failed = sum(errors < 0 for errors in corrected)
        if failed:
            raise PayloadUnrecoverableError(
                f"{failed} of {len(corrected)} codewords uncorrectable "
                f"(more than {self.t} bit errors each)"
            )
        return data, corrected


@functools.lru_cache(maxsize=None)
def bch_code(t: int, m: int = DEFAULT_BCH_M) -> BCHCode:
    """A shared :class:`BCHCode` for ``(t, m)`` (building the tables costs a little)."""
    return BCHCode(t, m)


@functools.lru_cache(maxsize=16)
def interleaver_permutation(length: int, seed: int) -> np.ndarray:
    """A pseudo-random permutation of ``range(length)`` fixed by ``seed`` forever.

    The positions are sorted by 64-bit keys from SHAKE-128(seed), so the permutation depends on
    no library's random-number stream: a stego image stays readable across numpy versions. The
    returned array is cached and read-only.
    """
    keys = np.frombuffer(hashlib.shake_128(seed.to_bytes(8, "big")).digest(8 * length), dtype=">u8").astype(np.uint64)
    permutation = np.argsort(keys)  # quicksort: 5x faster; equal keys (never seen) need the stable order
    ordered = keys[permutation]
    if np.any(ordered[1:] == ordered[:-1]):
        permutation = np.argsort(keys, kind="stable")
    permutation.flags.writeable = False
    return permutation


def interleave(bits: np.ndarray, seed: int) -> np.ndarray:
    """Scatter ``bits`` by :func:`interleaver_permutation`, so that neighbouring channel bits
    (e.g. those of one 8x8 JPEG block) belong to different codewords."""
    return np.asarray(bits)[interleaver_permutation(len(bits), seed)]


def deinterleave(bits: np.ndarray, seed: int) -> np.ndarray:
    """Inverse of :func:`interleave` (works on hard or soft bits)."""
    bits = np.asarray(bits)
    restored = np.empty_like(bits)
    restored[interleaver_permutation(len(bits), seed)] = bits
    return restored


def conservative_ber(bit_error_rates: Sequence[float], std_factor: float = 3.0) -> float:
    """The bit-error rate to design for: ``max(max(BER), mean(BER) + std_factor * std(BER))``.

    Recovery must hold for every image, not on average, so the mean alone is wrong. The worst
    measured image is the floor; when few images were measured or their spread is wide, the
    mean + 3 sigma term (about the 99.9th percentile of a normal spread) extrapolates to images
    worse than any seen. A rate measured as 0 says only that errors are rarer than one per
    measured bit; callers should pass an upper bound (e.g. 3 / bits measured) instead.

    Raises:
        ValueError: no rates, or one outside [0, 0.5].
    """
    rates = np.asarray(bit_error_rates, dtype=np.float64)
    if rates.size == 0 or not np.all((rates >= 0) & (rates <= 0.5)):
        raise ValueError("bit-error rates must be a non-empty sequence of values in [0, 0.5]")
    return float(min(max(rates.max(), rates.mean() + std_factor * rates.std()), 0.5))


def codeword_failure_probability(t: int, codeword_bits: int, bit_error_rate: float) -> float:
    """P(more than ``t`` errors among ``codeword_bits`` independent bits): the binomial tail.

    After interleaving, a codeword's bits sit at scattered positions of the image, so its error
    count is modelled as binomial; sampling without replacement from an image's errors
    (hypergeometric) has a lighter tail, so this is conservative.
    """
    # scipy.special takes 0.3 s to import: only when a code is chosen, not at start-up.
    from scipy.special import bdtrc

    return float(bdtrc(t, codeword_bits, bit_error_rate))  # = scipy.stats.binom.sf, lighter import


def choose_bch_t(
    bit_error_rates: Sequence[float],
    target_codeword_failure: float = 1e-6,
    m: int = DEFAULT_BCH_M,
    data_bytes_per_codeword: int | None = None,
    std_factor: float = 3.0,
) -> int:
    """The smallest BCH ``t`` whose codewords fail with probability <= the target.

    The design rate is :func:`conservative_ber` of the measured per-image rates; a codeword
    fails when it has more than ``t`` errors (:func:`codeword_failure_probability`). An image
    with ``C`` codewords then fails with probability at most ``C * target``.

    Args:
        bit_error_rates: raw channel bit-error rates, one per measured image.
        target_codeword_failure: the largest acceptable codeword failure probability.
        m: Galois field order of the code.
        data_bytes_per_codeword: length of the data part; the most a codeword holds if ``None``.
        std_factor: weight of the spread in :func:`conservative_ber`.

    Raises:
        ValueError: bad rates, or no ``t`` up to :data:`MAX_BCH_T` reaches the target (use a
            smaller ``m``, see :func:`choose_bch_params`, or a more robust embedding).
    """
    design_ber = conservative_ber(bit_error_rates, std_factor)
    for t in range(1, MAX_BCH_T + 1):
        try:
            code = bch_code(t, m)
        except ValueError:
            break
        data_bytes = code.data_bytes_per_codeword
        if data_bytes_per_codeword is not None:
            data_bytes = min(data_bytes_per_codeword, data_bytes)
        failure = codeword_failure_probability(t, 8 * data_bytes + code.ecc_bits, design_ber)
        if failure <= target_codeword_failure:
            return t
    raise ValueError(
        f"no BCH code over GF(2^{m}) reaches a codeword failure rate of {target_codeword_failure:g} "
        f"at a bit-error rate of {design_ber:.3g}"
    )


def choose_bch_params(
    bit_error_rates: Sequence[float],
    target_codeword_failure: float = 1e-6,
    std_factor: float = 3.0,
) -> tuple[int, int]:
    """``(t, m)`` with the highest full-codeword rate that meets :func:`choose_bch_t`'s target.

    Long codewords (large ``m``) average errors best at low BER; at high BER only shorter ones
    have a ``t`` <= :data:`MAX_BCH_T` that suffices.

    Raises:
        ValueError: no ``(t, m)`` with ``m`` from 8 to 13 reaches the target.
    """
    candidates = []
    for m in range(8, 14):
        try:
            t = choose_bch_t(bit_error_rates, target_codeword_failure, m, std_factor=std_factor)
        except ValueError:
            continue
        candidates.append((bch_code(t, m).rate, t, m))
    if not candidates:
        raise ValueError(
            f"no BCH code reaches a codeword failure rate of {target_codeword_failure:g} at a "
            f"bit-error rate of {conservative_ber(bit_error_rates, std_factor):.3g}"
        )
    _, t, m = max(candidates)
    return t, m
