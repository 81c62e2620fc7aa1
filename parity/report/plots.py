"""Figures from the job files alone (matplotlib, PNG), written next to the tables.

* ``curves_<scenario>_<dataset>_<variant>.png`` -- train vs eval accuracy per epoch,
  every framework that ran on one figure, mean with a 95% CI band over seeds: the article's
  figures for both frameworks at once (after one epoch: train and eval side by side per framework);
* ``gaps.png`` -- every row's gap per column with its 95% CI and the parity band: the tables at a glance;
* ``bn_lag.png`` -- distance of the running means from the target data's true
  means per epoch, per framework and scenario: the mechanism behind the gap;
* ``gap_attribution.png`` / ``gap_attribution_optimizer.png`` -- the momentum- and
  optimizer-ablation gaps (each framework's against the table's reference): how much of the
  native gap each knob explains;
* ``batch_size.png`` -- eval accuracy vs batch size for bn / renorm / gn;
* ``throughput.png`` -- images/s per framework and mode, min-max whiskers.

Each figure is drawn only when its scenario (or throughput) has run.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from parity import frameworks
from parity.report import columns, stats
from parity.spec.scenarios import ABLATION_SCENARIOS, FAR_DATASETS, NOT_PARITY_SCENARIOS

COLORS = {"tf": "#e8710a", "torch": "#1a73e8", "keras-torch": "#9334e6", "keras-jax": "#188038"}
LINES = {"tf": "-", "torch": "--", "keras-torch": "-.", "keras-jax": ":"}   # batch_size.png


def _color(fw: str) -> str:
    return COLORS.get(fw, "#5f6368")


def _present(names) -> list[str]:
    """The frameworks among ``names``, in registry order (unknown names last)."""
    names = set(names)
    return [fw for fw in frameworks.NAMES if fw in names] + sorted(names - set(frameworks.NAMES))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    """Lay out, write at 100 dpi and free one figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


def figure_name(scenario: str, dataset: str, variant: str) -> str:
    """A row's train/eval curves file (the report's key figure is the far domain's native row)."""
    return f"curves_{_safe(scenario)}_{_safe(dataset)}_{_safe(variant)}.png"


def _band(values_by_epoch: dict[int, list[float]], bounds=(0.0, 100.0)):
    """Mean and 95% band per epoch; accuracies (the default) stay within 0-100."""
    epochs = sorted(values_by_epoch)
    sums = [stats.summarize(values_by_epoch[e], bounds) for e in epochs]
    return epochs, [s.mean for s in sums], [s.ci_low for s in sums], [s.ci_high for s in sums]


def _by_epoch(group: list[dict], fw: str, metric: str) -> dict[int, list[float]]:
    by_epoch: dict = defaultdict(list)
    for j in group:
        if j["framework"] == fw:
            for h in j["history"]:
                by_epoch[h["epoch"]].append(h[metric])
    return by_epoch


def _one_epoch(ax, group: list[dict]) -> None:
    """A single epoch is two numbers per framework, not a curve: train and eval bars with their CI."""
    fws = _present(j["framework"] for j in group)
    for i, fw in enumerate(fws):
        for k, (metric, hatch) in enumerate((("train_acc", "//"), ("eval_acc", ""))):
            values = [v for vs in _by_epoch(group, fw, metric).values() for v in vs]
            if not values:
                continue
            s = stats.summarize(values, (0.0, 100.0))
            x = i + (k - 0.5) * 0.38
            ax.bar(x, s.mean, width=0.36, color=_color(fw), alpha=0.45 if k == 0 else 0.9, hatch=hatch,
                   edgecolor=_color(fw), label=metric.split("_")[0] if i == 0 else None)
            ax.errorbar(x, s.mean, yerr=[[s.mean - s.ci_low], [s.ci_high - s.mean]], color="black", capsize=3)
            ax.annotate(f"{s.mean:.1f}", (x, s.ci_high), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(fws)), [columns.column_label(fw) for fw in fws])
    ax.set_ylim(0, 105)


