"""Helpers of the tests that train: a run killed part-way, as a crash between two updates would kill it, and the
check that a resumed run equals an uninterrupted one."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from algorithms.common.runio import load_checkpoint


def train_killed_at_update(monkeypatch, learner_cls, n: int, train_fn, *args, **kwargs) -> None:
    """Run ``train_fn(*args, **kwargs)`` with ``learner_cls.update`` raising KeyboardInterrupt at its ``n``-th call
    (the kill), then give the class its real ``update`` back."""
    real_update, calls = learner_cls.update, {"n": 0}

    def dying_update(self):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt("killed")
        return real_update(self)

    monkeypatch.setattr(learner_cls, "update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        train_fn(*args, **kwargs)
    monkeypatch.setattr(learner_cls, "update", real_update)


def assert_same_run(a: Path, b: Path, models: bool = True) -> None:
    """Run folders ``a`` and ``b`` hold the same evaluations (all but the timings) and, with ``models``, the same
    final model."""
    drop = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(pd.read_csv(a / "metrics.csv").drop(columns=drop),
                                  pd.read_csv(b / "metrics.csv").drop(columns=drop))
    assert (a / "absolute.json").exists() == (b / "absolute.json").exists()
    if (a / "absolute.json").exists():  # the absolute metric: the same final policy on the same fresh episodes
        assert json.loads((a / "absolute.json").read_text()) == json.loads((b / "absolute.json").read_text())
    if models:
        final = load_checkpoint(a / "final_model.pt")["model"]
        for k, v in load_checkpoint(b / "final_model.pt")["model"].items():
            torch.testing.assert_close(v, final[k])
