"""A few minutes on one GPU: throughput per mode and one fine-tuning run, printed and saved.

    python scripts/gpu_check.py [--out DIR] [--compile] [--frameworks torch[,tf]]

Runs with the repository on PYTHONPATH (no install needed) and needs only the
frameworks it is asked for: a GPU machine with PyTorch and no TensorFlow runs
the torch side. Steps:

1. the device: GPU name, framework versions;
2. throughput: ImageNet ResNet-50 at 160 px, batch 64, train and inference, in
   eager, channels-last and autocast float16 (and torch.compile with --compile),
   through ``parity bench`` (so the figures are the suite's own);
3. one fine-tuning comparison (before the compile timing, which takes longest): with the prepared imagenette/160px and the ImageNet
   weights on the machine, ResNet-50 from ImageNet weights on imagenette; without
   them (an offline box), a ResNet-50 pretrained here on the synthetic source
   domain for a few epochs, then fine-tuned on the far domain -- native BN momentum,
   matched, and matched in mixed_float16 -- through ``parity run``.

Everything lands in DIR (default results/gpu-check-run): throughput.md/json, the
pretraining recipe, the parity tables and a log.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRY: dict = {}   # --dry-run's smaller settings


def sh(args: list[str], log) -> int:
    """Run one step as its own process (the suite's CLI), streaming its output into the log."""
    print("$ " + " ".join(args), flush=True)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        print(line, end="", flush=True)
        log.write(line)
    return proc.wait()


def device_report() -> dict:
    import torch

    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, memory_gib=round(p.total_memory / 2 ** 30, 1), multiprocessors=p.multi_processor_count,
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def real_data_ready() -> bool:
    """imagenette/160px in the cache and torchvision's ResNet-50 file where `pretrained = imagenet` looks."""
    from parity.assets import imagenet
    from parity.data.tfds_data import cache_path

    weights = imagenet.canonical_path("resnet50").exists() or imagenet.source_path("resnet50").exists()
    return weights and (cache_path("imagenette/160px", 160) / "meta.json").exists()


def finetune_config(out: Path, frameworks: list[str], log) -> Path:
    """The TOML of the fine-tuning comparison (and, offline, the ResNet-50 source checkpoint it starts from)."""
    if real_data_ready():
        common = 'model = "resnet50"\npretrained = "imagenet"\ndataset = "imagenette/160px"\nimage_size = 160\n' \
                 'epochs = 1\ntrain_images = 4096\nbatch_size = 32\nscenario = "gpu-check"\n'
    else:
        from parity.assets.pretrain import pretrain

        ckpt = out / "resnet50_source.safetensors"
        print("no prepared imagenette/ImageNet weights here: pretraining ResNet-50 on the synthetic source domain",
              flush=True)
        size = DRY.get("image_size", 64)
        recipe = pretrain(ckpt, recipe={"arch": "resnet50", "image_size": size, "batch_size": 64,
                                        "epochs": DRY.get("pretrain_epochs", 12), "lr": 0.05})
        (out / "pretrain.json").write_text(json.dumps(recipe, indent=2, default=str))
        log.write(json.dumps(recipe, default=str) + "\n")
        common = (f'model = "resnet50"\npretrained = "{ckpt}"\ndataset = "far"\nimage_size = {size}\n'
                  f'epochs = {DRY.get("epochs", 2)}\ntrain_images = {DRY.get("train_images", 768)}\nbatch_size = 32\n'
                  'scenario = "gpu-check"\n')
    runs = [('native', ''), ('matched', 'bn = { momentum = 0.9, epsilon = 1e-5 }\n'),
            ('matched-fp16', 'precision = "mixed_float16"\nbn = { momentum = 0.9, epsilon = 1e-5 }\n')]
    text = f"name = \"gpu-check\"\nseeds = {json.dumps(DRY.get('seeds', [0, 1, 2]))}\nframeworks = {json.dumps(frameworks)}\n"
    for variant, extra in runs:
        text += f"\n[[runs]]\n{common}variant = \"{variant}\"\n{extra}"
    path = out / "gpu-check.toml"
    path.write_text(text)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/gpu-check-run")   # results/gpu-check holds the H200 figures
    ap.add_argument("--frameworks", default=None, help="default: every framework that imports here")
    ap.add_argument("--skip-bench", action="store_true", help="only the fine-tuning comparison")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (about a minute of compiling)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--dry-run", action="store_true",
                    help="tiny sizes, to try the script on a CPU in a few minutes (figures mean nothing)")
    args = ap.parse_args(argv)
    if args.dry_run:
        args.batch_size, args.image_size = 8, 32
        DRY.update(rounds="1", steps="1", image_size=32, pretrain_epochs=1, train_images=64, epochs=1, seeds=[0])
    sys.path.insert(0, str(ROOT))
    # importable, checked in a process of its own (this one must not load TensorFlow: torchvision after it segfaults)
    available = [fw for fw, mod in (("torch", "torch"), ("tf", "tensorflow"))
                 if importlib.util.find_spec(mod) and subprocess.run([sys.executable, "-c", f"import {mod}"],
                                                                    capture_output=True).returncode == 0]
    frameworks = args.frameworks.split(",") if args.frameworks else available
    out = (ROOT / args.out).resolve() if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(out / "gpu_check.log", "w") as log:
        dev = device_report()
        print("device:", json.dumps(dev), flush=True)
        (out / "device.json").write_text(json.dumps(dev, indent=2))
        py = sys.executable
        modes = {"torch": "eager,eager-channels-last,eager-amp", "tf": "function,xla"}
        bench = [py, "-m", "parity", "bench", "--arch", "resnet50", "--image-size", str(args.image_size),
                 "--batch-size", str(args.batch_size), "--rounds", DRY.get("rounds", "5"),
                 "--steps", DRY.get("steps", "10"), "--skip-overhead"]
        codes = {}
        for fw in ([] if args.skip_bench else frameworks):
            codes[f"bench {fw}"] = sh(bench + ["--frameworks", fw, "--modes", modes[fw],
                                               "--out", str(out / f"throughput-{fw}")], log)
        t1 = time.perf_counter()
        config = finetune_config(out, frameworks, log)
        codes["fine-tune"] = sh([py, "-m", "parity", "run", "--config", str(config), "--out", str(out / "finetune")],
                                log)
        t2 = time.perf_counter()
        if args.compile and "torch" in frameworks and not args.skip_bench:   # last: compiling takes a while and must not cost the rest
            codes["bench torch compile"] = sh(bench + ["--frameworks", "torch", "--modes", "compile", "--skip-loader",
                                                       "--warmup", "6",
                                                       "--out", str(out / "throughput-torch-compile")], log)
        summary = {"device": dev, "exit_codes": codes, "throughput_s": round(t1 - t0, 1),
                   "finetune_s": round(t2 - t1, 1), "compile_bench_s": round(time.perf_counter() - t2, 1),
                   "total_s": round(time.perf_counter() - t0, 1)}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2), flush=True)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
