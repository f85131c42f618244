"""LightningModule: DCCRN trained as a MetricGAN+ generator with SI-SDR, PESQ and STOI losses."""

from __future__ import annotations

import math

import torch
from torch import nn
from torchmetrics import MeanMetric

from common.export import instantiate, spec
from common.metrics import pesq_wb, si_sdr, stoi, talker_rejection
from common.settings import SPEECH_SAMPLE_RATE
from common.task import LRSchedulerCallable, OptimizerCallable, Task, adam
from enhancer.dccrn import DCCRN
from enhancer.discriminator import MetricDiscriminator
from enhancer.history import ScoredHistory
from enhancer.losses import (
    DifferentiableSTOI,
    LeakageLoss,
    NegativeSISDR,
    NegativeSNR,
    OverSuppressionLoss,
    PerceptualPesqLoss,
    adversarial_generator_loss,
    metric_regression_loss,
)
from enhancer.personal import PersonalDCCRN
from enhancer.scores import MetricScorer

#: DCCRN-CL (Hu et al. 2020) at 16 kHz.
DEFAULT_GENERATOR = spec(DCCRN, sample_rate=SPEECH_SAMPLE_RATE)
#: The MetricGAN+ discriminator with one head per predicted score: PESQ and STOI.
DEFAULT_DISCRIMINATOR = spec(MetricDiscriminator, metrics=["pesq", "stoi"])
#: Adam at MetricGAN+'s learning rate, for each network.
DEFAULT_OPTIMIZER = adam(5e-4)


