"""PyTorch's side of ``parity audit``: defaults by introspection, behaviour by probes.

Mirrors ``tf_impl/audit.py`` key for key. Values are stated in the config's
conventions (BN momentum = fraction of the old value kept), so the audit can
say whether the two frameworks are equivalent. A probe runs the framework on a
tiny fixed input and reads the effect, so a changed behaviour is caught even
when the signature did not change.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from parity.audit import JPEG_METHODS, antialias_verdict, checkerboard
from parity.spec.knobs import from_native
from torch_impl import pipeline


def _default(cls, name):
    return inspect.signature(cls).parameters[name].default


def _probe_bn_momentum_applied() -> float:
    """Running mean after one train step from 0 on a batch of mean 1: 1 - kept fraction."""
    bn = nn.BatchNorm2d(1)
    bn.train()
    bn(torch.ones(2, 1, 2, 2))
    return round(1.0 - float(bn.running_mean[0]), 6)


def _probe_running_variance() -> str:
    """One train step with momentum 1 stores the batch variance: biased (/N) or unbiased (/N-1)?"""
    bn = nn.BatchNorm2d(1, momentum=1.0)
    x = torch.tensor([0.0, 1.0, 2.0, 3.0]).reshape(1, 1, 2, 2)
    bn.train()
    bn(x)
    stored = float(bn.running_var[0])
    return "unbiased (N-1)" if abs(stored - 5 / 3) < 1e-5 else "biased (N)" if abs(stored - 1.25) < 1e-5 else f"{stored:.6g}"


def _probe_frozen_bn() -> str:
    """Freezing the framework's usual way (requires_grad_(False)): does BN still update its statistics?"""
    bn = nn.BatchNorm2d(1)
    bn.requires_grad_(False)
    bn.train()
    bn(torch.ones(2, 1, 2, 2) * 3)
    return "batch statistics, still updating" if float(bn.running_mean[0]) != 0 else "inference mode"


def _probe_same_padding_stride2() -> str:
    try:
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    except ValueError:
        return "refused for stride > 1"
    return "accepted"


def _probe_adam_first_step() -> float:
    """First Adam step (lr 1e-3) on a gradient of 1e-7: the epsilon convention shows in its size."""
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam([w], lr=1e-3)
    w.grad = torch.full((1,), 1e-7)
    opt.step()
    return float(f"{1.0 - float(w.detach()[0]):.4g}")


def _probe_weight_decay() -> float:
    """w after one Adam step (lr 0.1, weight_decay 0.5) on a zero gradient from 1.0 (see tf_impl/audit.py)."""
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(1)
    opt.step()
    return round(float(w.detach()[0]), 6)


def _probe_sgd_momentum_two_steps() -> float:
    """w after two SGD steps (momentum 0.9, gradient 1, lr 0.1 then 0.2) from 1.0."""
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    for lr in (0.1, 0.2):
        opt.param_groups[0]["lr"] = lr
        w.grad = torch.ones(1)
        opt.step()
    return round(float(w.detach()[0]), 6)


def _probe_dense_init() -> tuple[float, float]:
    """A new 512 -> 512 Linear layer: max |weight| and max |bias|."""
    torch.manual_seed(0)
    layer = nn.Linear(512, 512)
    with torch.no_grad():
        return round(float(layer.weight.abs().max()), 3), round(float(layer.bias.abs().max()), 3)


def _probe_loss_scale_start() -> float:
    """The factor a new GradScaler (device-agnostic torch.amp, on the CPU) multiplies the first loss by."""
    scaler = torch.amp.GradScaler("cpu")
    return float(scaler.scale(torch.ones(())))


def _probe_resize_antialias() -> str:
    """24 x 24 checkerboard -> 8 x 8 with v2.Resize's defaults (see parity.audit.antialias_verdict)."""
    from torchvision.transforms import v2

    out = v2.Resize([8, 8])(torch.from_numpy(checkerboard())[None, None]).numpy()
    return antialias_verdict(out)


def _probe_jpeg_decoding() -> str:
    """torchvision.io.decode_jpeg has no IDCT option: compare it with PIL's decoder (libjpeg's default, ISLOW)
    on one fixed JPEG (quality 75, torchvision's encoder)."""
    import io

    from PIL import Image
    from torchvision.io import encode_jpeg

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = encode_jpeg(torch.from_numpy(image).permute(2, 0, 1).contiguous(), quality=75).numpy().tobytes()
    default = pipeline.decode_jpeg(data).astype(int)
    islow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    worst = int(np.abs(default - islow).max())
    return JPEG_METHODS["INTEGER_ACCURATE"] if worst == 0 else f"differs from PIL's ISLOW by max {worst}"


def _scan_renorm() -> str:
    found = [n for n in dir(nn) if "renorm" in n.lower()]
    return f"built in: {', '.join(found)}" if found else "none built in"


def read_defaults() -> dict[str, dict]:
    """knob -> {"value", "how"} for every knob the audit knows (see parity.audit.KNOB_ORDER)."""
    weight_max, bias_max = _probe_dense_init()
    return {
        "bn_momentum": {"value": round(from_native("bn_momentum", "torch", _default(nn.BatchNorm2d, "momentum")), 6), "how": "signature"},
        "bn_momentum_applied": {"value": _probe_bn_momentum_applied(), "how": "probe"},
        "bn_epsilon": {"value": _default(nn.BatchNorm2d, "eps"), "how": "signature"},
        "bn_running_variance": {"value": _probe_running_variance(), "how": "probe"},
        "bn_frozen": {"value": _probe_frozen_bn(), "how": "probe"},
        "gn_epsilon": {"value": _default(nn.GroupNorm, "eps"), "how": "signature"},
        "batch_renorm": {"value": _scan_renorm(), "how": "module scan"},
        "conv_same_padding_stride2": {"value": _probe_same_padding_stride2(), "how": "probe"},
        "adam_epsilon": {"value": _default(torch.optim.Adam, "eps"), "how": "signature"},
        "adam_first_step_tiny_grad": {"value": _probe_adam_first_step(), "how": "probe"},
        "sgd_momentum_two_steps": {"value": _probe_sgd_momentum_two_steps(), "how": "probe"},
        "weight_decay": {"value": _probe_weight_decay(), "how": "probe"},
        "weight_decay_default": {"value": _default(torch.optim.SGD, "weight_decay"), "how": "signature"},
        "adamw_weight_decay_default": {"value": _default(torch.optim.AdamW, "weight_decay"), "how": "signature"},
        "loss_scale_start": {"value": _probe_loss_scale_start(), "how": "probe"},
        "resize_interpolation": {"value": pipeline.resize_defaults()["interpolation"], "how": "signature"},
        "resize_antialias": {"value": _probe_resize_antialias(), "how": "probe"},
        "jpeg_decoding": {"value": _probe_jpeg_decoding(), "how": "probe"},
        "dense_init_max_weight": {"value": weight_max, "how": "probe"},
        "dense_init_max_bias": {"value": bias_max, "how": "probe"},
    }


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "numpy": np.__version__}
