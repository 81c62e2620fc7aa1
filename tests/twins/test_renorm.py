"""Our torch BatchRenorm2d against Keras' own renorm, op for op.

Same inputs and state -> same outputs, input/gamma/beta gradients and moving
statistics within 1e-5, across clipping settings; with rmax=1, dmax=0 it is
plain BN (outputs and gradients).
"""
import numpy as np
import pytest
from conftest import CPU

pytestmark = pytest.mark.needs("tf", "torch")

TOL = 1e-5
C = 6


def _state(seed):
    rng = np.random.default_rng(seed)
    return {
        "x": (rng.standard_normal((4, 5, 5, C)) * rng.uniform(0.5, 3, C) + rng.uniform(-2, 2, C)).astype(np.float32),
        "g": rng.standard_normal((4, 5, 5, C)).astype(np.float32),
        "gamma": rng.uniform(0.5, 1.5, C).astype(np.float32),
        "beta": rng.normal(0, 0.3, C).astype(np.float32),
        "moving_mean": rng.normal(0, 1, C).astype(np.float32),
        "moving_var": rng.uniform(0.5, 4, C).astype(np.float32),
        # renorm statistics away from the batch's, so r and d hit their clips in some channels
        "renorm_mean": rng.normal(0, 1.5, C).astype(np.float32),
        "renorm_std": rng.uniform(0.3, 3, C).astype(np.float32),
    }


def _keras(s, clip, steps, renorm=True, momentum=0.9, renorm_momentum=0.8, eps=1e-3):
    import keras
    import tensorflow as tf

    kwargs = dict(momentum=momentum, epsilon=eps)
    if renorm:
        kwargs.update(renorm=True, renorm_clipping=clip, renorm_momentum=renorm_momentum)
    layer = keras.layers.BatchNormalization(**kwargs)
    layer.build(s["x"].shape)
    layer.gamma.assign(s["gamma"]); layer.beta.assign(s["beta"])
    layer.moving_mean.assign(s["moving_mean"]); layer.moving_variance.assign(s["moving_var"])
    if renorm:
        layer.moving_stddev.assign(np.sqrt(s["moving_var"] + eps))
        layer.renorm_mean.assign(s["renorm_mean"]); layer.renorm_stddev.assign(s["renorm_std"])
    x = tf.Variable(s["x"])
    for _ in range(steps):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * s["g"])
        gx, gg, gb = tape.gradient(loss, [x, layer.gamma, layer.beta])
    out = {"y": y.numpy(), "gx": gx.numpy(), "ggamma": gg.numpy(), "gbeta": gb.numpy(),
           "moving_mean": layer.moving_mean.numpy(), "moving_var": layer.moving_variance.numpy()}
    if renorm:
        out.update(renorm_mean=layer.renorm_mean.numpy(), renorm_std=layer.renorm_stddev.numpy())
    return out


def _torch(s, clip, steps, renorm=True, momentum=0.9, renorm_momentum=0.8, eps=1e-3):
    import torch

    from torch_impl.renorm import BatchRenorm2d

    if renorm:
        layer = BatchRenorm2d(C, eps=eps, momentum=1 - momentum, renorm_momentum=1 - renorm_momentum,
                              rmax=clip.get("rmax", np.inf), rmin=clip.get("rmin"), dmax=clip.get("dmax", np.inf))
    else:
        layer = torch.nn.BatchNorm2d(C, eps=eps, momentum=1 - momentum)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(s["gamma"])); layer.bias.copy_(torch.from_numpy(s["beta"]))
        layer.running_mean.copy_(torch.from_numpy(s["moving_mean"]))
        layer.running_var.copy_(torch.from_numpy(s["moving_var"]))
        if renorm:
            layer.running_std.copy_(torch.sqrt(layer.running_var + eps))
            layer.renorm_mean.copy_(torch.from_numpy(s["renorm_mean"]))
            layer.renorm_std.copy_(torch.from_numpy(s["renorm_std"]))
    layer.train()
    g = torch.from_numpy(s["g"].transpose(0, 3, 1, 2).copy())
    for _ in range(steps):
        x = torch.from_numpy(s["x"].transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        layer.zero_grad()
        y = layer(x)
        (y * g).sum().backward()
    nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
    out = {"y": nhwc(y), "gx": nhwc(x.grad), "ggamma": layer.weight.grad.numpy(), "gbeta": layer.bias.grad.numpy(),
           "moving_mean": layer.running_mean.numpy(), "moving_var": layer.running_var.numpy()}
    if renorm:
        out.update(renorm_mean=layer.renorm_mean.numpy(), renorm_std=layer.renorm_std.numpy())
    return out


CLIPS = [
    {"rmax": 1.0, "rmin": 1.0, "dmax": 0.0},      # the paper's warm-up: plain BN
    {"rmax": 1.5, "rmin": 1 / 1.5, "dmax": 0.5},
    {"rmax": 3.0, "rmin": 1 / 3.0, "dmax": 5.0},  # the paper's final values
    {"rmax": 2.0, "rmin": 0.0, "dmax": 1.0},      # Keras' rmin default (0) instead of 1/rmax
    {"rmax": 1.2, "dmax": 0.1},                   # no rmin at all
]


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: "-".join(f"{k}{v:.2g}" for k, v in c.items()))
@pytest.mark.parametrize("steps", [1, 3])
def test_batchrenorm2d_matches_keras_renorm(clip, steps):
    s = _state(7)
    k, t = _keras(s, clip, steps), _torch(s, clip, steps)
    worst = {name: float(np.max(np.abs(k[name] - t[name]))) for name in k}
    bound = {name: TOL * max(1.0, float(np.max(np.abs(k[name])))) for name in k}
    print(f"\n{clip} steps={steps}: " + ", ".join(f"{n} {v:.1e}" for n, v in worst.items())
          + f"; worst share of its bound {max(worst[n] / bound[n] for n in worst):.2f} (CPU {CPU})")
    for name, err in worst.items():
        assert err <= TOL * max(1.0, float(np.max(np.abs(k[name])))), f"{name}: max abs diff {err:.2e}"


def test_clipping_is_active_in_this_test():
    """The chosen state makes r and d hit their bounds, so the comparison exercises clipping."""
    s = _state(7)
    x = s["x"].reshape(-1, C)
    std = np.sqrt(x.var(0) + 1e-3)
    r = std / s["renorm_std"]
    d = (x.mean(0) - s["renorm_mean"]) / s["renorm_std"]
    assert (r > 1.5).any() and (r < 1 / 1.5).any() and (np.abs(d) > 0.5).any()


def test_rmax_1_dmax_0_is_plain_batchnorm():
    s = _state(3)
    clip = {"rmax": 1.0, "rmin": 1.0, "dmax": 0.0}
    renorm_k, plain_k = _keras(s, clip, 1), _keras(s, clip, 1, renorm=False)
    renorm_t, plain_t = _torch(s, clip, 1), _torch(s, clip, 1, renorm=False)
    for name in ("y", "gx", "ggamma", "gbeta"):
        np.testing.assert_allclose(renorm_t[name], plain_t[name], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(renorm_k[name], plain_k[name], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(renorm_t[name], renorm_k[name], atol=TOL, rtol=TOL)