class EnhancerTask(Task):
    """Speech enhancement on ``{"noisy", "clean"}`` batches of ``(B, 1, L)`` waveforms.

    Personalised enhancement: with a :class:`enhancer.personal.PersonalDCCRN` generator, batches
    that also carry ``"enrollment"`` (another clip of the target speaker) are enhanced for that
    speaker; without the key the generator is called on the noisy batch alone, as a blind DCCRN.

    Each training step (manual optimisation, as MetricGAN+ but per step instead of per epoch):

    1. the generator enhances the noisy batch;
    2. the discriminator learns to predict the real normalised scores (PESQ, STOI; computed
       on CPU) of (clean, clean) -> 1, (enhanced, clean), (noisy, clean), and of a replayed
       ``replay_fraction`` of past enhanced outputs from the history buffer;
    3. the generator minimises ``adversarial_weight * sum_heads (D(enhanced) - 1)^2
       + si_sdr_weight * (-SI-SDR) + pesq_weight * torch-pesq + snr_weight * (-SNR)
       + stoi_weight * (1 - differentiable STOI) + over_suppression_weight * over-suppression
       + leakage_weight * leakage``.

    With ``adversarial_weight = 0`` steps 2 and the adversarial term are skipped.

    Validation logs WB-PESQ, STOI and SI-SDR of the enhanced and the noisy signals, their
    differences, and the monitored ``val/quality = ((pesq + 0.5) / 5 + stoi) / 2`` (the mean of
    the discriminator's two normalised targets: intelligibility weighs as much as quality); with
    batches that carry the interferers as mixed (``"talker"``, ``"noise"``: the real-speech
    dominant-talker data), also ``val/talker_rejection`` (dB, :func:`common.metrics.talker_rejection`,
    the enhancer benchmark's measure; items without a competing talker are left out of its mean).

    Args:
        generator: the enhancer (``class_path`` + ``init_args`` in a config; default: DCCRN-CL at
            16 kHz); its ``sample_rate`` must be the data's.
        discriminator: the metric discriminator (default: PESQ+STOI heads).
        sample_rate: sampling rate of the data.
        adversarial_weight: weight of the MetricGAN+ generator loss.
        si_sdr_weight: weight of the negative SI-SDR (dB).
        pesq_weight: weight of the torch-pesq loss.
        snr_weight: weight of the negative plain SNR (dB), the only term that sees the sign and
            the gain of the output (SI-SDR, torch-pesq and the discriminator do not).
        stoi_weight: weight of ``1 -`` the differentiable STOI
            (:class:`enhancer.losses.DifferentiableSTOI`).
        stoi_extended: use ESTOI instead of STOI in that term.
        over_suppression_weight: weight of :class:`enhancer.losses.OverSuppressionLoss`, the
            guard against removing the target's speech.
        leakage_weight: weight of :class:`enhancer.losses.LeakageLoss`, the residual noise and
            talkers left where the target is quieter than them (its other side).
        init_weights: exported generator weights (``.pt``) to start from (fine-tuning); see
            :func:`enhancer.pretrained.initial_generator_state`. A personalised generator takes
            a blind DCCRN's (its conditioning starts at identity).
        optimizer: optimiser of the generator (default: Adam, lr 5e-4).
        conditioning_lr: learning rate of a personalised generator's conditioning modules
            (enrollment encoder, FiLM), which start from scratch while the rest is fine-tuned
            (``None``: the optimiser's).
        lr_scheduler: learning-rate scheduler of the generator, stepped per epoch (default: none).
        discriminator_optimizer: optimiser of the discriminator (default: Adam, lr 5e-4).
        discriminator_lr_scheduler: learning-rate scheduler of the discriminator (default: none).
        gradient_clip: max gradient norm of both networks (0 disables clipping).
        history_capacity: items kept in the history buffer.
        replay_fraction: replayed history items per step, as a fraction of the batch size.
        scored_items: batch items scored for the discriminator per step (``None``: all); bounds
            the CPU cost of real PESQ/STOI.
        score_workers: processes computing the real scores (0: in the training process).
        num_logged_items: fixed validation items logged as audio and spectrograms.
    """

    def __init__(
        self,
        generator: DCCRN = DEFAULT_GENERATOR,
        discriminator: MetricDiscriminator = DEFAULT_DISCRIMINATOR,
        sample_rate: int = SPEECH_SAMPLE_RATE,
        adversarial_weight: float = 1.0,
        si_sdr_weight: float = 0.05,
        pesq_weight: float = 1.0,
        snr_weight: float = 0.0,
        stoi_weight: float = 0.0,
        stoi_extended: bool = False,
        over_suppression_weight: float = 0.0,
        leakage_weight: float = 0.0,
        init_weights: str | None = None,
        optimizer: OptimizerCallable = DEFAULT_OPTIMIZER,
        conditioning_lr: float | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        discriminator_optimizer: OptimizerCallable = DEFAULT_OPTIMIZER,
        discriminator_lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip: float = 5.0,
        history_capacity: int = 1024,
        replay_fraction: float = 0.2,
        scored_items: int | None = None,
        score_workers: int = 0,
        num_logged_items: int = 3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = instantiate(generator)
        if self.generator.sample_rate != sample_rate:
            raise ValueError(f"the generator works at {self.generator.sample_rate} Hz but the data is at {sample_rate} Hz")
        self.discriminator = instantiate(discriminator)
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.discriminator_optimizer, self.discriminator_lr_scheduler = discriminator_optimizer, discriminator_lr_scheduler
        if init_weights:
            from enhancer.pretrained import initial_generator_state

            state = initial_generator_state(init_weights, self.generator.config)
            if isinstance(self.generator, PersonalDCCRN):
                self.generator.load_blind_state_dict(state)
            else:
                self.generator.load_state_dict(state)
        self.si_sdr_loss = NegativeSISDR()
        self.snr_loss = NegativeSNR()
        self.pesq_loss = PerceptualPesqLoss(1.0, sample_rate)
        self.stoi_loss = DifferentiableSTOI(sample_rate, extended=stoi_extended)
        self.over_suppression_loss = OverSuppressionLoss()
        self.leakage_loss = LeakageLoss()
        self.scorer = MetricScorer(self.discriminator.metrics, sample_rate, score_workers)
        self.history = ScoredHistory(history_capacity)
        # Per-item means that leave out items without a talker; synchronised across processes.
        self.rejection = nn.ModuleDict({stage: MeanMetric(nan_strategy="ignore") for stage in ("val", "test")})

    monitor, monitor_mode = "val/quality", "max"
    # Not val/talker_rejection: only data that carries the interferers logs it.
    hparam_metrics = ("val/quality", "val/pesq", "val/delta_pesq", "val/stoi", "val/delta_stoi", "val/si_sdr")
    exported_module = "generator"

    def forward(self, noisy: torch.Tensor, enrollment: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(noisy) if enrollment is None else self.generator(noisy, enrollment)

    def _enhance(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self(batch["noisy"], batch.get("enrollment"))

    def _discriminator_loss(self, noisy: torch.Tensor, enhanced: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        count = self.hparams.scored_items or noisy.shape[0]
        noisy, enhanced, clean = noisy[:count], enhanced[:count].detach(), clean[:count]
        targets = self.scorer(torch.cat([enhanced, noisy]), torch.cat([clean, clean])).to(self.device)
        enhanced_scores, noisy_scores = targets.chunk(2)
        ones = torch.ones_like(enhanced_scores)
        estimates, references = torch.cat([clean, enhanced, noisy]), torch.cat([clean, clean, clean])
        loss = metric_regression_loss(self.discriminator(estimates, references), torch.cat([ones, enhanced_scores, noisy_scores]))
        replay = self.history.sample(math.ceil(self.hparams.replay_fraction * count))
        if replay is not None:
            past, reference, scores = (x.to(self.device) for x in replay)
            loss = loss + metric_regression_loss(self.discriminator(past, reference), scores)
        self.history.add(enhanced, clean, enhanced_scores)
        self.log_stage("train", {f"score_{m}": enhanced_scores[:, i].nanmean() for i, m in enumerate(self.discriminator.metrics)}, count)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        noisy, clean = batch["noisy"], batch["clean"]
        generator_optimizer, discriminator_optimizer = self.optimizers()
        enhanced = self._enhance(batch)
        hp = self.hparams
        logs, skipped = {}, 0
        if hp.adversarial_weight > 0:
            discriminator_loss = self._discriminator_loss(noisy, enhanced, clean)
            skipped += not self.optimizer_step_guarded(discriminator_optimizer, discriminator_loss, hp.gradient_clip)
            logs["discriminator_loss"] = discriminator_loss.detach()

        negative_si_sdr = self.si_sdr_loss(enhanced, clean)
        pesq_loss = self.pesq_loss(enhanced, clean)
        loss = hp.si_sdr_weight * negative_si_sdr + hp.pesq_weight * pesq_loss
        if hp.snr_weight > 0:
            negative_snr = self.snr_loss(enhanced, clean)
            loss = loss + hp.snr_weight * negative_snr
            logs["snr"] = -negative_snr.detach()
        if hp.stoi_weight > 0:
            stoi_loss = self.stoi_loss(enhanced, clean)
            loss = loss + hp.stoi_weight * stoi_loss
            logs["stoi_loss"] = stoi_loss.detach()
        if hp.over_suppression_weight > 0:
            over_suppression = self.over_suppression_loss(enhanced, clean)
            loss = loss + hp.over_suppression_weight * over_suppression
            logs["over_suppression"] = over_suppression.detach()
        if hp.leakage_weight > 0:
            leakage = self.leakage_loss(enhanced, clean)
            loss = loss + hp.leakage_weight * leakage
            logs["leakage"] = leakage.detach()
        if hp.adversarial_weight > 0:
            adversarial = adversarial_generator_loss(self.discriminator(enhanced, clean))
            loss = loss + hp.adversarial_weight * adversarial
            logs["adversarial_loss"] = adversarial.detach()
        skipped += not self.optimizer_step_guarded(generator_optimizer, loss, hp.gradient_clip)
        logs |= {"loss": loss.detach(), "si_sdr": -negative_si_sdr.detach(), "pesq_loss": pesq_loss.detach()}
        logs["skipped_steps"] = float(skipped)
        self.log_stage("train", logs, noisy.shape[0], prog_bar=True)

    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        noisy, clean = batch["noisy"], batch["clean"]
        enhanced = self._enhance(batch)
        rate = self.hparams.sample_rate
        flat = {name: wave.reshape(wave.shape[0], -1) for name, wave in (("noisy", noisy), ("enhanced", enhanced), ("clean", clean))}
        lengths = batch.get("length")  # variable-length batches are zero-padded: score unpadded items

        def per_item(metric, name: str) -> torch.Tensor:
            if lengths is None:
                return metric(flat[name], flat["clean"]).float().cpu()
            return torch.cat([metric(flat[name][i : i + 1, :n], flat["clean"][i : i + 1, :n]).float().cpu() for i, n in enumerate(lengths.tolist())])

        scores = {}
        for name, prefix in (("enhanced", ""), ("noisy", "noisy_")):
            scores[f"{prefix}pesq"] = per_item(lambda x, y: pesq_wb(x, y, rate), name).nanmean()
            scores[f"{prefix}stoi"] = per_item(lambda x, y: stoi(x, y, rate), name).mean()
            scores[f"{prefix}si_sdr"] = per_item(si_sdr, name).mean()
        scores["delta_pesq"] = scores["pesq"] - scores["noisy_pesq"]
        scores["delta_stoi"] = scores["stoi"] - scores["noisy_stoi"]
        scores["delta_si_sdr"] = scores["si_sdr"] - scores["noisy_si_sdr"]
        scores["quality"] = ((scores["pesq"] + 0.5) / 5 + scores["stoi"]) / 2
        self.log_stage(stage, {k: v.to(self.device) for k, v in scores.items()}, noisy.shape[0])
        if "talker" in batch and "noise" in batch:
            parts = [batch[k].reshape(noisy.shape[0], -1) for k in ("clean", "talker", "noise", "noisy")]
            ends = lengths.tolist() if lengths is not None else [noisy.shape[-1]] * noisy.shape[0]
            rejection = torch.stack(
                [talker_rejection(flat["enhanced"][i, :n], *(part[i, :n] for part in parts)) for i, n in enumerate(ends)]
            )
            self.rejection[stage].update(rejection.to(self.device))
            self.log(f"{stage}/talker_rejection", self.rejection[stage], on_step=False, on_epoch=True, batch_size=noisy.shape[0])
        if batch_idx == 0:
            for index in range(min(self.hparams.num_logged_items, noisy.shape[0])):
                for name, wave in flat.items():
                    self.log_media_audio(stage, f"{index}/{name}", wave[index], rate)
                    self.log_media_spectrogram(stage, f"{index}/{name}_spectrogram", wave[index], rate)

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The enhanced waveforms (and the noisy inputs, to listen side by side)."""
        return {"enhanced": self._enhance(batch), "noisy": batch["noisy"]}

    def on_train_end(self) -> None:
        self.scorer.close()

    def _generator_parameters(self) -> list:
        """The generator's parameters; with ``conditioning_lr``, its conditioning modules as a
        second parameter group at that learning rate."""
        if self.hparams.conditioning_lr is None:
            return list(self.generator.parameters())
        if not isinstance(self.generator, PersonalDCCRN):
            raise ValueError("conditioning_lr needs a personalised generator (PersonalDCCRN)")
        prefixes = tuple(f"{name}." for name in self.generator.conditioning_modules)
        named = list(self.generator.named_parameters())
        return [
            {"params": [p for n, p in named if not n.startswith(prefixes)]},
            {"params": [p for n, p in named if n.startswith(prefixes)], "lr": self.hparams.conditioning_lr},
        ]

    def configure_optimizers(self):
        # Generator first: training_step unpacks them in this order.
        return self.configure_optimizer_groups(
            (self._generator_parameters(), self.optimizer, self.lr_scheduler),
            (self.discriminator.parameters(), self.discriminator_optimizer, self.discriminator_lr_scheduler),
        )
