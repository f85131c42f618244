"""Image I/O and conversions between Pillow images, uint8 arrays and float tensors in [0, 1]."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common.errors import InputError

#: Refuse images above this many pixels (decompression-bomb guard, ~ 16k x 8k).
MAX_PIXELS = 128_000_000


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open an 8-bit image file as RGB, raising :class:`InputError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_PIXELS and twice that: make the limit strict.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            image.load()
            mode = image.mode
            bits = image.info.get("bits") or (8 if mode in {"1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr"} else 16)
            if mode in {"I", "I;16", "I;16B", "I;16L", "F", "RGB;16"} or bits > 8:
                raise InputError(f"{path}: only 8-bit images are supported (mode {mode})")
            return image.convert("RGB")
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InputError(f"{path}: image too large (decompression bomb guard: {err})") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB Pillow image → float tensor ``(3, H, W)`` in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Float tensor ``(3, H, W)`` in [0, 1] → RGB Pillow image (rounded to 8 bits)."""
    array = to_uint8(image).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Round a float image in [0, 1] to uint8 values."""
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
    out = [pil_to_tensor(jpeg_roundtrip(tensor_to_pil(img), quality, subsampling)) for img in images]
    return torch.stack(out).to(images.device, images.dtype)
