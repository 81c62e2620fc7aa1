"""The source-domain checkpoint: "pretrained" means the same bytes in both frameworks.

The tiny ResNet is trained from a numpy initialization on the synthetic
``source`` domain with PyTorch (one framework is enough: the result is a
canonical checkpoint both sides load) and saved with its recipe and checksum.
The package ships the result; ``parity pretrain`` rebuilds it, in a child process
(``python -m parity.assets.pretrain OUT THREADS``) so the CLI and the runner never
import a framework themselves.
"""
from __future__ import annotations

import time

from parity.data import load_dataset, make_loaders
from parity.spec.archs import get_arch
from parity.train import loop
from parity.train.initial import init_network
from parity.train.plan import TrainPlan
from parity.spec.config import BNConfig

RECIPE = {
    "arch": "resnet-tiny", "dataset": "source", "image_size": 32, "batch_size": 64, "epochs": 10,
    "optimizer": "sgd", "lr": 0.05, "sgd_momentum": 0.9, "lr_schedule": "cosine",
    "bn_momentum": 0.9, "bn_epsilon": 1e-5, "seed": 0, "framework": "torch", "augment": True,
}


def pretrain(out_path, threads: int = 2, log=print, recipe: dict | None = None) -> dict:
    """Train on ``source`` and write the canonical checkpoint; returns the recipe with results."""
    r = dict(RECIPE, **(recipe or {}))
    from parity import frameworks
    from parity.assets import canonical

    backend = frameworks.load(r["framework"])
    backend.configure(threads, r["seed"])
    ds = load_dataset(r["dataset"], r["image_size"])
    train, evaluation = make_loaders(ds, r["batch_size"], r["seed"], augment=r["augment"])
    spec = get_arch(r["arch"])
    plan = TrainPlan(arch=r["arch"], num_classes=ds.num_classes, image_size=r["image_size"], seed=r["seed"],
                     epochs=r["epochs"], optimizer=r["optimizer"], lr=r["lr"], lr_schedule=r["lr_schedule"],
                     sgd_momentum=r["sgd_momentum"],
                     bn=BNConfig(momentum=r["bn_momentum"], epsilon=r["bn_epsilon"]))
    t0 = time.perf_counter()

    def progress(fraction):
        log(f"pretrain {r['arch']} on {r['dataset']}: {fraction:4.0%} ({time.perf_counter() - t0:.0f}s)")

    init = init_network(spec, ds.num_classes, r["seed"])
    out = loop.fit(frameworks.Implementation(r["framework"]), plan, init, train, evaluation, [], progress)
    result = dict(r, eval_acc=round(out["final"]["eval_acc"], 2), train_acc=round(out["final"]["train_acc"], 2),
                  seconds=round(time.perf_counter() - t0, 1), versions=backend.versions(),
                  dataset_digest=ds.digest)
    digest = canonical.save_checkpoint(out_path, out["weights"], result)
    result["checksum"] = digest
    log(f"wrote {out_path} (checksum {digest}, source eval accuracy {result['eval_acc']:.1f}%)")
    return result


if __name__ == "__main__":
    import sys

    import os

    sys.exit(pretrain(sys.argv[1], threads=int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count() or 1,
                      log=lambda m: print(m, file=sys.stderr, flush=True)) and 0)