def learning_curves(jobs: list[dict], out: Path) -> list[Path]:
    plt = _plt()
    groups: dict = defaultdict(list)
    for j in jobs:
        if j["status"] == "ok":
            groups[(j["scenario"], j["dataset"], j["variant"])].append(j)
    written = []
    for (scenario, dataset, variant), group in sorted(groups.items()):
        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = sorted({h["epoch"] for j in group for h in j["history"]})
        if len(epochs) == 1:
            _one_epoch(ax, group)
            ax.set(title=f"{scenario} / {dataset} / {variant}: after epoch {epochs[0]}", ylabel="accuracy (%)")
            ax.grid(alpha=0.3, axis="y")
            ax.legend(fontsize=8)
            written.append(_save(plt, fig, out / figure_name(scenario, dataset, variant)))
            continue
        for fw in _present(j["framework"] for j in group):
            for metric, style in (("train_acc", "--"), ("eval_acc", "-")):
                by_epoch = _by_epoch(group, fw, metric)
                if not by_epoch:
                    continue
                x, mean, lo, hi = _band(by_epoch)
                ax.plot(x, mean, style, marker="o", color=_color(fw), label=f"{fw} {metric.split('_')[0]}",
                        lw=3 if fw == "tf" else 1.5, zorder=1 if fw == "tf" else 2)
                ax.fill_between(x, lo, hi, color=_color(fw), alpha=0.15)
        ax.set(title=f"{scenario} / {dataset} / {variant}", xlabel="epoch", ylabel="accuracy (%)")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(plt, fig, out / figure_name(scenario, dataset, variant)))
    return written


def bn_lag(jobs: list[dict], out: Path) -> list[Path]:
    plt = _plt()
    wanted = [j for j in jobs if j["status"] == "ok" and j["scenario"] in ("momentum-native", "momentum-matched")
              and j["history"] and j["history"][0].get("bn_mean_dist") is not None]
    if not wanted:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    series: dict = defaultdict(lambda: defaultdict(list))
    for j in wanted:
        momentum = j.get("plan", {}).get("bn_momentum")
        key = (j["framework"], j["scenario"], j["dataset"], momentum)
        for h in j["history"]:
            if h.get("bn_mean_dist") is not None:   # None: not measured in that epoch
                series[key][h["epoch"]].append(h["bn_mean_dist"])
    for (fw, scenario, dataset, momentum), by_epoch in sorted(series.items()):
        x, mean, lo, hi = _band(by_epoch, bounds=(0.0, float("inf")))   # a distance: >= 0, no upper bound
        style = "-" if dataset in FAR_DATASETS else ":"
        ax.plot(x, mean, style, marker="o", color=_color(fw),
                label=f"{fw} {dataset} momentum {momentum:g} ({scenario.split('-')[1]})")
        ax.fill_between(x, lo, hi, color=_color(fw), alpha=0.1)
    ax.set(title="BN running means vs the target data's true means", xlabel="epoch",
           ylabel="mean |running - true| / true std")
    ax.set_xticks(sorted({e for by_epoch in series.values() for e in by_epoch}))
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return [_save(plt, fig, out / "bn_lag.png")]


