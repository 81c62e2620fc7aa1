"""--seeds auto picks the rows to give more seeds from the table's verdicts: inconclusive in any column."""
from parity.more_seeds import undecided
from parity.report.aggregate import build_rows


def _jobs(variant: str, tf: list[float], torch: list[float]) -> list[dict]:
    return [{"scenario": "s", "dataset": "far", "variant": variant, "framework": fw, "seed": seed, "status": "ok",
             "plan": {"bn_momentum": 0.9}, "history": [],
             "final": {"train_loss": 0.1, "train_acc": 90.0, "eval_loss": 0.2, "eval_acc": acc}}
            for fw, accs in (("tf", tf), ("torch", torch)) for seed, acc in enumerate(accs)]


def test_only_inconclusive_rows_get_more_seeds():
    jobs = (_jobs("parity", [90.0, 91.0, 92.0], [90.1, 91.0, 92.1])        # tight, within 2 pp: parity
            + _jobs("gap", [60.0, 61.0, 62.0], [90.0, 91.0, 92.5])         # far apart: gap
            + _jobs("scattered", [60.0, 95.0, 70.0], [90.0, 91.0, 92.0]))  # a wide CI: inconclusive
    table = {"rows": build_rows(jobs)}
    verdicts = {r["variant"]: r["verdict"] for r in table["rows"] if r["metric"] == "eval_acc"}
    print(verdicts)
    assert verdicts == {"parity": "parity", "gap": "gap", "scattered": "inconclusive"}
    assert undecided(table) == {("s", "far", "scattered")}
