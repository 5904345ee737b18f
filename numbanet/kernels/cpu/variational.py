"""The reparameterization trick of a variational autoencoder, and the KL term it adds.

The encoder gives each sample a Gaussian q(z | x) = N(μ, σ²) over the latent code, as the two
halves of one row: x = [μ | log σ²]. Sampling z from it in a way gradients can pass through:

    z = μ + σ · ε,   σ = exp(½ log σ²),   ε ~ N(0, I) drawn apart from the params

and the distance of q from the prior N(0, I), added to the objective, per sample:

    KL = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j)

Backward adds the KL's gradient, times the weight w of the batch's reduction (1 for a sum,
1/N for a mean), to the gradient that reaches z:

    ∂/∂μ = dz + w·μ,     ∂/∂log σ² = dz·ε·σ/2 + w·(σ² − 1)/2

ε comes from ``counter_normal(seed, n·D + j)``, so the CPU and the GPU draw the same ε from the
same seed; in evaluation ε = 0 and z = μ.
"""

from numba import njit, prange

from numbanet.kernels.scalar import reparameterize_row, reparameterize_unit_grad


@njit(parallel=True, cache=True, error_model="numpy")
def reparameterize_forward(x, seed, sample, z, eps, kl):
    """z = μ + exp(½ log σ²)·ε and kl[n] = −½ Σ_j (1 + log σ² − μ² − σ²), x[n] = [μ | log σ²].
    x: (N, 2D); seed: uint64; sample: draw ε (else ε = 0, z = μ); writes z, eps: (N, D) and
    kl: (N,). One prange iteration per sample."""
    for n in prange(x.shape[0]):
        kl[n] = reparameterize_row(x, n, seed, sample, z, eps)


@njit(parallel=True, cache=True, error_model="numpy")
def reparameterize_backward(dz, x, eps, weight, dx):
    """dx = [dz + w·μ | dz·ε·σ/2 + w·(σ² − 1)/2]: the gradient through z plus w times the KL's.
    dz, eps: (N, D), x: (N, 2D), weight: w (1 for a summed objective, 1/N for a mean); writes
    dx: (N, 2D). One prange iteration per sample."""
    size = dz.shape[1]
    for n in prange(x.shape[0]):
        for j in range(size):
            dx[n, j], dx[n, size + j] = reparameterize_unit_grad(
                x[n, j], x[n, size + j], eps[n, j], dz[n, j], weight
            )
