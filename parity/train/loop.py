"""The training loop every framework shares: phases, epochs, steps, evaluation, the BN-lag history.

A framework contributes only the hooks ``parity.train.contract.Trainer`` names (build a
model, prepare a phase -- its step and how it sets the learning rate --, predict logits,
read and recalibrate BN statistics); the loop around them, the learning-rate schedule,
the divergence check and every metric are this one piece of code, so the two sides
cannot drift apart and the suite never measures its own metric two ways.
Nothing here imports a framework.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from parity.train import metrics
from parity.train.contract import Phase
from parity.train.plan import Diverged, TrainPlan, lr_at, summarize_bn_lag

FINAL_KEYS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "bn_mean_dist", "bn_var_dist")


def train_one_epoch(phase: Phase, batches: Iterable, *, base_lr: float, schedule: str, step0: int,
                    total_steps: int, on_step: Callable[[int], None] | None = None, warmup_steps: int = 0) -> dict:
    """One pass over the batches: the learning rate set before every step, the loss checked after it."""
    loss_sum, correct, seen, step = 0.0, 0, 0, step0
    for x, y in batches:
        phase.set_lr(lr_at(base_lr, schedule, step, total_steps, warmup_steps))
        if on_step:
            on_step(step)
        loss, logits = phase.step(x, y)
        if not np.isfinite(loss):
            raise Diverged(f"non-finite training loss at step {step}")
        n = len(y)
        loss_sum += loss * n
        correct += metrics.correct(logits, y)
        seen += n
        step += 1
    return {"train_loss": loss_sum / max(seen, 1), "train_acc": 100.0 * correct / max(seen, 1), "steps": step - step0}


def fit(impl, plan: TrainPlan, init: dict[str, np.ndarray], train_loader, eval_loader, stats_batches: list,
        progress: Callable[[float], None] | None = None, calibration_batches: list | None = None) -> dict:
    """Fine-tune according to the plan with one column's implementation ``impl``
    (``parity.frameworks.Implementation``: its ``train`` hooks a ``contract.Trainer``, its ``renorm``,
    ``weights`` and ``zoo`` modules as the contract names them).

    Returns the per-epoch history, the final metrics, the final canonical weights
    and the renorm bounds applied at every step (None without renorm).
    """
    trainer = impl.train
    model = trainer.build(plan, init)
    history, renorm_trace = [], []
    run_steps = plan.epochs * len(train_loader)
    phase_offset = 0

    def before_step(step: int) -> None:
        """The hook the loop calls before every step: the renorm rmax/dmax schedule."""
        plan.apply_renorm_schedule(impl.renorm, model, phase_offset + step, run_steps, renorm_trace)

    epoch = 0
    t0 = time.perf_counter()
    predict = trainer.make_predict(model, plan.precision)   # inference mode whatever a phase freezes: made once
    for phase, phase_epochs, phase_lr in plan.phases():
        train_phase = trainer.prepare_phase(model, plan, phase, phase_lr)
        total_steps = phase_epochs * len(train_loader)
        step = 0
        for _ in range(phase_epochs):
            before = trainer.running_stats(model)
            stats = train_one_epoch(train_phase, train_loader.batches(epoch), base_lr=phase_lr,
                                    schedule=plan.lr_schedule, step0=step, total_steps=total_steps,
                                    on_step=before_step, warmup_steps=plan.lr_warmup_steps)
            step += stats.pop("steps")
            # Did BN move its running statistics this epoch? (freezing should stop it)
            stats["bn_updated"] = any(not np.array_equal(a[0], b[0]) for a, b in
                                      zip(before.values(), trainer.running_stats(model).values()))
            if calibration_batches:
                trainer.recalibrate_bn(model, calibration_batches)
                stats["recalibrated"] = True
            stats.update(metrics.evaluate(predict, eval_loader.batches(0)))
            if stats_batches:
                stats.update(summarize_bn_lag(trainer.running_stats(model),
                                              trainer.true_bn_stats(model, stats_batches)))
            stats.update(epoch=epoch + 1, phase=phase, lr=phase_lr, elapsed_s=round(time.perf_counter() - t0, 3))
            history.append(stats)
            epoch += 1
            if progress:
                progress(epoch / plan.epochs)
        phase_offset += step
    final = {k: history[-1].get(k) for k in FINAL_KEYS}
    return {"history": history, "final": final, "weights": impl.weights.to_canonical(model),
            "renorm_trace": renorm_trace or None, "zoo_bn": impl.zoo.bn_settings(model) if plan.zoo else None}
