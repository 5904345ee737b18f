"""Exercises with automatic checks: write a layer's forward or backward in NumPy, and the
engine grades it.

    import numbanet as nn

    def linear_backward(x, W, dy):
        return dy @ W, dy.T @ x, dy.sum(axis=0)

    nn.exercises.check_linear_backward(linear_backward)   # ✓ … or ✗ with a hint
    nn.exercises.list(chapter=1)                          # the exercises, their signatures
    nn.exercises.describe("linear_backward")              # the task and a question to think about
    nn.exercises.plug(model, "linear_backward", linear_backward)   # train with it

Each checker calls the function on small random float64 inputs, checks the shapes, compares
with the engine's answer (its kernel or layer where it has one), runs a float64 gradient check
for a backward pass, and on failure names the likely mistake (``grading.py`` says how). Every
exercise is a row of a table, one module per chapter; ``check_<name>`` is ``check(name, fn)``.
"""

from numbanet.exercises import (
    attention,
    backprop,
    cnn,
    dynamics,
    generative,
    gpu,
    mlp,
    recurrent,
    regularisation,
)
from numbanet.exercises.grading import CheckResult, Dim3, Exercise, Mistake, grade

EXERCISES = {
    exercise.name: exercise
    for module in (
        mlp, backprop, gpu, cnn, regularisation, recurrent, attention, generative, dynamics
    )
    for exercise in module.EXERCISES
}

CHAPTERS = {
    1: "The perceptron and the MLP",
    2: "Stepping through backprop",
    3: "CPU against CUDA",
    4: "Convolutional networks",
    5: "Regularisation",
    6: "Recurrent networks",
    7: "Attention",
    8: "Generative models",
    9: "Training dynamics",
}


def exercise(name):
    """The Exercise called ``name``; a clear error naming the exercises there are."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; there are: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def exercises(chapter=None):
    """The exercises of ``chapter`` (1–9), or of every chapter, in order. Each shows as
    "01 linear_backward(x, W, dy) -> (dx, dW, db)" and has .task and .question."""
    return [e for e in EXERCISES.values() if chapter is None or e.chapter == chapter]


def describe(name):
    """The exercise as Markdown: title, signature, the task and a question to think about."""
    e = exercise(name)
    return (
        f"**{e.title}** (chapter {e.chapter}) — `{e.signature}`\n\n{e.task}\n\n"
        f"*Think about it:* {e.question}"
    )


def questions(chapter):
    """The questions to think about of one chapter, one per exercise."""
    return [e.question for e in exercises(chapter)]


def check(name, fn, seed=0, verbose=True):
    """Grade the learner's ``fn`` for exercise ``name``; print the report (``verbose``) and
    return the CheckResult (``.passed``, ``.message``, ``.hint``, ``.max_error``)."""
    result = grade(exercise(name), fn, seed)
    if verbose:
        print(result)
    return result


def plug(model, name, fn):
    """Plug the learner's solution of exercise ``name`` into every layer of ``model`` in place
    of the engine's CPU kernel it stands for (``linear_backward`` → ``dense_backward``), so that
    the model trains with it: ``model.use_kernel`` with the solution wrapped to the kernel's
    arguments. ``plug(model, name, None)`` puts the engine's kernel back. Returns the model."""
    e = exercise(name)
    if e.as_kernel is None:
        pluggable = ", ".join(x.name for x in EXERCISES.values() if x.as_kernel is not None)
        raise ValueError(f"plug: {name} stands for no kernel of a layer; these do: {pluggable}")
    return model.use_kernel(e.kernel, None if fn is None else e.as_kernel(fn))


def _checker(name):
    def check_exercise(fn, seed=0, verbose=True):
        return check(name, fn, seed, verbose)

    e = EXERCISES[name]
    check_exercise.__name__ = check_exercise.__qualname__ = f"check_{name}"
    check_exercise.__doc__ = (
        f"Grade your {e.signature} (chapter {e.chapter}: {e.title}).\n\n{e.task}\n\n"
        f"Prints ✓ or ✗ with a hint and returns a CheckResult."
    )
    return check_exercise


globals().update({f"check_{name}": _checker(name) for name in EXERCISES})
list = exercises  # nn.exercises.list(chapter=1), as the notebooks call it

__all__ = [  # noqa: PLE0604
    "CHAPTERS",
    "CheckResult",
    "Dim3",
    "EXERCISES",
    "Exercise",
    "Mistake",
    "check",
    "describe",
    "exercise",
    "exercises",
    "grade",
    "list",
    "plug",
    "questions",
    *(f"check_{name}" for name in EXERCISES),
]
