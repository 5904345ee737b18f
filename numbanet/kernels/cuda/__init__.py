"""CUDA kernels compiled with ``numba.cuda``: the GPU twins of ``numbanet.kernels.cpu``.

Every public function has the name and the arguments of its CPU twin, takes device arrays
(and Python or NumPy scalars), picks a launch configuration and launches ``@cuda.jit``
kernels: one thread per output element or row, a tiled shared-memory matrix product for the
dense layer. Outputs are written in place; nothing is returned or allocated.

Without a GPU, ``NUMBA_ENABLE_CUDASIM=1`` (set before Numba is imported) runs these kernels
in Numba's CUDA simulator: plain Python, one Python thread per CUDA thread, so pdb and print
work inside a kernel (and timings mean nothing).
"""
