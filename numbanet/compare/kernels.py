"""Every kernel on both backends, on the same inputs: how far apart, how fast, how launched."""

import difflib
import functools
import inspect
import statistics
import time
from dataclasses import asdict, astuple, dataclass, field

import numpy as np

from numbanet.backend import cuda_simulated, get_backend
from numbanet.compare.cases import CASES, WORK_ARRAYS, arguments, as_tuple, kernel_of, shapes_of

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
"""The max relative difference each dtype warrants between the two backends on
well-conditioned inputs: a few units in the last place of float32 (ε = 1.2e-7) and of float64
(ε = 2.2e-16), grown by sums over a few hundred terms added in another order."""


@dataclass
class Difference:
    """How far one array computed on the GPU is from the CPU's.

    max_abs: max |gpu − cpu|;  max_rel: max_abs / max |cpu| (relative to the array's scale);
    max_ulps: the worst element's difference in units in the last place of the CPU value,
    |gpu − cpu| / ulp(cpu). ULPs are strict: an element that a long sum brings near zero by
    cancellation has tiny ULPs, so an error of the sum's scale counts thousands of them there;
    that is why the pass mark (``TOLERANCE``) is on max_rel.
    """

    max_abs: float = 0.0
    max_rel: float = 0.0
    max_ulps: float = 0.0

    def worst(self, other):
        """The larger of each figure of two differences."""
        return Difference(*map(max, astuple(self), astuple(other)))


def ulp(values, dtype):
    """The unit in the last place of each value as a ``dtype`` number: the gap to the next
    representable one, 2^(exponent − mantissa bits). Computed in float64, where even float32's
    smallest gaps are normal numbers (numbanet flushes subnormals to zero)."""
    info = np.finfo(dtype)
    magnitude = np.maximum(np.abs(values).astype(np.float64), float(info.tiny))
    return np.ldexp(1.0, np.frexp(magnitude)[1] - 1 - info.nmant)


def difference(cpu, gpu):
    """The ``Difference`` between two arrays of the same float dtype (cpu is the reference)."""
    if cpu.size == 0:
        return Difference()
    diff = np.abs(gpu.astype(np.float64) - cpu.astype(np.float64))
    max_abs = float(diff.max())
    scale = float(np.abs(cpu).max())
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf"))
    with np.errstate(divide="ignore", invalid="ignore"):  # float64's ulp(0) flushes to 0
        ulps = np.where(diff == 0, 0.0, diff / ulp(cpu, cpu.dtype))
    return Difference(max_abs, max_rel, float(ulps.max()))


@dataclass
class KernelRow:
    """One kernel on one shape and dtype, run on both backends.

    Times are seconds: ``*_run`` the median of the timed calls (the GPU's synchronized),
    ``*_compile`` what the first call took beyond a run (compiling, or loading the CPU's
    cached machine code; 0 once compiled). ``launches``: the ``Launch`` (kernel, grid, block)
    of each CUDA launch.
    """

    case: str
    kernel: str
    shape: tuple
    dtype: str
    max_abs: float
    max_rel: float
    max_ulps: float
    tolerance: float
    ok: bool
    cpu_run: float
    gpu_run: float
    cpu_compile: float
    gpu_compile: float
    launches: list = field(default_factory=list)

    @property
    def speedup(self):
        """CPU time / GPU time (> 1: the GPU is faster)."""
        return self.cpu_run / self.gpu_run if self.gpu_run else float("inf")

    def as_dict(self):
        return {**asdict(self), "shape": list(self.shape), "speedup": self.speedup}


