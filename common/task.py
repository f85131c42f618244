"""The base of every LightningModule of the project.

One place for what all experiments share, so their runs compare side by side in TensorBoard:

- **Networks, optimisers and schedulers come from the config**: a task's constructor takes its
  networks as ``nn.Module`` arguments and, per network, an ``OptimizerCallable`` and an optional
  ``LRSchedulerCallable`` (LightningCLI's types), each with a default *spec*
  (``{"class_path": ..., "init_args": ...}``, e.g. :func:`adam`) that equals the old hard-coded
  choice. From YAML, jsonargparse builds them from ``class_path``/``init_args``; from Python, a
  task accepts the object or the spec (:func:`common.export.instantiate` /
  :func:`common.export.factory`). :meth:`Task.save_hyperparameters` keeps every such argument as
  its spec, so checkpoints hold no pickled modules and rebuild the same task, and
  :meth:`Task.exported_init_args` is the exported network's own recorded arguments
  (:func:`common.export.exportable`). :meth:`Task.configure_optimizer_groups` builds one
  optimiser (and scheduler) per group of parameters.
- **Schedulers**: stepped once per epoch, after validation. Lightning does this in automatic
  optimisation; for manual optimisation (GANs) :meth:`Task.on_train_epoch_end` does the same (a
  ``ReduceLROnPlateau`` reads its ``monitor`` attribute, else :attr:`Task.monitor`).
- **Manual optimisation** (:meth:`Task.optimizer_step_guarded`): toggle the optimiser (GANs),
  backpropagate, skip the step when the loss or a gradient is not finite, clip, step.
- **Logging conventions** (:meth:`Task.log_stage`): scalars under ``train/``, ``val/`` and
  ``test/`` with the batch size; per step in training, per epoch (synchronised) in evaluation.
- **Media** (:meth:`Task.log_media_images`, :meth:`Task.log_media_audio`,
  :meth:`Task.log_media_spectrogram`): tags ``<stage>/media/<name>``, written at the step of the
  scalars they belong to.
- **Evaluation**: ``validation_step`` and ``test_step`` both call :meth:`Task.evaluate`; media
  of the first batch are logged in both stages.
- **Prediction**: ``predict_step`` calls :meth:`Task.predict` and writes what it returns (images
  as PNG, audio as WAV) under ``<log dir>/predictions/``, and the end of prediction prints that folder.
- **Export**: the checkpoint records the task class, and :attr:`Task.exported_module` /
  :meth:`Task.exported_init_args` name the network that ``python -m common.export`` ships.
- **Model selection**: each task declares :attr:`Task.monitor` / :attr:`Task.monitor_mode` (the
  checkpoint callback keeps the best checkpoint beside ``last.ckpt``) and
  :attr:`Task.hparam_metrics`, the headline validation metrics registered with the hyper-parameters
  so TensorBoard's HParams tab lists them for every run.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from PIL import Image
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.tensorboard.summary import hparams as hparams_summary

from common.export import class_path_of, factory, init_args_of, is_spec, spec, spec_of
from common.media import log_audio, log_figure, log_images, log_spectrogram, tensorboard
from common.settings import SPEECH_SAMPLE_RATE

__all__ = ["LRSchedulerCallable", "OptimizerCallable", "Task", "adam", "flat_hparams"]


def adam(lr: float, **init_args: Any) -> dict[str, Any]:
    """The spec of ``torch.optim.Adam(params, lr=lr, **init_args)``: the tasks' default optimiser."""
    return spec("torch.optim.Adam", lr=lr, **init_args)


