"""Image-in-image benchmark: the Rehman et al. (2017) CNN's parameters and MACs at paper scale
(300×300), and the cover/payload quality of a trained checkpoint (the CNN or its INN variant) on
the demo test split (8-bit stego images).

Usage (from the repository root), after training the demo::

    lightning fit -c trainer_configs/cnn_image_in_image.yaml -c trainer_configs/demo/cnn_image_in_image.yaml
    python benchmarks/image_in_image.py --ckpt runs/cnn_image_in_image_demo/version_0/checkpoints/last.ckpt

    lightning fit -c trainer_configs/inn_image_in_image.yaml -c trainer_configs/demo/inn_image_in_image.yaml
    python benchmarks/image_in_image.py --ckpt runs/inn_image_in_image_demo/version_0/checkpoints/last.ckpt \
        --output benchmarks/results/inn_image_in_image.json

Writes ``benchmarks/results/image_in_image.json`` (or ``--output``) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common.image import to_uint8
from common.metrics import psnr, ssim
from datamodules.demo import DemoImageDataModule
from steganography.models.image_in_image import ImageInImageDecoder, ImageInImageEncoder, to_grey
from steganography.tasks.image_in_image import PAYLOAD_BITS_PER_PIXEL, ImageInImageTaskBase

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "image_in_image.json"
PAPER = {"cover_psnr": 32.9, "cover_ssim": 0.96, "secret_psnr": 36.6, "secret_ssim": 0.96, "image_size": 300}


def paper_scale_cost(size: int = 300) -> dict[str, float]:
    """Parameters and multiply-accumulates of encoder and decoder for one ``size``² image."""
    encoder, decoder = ImageInImageEncoder(), ImageInImageDecoder()
    cover, secret = torch.rand(1, 3, size, size), torch.rand(1, 1, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as encoder_flops:
        stego = encoder(cover, secret)
    with torch.no_grad(), FlopCounterMode(display=False) as decoder_flops:
        decoder(stego)
    return {
        "encoder_params": sum(p.numel() for p in encoder.parameters()),
        "decoder_params": sum(p.numel() for p in decoder.parameters()),
        "encoder_gmac": encoder_flops.get_total_flops() / 2e9,
        "decoder_gmac": decoder_flops.get_total_flops() / 2e9,
    }


@torch.no_grad()
def evaluate(checkpoint: Path, image_size: int, num_images: int) -> dict[str, float]:
    """Mean PSNR/SSIM of the 8-bit stego vs cover and of the revealed vs grey secret."""
    task = ImageInImageTaskBase.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    data = DemoImageDataModule(image_size=image_size, num_val=num_images, with_secret=True, batch_size=num_images)
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    cover, secret = batch["image"], to_grey(batch["secret"])
    stego, revealed = task(cover, secret)
    stego8 = to_uint8(stego).float() / 255.0
    return {
        "cover_psnr": psnr(stego8, cover).item(),
        "cover_ssim": ssim(stego8, cover).item(),
        "secret_psnr": psnr(revealed.clamp(0, 1), secret).item(),
        "secret_ssim": ssim(revealed.clamp(0, 1), secret).item(),
        "model": type(task).__name__,
        "bpp": PAYLOAD_BITS_PER_PIXEL,
        "global_step": torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="trained ImageInImageTask or INNImageInImageTask checkpoint")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON report")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--num-images", type=int, default=32, help="demo test-split images")
    args = parser.parse_args()
    result = {
        "date": datetime.date.today().isoformat(),
        "checkpoint": str(args.ckpt),
        "paper_scale": paper_scale_cost(PAPER["image_size"]),
        "demo": evaluate(args.ckpt, args.image_size, args.num_images),
        "paper": PAPER,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    demo, cost = result["demo"], result["paper_scale"]
    print(f"{'':24}{'cover PSNR':>12}{'cover SSIM':>12}{'payload PSNR':>14}{'payload SSIM':>14}")
    print(f"{demo['model'] + ', step ' + str(demo['global_step']):24}"
          f"{demo['cover_psnr']:12.2f}{demo['cover_ssim']:12.3f}{demo['secret_psnr']:14.2f}{demo['secret_ssim']:14.3f}")
    print(f"{'Rehman paper, 300px':24}{PAPER['cover_psnr']:12.2f}{PAPER['cover_ssim']:12.3f}{PAPER['secret_psnr']:14.2f}{PAPER['secret_ssim']:14.3f}")
    print(f"Rehman CNN at paper scale: encoder {cost['encoder_params']:,} params {cost['encoder_gmac']:.2f} GMAC, "
          f"decoder {cost['decoder_params']:,} params {cost['decoder_gmac']:.2f} GMAC; payload {demo['bpp']} bpp")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