def timed(call, synchronize, repeat):
    """(first call's seconds, median seconds of ``repeat`` more calls), each call waited for."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        call()
        synchronize()
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:]) if repeat else times[0]


@dataclass
class KernelRun:
    """One kernel case run once on each backend: its float array arguments after the call.

    names: the arguments' names, in argument order; cpu, gpu: name -> host array after the
    CPU / CUDA kernel; written: the names the kernel changed; launches: each CUDA ``Launch``;
    cpu_first, gpu_first: the seconds the call took (compiling included on a first call);
    cpu_call, gpu_call: the calls again, on the same arrays, for timing.
    """

    names: list
    cpu: dict
    gpu: dict
    written: list
    launches: list
    cpu_first: float
    gpu_first: float
    cpu_call: object
    gpu_call: object


def run_on_both(case, shape, dtype, seed=0):
    """Run the kernel of ``case`` once on the CPU and once on CUDA, on the same inputs
    (``cases.arguments(case, shape, dtype, seed)``); returns a ``KernelRun``."""
    from numbanet.kernels.cuda.launch import recording_launches  # only once a GPU is asked for

    cpu, cuda = get_backend("cpu"), get_backend("cuda")
    cpu_kernel, cuda_kernel = (getattr(b.kernels, kernel_of(case)) for b in (cpu, cuda))
    args = arguments(case, shape, dtype, seed)
    cpu_args = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    gpu_args = [cuda.from_host(a, a.dtype) if isinstance(a, np.ndarray) else a for a in args]
    run = KernelRun([], {}, {}, [], [], 0.0, 0.0, lambda: cpu_kernel(*cpu_args), None)
    run.gpu_call = lambda: cuda_kernel(*gpu_args)
    run.cpu_first, _ = timed(run.cpu_call, cpu.synchronize, 0)
    with recording_launches() as launches:
        run.gpu_first, _ = timed(run.gpu_call, cuda.synchronize, 0)
    run.launches = list(launches)
    names = inspect.signature(cpu_kernel).parameters
    work = WORK_ARRAYS.get(kernel_of(case), ())
    for name, before, on_cpu, on_gpu in zip(names, args, cpu_args, gpu_args):
        # labels are not compared, nor work arrays each device may use its own way
        if isinstance(before, np.ndarray) and before.dtype.kind == "f" and name not in work:
            run.names.append(name)
            run.cpu[name], run.gpu[name] = np.copy(on_cpu), cuda.to_host(on_gpu)
            if not (np.array_equal(before, on_cpu) and np.array_equal(before, run.gpu[name])):
                run.written.append(name)
    return run


def compare_kernel(case, shape, dtype, repeat=5, seed=0):
    """Run ``case`` on both backends on the same inputs; returns its ``KernelRow``.

    Every float array argument is compared after each backend's first call: the outputs, and
    the inputs, which neither kernel may change. (Kernels update some arrays in place, e.g.
    the optimizer steps, so the timed calls after it only measure speed.)
    """
    cpu, cuda = get_backend("cpu"), get_backend("cuda")
    run = run_on_both(case, shape, dtype, seed)
    worst = Difference()
    for name in run.names:
        worst = worst.worst(difference(run.cpu[name], run.gpu[name]))
    _, cpu_run = timed(run.cpu_call, cpu.synchronize, repeat)
    if cuda_simulated():  # GPU times mean nothing there, and every call is slow: run it once
        gpu_run = run.gpu_first
    else:
        _, gpu_run = timed(run.gpu_call, cuda.synchronize, repeat)
    tolerance = TOLERANCE[np.dtype(dtype).name]
    return KernelRow(
        case=case,
        kernel=kernel_of(case),
        shape=as_tuple(shape),
        dtype=np.dtype(dtype).name,
        max_abs=worst.max_abs,
        max_rel=worst.max_rel,
        max_ulps=worst.max_ulps,
        tolerance=tolerance,
        ok=worst.max_rel <= tolerance,
        cpu_run=cpu_run,
        gpu_run=gpu_run,
        cpu_compile=max(run.cpu_first - cpu_run, 0.0),
        gpu_compile=max(run.gpu_first - gpu_run, 0.0),
        launches=run.launches,
    )


def representative_shape(case, size="small"):
    """The one shape of ``case`` compared when not every shape is asked for: in the simulator
    the middle one of the small shapes, neither the one-element edge case nor the slowest to
    simulate (each CUDA thread is a Python thread there); on a GPU the first large one, the
    seed MLP's batch of 64."""
    shapes = shapes_of(case, size)
    return shapes[len(shapes) // 2] if size == "small" else shapes[0]


def unknown_case_hint(name):
    """What to say about a kernel case name that is not one: the nearest names, and where the
    full list is."""
    near = difflib.get_close_matches(name, sorted(CASES), n=3, cutoff=0.5)
    nearest = f"nearest: {', '.join(near)}; " if near else ""
    return f"{nearest}`numbanet compare --list` lists all {len(CASES)}"


@functools.cache
def families():
    """{family: [case, ...]}: the kernel cases by the family their kernel is in (the kernel
    table's ``FAMILIES``: dense, conv, pool, ...), in ``CASES``'s order."""
    from numbanet.kernels import FAMILIES

    home = {kernel: family for family, kernels in FAMILIES.items() for kernel in kernels}
    grouped = {}
    for case in CASES:
        grouped.setdefault(home[kernel_of(case)], []).append(case)
    return grouped


def jobs(kernels=None, dtypes=("float32", "float64"), size="small", all_shapes=True, family=None):
    """The (case, shape, dtype) triples ``run`` compares, in order (see ``run``)."""
    grouped = families()
    for name in family or ():
        if name not in grouped:
            raise ValueError(f"compare: no family {name!r}; families are {', '.join(grouped)}")
    for name in kernels or ():
        if not any(name in c for c in CASES):
            raise ValueError(f"compare: no kernel matches {name!r} ({unknown_case_hint(name)})")
    chosen = {case for name in family or () for case in grouped[name]}
    cases = [
        c
        for c in CASES
        if not (kernels or family) or c in chosen or any(k in c for k in kernels or ())
    ]
    return [
        (c, s, d)
        for c in cases
        for s in (shapes_of(c, size) if all_shapes else [representative_shape(c, size)])
        for d in dtypes
    ]


def run(
    kernels=None,
    dtypes=("float32", "float64"),
    size=None,
    repeat=None,
    seed=0,
    progress=True,
    all_shapes=True,
    family=None,
):
    """Compare every kernel (or those whose case name contains one of ``kernels``, and those
    of each ``family`` of ``families()``) on both backends, for each shape of its kind (only
    ``representative_shape`` unless ``all_shapes``) and each dtype; returns the ``KernelRow``
    list.

    size: "small" shapes (the default in the simulator) or "large" ones (the default on a GPU).
    repeat: timed calls per kernel after the compared one (default 5 on a GPU, 1 in the
    simulator, where a simulated kernel runs only once, for the comparison: its time means
    nothing, and every call is slow).
    """
    from tqdm.auto import tqdm

    size = size or ("small" if cuda_simulated() else "large")
    repeat = (1 if cuda_simulated() else 5) if repeat is None else repeat
    todo = jobs(kernels, dtypes, size, all_shapes, family)
    return [
        compare_kernel(case, shape, dtype, repeat, seed)
        for case, shape, dtype in tqdm(todo, desc="compare", unit="kernel", disable=not progress)
    ]
