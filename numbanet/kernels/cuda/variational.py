"""The reparameterization trick on the GPU (``kernels/cpu/variational.py`` has the math): the
same ε from the same seed as the CPU, one thread per sample forward (it sums its KL alone),
one thread per latent unit backward."""

from numba import cuda

from numbanet.kernels import scalar
from numbanet.kernels.cuda.launch import device, grid_1d, grid_2d
from numbanet.kernels.scalar import reparameterize_unit_grad

reparameterize_row = device(scalar.reparameterize_row)


@grid_1d
def reparameterize_forward(x, seed, sample, z, eps, kl):
    """z = μ + exp(½ log σ²)·ε and kl[n] = −½ Σ_j (1 + log σ² − μ² − σ²), x[n] = [μ | log σ²].
    x: (N, 2D); seed: uint64; sample: draw ε (else ε = 0, z = μ); writes z, eps: (N, D) and
    kl: (N,). One thread per sample."""
    n = cuda.grid(1)
    if n < x.shape[0]:
        kl[n] = reparameterize_row(x, n, seed, sample, z, eps)


@grid_2d
def reparameterize_backward(dz, x, eps, weight, dx):
    """dx = [dz + w·μ | dz·ε·σ/2 + w·(σ² − 1)/2]. dz, eps: (N, D), x: (N, 2D), weight: w;
    writes dx: (N, 2D). One thread per (n, j) of dz."""
    size = dz.shape[1]
    j, n = cuda.grid(2)
    if n < dz.shape[0] and j < size:
        dx[n, j], dx[n, size + j] = reparameterize_unit_grad(
            x[n, j], x[n, size + j], eps[n, j], dz[n, j], weight
        )
