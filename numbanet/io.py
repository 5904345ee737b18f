"""Saving and loading: a model (architecture + params) and its optimizer's state in one .npz.

The file is written to a temporary file beside the target and renamed into place, so a crash
mid-write leaves the previous checkpoint intact, never a half-written one.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from numbanet import optim
from numbanet.layers.base import Layer

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupt, or does not match what it is loaded into."""


def save(path, model, optimizer=None):
    """Write ``model`` (and ``optimizer``'s state, if given) to ``path`` (.npz), atomically."""
    path = os.fspath(path)
    header = {
        "format": FORMAT_VERSION,
        "model": {
            "type": type(model).__name__,
            "config": model.config(),
            "dtype": str(model.dtype),
        },
        "optimizer": None,
    }
    arrays = {f"param/{key}": value for key, value in model.state_dict().items()}
    if optimizer is not None:
        state = optimizer.state_dict()
        header["optimizer"] = {
            "type": type(optimizer).__name__,
            "config": state["config"],
            "steps": {key: s["step"] for key, s in state["state"].items()},
        }
        for key, s in state["state"].items():
            arrays.update({f"optim/{key}/{name}": v for name, v in s.items() if name != "step"})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".numbanet-", suffix=".npz.tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a checkpoint is not
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path):
    """(model, optimizer or None) rebuilt from a file written by ``save``."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            arrays = {name: f[name] for name in f.files if name != "header"}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a numbanet checkpoint or corrupt ({exc})") from exc
    if header.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {header.get('format')}, expected {FORMAT_VERSION}"
        )
    spec = header["model"]
    if spec["type"] not in Layer.registry:
        raise CheckpointError(f"{path}: unknown layer type {spec['type']!r}")
    try:
        model = Layer.registry[spec["type"]].from_config(spec["config"]).to(spec["dtype"])
        model.load_state_dict(
            {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the model does not match its saved params ({exc})") from exc
    optimizer = None
    if header["optimizer"] is not None:
        optimizer = load_optimizer(path, header["optimizer"], arrays, model)
    return model, optimizer


def load_optimizer(path, spec, arrays, model):
    """Rebuild the optimizer described by the header ``spec`` for ``model``."""
    classes = {cls.__name__: cls for cls in optim.OPTIMIZERS.values()}
    if spec["type"] not in classes:
        raise CheckpointError(f"{path}: unknown optimizer type {spec['type']!r}")
    optimizer = classes[spec["type"]](model)
    state = {key: {"step": step} for key, step in spec["steps"].items()}
    for name, value in arrays.items():
        if name.startswith("optim/"):
            key, state_name = name[len("optim/") :].rsplit("/", 1)
            state.setdefault(key, {"step": 0})[state_name] = value
    try:
        optimizer.load_state_dict({"config": spec["config"], "state": state})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: optimizer state does not match the model ({exc})") from exc
    return optimizer
