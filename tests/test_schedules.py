"""Learning-rate schedules: values worked out by hand, warm-up, parsing, errors."""

from __future__ import annotations

import math

import pytest

from handgrad.errors import ConfigError
from handgrad.training import Constant, constant, cosine, get_schedule, step


def test_constant():
    assert [constant().lr_at(e, 0.1) for e in (0, 5, 500)] == [0.1, 0.1, 0.1]


def test_step_decays_every_step_size_epochs():
    s = step(step_size=3, gamma=0.5)
    assert [s.lr_at(e, 1.0) for e in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_cosine_by_hand():
    s = cosine(total=4, min_lr=0.1)
    # min + (base − min)(1 + cos(π e/4))/2 for e = 0..4, then held at min
    expected = [1.0, 0.1 + 0.9 * (1 + math.sqrt(0.5)) / 2, 0.55, 0.1 + 0.9 * (1 - math.sqrt(0.5)) / 2, 0.1, 0.1]
    assert [s.lr_at(e, 1.0) for e in range(6)] == pytest.approx(expected, rel=1e-14)


def test_warmup_is_linear_then_hands_over():
    s = step(step_size=2, gamma=0.1, warmup=4)
    # warm-up: base (e+1)/4 for e < 4; then the step schedule from its epoch 0
    assert [s.lr_at(e, 2.0) for e in range(8)] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 0.2, 0.2])
    assert cosine(total=10, warmup=1).lr_at(0, 3.0) == 3.0


@pytest.mark.parametrize(
    "spec, cls_name",
    [(None, "Constant"), ("constant", "Constant"), ({"name": "step", "step_size": 5}, "Step"),
     ({"name": "cosine", "total": 20, "warmup": 2}, "Cosine")],
)  # fmt: skip
def test_get_schedule(spec, cls_name):
    s = get_schedule(spec)
    assert type(s).__name__ == cls_name
    assert get_schedule(s.to_dict()) == s


def test_get_schedule_passes_objects_with_lr_at_through():
    class Halving:
        def lr_at(self, epoch, base_lr):
            return base_lr / 2**epoch

    h = Halving()
    assert get_schedule(h) is h
    assert isinstance(get_schedule(Constant(warmup=3)), Constant)


@pytest.mark.parametrize(
    "spec, match",
    [("linear", "unknown learning-rate schedule"), ({"name": "step", "step_size": 0}, "step_size"),
     ({"name": "cosine", "total": 10, "min_lr": -1.0}, "min_lr"), ({"name": "step", "size": 3}, "bad setting"),
     ({"name": "constant", "warmup": -1}, "warmup")],
)  # fmt: skip
def test_bad_schedules(spec, match):
    with pytest.raises(ConfigError, match=match):
        get_schedule(spec)
