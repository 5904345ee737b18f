"""How an exercise is graded: one mechanism for every exercise of every chapter.

An ``Exercise`` is a row of a table: the learner's function signature, how to make small random
float64 inputs, the engine's answer (a kernel or a layer run in float64, or a NumPy reference
where the engine has none), for a backward pass the forward function it differentiates, and the
mistakes learners make, each with the hint that names it. ``grade(exercise, fn)`` then

1. calls ``fn`` on copies of the inputs (an exception, or an input changed in place, fails),
2. checks the number and shapes of the outputs,
3. compares each output with the engine's answer: max|yours − engine| / max(|yours|, |engine|),
4. for a backward pass, checks each gradient against central finite differences of the forward
   function, f = Σ upstream ⊙ forward(inputs), (f(v + ε) − f(v − ε)) / 2ε, in float64,
5. on failure, compares the outputs with every known mistake (a transposed dW, a sum over the
   wrong axis, a forgotten 1/N, ...) and names the one that fits in a hint; failing that, with
   the generic ones (wrong sign, transposed, off by a constant factor).
"""

import copy
import html
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from numbanet.gradcheck import _relative_error, numeric_gradient

TOLERANCE = 1e-6  # relative error against the engine's answer (float64 on both sides)
GRADCHECK_TOLERANCE = 1e-5  # against finite differences, whose own error is ~1e-9 here

Dim3 = namedtuple("Dim3", "x y z", defaults=(0, 0))  # CUDA's blockIdx / threadIdx / blockDim


@dataclass(frozen=True)
class Mistake:
    """A wrong answer learners give and the hint that names it.

    outputs(inputs, reference) -> {output name: what the mistake gives} for the outputs it
    changes ({} or None where it does not apply to these inputs); or ``solution``, a wrong
    learner's function run through the exercise like the learner's own.
    """

    hint: str
    outputs: Callable = None
    solution: Callable = None


@dataclass(frozen=True)
class Exercise:
    """One graded exercise. See the module docstring for how the fields are used.

    inputs(rng, **case) -> {name: value}: float64 arrays and Python scalars; it may hold more
    than the learner's ``args`` (a forward function's hidden inputs, such as a bias).
    reference(inputs) -> tuple of the outputs, in the order of ``outputs``.
    forward(inputs) -> an array, a tuple of arrays, or a scalar loss; ``upstream`` names the
    inputs holding the gradient that reaches each of its outputs (none for a scalar loss);
    ``wrt`` maps each output that is a gradient to the input it is the gradient of.
    run(fn, inputs) -> the outputs as a tuple; default fn(*args).
    cases: keyword arguments of ``inputs``, one graded run each (stride 1 and 2, causal or not).
    may_modify: inputs the learner may update in place (an optimizer's param and state).
    as_kernel(fn) -> a function with the arguments of the engine kernel ``kernel``, to plug the
    learner's function into a layer (``numbanet.exercises.plug``).
    """

    name: str
    chapter: int
    title: str
    signature: str
    task: str
    question: str
    inputs: Callable
    args: tuple
    outputs: tuple
    reference: Callable
    mistakes: tuple = ()
    forward: Callable = None
    upstream: tuple = ()
    wrt: dict = field(default_factory=dict)
    run: Callable = None
    cases: tuple = ({},)
    may_modify: tuple = ()
    kernel: str = ""
    as_kernel: Callable = None

    def call(self, fn, inputs):
        """The learner's outputs on ``inputs``, as a tuple (one output may come bare)."""
        if self.run is not None:
            return tuple(self.run(fn, inputs))
        result = fn(*(inputs[name] for name in self.args))
        if len(self.outputs) == 1 and not isinstance(result, (tuple, list)):
            return (result,)
        return tuple(result) if isinstance(result, (tuple, list)) else (result,)

    def __repr__(self):
        return f"{self.chapter:02d} {self.signature}"


