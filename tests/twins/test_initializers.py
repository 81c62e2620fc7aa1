"""A job's Keras build makes zeros where its weights are set next (keras_impl.initializers): the same network
once loaded, and the same random state after, as the build with random initial values."""
import random

import numpy as np
import pytest

from parity.spec.config import BNConfig


@pytest.mark.parametrize("arch,size", [("resnet-tiny", 32), ("efficientnet-lite0", 32)])
def test_a_build_whose_weights_are_set_next_is_the_same_network_once_loaded(arch, size):
    from keras_impl import models, weights

    random.seed(7)
    drawn = models.build_model(arch, 10, size, BNConfig())
    state_after_drawn = random.getstate()
    random.seed(7)
    zeros = models.build_model(arch, 10, size, BNConfig(), weights_set_next=True)
    assert random.getstate() == state_after_drawn   # the initializers took their seeds as before
    kernel = next(v for v in zeros.weights if "kernel" in v.path)
    assert not np.asarray(kernel).any() and np.asarray(next(v for v in drawn.weights if "kernel" in v.path)).any()
    state = weights.to_canonical(drawn)
    weights.from_canonical(zeros, state)
    x = np.random.default_rng(0).normal(size=(4, size, size, 3)).astype("float32")
    diff = np.abs(np.asarray(drawn(x, training=False)) - np.asarray(zeros(x, training=False))).max()
    print(f"\n{arch}: {len(state)} tensors loaded; max |logit difference| {diff}")
    assert diff == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(weights.to_canonical(zeros).values(), state.values()))
