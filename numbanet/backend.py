"""Backends: where arrays live and which compiled kernels run on them.

A layer never branches on the device: it asks its backend for buffers (``empty``,
``zeros``) and for kernels (``backend.kernels.dense_forward``). The CPU backend keeps
NumPy arrays and runs the Numba CPU kernels of ``numbanet.kernels.cpu``.
"""

from types import SimpleNamespace

import numpy as np


class BackendError(RuntimeError):
    """A device was asked for that this machine or this version cannot provide."""


class Backend:
    """Array allocation, host transfer and the kernel table of one device."""

    def __init__(self, name, kernel_modules):
        self.name = name
        self.kernels = SimpleNamespace(
            **{
                kernel_name: getattr(module, kernel_name)
                for module in kernel_modules
                for kernel_name in dir(module)
                if kernel_name.endswith(("_forward", "_backward", "_step"))
            }
        )

    def empty(self, shape, dtype):
        """An uninitialised array on this device."""
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        """A zero-filled array on this device."""
        return np.zeros(shape, dtype)

    def from_host(self, array, dtype):
        """A C-contiguous copy (or the array itself, if already fit) of a host array."""
        return np.ascontiguousarray(array, dtype)

    def to_host(self, array):
        """A host NumPy copy of a device array."""
        return np.array(array, copy=True)

    def __repr__(self):
        return f"Backend({self.name!r})"


_backends = {}


def get_backend(device):
    """The backend for ``device``: "cpu" (the CUDA backend arrives with the CUDA kernels)."""
    if device in _backends:
        return _backends[device]
    if device == "cpu":
        from numbanet.kernels import cpu

        _backends["cpu"] = Backend("cpu", cpu.MODULES)
        return _backends["cpu"]
    if device == "cuda":
        raise BackendError(
            "device 'cuda': this version of numbanet has no CUDA backend yet; use 'cpu'"
        )
    raise BackendError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
