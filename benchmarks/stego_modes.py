"""The stegavox hiding modes the steganalysis benchmark measures, at a given message length.

Each mode builds the embedder the application designs for a cover (``api.design``: plain
``hide`` for Q75, or a platform profile) and embeds as many channel bits as the application's
frame for that message takes, with the variant of the design ``hide`` would choose
(:func:`steganography.embedders.pipeline.ladder`): ``seconds`` of Codec2 1200 bit/s, encrypted,
BCH-coded with the code the probe of that cover allows, behind the keyed header. The frame is whitened by a keystream, so random bits stand for it exactly; what the
detector sees depends only on how many bits are embedded and where. ``seconds=None`` fills the
whole capacity. The application's post-embedding checks are skipped (they change nothing in the
image unless the code is strengthened).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image

from common.payload import container
from steganography.app import api
from steganography.embedders import pipeline
from steganography.embedders.base import Embedder

#: Codec2 1200 bit/s file size: the 7-byte ``.c2`` header, then 6 bytes per 40 ms frame.
CODEC2_1200_HEADER_BYTES = 7
CODEC2_1200_BYTES_PER_SECOND = 150


def codec2_1200_bytes(seconds: float) -> int:
    """Bytes of the ``.c2`` file of ``seconds`` of speech at 1200 bit/s."""
    return CODEC2_1200_HEADER_BYTES + 6 * math.ceil(seconds * CODEC2_1200_BYTES_PER_SECOND / 6)


def message_bits(seconds: float, plan: api.Design, embedder: Embedder) -> int:
    """Channel bits of the frame ``hide`` makes of ``seconds`` of Codec2 1200 bit/s for ``plan``'s
    cover with ``embedder`` itself: BCH-coded with the code its probe of the cover allows."""
    return hidden_frame(seconds, plan, embedder, ladder=False)[1]


def hidden_frame(seconds: float, plan: api.Design, embedder: Embedder, ladder: bool = True) -> tuple[Embedder, int]:
    """The variant of ``embedder`` that ``hide`` puts ``seconds`` of Codec2 1200 bit/s into
    ``plan``'s cover with (the first of :func:`steganography.embedders.pipeline.ladder`; without
    ``ladder``, or where the frame does not fit, ``embedder`` itself), and the channel bits of its
    frame."""
    payload = codec2_1200_bytes(seconds)
    # A design without covert capacity (the canonical INN) is measured as `hide --detectable-ok` uses it.
    limit = pipeline.covert_capacity_bits(embedder, *plan.cover.size) or embedder.capacity_bits(*plan.cover.size)
    code = pipeline.probed_code(embedder, plan.cover, plan.design_quality, plan.channels, limit)
    if ladder and container.frame_bits(payload, *code) <= limit:
        embedder, code = next(pipeline.ladder(embedder, plan.cover, payload, code, limit, plan.design_quality, plan.channels))
    return embedder, container.frame_bits(payload, *code)


def redesigned(embedder: Embedder, options: dict) -> Embedder:
    """A new ``embedder`` of the same design (the settings the application chose for its cover)
    with ``options`` overriding it, for comparing designs."""
    design = {"quality_target": embedder.quality_target}
    if embedder.name == "classical":
        design |= {"step_multiple": embedder.step_multiple, "shrink_bias": embedder.shrink_bias}
    return pipeline.make_embedder(embedder.name, **(design | options))


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way ``stegavox`` hides a message: a platform design and a message length.

    Attributes:
        name: label in the benchmark's tables.
        platform: profile name (``"any"``: the canonical-grid INN of ``--platform any``), or
            ``None`` for plain ``hide`` (design quality 75).
        seconds: speech length (Codec2 1200 bit/s); ``None``: the whole capacity.
        embedder_options: settings of the design's embedder that override the application's
            (e.g. ``(("spread", 4),)`` for the classical one, ``(("checkpoint", path),)`` for the
            canonical INN), for comparing designs.
        ladder: whether the design's gentler variants are tried, as ``hide`` does.
        crop_robust: the design also survives a crop that shifts the 8-px grid (``hide
            --crop-robust``).
        method: the hiding method (``hide --method``; ``"inn"``: the learned hider of plain ``hide``).
    """

    name: str
    platform: str | None
    seconds: float | None
    embedder_options: tuple[tuple[str, object], ...] = ()
    ladder: bool = True
    crop_robust: bool = False
    method: str = "classical"

    def stego(self, cover: Image.Image, seed: int) -> tuple[Image.Image, int]:
        """The image the sender uploads for ``cover``, and how many channel bits it carries.

        Raises:
            ValueError: the message does not fit in this cover.
            InputError: no code carries the frame through the design's checks (too many raw bit
                errors on this cover).
        """
        plan = api.design(cover, self.platform, method=self.method, crop_robust=self.crop_robust)
        embedder = plan.embedder
        if self.embedder_options:
            embedder = redesigned(embedder, dict(self.embedder_options))
        embedder = embedder.keyed(seed)
        capacity = embedder.capacity_bits(*plan.cover.size)
        if self.seconds is None:
            count = capacity
        else:
            embedder, count = hidden_frame(self.seconds, plan, embedder, self.ladder)
        if count > capacity:
            raise ValueError(f"{self.name}: {count} bits do not fit in {capacity}")
        bits = np.random.default_rng(seed).integers(0, 2, count, dtype=np.uint8)
        return embedder.embed(plan.cover, bits), count
