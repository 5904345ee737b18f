"""The sampling layer of a variational autoencoder: z drawn from the encoder's Gaussian, and the
KL divergence from the prior that it adds to the objective (the math is in
``kernels/cpu/variational.py``)."""

import numpy as np

from numbanet import rng
from numbanet.backend import to_host
from numbanet.layers.base import Layer, View

REDUCTIONS = ("mean", "sum")


class Reparameterize(Layer):
    """The reparameterization trick, and the KL term of the evidence lower bound (ELBO).

    x = [μ | log σ²] row by row;  z = μ + σ·ε, ε ~ N(0, I) (training);  z = μ (evaluation)
    KL = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j) per sample, added to the objective: backward adds
    its gradient to the one that reaches z, the KL reduced over the batch as ``reduction`` says
    ("sum": Σ_n KL_n, so with a summed loss the objective is exactly the negative ELBO; "mean":
    Σ_n KL_n / N). The loss must reduce the same way (``Loss.check_terms``, which fit runs).
    After each forward, ``kl`` is the batch's KL per sample (a float), and
    ``objective_terms()`` gives it as {"kl": kl}.
    Input shape:  (N, 2·D)
    Output shape: (N, D)
    ε comes from numbanet's seeded generator (one seed per forward, as Dropout's mask), so
    ``numbanet.seed`` makes it reproducible, rewinding a step replays it, and the CPU and the
    GPU draw the same ε; ``saved["eps"]`` keeps it.
    """

    formula = {
        "forward": "z = μ + exp(½·logσ²)·ε,  KL = −½ Σ(1 + logσ² − μ² − σ²)   (eval: z = μ)",
        "backward": "dμ = dz + w·μ,  dlogσ² = dz·ε·σ/2 + w·(σ² − 1)/2   (w = 1, or 1/N)",
    }

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Reparameterize: reduction must be one of {REDUCTIONS} (as the loss's), "
                f"got {reduction!r}"
            )
        self.objective_reduction = reduction

    def forward(self, x):
        x = self.as_input(x)
        self.check_ndim(x, 2, "(N, 2·D): [μ | log σ²]")
        n, width = x.shape
        if width == 0 or width % 2:
            raise self.error(
                f"expected input of shape (N, 2·D), μ and log σ² side by side, got {x.shape}: "
                f"{width} is not an even number of features"
            )
        z = self.buffer("z", (n, width // 2))
        eps = self.buffer("eps", z.shape)
        kl = self.buffer("kl", (n,))
        seed = rng.generator().integers(2**64, dtype=np.uint64) if self.training else 0
        self.kernels.reparameterize_forward(x, np.uint64(seed), self.training, z, eps, kl)
        self.saved["x"], self.saved["eps"], self.saved["kl"] = x, eps, kl
        return z

    def backward(self, dy, need_dx=True):
        x, eps = self.saved_for_backward("x", "eps")
        dy = self.as_grad(dy, eps.shape)
        if not need_dx:
            return None
        dx = self.buffer("dx", x.shape)
        weight = 1.0 if self.objective_reduction == "sum" else 1.0 / max(len(x), 1)
        self.kernels.reparameterize_backward(dy, x, eps, self.dtype.type(weight), dx)
        return dx

    @property
    def kl(self):
        """KL(q(z | x) ‖ N(0, I)) of the last forward's batch, per sample (None before one)."""
        if "kl" not in self.saved:
            return None
        rows = to_host(self.saved["kl"])
        return float(rows.sum(dtype=np.float64)) / len(rows) if len(rows) else 0.0

    def objective_terms(self):
        return {} if self.kl is None else {"kl": self.kl}

    def views(self, phase, tensors):
        """Beside the forward pass, the ε that was drawn and each sample's KL."""
        views = super().views(phase, tensors)
        if phase == "forward" and "eps" in self.saved:
            views.append(View("ε (0 in eval)", self.backend.to_host(self.saved["eps"])))
            views.append(View("KL per sample", self.backend.to_host(self.saved["kl"]), "histogram"))
        return views

    def config(self):
        return {"reduction": self.objective_reduction}

    def __repr__(self):
        mean = self.objective_reduction == "mean"
        return (
            "Reparameterize()"
            if mean
            else f"Reparameterize(reduction={self.objective_reduction!r})"
        )
