"""The command line's grammar: each command's options, bound to the function that runs it."""
from __future__ import annotations

import argparse

import parity.cli.commands as commands   # read when the parser is built (a test may replace a command)
import parity.cli.run_command as run_command
from parity import frameworks
from parity.cli.common import WORK_DIR, UsageError
from parity.spec.config import PRECISIONS


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _seeds_option(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed -- an integer or auto") from None


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("bn-parity")
    except importlib.metadata.PackageNotFoundError:   # run from a checkout without installing
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="parity", description="BatchNorm parity between Keras 3 and PyTorch fine-tuning.")
    p.add_argument("--version", action="version", version=f"bn-parity {_version()}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    sub.add_parser("list", help="scenarios and suites, with the claim each tests").set_defaults(fn=commands.cmd_list)
    _add_run(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_bench(sub)
    _add_upgrade_check(sub)
    _add_audit(sub)
    _add_convert(sub)
    _add_pretrain(sub)
    return p


def _add_run(sub) -> None:
    """`parity run`'s options."""
    r = sub.add_parser("run", help="run a suite or a config file")
    r.add_argument("--suite")
    r.add_argument("--config")
    r.add_argument("--scenarios", help="comma-separated: run only these scenarios of the suite")
    r.add_argument("--out")
    r.add_argument("--seeds", type=_seeds_option, metavar="N|auto",
                   help="run seeds 0..N-1; auto: the suite's seeds, then 2 more at a time for each row whose "
                        "verdict is still inconclusive, up to --max-seeds")
    r.add_argument("--max-seeds", type=int, default=10, help="with --seeds auto: seeds a row gets at most "
                                                              "(default %(default)s)")
    r.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    r.add_argument("--precision", choices=PRECISIONS, help="every run in this precision")
    r.add_argument("--resume", action="store_true", help="keep finished jobs in --out, run the rest")
    r.add_argument("--threads", type=int, help="threads per framework worker (default: cores / frameworks)")
    r.add_argument("--job-timeout", type=float, default=1800.0, help="seconds before a job is failed")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local worker processes (default) or one Ray task per job")
    r.add_argument("--address", help="with --executor ray: auto or HOST:PORT of a running cluster")
    r.add_argument("--json", action="store_true", help="print the table as JSON (parity.json's content)")
    r.set_defaults(fn=run_command.cmd_run)


def _add_report(sub) -> None:
    """`parity report`'s options."""
    rep = sub.add_parser("report", help="rebuild tables from DIR/jobs/")
    rep.add_argument("dir")
    rep.add_argument("--reference", default=frameworks.REFERENCE, metavar="NAME",
                     help=f"the framework every gap is taken against (default %(default)s; "
                          f"{', '.join(frameworks.NAMES)})")
    rep.add_argument("--screenshot", action=argparse.BooleanOptionalAction, default=None,
                     help="take report.png, a picture of report.html's top, with headless Chromium (default: "
                          "retake one only where the page changed; a picture of an older page is always deleted)")
    rep.set_defaults(fn=commands.cmd_report)


def _add_compare(sub) -> None:
    """`parity compare`'s options."""
    from parity.report import compare

    c = sub.add_parser("compare", help="regression gate between two result folders (exit 1 on regression)")
    c.add_argument("baseline")
    c.add_argument("current")
    c.add_argument("--md", metavar="FILE", help="also write the markdown summary here")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON instead of markdown")
    c.add_argument("--acc-threshold", type=float, default=compare.ACC_THRESHOLD_PP, metavar="PP",
                   help="smallest accuracy change that counts, in percentage points (default %(default)s)")
    c.add_argument("--loss-threshold", type=float, default=compare.LOSS_THRESHOLD, metavar="X",
                   help="smallest eval-loss change that counts (default %(default)s)")
    c.add_argument("--reference", default=frameworks.REFERENCE, metavar="NAME",
                   help="the framework each gap the gate compares is taken against (default %(default)s)")
    c.set_defaults(fn=commands.cmd_compare)


def _add_bench(sub) -> None:
    """`parity bench`'s options."""
    from parity.bench import driver
    from parity.spec.archs import ARCHS

    b = sub.add_parser("bench", help="throughput per framework and mode, and the harness overhead")
    b.add_argument("--out", default=str(WORK_DIR / "throughput"), help="default: %(default)s")
    b.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    b.add_argument("--threads", type=int, help="threads for each framework (default: all cores)")
    b.add_argument("--rounds", type=int, default=5)
    b.add_argument("--warmup", type=int, default=2, help="untimed rounds first (torch.compile wants more)")
    b.add_argument("--steps", type=int, default=10, help="steps per timed round")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--arch", default="resnet-tiny", help=f"model: {', '.join(ARCHS)}")
    b.add_argument("--image-size", type=int, default=32,
                   help=f"square input size in pixels, at most {driver.MAX_IMAGE_SIZE} (default 32)")
    b.add_argument("--modes", help="comma-separated: only these modes, each framework running the ones it has; "
                                   + "; ".join(driver.mode_list(fw) for fw in driver.MODES))
    b.add_argument("--skip-loader", action="store_true", help="leave out the row with batches through the loader")
    b.add_argument("--skip-overhead", action="store_true", help="leave out the harness overhead measurement")
    b.add_argument("--overhead-method", choices=("duet", "in-process"),
                   help="the harness overhead: duet (the suite's and the minimal loop at once, a single-threaded "
                        "worker on a core each; the default with two cores) or in-process (alternating in the "
                        "throughput worker, at its threads)")
    b.add_argument("--json", action="store_true", help="print the measurements as JSON (throughput.json's content)")
    b.set_defaults(fn=commands.cmd_bench)


def _add_upgrade_check(sub) -> None:
    """`parity upgrade-check`'s options."""
    from parity.bench import sidebyside
    from parity.report import compare

    u = sub.add_parser("upgrade-check", help="two environments: audit, upgrade suite, throughput side by side; "
                                              "exit 1 on a regression or changed default")
    u.add_argument("base_env", help="[LABEL=]PATH: the environment upgraded from (a venv folder or its python)")
    u.add_argument("new_env", help="[LABEL=]PATH: the environment upgraded to")
    u.add_argument("--out", default=str(WORK_DIR / "upgrades"),
                   help="one folder per environment label, and the report (default: %(default)s)")
    u.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    u.add_argument("--seeds", type=int, help="run seeds 0..N-1 of the upgrade suite (default: its 3)")
    u.add_argument("--scenarios", help="comma-separated: only these scenarios of the upgrade suite")
    u.add_argument("--skip-throughput", action="store_true", help="leave out the side-by-side throughput")
    u.add_argument("--bench-modes", help="throughput modes to compare (default: each framework's default mode)")
    u.add_argument("--method", choices=sidebyside.METHODS,
                   help="throughput side by side: duet (A and B at once, a core each; the default with two cores) "
                        "or sequential (alternating, every core's threads)")
    u.add_argument("--threshold", type=float, metavar="PCT",
                   help="throughput change that counts, in percent (default: the method's calibrated one, "
                        + ", ".join(f"{m} {100 * t:g}" for m, t in sidebyside.THRESHOLDS.items()) + ")")
    u.add_argument("--pairs", type=int, default=sidebyside.MIN_PAIRS, help="interleaved pairs at least (default %(default)s)")
    u.add_argument("--max-pairs", type=int, default=sidebyside.MAX_PAIRS, help="pairs at most, while a row is unknown (default %(default)s)")
    u.add_argument("--acc-threshold", type=float, default=compare.ACC_THRESHOLD_PP, metavar="PP")
    u.add_argument("--loss-threshold", type=float, default=compare.LOSS_THRESHOLD, metavar="X")
    u.set_defaults(fn=commands.cmd_upgrade_check)


def _add_audit(sub) -> None:
    """`parity audit`'s options."""
    aud = sub.add_parser("audit", help="every framework's defaults, side by side; --check exits 1 on drift")
    aud.add_argument("--json", action="store_true", help="print JSON instead of the table")
    aud.add_argument("--check", metavar="FILE", help="compare with a snapshot instead of writing one")
    aud.add_argument("--out", metavar="FILE", help="write the snapshot there (results/defaults.json is the published one)")
    aud.add_argument("--frameworks", help=f"comma-separated: read only these columns (tf and torch always; "
                                          f"default: every installed one of {','.join(frameworks.NAMES)})")
    aud.set_defaults(fn=commands.cmd_audit)


def _add_convert(sub) -> None:
    """`parity convert`'s options."""
    conv = sub.add_parser("convert", help="a torch checkpoint (.pth) of a supported architecture -> a canonical "
                                           "checkpoint both frameworks start from")
    conv.add_argument("arch", help="resnet18, resnet50 (torchvision's keys) or efficientnet-lite0 "
                                   "(EfficientNet-PyTorch's keys)")
    conv.add_argument("file", help="the .pth state dict")
    conv.add_argument("--out", metavar="FILE", help="default: runs/ARCH-FILESTEM.safetensors")
    conv.set_defaults(fn=commands.cmd_convert)


def _add_pretrain(sub) -> None:
    """`parity pretrain`'s options."""
    pre = sub.add_parser("pretrain", help="train the source-domain checkpoint")
    pre.add_argument("--out", default=str(WORK_DIR / "resnet-tiny_source.safetensors"),
                     help="default: %(default)s (the package's own checkpoint only when named: --out "
                          "parity/assets/checkpoints/resnet-tiny_source.safetensors)")
    pre.add_argument("--threads", type=int)
    pre.set_defaults(fn=commands.cmd_pretrain)
