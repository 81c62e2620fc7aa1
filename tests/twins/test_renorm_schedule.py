"""The rmax/dmax schedule: both trainers apply the same bounds at every step.

The values are read back from the layers after the schedule set them (Keras'
renorm_clipping variables, our BatchRenorm2d buffers), not from the schedule.
"""
import pytest

from parity.run.job import make_plan, prepare
from parity.spec.config import BNConfig, RunConfig
from parity.train import loop
from parity.train.plan import renorm_clip_at

pytestmark = pytest.mark.needs("tf", "torch")


def test_paper_schedule_milestones_scale_with_the_run():
    total = 1000   # the paper's 5k/25k/40k of 50k reference steps -> 100/500/800
    assert renorm_clip_at(0, total, 3, 5, None, "paper") == (1.0, 1.0, 0.0)
    assert renorm_clip_at(99, total, 3, 5, None, "paper") == (1.0, 1.0, 0.0)
    r, rmin, d = renorm_clip_at(500, total, 3, 5, None, "paper")
    assert d == 5.0 and 1.0 < r < 3.0 and rmin == pytest.approx(1 / r)
    assert renorm_clip_at(800, total, 3, 5, None, "paper") == (3.0, pytest.approx(1 / 3), 5.0)
    assert renorm_clip_at(999, total, 3, 5, 0.0, "paper") == (3.0, 0.0, 5.0)
    assert renorm_clip_at(0, total, 3, 5, None, "constant") == (3.0, pytest.approx(1 / 3), 5.0)


def _trace(framework):
    from parity.frameworks import Implementation, load

    backend = load(framework)
    run = RunConfig(dataset="far", epochs=2, train_images=80, batch_size=8,
                    bn=BNConfig(momentum=0.9, epsilon=1e-5, norm="renorm", renorm_schedule="paper"))
    backend.configure(1, 0)
    ds, train, evaluation, stats_batches, calib, init, _, _ = prepare(run, 0)
    plan = make_plan(run, ds.num_classes, 0, backend.native_defaults(), framework)
    out = loop.fit(Implementation(framework), plan, init, train, evaluation, stats_batches[:1], None, calib)
    return out["renorm_trace"], out["final"]


def test_both_trainers_apply_the_same_bounds_at_every_step():
    torch_trace, torch_final = _trace("torch")
    tf_trace, tf_final = _trace("tf")
    assert len(torch_trace) == len(tf_trace) == 20
    assert torch_trace == tf_trace
    # warm-up, ramp and the final values all occur
    assert torch_trace[0][1:] == [1.0, 1.0, 0.0]
    assert torch_trace[-1][1] == pytest.approx(3.0) and torch_trace[-1][3] == pytest.approx(5.0)
    assert any(1.0 < row[1] < 3.0 for row in torch_trace)
    print(f"\nrenorm, 20 steps: eval acc tf {tf_final['eval_acc']:.1f} torch {torch_final['eval_acc']:.1f}")
