"""Backends: where arrays live and which compiled kernels run on them.

A layer never branches on the device: it asks its backend for buffers (``empty``,
``zeros``), for transfers (``from_host``, ``to_host``, ``copy_into``), for kernels
(``backend.kernels.dense_forward``) and for the shapes of the scratch arrays a kernel needs
on this device (``backend.plan.conv2d_scratch_shapes``). The CPU backend keeps NumPy arrays
and runs the Numba CPU kernels of ``numbanet.kernels.cpu``; the CUDA backend keeps Numba device
arrays in GPU memory and launches the CUDA kernels of ``numbanet.kernels.cuda``, which have the
same names and arguments. Both tables are built from the one list of kernel families,
``numbanet.kernels.FAMILIES``.
"""

import functools

import numpy as np

from numbanet import runtime
from numbanet.kernels import FAMILIES, PLAN, device_table

DEVICES = ("cpu", "cuda")


class BackendError(RuntimeError):
    """A device was asked for that this machine or this version cannot provide, or arrays of
    two devices met."""


def is_device_array(array):
    """True for a Numba CUDA device array (real or simulated), False for host arrays."""
    return hasattr(array, "copy_to_host")


def to_host(array):
    """A host NumPy copy of an array of either device."""
    return array.copy_to_host() if is_device_array(array) else np.array(array, copy=True)


def backend_of(array):
    """The backend of the device ``array`` lives on."""
    return get_backend("cuda" if is_device_array(array) else "cpu")


class Backend:
    """Array allocation, host transfer, the kernel table and the plan of the CPU."""

    def __init__(self, name):
        self.name = name

    @functools.cached_property
    def kernels(self):
        """The device's kernel table, built on first use: building it loads Numba and every
        kernel module, which ``import numbanet`` leaves for the first layer that runs."""
        return self._table(FAMILIES)

    @functools.cached_property
    def plan(self):
        """The device's plan (``numbanet.kernels.PLAN``), built on first use as ``kernels``."""
        return self._table(PLAN)

    def _table(self, families):
        """``device_table`` of this device; on the CPU the runtime starts first
        (``runtime.start``: BLAS on one thread before any kernel runs)."""
        if self.name == "cpu":
            runtime.start()
        return device_table(self.name, families)

    def owns(self, array):
        """True if ``array`` lives on this device."""
        return not is_device_array(array)

    def empty(self, shape, dtype):
        """An uninitialised array on this device."""
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        """A zero-filled array on this device."""
        return np.zeros(shape, dtype)

    def from_host(self, array, dtype):
        """A C-contiguous array of ``dtype`` on this device holding a host array's values (the
        array itself when it already is one)."""
        if is_device_array(array):
            raise BackendError(
                f"expected a host (NumPy) array on the cpu, got an array on the GPU "
                f"{array.shape}: copy it with .copy_to_host() or move the model with .to('cuda')"
            )
        return np.asarray(array, dtype, order="C")  # C-contiguous; a 0-d array stays 0-d

    def to_host(self, array):
        """A host NumPy copy of an array."""
        return to_host(array)

    def copy(self, array):
        """A copy of ``array`` on this device."""
        return array.copy()

    def copy_into(self, destination, source):
        """Overwrite ``destination`` (an array of this device) with the values of ``source``
        (a host array of the same shape, or a contiguous one of this device and dtype)."""
        destination[...] = source

    def synchronize(self):
        """Wait until every kernel launched so far has finished (the CPU never waits)."""

    def __repr__(self):
        return f"Backend({self.name!r})"


class CudaBackend(Backend):
    """Array allocation, host transfer and the kernel table of the GPU (Numba device arrays)."""

    def __init__(self):
        super().__init__("cuda")
        from numba import cuda

        self.cuda = cuda

    def owns(self, array):
        return is_device_array(array)

    def empty(self, shape, dtype):
        return self.cuda.device_array(shape, dtype)

    def zeros(self, shape, dtype):
        return self.cuda.to_device(np.zeros(shape, dtype))

    def from_host(self, array, dtype):
        if is_device_array(array):
            if array.dtype != dtype:
                raise BackendError(
                    f"expected a GPU array of {np.dtype(dtype)}, got {array.dtype}: convert it "
                    f"on the host, or pass the host array and let numbanet copy it"
                )
            return array
        return self.cuda.to_device(np.asarray(array, dtype, order="C"))

    def copy(self, array):
        result = self.cuda.device_array_like(array)
        result.copy_to_device(array)
        return result

    def copy_into(self, destination, source):
        if not is_device_array(source):  # a device source is copied on the device
            source = np.asarray(source, destination.dtype, order="C")
        destination.copy_to_device(source)

    def synchronize(self):
        self.cuda.synchronize()


_backends = {}


def cuda_unavailable_reason():
    """Why the CUDA backend cannot run here, or None when it can (a GPU or the simulator)."""
    try:
        from numba import cuda
    except ImportError as exc:  # numba-cuda is a dependency, but a broken install says so
        return f"numba-cuda cannot be imported ({exc})"
    if cuda.is_available():
        return None
    return (
        "no usable NVIDIA GPU and driver were found (numba.cuda.is_available() is False); "
        "set NUMBA_ENABLE_CUDASIM=1 before importing numbanet to run the CUDA kernels in "
        "Numba's simulator"
    )


def get_backend(device):
    """The backend for ``device``: "cpu" or "cuda"."""
    if device in _backends:
        return _backends[device]
    if device == "cpu":
        _backends["cpu"] = Backend("cpu")
        return _backends["cpu"]
    if device == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise BackendError(f"device 'cuda' is not available: {reason}")
        _backends["cuda"] = CudaBackend()
        return _backends["cuda"]
    raise BackendError(f"unknown device {device!r}: expected one of {DEVICES}")


def cuda_simulated():
    """True when Numba runs CUDA kernels in its simulator (NUMBA_ENABLE_CUDASIM=1)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def describe_gpu():
    """The GPU CUDA kernels run on, in words: "NVIDIA H100 (compute capability 9.0, 79.1 GiB)",
    "Numba's CUDA simulator (no GPU: …)", or why there is none."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        return f"none: {reason}"
    if cuda_simulated():
        return "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run as Python threads"
    from numba import cuda

    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    major, minor = device.compute_capability
    total = cuda.current_context().get_memory_info()[1]
    return f"{name} (compute capability {major}.{minor}, {total / 2**30:.1f} GiB)"
