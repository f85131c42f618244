"""Image I/O and conversions between Pillow images, uint8 arrays and float tensors in [0, 1]."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import ExifTags, Image, ImageOps

from common.errors import InputError

if TYPE_CHECKING:  # torch is imported by the tensor helpers only: the stegavox CLI starts without it
    import torch

#: Refuse images above this many pixels before decoding them (25 MP: 6000 x 4000 passes). Bounds
#: the memory and time of hide/reveal: a classical reveal of a photo peaked at 1.4 GB for 24 MP
#: and 1.9 GB for 40 MP (measured 2026-12-01).
MAX_PIXELS = 25_000_000
#: Modes whose samples have 8 bits; anything else (16-bit, 32-bit integer, float) is refused.
_EIGHT_BIT_MODES = {"1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "La", "RGBa"}
#: Modes converted to RGB without any loss (no note).
_LOSSLESS_MODES = {"1", "L", "P", "RGB"}


def _raw_modes(image: Image.Image) -> list[str]:
    """The raw (file) modes of the image's tiles, e.g. ``RGB;16B`` for a 48-bit PNG."""
    modes = []
    for tile in getattr(image, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        if isinstance(args, tuple):
            args = args[0] if args else None
        if isinstance(args, str):
            modes.append(args)
    return modes


def _sample_bits(image: Image.Image) -> int:
    """Bits per sample as stored in the file (before Pillow narrows it)."""
    if image.mode not in _EIGHT_BIT_MODES:
        return 16 if image.mode.startswith("I;16") else 32
    bits = image.info.get("bits")
    if isinstance(bits, int) and bits > 8:
        return bits
    for raw in _raw_modes(image):
        if ";32" in raw or raw.startswith(("F", "I;32")):
            return 32
        if ";16" in raw or raw.startswith("I;16"):
            return 16
    return 8


def _has_transparency(image: Image.Image) -> bool:
    if image.mode in {"RGBA", "LA", "PA", "La", "RGBa"}:
        return bool(np.asarray(image.getchannel("A")).min() < 255)
    if "transparency" in image.info:
        return bool(np.asarray(image.convert("RGBA").getchannel("A")).min() < 255)
    return False


def open_image(
    path: str | os.PathLike, note: Callable[[str], None] | None = None, exif_orientation: bool = True
) -> Image.Image:
    """Open an 8-bit image file as RGB, raising :class:`InputError` with a one-line reason.

    Args:
        path: image file.
        note: called with a one-line message for every conversion that changes the picture
            (EXIF orientation applied, CMYK colours, transparency dropped, only the first frame of
            an animation); plain grey and palette images convert to RGB exactly and silently.
        exif_orientation: turn the picture as its EXIF orientation tag says (as viewers show
            it: a phone's portrait photo is stored sideways); ``False`` keeps the stored pixels.

    Raises:
        InputError: missing or unreadable file, more than :data:`MAX_PIXELS` pixels (checked from
            the header, before decoding), or samples wider than 8 bits (16-bit RGB included).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # opening reads the header only; the size is checked below
    try:
        image = Image.open(path)
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InputError(
                    f"{path}: image too large ({width}x{height} = {width * height / 1e6:.1f} megapixels; "
                    f"stegavox reads at most {MAX_PIXELS / 1e6:g} megapixels, resize it first)"
                )
            bits = _sample_bits(image)
            if bits != 8:
                raise InputError(f"{path}: only 8-bit images are supported ({bits}-bit samples, mode {image.mode})")
            frames = getattr(image, "n_frames", 1)
            image.load()
            if frames > 1 and note is not None:
                note(f"{path} has {frames} frames; using the first")
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1) if exif_orientation else 1
            if orientation in range(2, 9):
                image = ImageOps.exif_transpose(image)
                if note is not None:
                    note(f"{path}: applied EXIF orientation {orientation} (turned as viewers show it)")
            mode = image.mode
            if note is not None:
                if _has_transparency(image):
                    note(f"{path} has transparent pixels; the transparency is dropped (the stego image is opaque)")
                elif mode not in _LOSSLESS_MODES | {"RGBA", "LA", "PA"}:
                    note(f"converting {path} from {mode} to RGB")
            if mode == "P" and "transparency" in image.info:
                return image.convert("RGBA").convert("RGB")
            return image.convert("RGB")
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB Pillow image → float tensor ``(3, H, W)`` in [0, 1]."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Float tensor ``(3, H, W)`` in [0, 1] → RGB Pillow image (rounded to 8 bits)."""
    array = to_uint8(image).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Round a float image in [0, 1] to uint8 values."""
    import torch

    return (image.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an 8-bit image file as a float tensor ``(3, H, W)`` in [0, 1]."""
    return pil_to_tensor(open_image(path))


def jpeg_roundtrip(image: Image.Image, quality: int, subsampling: str = "4:2:0") -> Image.Image:
    """Recompress ``image`` with Pillow's real JPEG encoder, as a sharing platform would."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def jpeg_roundtrip_tensor(images: torch.Tensor, quality: int, subsampling: str = "4:2:0") -> torch.Tensor:
    """Real JPEG round trip of a batch ``(B, 3, H, W)`` in [0, 1] (no gradient)."""
    import torch

    out = [pil_to_tensor(jpeg_roundtrip(tensor_to_pil(img), quality, subsampling)) for img in images]
    return torch.stack(out).to(images.device, images.dtype)
