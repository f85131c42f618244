"""Sharing-platform profiles: how each platform resizes and recompresses a photo.

The single source of truth used by ``stegavox hide --platform``, ``stegavox platforms``, the
platform benchmark (``benchmarks/platforms.py``) and training. Pure data plus light helpers
(Pillow and numpy only, no torch), so the command line can read it at start-up.

The values are *reported* ones (public write-ups of each platform's image pipeline collected
before 2026-12; they were not re-measured on the live services here and platforms change them
without notice). The embedding is therefore designed with a margin below the lowest reported
quality (:data:`QUALITY_MARGIN`) and checked against chains of two JPEGs (a photo forwarded twice).
"""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

#: The embedding is designed for this many quality points below a profile's lowest quality.
QUALITY_MARGIN = 5
#: Highest JPEG quality considered in the robustness checks (chains run up to here).
MAX_CHECK_QUALITY = 95
#: Largest crop (pixels, from any edge) the receiver is designed to tolerate.
MAX_CROP_PIXELS = 16
#: Lattice step of the classical embedder for platforms, in JPEG table entries at the design
#: quality. Measured 2026-12-01 on coffee and astronaut at WhatsApp's 1600 px (worst case: a
#: misaligned crop, then JPEG): 2.0 gave 34.1 / 33.2 dB and 19.1 / 14.3 kB, 2.5 gave 32.5 /
#: 31.7 dB and 28.4 / 22.2 kB (lower bit-error rate, so a lighter BCH code), 3.0 gave 31.0 / 30.4
#: dB and 33.3 / 26.3 kB.
CLASSICAL_STEP_MULTIPLE = 2.5
#: How much more of a group's change a coefficient takes where the change moves it towards 0, in
#: the classical embedder's platform designs (``shrink_bias``; plain ``hide`` stays sign-blind, 1).
#: 1.75 is where the platform JPEG's mean |level| stays the cover's (11 tune photos, WhatsApp,
#: 10 s of Codec2 1200: +5.1e-3 with 1, -0.1e-3 with 1.75, -1.2e-3 with 2). On 48 held-out
#: photos (DCTR + FLD, 5 crops per photo, 10 splits, 2026-12-03) it raised P_E at WhatsApp 4 s
#: from 0.370 to 0.395 and 10 s from 0.341 to 0.370 (with 10 crops per photo: 0.367 -> 0.369),
#: but lowered plain hide's 10 s from 0.408 to 0.381, hence platforms only (docs/covertness.md).
CLASSICAL_SHRINK_BIAS = 1.75

#: ``--platform any``: a platform whose size and quality the sender does not know. The photo may
#: arrive with its long side anywhere in :data:`UNKNOWN_LONG_SIDES`, cropped by up to
#: :data:`UNKNOWN_MAX_CROP` of a side and recompressed (once or twice) within
#: :data:`UNKNOWN_QUALITY_RANGE`; the learned canonical-grid hider is made for this.
ANY_PLATFORM = "any"
UNKNOWN_LONG_SIDES = (1080, 1600)
UNKNOWN_QUALITY_RANGE = (70, 90)
UNKNOWN_MAX_CROP = 0.02

_RESAMPLING = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
}


@dataclasses.dataclass(frozen=True)
class Channel:
    """One simulated trip through platforms: JPEGs at ``before``, a crop, a downscale, then JPEGs at ``chain``.

    Attributes:
        chain: JPEG qualities, in order (empty: no recompression).
        crop: pixels cut from the left, top, right and bottom edges before ``chain``.
        before: JPEG qualities applied first (the sender's own JPEG file, if it writes one).
        long_side: after the crop, the long side is shrunk to this many pixels (bicubic, never
            enlarged); ``None``: no resize.
    """

    chain: tuple[int, ...]
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    before: tuple[int, ...] = ()
    long_side: int | None = None

    @property
    def label(self) -> int | str:
        """The quality itself for one JPEG without crop; otherwise e.g. ``"crop 3,5,0,0 > 75 > 80"``."""
        if len(self.chain) == 1 and not any(self.crop) and not self.before and self.long_side is None:
            return self.chain[0]
        parts = [f"file Q{quality}" for quality in self.before]
        parts += [f"crop {','.join(map(str, self.crop))}"] if any(self.crop) else []
        parts += [f"long side {self.long_side}"] if self.long_side is not None else []
        return " > ".join(parts + [str(quality) for quality in self.chain]) or "lossless"

    def apply(self, image: Image.Image, subsampling: str = "4:2:0") -> Image.Image:
        """``image`` after this channel."""
        image = crop(apply_chain(image, self.before, subsampling), *self.crop)
        if self.long_side is not None and max(image.size) > self.long_side:
            scale = self.long_side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BICUBIC)
        return apply_chain(image, self.chain, subsampling)


