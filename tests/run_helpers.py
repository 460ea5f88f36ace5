"""Helpers of the tests that train: a run killed part-way, as a crash between two updates would kill it."""
import pytest


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
