from __future__ import annotations

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from common.task import adam
from datamodules.demo import DemoImageDataModule
from steganography.models.image_in_image import ImageInImageNetwork
from steganography.models.inn import InvertibleHider
from steganography.tasks.image_in_image import ImageInImageTask, INNImageInImageTask


def tiny_inn_task(levels: int = 1, **overrides) -> INNImageInImageTask:
    return INNImageInImageTask(InvertibleHider(levels, 4**levels, num_blocks=2, width=8, depth=2), **overrides)


def test_forward_backward_finite_and_revealed_is_a_grey_image():
    torch.manual_seed(0)
    task = tiny_inn_task(levels=2)
    cover, secret = torch.rand(2, 3, 16, 24), torch.rand(2, 1, 16, 24)
    stego, revealed = task(cover, secret)
    assert stego.shape == cover.shape and revealed.shape == secret.shape
    loss = task.loss(cover, stego, secret, revealed)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in task.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_untrained_net_returns_the_cover_and_reveals_mid_grey():
    """Zero-initialised couplings are the identity: stego = cover, and the constant ``z = 0``
    reveals the centred secret's mean, 0.5, everywhere."""
    task = tiny_inn_task().eval()
    cover, secret = torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        stego, revealed = task(cover, secret)
    torch.testing.assert_close(stego, cover, atol=1e-6, rtol=0)
    torch.testing.assert_close(revealed, torch.full_like(secret, 0.5), atol=1e-6, rtol=0)


def fit(task: pl.LightningModule, save_dir, name: str, steps: int = 1) -> pl.Trainer:
    """Fit ``steps`` steps on a fixed batch of demo images, validating once at the end."""
    data = DemoImageDataModule(image_size=16, num_train=4, num_val=4, with_secret=True, batch_size=4)
    trainer = pl.Trainer(max_steps=steps, limit_val_batches=1, num_sanity_val_steps=0, check_val_every_n_epoch=steps,
                         logger=TensorBoardLogger(save_dir, name=name), log_every_n_steps=1,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(task, data)
    return trainer


def logged_tags(trainer: pl.Trainer) -> dict[str, set[str]]:
    events = EventAccumulator(trainer.logger.log_dir).Reload()
    return {"scalars": set(events.Tags()["scalars"]), "images": set(events.Tags()["images"])}


def test_training_reduces_the_payload_error(tmp_path):
    torch.manual_seed(0)
    trainer = fit(tiny_inn_task(optimizer=adam(1e-2)), tmp_path, "inn", steps=30)
    untrained = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    data = DemoImageDataModule(image_size=16, num_train=4, num_val=4, with_secret=True, batch_size=4)
    before = untrained.validate(tiny_inn_task(), data, verbose=False)[0]["val/secret_mse"]
    assert trainer.callback_metrics["val/secret_mse"] < 0.75 * before


def test_one_step_fit_logs_the_same_metrics_and_images_as_the_cnn_task(tmp_path):
    torch.manual_seed(0)
    inn = logged_tags(fit(tiny_inn_task(), tmp_path, "inn"))
    cnn = logged_tags(fit(ImageInImageTask(ImageInImageNetwork(depth=3, channels=8)), tmp_path, "cnn"))
    expected = {"val/cover_psnr", "val/cover_ssim", "val/secret_psnr", "val/secret_ssim", "val/bpp", "train/loss"}
    assert expected <= inn["scalars"]
    assert inn == cnn
    assert "val/media/revealed" in inn["images"]