#: A crop that shifts the 8x8 grid in both directions (the hardest case for the embedding).
MISALIGNED_CROP = (3, 5, 0, 0)


@dataclasses.dataclass(frozen=True)
class PlatformProfile:
    """What a platform does to an uploaded photo (reported values, see the module docstring).

    Attributes:
        name: command-line name (``--platform``).
        label: display name.
        size_rule: ``"long_side"`` (the longer side is limited) or ``"width"`` (the width is).
        max_size: the limit in pixels of the standard upload.
        quality_range: lowest and highest JPEG quality the platform is reported to use.
        subsampling: chroma subsampling of its JPEGs.
        resampling: the resampling filter it downsizes with (``lanczos``, ``bicubic``, ``bilinear``).
        hd_max_size: the limit of the "HD" upload option, if there is one.
        max_bytes: uploads above this size are reported to be downscaled further (a size ladder).
        ladder: the smaller sizes of that ladder.
        keeps_jpeg_up_to: a JPEG at or below this quality (and within the size rule) is reported
            to be kept without re-encoding; ``None`` if every upload is re-encoded.
        output_format: the file hide writes for this platform: ``"png"`` or ``"jpeg"``.
        notes: the reported values in words, with their source date.
    """

    name: str
    label: str
    size_rule: str
    max_size: int
    quality_range: tuple[int, int]
    subsampling: str = "4:2:0"
    resampling: str = "bicubic"
    hd_max_size: int | None = None
    max_bytes: int | None = None
    ladder: tuple[int, ...] = ()
    keeps_jpeg_up_to: int | None = None
    output_format: str = "png"
    notes: str = ""

    def __post_init__(self) -> None:
        low, high = self.quality_range
        if not 1 <= low <= high <= 100:
            raise ValueError(f"{self.name}: bad quality range {self.quality_range}")
        if self.size_rule not in ("long_side", "width") or self.resampling not in _RESAMPLING:
            raise ValueError(f"{self.name}: bad size rule or resampling")
        if self.output_format not in ("png", "jpeg"):
            raise ValueError(f"{self.name}: bad output format {self.output_format}")

    @property
    def design_quality(self) -> int:
        """The JPEG quality the embedding is designed for: the lowest reported, minus the margin."""
        return max(1, self.quality_range[0] - QUALITY_MARGIN)

    def limit(self, hd: bool = False) -> int:
        """The size limit in pixels (of the long side or the width, see :attr:`size_rule`)."""
        return self.hd_max_size if hd and self.hd_max_size else self.max_size

    def target_size(self, width: int, height: int, hd: bool = False) -> tuple[int, int]:
        """The size the platform will keep for a ``width`` x ``height`` upload (never larger)."""
        limit = self.limit(hd)
        side = max(width, height) if self.size_rule == "long_side" else width
        if side <= limit:
            return width, height
        scale = limit / side
        return max(1, round(width * scale)), max(1, round(height * scale))

    def check_chains(self) -> list[tuple[int, ...]]:
        """JPEG chains (qualities in order) the payload must survive for this platform.

        Single JPEGs at the design quality, at each end of the reported range, 5 above the top
        and at :data:`MAX_CHECK_QUALITY`; chains of two: the top then the bottom of the range,
        :data:`MAX_CHECK_QUALITY` then the bottom, the bottom then 5 above the top, and two
        qualities just above the bottom (the hardest case for an aligned lattice).
        """
        low, high = self.quality_range
        top = min(max(high + 5, low), MAX_CHECK_QUALITY)
        singles = sorted({self.design_quality, low, high, top, MAX_CHECK_QUALITY})
        chains: list[tuple[int, ...]] = [(q,) for q in singles]
        for chain in ((high, low), (MAX_CHECK_QUALITY, low), (low, top), (min(low + 3, 100), min(low + 7, 100))):
            if chain not in chains:
                chains.append(chain)
        return chains

    def check_channels(self, crops: bool = True, misaligned_crop: bool = False) -> list[Channel]:
        """What ``hide --platform`` checks on the stego image: :meth:`check_chains`, with ``crops``
        a :data:`MAX_CROP_PIXELS` crop from every edge (the 8-px grid stays aligned) before a JPEG
        at the top of the reported range, and with ``misaligned_crop`` also a crop that shifts
        the grid (:data:`MISALIGNED_CROP`) before one at the lowest quality.

        A platform's own processing never shifts the grid (``hide`` sends the size it keeps); a
        crop that does is an edit before the upload, and it costs the payload more than any JPEG
        chain (on the tune photos raw bit-error rates 5 to 20 times the chains'), so designing for it takes a stronger
        code on a coarser lattice: ``hide --crop-robust``.
        """
        channels = [Channel(chain) for chain in self.check_chains()]
        if crops:
            low, high = self.quality_range
            edge = MAX_CROP_PIXELS
            channels.append(Channel((high,), (edge, edge, edge, edge)))
            if misaligned_crop:
                channels.append(Channel((low,), MISALIGNED_CROP))
        return channels

    def summary(self) -> str:
        """One line: size rule, qualities, subsampling."""
        rule = "long side" if self.size_rule == "long_side" else "width"
        hd = f" (HD {self.hd_max_size})" if self.hd_max_size else ""
        low, high = self.quality_range
        qualities = f"Q{low}" if low == high else f"Q{low}-{high}"
        extra = f", <= {self.max_bytes / 2**20:g} MiB else {'/'.join(map(str, self.ladder))}" if self.max_bytes else ""
        return (
            f"{self.name:<10} {rule} {self.max_size}{hd}, {qualities} (design Q{self.design_quality}), "
            f"{self.subsampling}, {self.resampling}{extra}; hide writes {self.output_format.upper()}"
        )


