"""The learning-rate warm-up (``lr_warmup_steps``), a setting added end to end in three files (spec/config.py,
train/plan.py, train/loop.py): the config reaches the plan by name, and every column's phase is handed the
warmed-up rate at every step by the shared loop."""
import types

import numpy as np
import pytest

from parity.assets import canonical
from parity.frameworks import Implementation
from parity.run.job import make_plan, prepare
from parity.spec.config import BNConfig, RunConfig
from parity.train import loop
from parity.train.plan import lr_at

pytestmark = pytest.mark.needs("tf", "torch")


def test_the_warm_up_scales_the_schedule_over_the_first_steps():
    assert [lr_at(0.1, "constant", s, 10, 4) for s in range(6)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    cosine = [lr_at(0.1, "cosine", s, 10) for s in range(10)]
    assert [lr_at(0.1, "cosine", s, 10, 2) for s in range(10)] == pytest.approx([cosine[0] / 2] + cosine[1:])
    assert [lr_at(0.1, "cosine", s, 10, 0) for s in range(10)] == cosine   # 0: the schedule itself, bit for bit


class _RecordingTrain:
    """A column's train module whose phases record every rate the loop sets."""

    def __init__(self, train):
        self._train, self.rates = train, []

    def __getattr__(self, name):
        return getattr(self._train, name)

    def prepare_phase(self, *args, **kwargs):
        phase, rates = self._train.prepare_phase(*args, **kwargs), self.rates

        class Recording:
            def set_lr(self, lr):
                rates.append(lr)
                phase.set_lr(lr)

            def step(self, x, y):
                return phase.step(x, y)

        return Recording()


def _fit(framework: str, warmup: int):
    from parity import frameworks

    backend = frameworks.load(framework)
    run = RunConfig(dataset="far", epochs=2, train_images=48, batch_size=8, lr=0.05, lr_schedule="cosine",
                    lr_warmup_steps=warmup, bn=BNConfig(momentum=0.9, epsilon=1e-5))
    backend.configure(1, 0)
    ds, train, evaluation, stats_batches, calib, init, _, _ = prepare(run, 0)
    plan = make_plan(run, ds.num_classes, 0, backend.native_defaults(), framework)
    impl = Implementation(framework)
    recording = _RecordingTrain(impl.train)
    column = types.SimpleNamespace(train=recording, renorm=impl.renorm, weights=impl.weights, zoo=impl.zoo)
    out = loop.fit(column, plan, init, train, evaluation, stats_batches[:1], None, calib)
    return plan, recording.rates, canonical.checksum(out["weights"])


def test_every_column_gets_the_warmed_up_rate_at_every_step():
    expected = [lr_at(0.05, "cosine", s, 12, 5) for s in range(12)]   # 2 epochs x 6 steps
    warmed = {}
    for framework in ("torch", "tf"):
        plan, rates, warmed[framework] = _fit(framework, 5)
        assert plan.lr_warmup_steps == 5   # from the config by name (make_plan copies it)
        assert rates == expected, framework
    _, plain_rates, plain = _fit("torch", 0)
    assert plain_rates == [lr_at(0.05, "cosine", s, 12) for s in range(12)] and plain != warmed["torch"]
    print(f"\nwarm-up 5 of 12 steps: rates {np.round(expected[:6], 4).tolist()}...; torch's final weights differ "
          "from the run without it")