def gap_attribution(rows: list[dict], out: Path) -> list[Path]:
    """One bar chart per ablation scenario that ran: each variant's gap with its CI (one bar per
    framework against the reference where the table has more than two columns)."""
    paths = []
    for scenario, what in ABLATION_SCENARIOS.items():
        sel = [r for r in rows if r["scenario"] == scenario and r["metric"] == "eval_acc"]
        pairs = list(sel[0]["gaps"]) if sel else []
        # one bar per row and gap that has a value; the gap's framework named where there are several
        bars = [(r, fw, columns.gap_of(r["gaps"][fw])) for r in sel for fw in pairs if columns.gap_of(r["gaps"][fw])]
        if not bars:
            continue
        # per group (the variant's first word when the scenario has several), all-native first, all-matched last
        bars.sort(key=lambda b: (b[0]["variant"].split("-")[0] if scenario != "momentum-ablation" else "",
                                 0 if b[0]["variant"].endswith("all-native") else 2
                                 if b[0]["variant"].endswith("all-matched") else 1, b[0]["variant"], pairs.index(b[1])))
        plt = _plt()
        fig, ax = plt.subplots(figsize=(7.5, 1.5 + 0.35 * len(bars)))
        names = [r["variant"] + (f" [{columns.column_label(fw)}]" if len(pairs) > 1 else "")
                 + (" (rules differ)" if r.get("unmatched") else "") for r, fw, _ in bars]
        gaps = [g for _, _, g in bars]
        means = [g["mean"] for g in gaps]
        err = [[m - g["ci_low"] for m, g in zip(means, gaps)], [g["ci_high"] - m for m, g in zip(means, gaps)]]
        ax.barh(names, means, xerr=err, color=["#c5221f" if m < 0 else "#188038" for m in means], capsize=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.invert_yaxis()
        ax.set(title=f"Gap per {what} left native ({sel[0]['dataset']})",
               xlabel=f"gap {' / '.join(map(columns.column_label, pairs))} - "
                      f"{columns.column_label(sel[0]['reference'])}, pp (95% CI)")
        name = "gap_attribution.png" if scenario == "momentum-ablation" else f"gap_attribution_{scenario.split('-')[0]}.png"
        paths.append(_save(plt, fig, out / name))
    return paths


def gap_chart(rows: list[dict], out: Path) -> list[Path]:
    """Every eval-accuracy row's gap to the reference, one marker per column, with its CI and the parity band."""
    sel = [r for r in rows if r["metric"] == "eval_acc" and r["scenario"] not in NOT_PARITY_SCENARIOS
           and any(columns.gap_of(g) for g in r["gaps"].values())]
    if not sel:
        return []
    plt = _plt()
    pairs = list(sel[0]["gaps"])
    fig, ax = plt.subplots(figsize=(8, 1.6 + len(sel) * (0.18 + 0.1 * len(pairs))))
    tol = stats.PARITY_TOLERANCE_PP
    ax.axvspan(-tol, tol, color="#188038", alpha=0.12, label=f"parity band (±{tol:g} pp)")
    ax.axvline(0, color="black", lw=0.8)
    step = 0.7 / max(len(pairs), 1)
    for k, fw in enumerate(pairs):
        ys, means, err = [], [], [[], []]
        for i, r in enumerate(sel):
            g = columns.gap_of(r["gaps"].get(fw))
            if g:
                ys.append(i + (k - (len(pairs) - 1) / 2) * step)
                means.append(g["mean"])
                err[0].append(g["mean"] - g["ci_low"])
                err[1].append(g["ci_high"] - g["mean"])
        ax.errorbar(means, ys, xerr=err, fmt="o", ms=4, color=_color(fw), capsize=2, lw=1.2,
                    label=f"{columns.column_label(fw)} − {columns.column_label(sel[0]['reference'])}")
    ax.set_yticks(range(len(sel)), [f"{r['scenario']} / {r['dataset']} / {r['variant']}" for r in sel], fontsize=7)
    ax.set_ylim(len(sel) - 0.5, -0.5)
    ax.set(title="Eval-accuracy gap per row (95% CI)", xlabel="gap, percentage points")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=7, loc="lower left")
    return [_save(plt, fig, out / "gaps.png")]


def batch_size(rows: list[dict], out: Path) -> list[Path]:
    sel = [r for r in rows if r["scenario"] == "small-batch" and r["metric"] == "eval_acc"]
    if not sel:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    markers = {"bn": "o", "renorm": "s", "gn": "^"}
    for norm in ("bn", "renorm", "gn"):
        for fw in sel[0]["columns"]:
            pts = sorted((int(r["variant"].split("-b")[1]), r["columns"][fw]) for r in sel
                         if r["variant"].startswith(norm + "-b") and r["columns"].get(fw))
            if not pts:
                continue
            x = [p[0] for p in pts]
            ax.errorbar(x, [p[1]["mean"] for p in pts],
                        yerr=[[p[1]["mean"] - p[1]["ci_low"] for p in pts], [p[1]["ci_high"] - p[1]["mean"] for p in pts]],
                        marker=markers[norm], color=_color(fw), ls=LINES.get(fw, "-"), capsize=3,
                        label=f"{norm} ({fw})")
    ax.set_xscale("log", base=2)
    ax.set(title="Eval accuracy vs batch size", xlabel="images per batch", ylabel="eval accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return [_save(plt, fig, out / "batch_size.png")]


def throughput(data: dict | None, out: Path) -> list[Path]:
    if not data or not data.get("rows"):
        return []
    plt = _plt()
    rows = [r for r in data["rows"] if r["kind"] == "train"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = [f"{r['framework']} {r['mode']}{' +loader' if r['loader'] else ''}" for r in rows]
    med = [r["images_per_s"]["median"] for r in rows]
    err = [[m - r["images_per_s"]["min"] for m, r in zip(med, rows)], [r["images_per_s"]["max"] - m for m, r in zip(med, rows)]]
    ax.barh(labels, med, xerr=err, color=[_color(r["framework"]) for r in rows], capsize=3)
    ax.set(title=f"Train-step throughput ({rows[0].get('arch', 'resnet-tiny')}, {rows[0].get('image_size', 32)} px, "
                        f"{rows[0]['device']}, {rows[0]['threads']} threads)", xlabel="images/s")
    return [_save(plt, fig, out / "throughput.png")]


def write_all(jobs: list[dict], rows: list[dict], throughput_data: dict | None, out_dir: Path) -> list[Path]:
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    return (gap_chart(rows, out) + learning_curves(jobs, out) + bn_lag(jobs, out) + gap_attribution(rows, out)
            + batch_size(rows, out) + throughput(throughput_data, out))