#: Reported profiles (see :class:`PlatformProfile`; sources collected before 2026-12).
PROFILES: dict[str, PlatformProfile] = {
    profile.name: profile
    for profile in (
        PlatformProfile(
            "whatsapp", "WhatsApp", "long_side", 1600, (75, 75), hd_max_size=4096,
            notes="reported: long side 1600 px, ~Q75 (HD option: 4096 px)",
        ),
        PlatformProfile(
            "signal", "Signal", "long_side", 1600, (70, 70), max_bytes=2**20, ladder=(1024, 768),
            output_format="jpeg",
            notes="reported: long side 1600 px, Q70, files above 1 MiB go down to 1024 then 768 px",
        ),
        PlatformProfile(
            "telegram", "Telegram", "long_side", 1280, (80, 87), hd_max_size=2560,
            notes="reported: long side 1280 px, Q80-87 (HD: 2560 px)",
        ),
        PlatformProfile(
            "instagram", "Instagram", "width", 1080, (70, 80), hd_max_size=1440,
            notes="reported: width 1080 px (1440 px on newer clients), ~Q70-80",
        ),
        PlatformProfile(
            "facebook", "Facebook", "long_side", 2048, (75, 85),
            notes="reported: long side 2048 px (1920 px measured by some), Q75-85",
        ),
        PlatformProfile(
            "twitter", "Twitter/X", "long_side", 4096, (85, 85), keeps_jpeg_up_to=85, output_format="jpeg",
            notes="reported: long side 4096 px, Q85; a JPEG at or below Q85 is kept as is",
        ),
        PlatformProfile(
            "wechat", "WeChat", "long_side", 1280, (50, 50),
            notes="reported: long side 1280 px, ~Q50",
        ),
    )
}


