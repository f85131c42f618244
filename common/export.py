"""One file format for every shipped model, and one way to make it from a Lightning checkpoint.

A shipped file (``*/checkpoints/*.pt``) holds only tensors and plain values, so it loads with
``torch.load(..., weights_only=True)``::

    {"format": "stegavox-module/1",
     "class_path": "enhancer.dccrn.DCCRN",     # the nn.Module
     "init_args": {...},                       # its constructor arguments
     "state_dict": {...},
     "metadata": {"task": ..., "epoch": ..., "global_step": ..., "monitor": ..., "best": ...}}

Export (the task names the module to ship, see :class:`common.task.Task`)::

    python -m common.export runs/<name>/version_N/checkpoints/best.ckpt enhancer/checkpoints/<name>.pt
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "stegavox-module/1"


def import_class(class_path: str) -> type:
    """The class named by a dotted ``module.Class`` path."""
    module_name, _, class_name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def class_path_of(obj: Any) -> str:
    """The dotted ``module.Class`` path of ``obj``'s class."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def save_module(path: str | os.PathLike, module: nn.Module, init_args: dict[str, Any], **metadata: Any) -> None:
    """Write ``module`` in the shipped format (atomically: a failure leaves no partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}
    exported = {"format": FORMAT, "class_path": class_path_of(module), "init_args": dict(init_args), "state_dict": state, "metadata": metadata}
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as partial:
        torch.save(exported, partial)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial.name, 0o666 & ~umask)  # as a plain open() would create it, not 0600
    os.replace(partial.name, path)


def load_module(path: str | os.PathLike, expected: type[nn.Module]) -> tuple[nn.Module, dict[str, Any]]:
    """The module saved by :func:`save_module` (CPU, eval mode) and its metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a shipped-format file, or its module is not an ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model weights not found: {path}")
    exported = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(exported, dict) or exported.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file (export it with python -m common.export)")
    cls = import_class(exported["class_path"])
    if not issubclass(cls, expected):
        raise ValueError(f"{path} holds a {exported['class_path']}, not a {expected.__name__}")
    module = cls(**exported["init_args"])
    module.load_state_dict(exported["state_dict"])
    return module.eval(), exported["metadata"]


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike) -> dict[str, Any]:
    """Ship the module of a task's Lightning checkpoint; return the metadata written.

    The task class is recorded in the checkpoint by :class:`common.task.Task`; it names the
    attribute to ship (``exported_module``) and that module's constructor arguments
    (``exported_init_args()``).

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: the checkpoint is not a task's, or its task has no network to ship.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if "task_class_path" not in state:
        raise ValueError(f"{checkpoint} was not written by a common.task.Task")
    init_args = {key: value for key, value in state["hyper_parameters"].items() if not key.startswith("_")}  # LightningCLI's _class_path
    task = import_class(state["task_class_path"])(**init_args)
    if task.exported_module is None:
        raise ValueError(f"{state['task_class_path']} has no network to export")
    task.load_state_dict(state["state_dict"])
    module = getattr(task, task.exported_module)
    callback_states = [value for key, value in state.get("callbacks", {}).items() if "best_model_score" in value]
    best = callback_states[0]["best_model_score"] if callback_states else None
    # The checkpoint callback's monitor: a task rebuilt from its hyperparameters may lack the
    # sub-modules (e.g. a training channel given as a class) that chose it.
    monitor = callback_states[0].get("monitor") if callback_states else None
    metadata = {
        "task": state["task_class_path"],
        "source": Path(checkpoint).name,
        "epoch": int(state.get("epoch", 0)),
        "global_step": int(state.get("global_step", 0)),
        "monitor": monitor or task.monitor,
        "best": None if best is None else float(best),
        **task.exported_metadata(),
    }
    save_module(output, module, task.exported_init_args(), **metadata)
    return metadata


def main(args: list[str] | None = None) -> None:
    """``python -m common.export CHECKPOINT OUTPUT``."""
    parser = argparse.ArgumentParser(prog="python -m common.export", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("checkpoint", help="Lightning checkpoint of a task (best.ckpt or last.ckpt)")
    parser.add_argument("output", help="shipped file to write, e.g. enhancer/checkpoints/<name>.pt")
    parsed = parser.parse_args(args)
    try:
        metadata = export_checkpoint(parsed.checkpoint, parsed.output)
    except (FileNotFoundError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {parsed.output}: {metadata}")


if __name__ == "__main__":
    main()
