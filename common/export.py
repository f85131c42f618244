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

Configs name objects by *spec*, ``{"class_path": "module.Class", "init_args": {...}}``, as
LightningCLI does; :func:`instantiate` builds one, and a module class decorated with
:func:`exportable` remembers the arguments it was built with (:func:`init_args_of`), so that a
task records and ships the same spec whether the module came from a YAML config or from Python.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

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


def is_spec(value: Any) -> bool:
    """Whether ``value`` is a ``{"class_path": ..., "init_args": ...}`` spec (a mapping)."""
    return isinstance(value, Mapping) and isinstance(value.get("class_path"), str)


def spec(class_path: str | type, **init_args: Any) -> dict[str, Any]:
    """The spec ``{"class_path": ..., "init_args": init_args}`` of a class (given or by path)."""
    if isinstance(class_path, type):
        class_path = f"{class_path.__module__}.{class_path.__qualname__}"
    return {"class_path": class_path, "init_args": init_args}


def instantiate(value: Any, *args: Any) -> Any:
    """``value`` itself, or the object its spec describes, built now with ``args`` before the
    spec's ``init_args`` (an optimiser's parameters, a scheduler's optimiser)."""
    if not is_spec(value):
        return value
    return import_class(value["class_path"])(*args, **dict(value.get("init_args") or {}))


def factory(value: Any) -> Callable[..., Any]:
    """A callable: ``value`` itself, or its spec's class with the spec's ``init_args`` bound
    (``factory(adam_spec)(parameters)`` builds the optimiser)."""
    if not is_spec(value):
        return value
    return functools.partial(import_class(value["class_path"]), **dict(value.get("init_args") or {}))


ModuleClass = TypeVar("ModuleClass", bound=type)


def exportable(cls: ModuleClass) -> ModuleClass:
    """Class decorator: every instance remembers the arguments of its constructor, defaults
    included (:func:`init_args_of`). The signature seen by ``inspect`` and jsonargparse is
    unchanged."""
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        original(self, *args, **kwargs)
        if type(self).__init__ is __init__:  # not a subclass's call with arguments of its own
            self.__dict__["_init_args"] = {key: value for key, value in list(bound.arguments.items())[1:]}

    cls.__init__ = __init__
    return cls


def init_args_of(module: Any) -> dict[str, Any]:
    """The constructor arguments of an instance of an :func:`exportable` class.

    Raises:
        ValueError: its class does not record them.
    """
    recorded = getattr(module, "__dict__", {}).get("_init_args")
    if recorded is None:
        raise ValueError(f"{class_path_of(module)} does not record its constructor arguments (decorate it with common.export.exportable)")
    return dict(recorded)


def spec_of(value: Any) -> Any:
    """The spec of an object built from one, where it can be told: an :func:`exportable`
    instance, a class, or a ``functools.partial`` of a class with keyword arguments;
    anything else is returned unchanged."""
    if isinstance(value, type):
        return spec(value)
    if isinstance(value, functools.partial) and isinstance(value.func, type) and not value.args:
        return spec(value.func, **value.keywords)
    if "_init_args" in getattr(value, "__dict__", {}):
        return {"class_path": class_path_of(value), "init_args": init_args_of(value)}
    return value


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
    # Networks, optimisers and schedulers are specs here (LightningCLI's config, or what
    # Task.save_hyperparameters recorded); the task builds them. "_class_path" is LightningCLI's.
    init_args = {key: value for key, value in state["hyper_parameters"].items() if not key.startswith("_")}
    task_class = import_class(state["task_class_path"])
    try:
        task = task_class(**init_args)
    except TypeError as err:
        raise ValueError(f"{checkpoint}: its hyper-parameters do not build today's {state['task_class_path']} ({err})") from None
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