@dataclass
class CheckResult:
    """What the checker found: ``passed``, a ``message``, the ``hint`` naming the likely mistake,
    ``max_error`` (relative, against the engine's answer; inf when it could not be compared) and
    ``gradcheck`` ({gradient: relative error against finite differences})."""

    exercise: str
    passed: bool
    message: str
    max_error: float = float("inf")
    hint: str = ""
    gradcheck: dict = field(default_factory=dict)

    def lines(self):
        mark = "✓" if self.passed else "✗"
        lines = [f"{mark} {self.exercise}: {self.message}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        if self.gradcheck:
            errors = ", ".join(f"{name} {error:.1e}" for name, error in self.gradcheck.items())
            lines.append(f"  gradient check (float64 central differences): {errors}")
        return lines

    def __str__(self):
        return "\n".join(self.lines())

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        color = "green" if self.passed else "#c00"
        first, *rest = (html.escape(line) for line in self.lines())
        return f"<div style='color:{color}'><b>{first}</b><br>" + "<br>".join(rest) + "</div>"


def grade(exercise, fn, seed=0):
    """Grade the learner's ``fn`` on every case of ``exercise``; the first failure is reported."""
    result = None
    for case in exercise.cases:
        inputs = exercise.inputs(np.random.default_rng(seed), **case)
        result = _grade_case(exercise, fn, inputs, case)
        if not result.passed:
            return result
    return result


def _copies(inputs):
    return copy.deepcopy(inputs)


def _described(case):
    return f" (with {', '.join(f'{k}={v}' for k, v in case.items())})" if case else ""


def _grade_case(exercise, fn, inputs, case):
    name, where = exercise.name, _described(case)
    given = _copies(inputs)
    try:
        got = exercise.call(fn, given)
    except Exception as exc:  # noqa: BLE001 (the learner's code: any error is theirs to see)
        return CheckResult(
            name, False, f"raised {type(exc).__name__}: {exc}{where}", hint=_exception_hint(exc)
        )
    for arg in exercise.args:
        changeable = arg in exercise.may_modify or not isinstance(inputs[arg], np.ndarray)
        if not changeable and not np.array_equal(given[arg], inputs[arg]):
            return CheckResult(
                name,
                False,
                f"changed its input {arg} in place{where}",
                hint=f"leave {arg} as it is: work on a copy ({arg} = {arg}.copy()) or build "
                f"a new array",
            )
    if len(got) != len(exercise.outputs):
        expected = ", ".join(exercise.outputs)
        return CheckResult(
            name, False, f"returned {len(got)} outputs, expected {len(exercise.outputs)} "
            f"({expected}){where}", hint=f"return them as a tuple: return {expected}",
        )  # fmt: skip
    try:
        got = dict(zip(exercise.outputs, (np.asarray(g, dtype=np.float64) for g in got)))
    except (TypeError, ValueError) as exc:
        return CheckResult(name, False, f"returned something that is not numbers: {exc}{where}")
    expected = dict(zip(exercise.outputs, (np.asarray(r) for r in exercise.reference(inputs))))
    errors = {
        k: _relative_error(got[k], expected[k]) if got[k].shape == expected[k].shape else np.inf
        for k in exercise.outputs
    }
    gradcheck = _gradcheck(exercise, inputs, got)
    wrong = [k for k in exercise.outputs if not errors[k] <= TOLERANCE]
    wrong += [k for k, e in gradcheck.items() if not e <= GRADCHECK_TOLERANCE and k not in wrong]
    max_error = max(errors.values())
    if not wrong:
        verb = "matches" if len(exercise.outputs) == 1 else "match"
        message = f"right! {', '.join(exercise.outputs)} {verb} the engine's answer"
        if gradcheck:
            message += " and finite differences"
        return CheckResult(name, True, message, max_error, gradcheck=gradcheck)
    first = wrong[0]
    if got[first].shape != expected[first].shape:
        message = f"{first} has shape {got[first].shape}, expected {expected[first].shape}"
    else:
        message = f"{first} is wrong (max relative error {errors[first]:.2g})"
    hint = _diagnose(exercise, inputs, got, expected, wrong)
    return CheckResult(name, False, message + where, max_error, hint, gradcheck)


def _gradcheck(exercise, inputs, got):
    """{gradient: relative error} of the learner's gradients against central differences of
    ``exercise.forward``, for those with the shape of their input."""
    if exercise.forward is None:
        return {}
    values = _copies(inputs)

    def f():
        outputs = exercise.forward(values)
        if not exercise.upstream:
            return float(outputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return float(sum(np.sum(values[u] * y) for u, y in zip(exercise.upstream, outputs)))

    errors = {}
    for output, wrt in exercise.wrt.items():
        if got[output].shape == np.shape(values[wrt]):
            errors[output] = _relative_error(got[output], numeric_gradient(f, values[wrt]))
    return errors


def _close(a, b):
    return a.shape == b.shape and _relative_error(a, b) <= TOLERANCE


def _diagnose(exercise, inputs, got, expected, wrong):
    """The hint of the known mistake that fits the most wrong outputs (every such mistake, if
    several fit as many), else a generic one."""
    fitting = {}  # hint -> how many wrong outputs the mistake explains
    for mistake in exercise.mistakes:
        if mistake.solution is not None:
            try:
                variant = exercise.call(mistake.solution, _copies(inputs))
            except Exception:  # noqa: BLE001, S112 (a mistake that cannot run on these inputs)
                continue
            variant = dict(zip(exercise.outputs, variant))
        else:
            variant = mistake.outputs(inputs, expected) or {}
        fits = [
            k
            for k, value in variant.items()
            if k in wrong
            and not _close(np.asarray(value, np.float64), expected[k])
            and _close(got[k], np.asarray(value, np.float64))
        ]
        if fits:
            fitting[mistake.hint] = max(len(fits), fitting.get(mistake.hint, 0))
    if fitting:
        most = max(fitting.values())
        return "; also: ".join(hint for hint, count in fitting.items() if count == most)
    return _generic_hint(wrong[0], got[wrong[0]], expected[wrong[0]])


def _generic_hint(name, got, expected):
    """Mistakes of any exercise: NaN, transposed, reshaped, sign, a constant factor."""
    if not np.isfinite(got).all():
        return f"{name} holds NaN or inf: a division by zero, or exp of a large number"
    if expected.ndim == 2 and got.shape == expected.T.shape and _close(got, expected.T):
        return f"{name} is transposed: it should have shape {expected.shape}"
    if got.shape != expected.shape:
        if got.size == expected.size and _close(got.reshape(expected.shape), expected):
            return (
                f"the values of {name} are right, in the wrong shape: reshape to {expected.shape}"
            )
        return f"{name} should have shape {expected.shape}: check which axes you sum over or keep"
    if _close(got, -expected):
        return f"{name} has the wrong sign"
    scale = np.vdot(got, expected) / max(np.vdot(expected, expected), 1e-300)
    if abs(scale - 1) > 1e-6 and np.isfinite(scale) and _close(got, scale * expected):
        return (
            f"{name} is off by a constant factor ({scale:.4g}): a forgotten 1/N, a factor 2, "
            f"a ½, or a scale such as 1/(1 − p)"
        )
    index = np.unravel_index(np.argmax(np.abs(got - expected)), expected.shape)
    at = ", ".join(map(str, index))
    return f"{name}[{at}] is {got[index]:.6g}, the engine's is {expected[index]:.6g}"


def _exception_hint(exc):
    text = str(exc)
    if "matmul" in text or ("shapes" in text and "aligned" in text):
        return "the shapes of a matrix product do not line up: write each operand's shape beside it"
    if "broadcast" in text:
        return "two arrays do not broadcast: keep the summed axis (keepdims=True) or add one"
    if isinstance(exc, TypeError) and "argument" in text:
        return "check the function's arguments against the signature of the exercise"
    return ""
