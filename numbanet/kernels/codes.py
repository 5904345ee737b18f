"""The numbers that name a fused activation or a GELU form, as kernels receive them.

A compiled kernel takes numbers, not functions, so a layer passes the code of its activation
(``EPILOGUES["relu"]``) and ``scalar.py`` branches on it. The codes live apart from the
kernels, free of Numba, so that a layer module can name them without compiling anything.
"""

# The activations a dense kernel can apply to its output in the same pass (its "epilogue").
NO_ACTIVATION, RELU, LEAKY_RELU, SIGMOID, TANH = range(5)
EPILOGUES = {None: NO_ACTIVATION, "relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID,
             "tanh": TANH}  # fmt: skip

# GELU's two forms, as torch's ``approximate=``: "none" (erf) and "tanh" (``scalar.gelu``).
GELU_NONE, GELU_TANH = 0, 1
GELU_FORMS = {"none": GELU_NONE, "tanh": GELU_TANH}