def unknown_platform_channels(width: int, height: int) -> list[Channel]:
    """What ``hide --platform any`` checks on a ``width`` x ``height`` stego image: each end of
    :data:`UNKNOWN_LONG_SIDES` at each end of :data:`UNKNOWN_QUALITY_RANGE`, a crop of
    :data:`UNKNOWN_MAX_CROP` from the left and top edges before a middle size and a two-JPEG
    chain, and half of it from every edge before the smallest size and the lowest quality."""
    low, high = UNKNOWN_QUALITY_RANGE
    small, large = UNKNOWN_LONG_SIDES
    side_x, side_y = round(UNKNOWN_MAX_CROP * width), round(UNKNOWN_MAX_CROP * height)
    return [
        Channel((high,), long_side=large),
        Channel((low,), long_side=small),
        Channel((high, low), crop=(side_x, side_y, 0, 0), long_side=(small + large) // 2),
        Channel((low,), crop=(side_x // 2, side_y // 2, side_x // 2, side_y // 2), long_side=small),
    ]


def get_profile(name: str) -> PlatformProfile:
    """The profile called ``name`` (case-insensitive).

    Raises:
        KeyError: no such profile (the message lists the known ones).
    """
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; choose one of {', '.join(PROFILES)}") from None


def fit_to_platform(image: Image.Image, profile: PlatformProfile, hd: bool = False) -> Image.Image:
    """``image`` downscaled (Lanczos, high quality) so that ``profile`` will not resize it.

    Never upscales; returns ``image`` itself when it already fits.
    """
    size = profile.target_size(*image.size, hd=hd)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def jpeg_bytes(image: Image.Image, quality: int, subsampling: str = "4:2:0") -> bytes:
    """``image`` encoded by Pillow's JPEG encoder (libjpeg tables at ``quality``)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """Decode image file bytes as RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def apply_chain(image: Image.Image, chain: tuple[int, ...], subsampling: str = "4:2:0") -> Image.Image:
    """``image`` after a chain of real JPEG round trips at the qualities of ``chain``, in order."""
    for quality in chain:
        image = decode(jpeg_bytes(image, quality, subsampling))
    return image


def crop(image: Image.Image, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> Image.Image:
    """``image`` with the given number of pixels cut from each edge."""
    width, height = image.size
    return image.crop((left, top, width - right, height - bottom))


def simulate_upload(image: Image.Image, profile: PlatformProfile, quality: int | None = None, hd: bool = False) -> Image.Image:
    """What ``profile`` is reported to serve for an uploaded ``image``: resize if needed, then JPEG.

    ``quality`` defaults to the middle of the reported range. A size ladder (:attr:`max_bytes`)
    applies to the uploaded file's size, which a caller holding the file checks itself.
    """
    low, high = profile.quality_range
    quality = (low + high) // 2 if quality is None else quality
    size = profile.target_size(*image.size, hd=hd)
    if size != image.size:
        image = image.convert("RGB").resize(size, _RESAMPLING[profile.resampling])
    return apply_chain(image, (quality,), profile.subsampling)


def best_jpeg_under(image: Image.Image, max_bytes: int | None, low: int, high: int = MAX_CHECK_QUALITY) -> tuple[int, bytes] | None:
    """The highest quality in ``low..high`` whose JPEG of ``image`` fits ``max_bytes`` (binary search)."""
    best = None
    while low <= high:
        middle = (low + high) // 2
        data = jpeg_bytes(image, middle)
        if max_bytes is None or len(data) <= max_bytes:
            best, low = (middle, data), middle + 1
        else:
            high = middle - 1
    return best


def format_table() -> str:
    """The profiles, one line each (``stegavox platforms``)."""
    lines = [profile.summary() for profile in PROFILES.values()]
    small, large = UNKNOWN_LONG_SIDES
    low, high = UNKNOWN_QUALITY_RANGE
    lines.append(
        f"{ANY_PLATFORM:<10} unknown: long side {small}-{large}, crops up to {UNKNOWN_MAX_CROP:.0%}, Q{low}-{high} "
        "incl. chains of two; learned canonical-grid hider, detectable (--detectable-ok); hide writes PNG"
    )
    lines.append(
        f"values as reported before 2026-12 (not re-measured); the embedding is designed {QUALITY_MARGIN} "
        f"quality points below the lowest and checked against chains of two JPEGs up to Q{MAX_CHECK_QUALITY}"
    )
    return "\n".join(lines)