def flat_hparams(hparams: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str | bool]:
    """Hyper-parameters as the flat scalars of TensorBoard's HParams tab: a spec ``name`` becomes
    ``name`` (its class path) and ``name.<argument>`` per init argument; other values that are not
    scalars become their text."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in hparams.items():
        name = f"{prefix}{key}"
        if is_spec(value):
            flat[name] = value["class_path"]
            flat |= flat_hparams(value.get("init_args") or {}, f"{name}.")
        elif isinstance(value, Mapping):
            flat |= flat_hparams(value, f"{name}.")
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


class Task(pl.LightningModule):
    """LightningModule base: subclasses implement ``training_step``, :meth:`evaluate` and
    :meth:`predict`, and set the class attributes below."""

    #: Validation metric that selects the best checkpoint.
    monitor: str = "val/loss"
    #: ``"min"`` or ``"max"``: the direction in which :attr:`monitor` improves.
    monitor_mode: str = "min"
    #: Validation metrics shown beside the hyper-parameters in TensorBoard's HParams tab.
    hparam_metrics: tuple[str, ...] = ("val/loss",)
    #: Attribute holding the network that :mod:`common.export` ships (``None``: nothing to ship).
    exported_module: str | None = None

    def exported_init_args(self) -> dict[str, Any]:
        """Constructor arguments of :attr:`exported_module`: those it recorded
        (:func:`common.export.exportable`)."""
        if self.exported_module is None:
            raise NotImplementedError(f"{type(self).__name__} ships no module")
        return init_args_of(getattr(self, self.exported_module))

    def save_hyperparameters(self, *args: Any, ignore: Any = None, frame: FrameType | None = None, logger: bool = True) -> None:
        """Lightning's, with every network, optimiser or scheduler argument kept as its spec.

        Under LightningCLI the hyper-parameters are the config, specs already; from Python, an
        :func:`~common.export.exportable` module, an optimiser class or a ``functools.partial``
        of one is replaced by its spec (:func:`common.export.spec_of`), so the checkpoint rebuilds
        the same task and pickles no module.
        """
        frame = frame or inspect.currentframe().f_back
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`")
            super().save_hyperparameters(*args, ignore=ignore, frame=frame, logger=logger)
        if isinstance(self._hparams, Mapping):
            for key, value in list(self._hparams.items()):
                converted = spec_of(value)
                self._hparams[key] = copy.deepcopy(converted) if is_spec(converted) else converted
            self._hparams_initial = copy.deepcopy(self._hparams)

    def exported_metadata(self) -> dict[str, Any]:
        """Extra values the shipped file records for its users."""
        return {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the task class, so that :mod:`common.export` can rebuild the task."""
        checkpoint["task_class_path"] = class_path_of(self)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizer_groups(
        self, *groups: tuple[Iterable[torch.nn.Parameter], OptimizerCallable, LRSchedulerCallable | None]
    ) -> Any:
        """What ``configure_optimizers`` returns for one optimiser per ``(parameters, optimizer,
        lr_scheduler)`` group, in order (``optimizer`` and ``lr_scheduler``: callables or specs).

        Without schedulers: the optimiser, or the list of them (as a hard-coded
        ``configure_optimizers`` would return them). With any: one ``{"optimizer", "lr_scheduler"}``
        dict per group, the scheduler stepped per epoch; a ``ReduceLROnPlateau`` watches its
        ``monitor`` attribute (LightningCLI's variant has one), else :attr:`monitor`.
        """
        configs = []
        for parameters, optimizer, lr_scheduler in groups:
            built = factory(optimizer)(parameters)
            config: dict[str, Any] = {"optimizer": built}
            if lr_scheduler is not None:
                scheduler = factory(lr_scheduler)(built)
                config["lr_scheduler"] = {"scheduler": scheduler}
                if isinstance(scheduler, ReduceLROnPlateau) and self.automatic_optimization:
                    config["lr_scheduler"]["monitor"] = getattr(scheduler, "monitor", None) or self.monitor
            configs.append(config)
        if all("lr_scheduler" not in config for config in configs):
            optimizers = [config["optimizer"] for config in configs]
            return optimizers[0] if len(optimizers) == 1 else optimizers
        return configs[0] if len(configs) == 1 else configs

    def on_train_epoch_end(self) -> None:
        """Step the schedulers of a manually optimised task once per epoch (Lightning steps them
        only in automatic optimisation). Subclasses that override this hook call it."""
        if self.automatic_optimization:
            return
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers is not None else []:
            if isinstance(scheduler, ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get(getattr(scheduler, "monitor", None) or self.monitor)
                if value is not None:
                    scheduler.step(value)
            else:
                scheduler.step()

    def optimizer_step_guarded(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, gradient_clip: float) -> bool:
        """One manual optimisation step of ``optimizer`` on ``loss``.

        The optimiser is toggled (only its parameters receive gradients), the step is skipped when
        the loss or any gradient is not finite, and gradients are clipped to ``gradient_clip`` (L2
        norm; 0 disables clipping). Returns whether the step was taken.
        """
        self.toggle_optimizer(optimizer)
        try:
            optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                return False
            self.manual_backward(loss)
            gradients = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if not all(torch.isfinite(g).all() for g in gradients):
                optimizer.zero_grad(set_to_none=True)
                return False
            if gradient_clip > 0:
                self.clip_gradients(optimizer, gradient_clip_val=gradient_clip, gradient_clip_algorithm="norm")
            optimizer.step()
            return True
        finally:
            self.untoggle_optimizer(optimizer)

    # ----------------------------------------------------------------- logging
    def log_stage(self, stage: str, metrics: dict[str, torch.Tensor | float], batch_size: int, prog_bar: bool = False) -> None:
        """Log ``metrics`` as ``<stage>/<name>``: per step in training, per epoch otherwise."""
        training = stage == "train"
        self.log_dict(
            {f"{stage}/{name}": value for name, value in metrics.items()},
            on_step=training,
            on_epoch=not training,
            sync_dist=not training,
            batch_size=batch_size,
            prog_bar=prog_bar,
        )

    def media_step(self) -> int:
        """The step at which Lightning's loggers write this moment's scalars."""
        if self._trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop._batches_that_stepped

    def log_media_images(self, stage: str, name: str, images: torch.Tensor, nrow: int = 4) -> None:
        """Images ``(B, C, H, W)`` in [0, 1] as one grid under ``<stage>/media/<name>``."""
        log_images(self, f"{stage}/media/{name}", images, self.media_step(), nrow=nrow)

    def log_media_audio(self, stage: str, name: str, wave: torch.Tensor, sample_rate: int) -> None:
        """One waveform under ``<stage>/media/<name>``."""
        log_audio(self, f"{stage}/media/{name}", wave, sample_rate, step=self.media_step())

    def log_media_spectrogram(self, stage: str, name: str, wave: torch.Tensor, sample_rate: int) -> None:
        """The spectrogram figure of one waveform under ``<stage>/media/<name>``."""
        log_spectrogram(self, f"{stage}/media/{name}", wave, sample_rate, step=self.media_step())

    def log_media_figure(self, stage: str, name: str, figure: plt.Figure) -> None:
        """A matplotlib figure under ``<stage>/media/<name>`` (closed afterwards)."""
        log_figure(self, f"{stage}/media/{name}", figure, step=self.media_step())

    def on_fit_start(self) -> None:
        """Register the hyper-parameters with :attr:`hparam_metrics` for the HParams tab.

        Only the summary that links them is written here; the metric values are the ``val/``
        scalars logged during the run, so no placeholder value enters their curves.
        """
        writer = tensorboard(self)
        if writer is None:
            return
        params = flat_hparams(self.hparams)
        for summary in hparams_summary(params, {name: float("nan") for name in self.hparam_metrics}):
            writer.file_writer.add_summary(summary)

    # ----------------------------------------------------------------- evaluation and prediction
    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        """Compute and log the ``stage`` metrics of one batch (media for ``batch_idx == 0``)."""
        raise NotImplementedError

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.evaluate(batch, batch_idx, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.evaluate(batch, batch_idx, "test")

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Outputs of one batch to write: ``name -> (B, C, H, W)`` images in [0, 1] or
        ``name -> (B, 1, samples)`` audio at the ``sample_rate`` hyper-parameter (default: speech rate)."""
        raise NotImplementedError

    def predictions_dir(self) -> Path:
        """Folder of the files written by :meth:`predict_step`."""
        return Path(self.trainer.log_dir or self.trainer.default_root_dir) / "predictions"

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> list[Path]:
        """Write :meth:`predict`'s outputs, one file per item and output; return the paths."""
        outputs = self.predict(batch)
        folder = self.predictions_dir()
        folder.mkdir(parents=True, exist_ok=True)
        sample_rate = int(self.hparams.get("sample_rate", SPEECH_SAMPLE_RATE))
        written = []
        for name, values in outputs.items():
            for item, value in enumerate(values.detach().float().cpu()):
                stem = f"{batch_idx:05d}_{item:03d}_{name}"
                if value.dim() == 3 and value.shape[0] in (1, 3):
                    pixels = (value.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
                    path = folder / f"{stem}.png"
                    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(path)
                else:
                    path = folder / f"{stem}.wav"
                    sf.write(path, np.clip(value.reshape(-1).numpy(), -1, 1), sample_rate, subtype="PCM_16")
                written.append(path)
        return written

    def on_predict_end(self) -> None:
        """Print the folder of the predictions (one line, from the first process)."""
        folder = self.predictions_dir()
        if self.trainer.is_global_zero:
            print(f"wrote predictions to {folder}")
