"""The one layer-contract check every layer test calls."""

import copy

import numpy as np

from numbanet import rng
from numbanet.gradcheck import gradcheck

GRADCHECK_TOL = 1e-6


def check_layer_contract(layer, x, expected_output_shape):
    """Assert the Layer contract on input x, in float32 and in a float64 gradient check.

    Output shape and dtype; params and grads with the same keys and shapes; dx shaped like x;
    the input not modified; backward overwrites grads (twice gives the same, not double);
    every gradient within GRADCHECK_TOL of central finite differences. A layer that draws random
    numbers (Dropout, Reparameterize in training) draws the same ones at both forwards.
    """
    x = np.asarray(x, np.float32)
    x_before = x.copy()
    random_state = copy.deepcopy(rng.generator().bit_generator.state)
    y = layer.forward(x)
    assert y.shape == expected_output_shape, f"{layer!r}: output {y.shape}"
    assert y.dtype == np.float32
    assert layer.params.keys() == layer.grads.keys()
    for name, value in layer.params.items():
        assert layer.grads[name].shape == value.shape, name
    dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    dx = np.array(layer.backward(dy))
    assert dx.shape == x.shape and dx.dtype == np.float32
    first_grads = {k: np.array(g) for k, g in layer.grads.items()}
    rng.generator().bit_generator.state = random_state
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-6)
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(
            grad, first_grads[name], rtol=1e-6, err_msg=f"{name} accumulated"
        )
    np.testing.assert_array_equal(x, x_before, err_msg="forward/backward modified the input")

    errors = gradcheck(layer, x.astype(np.float64))
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRADCHECK_TOL, (
        f"{layer!r}: gradient of {worst} off by {errors[worst]:.2e}"
    )
    return y
