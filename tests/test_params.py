"""The hyper-parameter rules of handgrad.params: accepted values, refused values, messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handgrad.errors import ConfigError, HandgradError
from handgrad.params import (
    RULES,
    AnyOf,
    Boolean,
    Integer,
    Interval,
    Options,
    RandomState,
    Sizes,
    check,
    check_all,
    check_memory,
    estimate_bytes,
    format_bytes,
)


@pytest.mark.parametrize(
    "rule, good, bad",
    [
        (Interval(float, 0, None, closed="neither"), [1e-300, 0.5, 3, np.float32(2.0), np.int64(4)],
         [0, 0.0, -1.0, math.nan, math.inf, -math.inf, "0.1", None, True, [0.1]]),
        (Interval(float, 0, 1, closed="left"), [0.0, 0.9, 0.999999], [1.0, -1e-12, math.nan]),
        (Interval(float, 0, 1, closed="right"), [1.0, 1e-9], [0.0, 1.5]),
        (Interval(float, 0, 1), [0.0, 1.0], [1.0000001]),
        (Interval(float, None, 0, closed="neither"), [-5.0], [0.0, 1.0]),
        (Integer(low=1), [1, 7, np.int32(3), 10**12], [0, -1, 1.0, 2.5, "3", True, False, None, math.nan]),
        (Integer(low=0, high=3), [0, 3], [-1, 4]),
        (Options({"sgd", "adam"}), ["sgd", "adam"], ["SGD", "rmsprop", None, 0]),
        (Options({0, None}), [0, None], [False, 1]),
        (Boolean(), [True, False, np.bool_(True)], [0, 1, "true", None]),
        (Sizes(low=1), [3, (4, 5), [1], (), np.array([2, 3])], [0, (3, 0), (2.0,), "12", None, [True]]),
        (Sizes(low=1, min_len=2), [(3, 1), [1, 2, 3]], [(3,), 5]),
        (RandomState(), [None, 0, 2**40, np.random.default_rng(0)], [-1, 1.5, "0", True]),
        (AnyOf(Options({"auto"}), Integer(low=1)), ["auto", 32], ["Auto", 0, 2.0]),
    ],
)  # fmt: skip
def test_rules_accept_and_refuse(rule, good, bad):
    for value in good:
        assert rule.accepts(value), (rule, value)
        rule.check("x", value)
    for value in bad:
        assert not rule.accepts(value), (rule, value)
        with pytest.raises(ConfigError, match=r"^x must be .*, got "):
            rule.check("x", value)


def test_conversions():
    assert check("dtype", "float32") == np.dtype(np.float32) and check("dtype", np.float64) == np.dtype(np.float64)
    assert check("learning_rate", None) is None and check("learning_rate", 1) == 1.0
    assert check("lr", 1) == 1.0 and type(check("lr", 1)) is float
    assert type(check("epochs", np.int64(5))) is int
    assert check("hidden", 8) == (8,)
    assert check("hidden", [16, np.int64(8)]) == (16, 8)
    assert check("hidden", []) == ()
    assert check("nesterov", np.bool_(True)) is True


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("lr", -0.1, "lr must be a finite number >= 0, got -0.1"),
        ("momentum", 1.0, "momentum must be a finite number in [0, 1), got 1.0"),
        ("eps", 0.0, "eps must be a finite number > 0, got 0.0"),
        ("epochs", "twenty", "epochs must be an integer >= 0, got 'twenty'"),
        ("patience", 0, "patience must be an integer >= 1, got 0"),
        ("seed", -1, "seed must be an integer >= 0, got -1"),
        ("hidden", "abc", "hidden must be an integer or a sequence of integers >= 1, got 'abc'"),
        ("validation_fraction", 1.0, "validation_fraction must be a finite number in [0, 1), got 1.0"),
        ("dtype", "float16", "dtype must be float32 or float64, got float16"),
        ("dtype", np.int64, "dtype must be float32 or float64, got int64"),
        ("dtype", "nope", "dtype must be float32 or float64, got 'nope'"),
        ("dtype", None, "dtype must be float32 or float64, got None"),
        ("learning_rate", 0.0, "learning_rate must be None or a finite number > 0, got 0.0"),
    ],
)  # fmt: skip
def test_messages_name_the_setting_the_rule_and_the_value(name, value, message):
    with pytest.raises(ConfigError) as info:
        check(name, value)
    assert str(info.value) == message
    assert isinstance(info.value, (HandgradError, ValueError))


def test_check_with_a_flag_name_and_a_named_rule():
    with pytest.raises(ConfigError, match=r"^--tol must be a finite number >= 0, got -1.0$"):
        check("--tol", -1.0, "tol")
    assert check("--tol", 0.0, "tol") == 0.0
    with pytest.raises(KeyError):
        check("no_such_setting", 1)


def test_random_state_messages():
    with pytest.raises(ConfigError, match=r"^random_state must be an int, a numpy Generator or None, got 'seed'$"):
        check("random_state", "seed")
    with pytest.raises(ConfigError, match=r"^random_state must be an integer >= 0 when it is a seed, got -1$"):
        check("random_state", -1)
    rng = np.random.default_rng(0)
    assert check("random_state", rng) is rng and check("random_state", None) is None


def test_long_values_are_cut_short():
    with pytest.raises(ConfigError) as info:
        check("hidden", "x" * 500)
    assert len(str(info.value)) < 200 and str(info.value).endswith("...")


def test_check_all_converts_and_stops_at_the_first_bad_setting():
    assert check_all({"lr": 1, "epochs": 3}) == {"lr": 1.0, "epochs": 3}
    with pytest.raises(ConfigError, match="batch_size"):
        check_all({"lr": 0.1, "batch_size": 0})


def test_every_rule_in_the_table_refuses_junk_naming_the_setting():
    for name in RULES:
        with pytest.raises(ConfigError, match=rf"^{name} must be .+, got 'junk'$"):
            check(name, "junk")


def test_estimate_bytes_counts_parameters_and_batch_arrays():
    # [2, 3, 1]: parameters 3*(2+1) + 1*(3+1) = 13; batch arrays 3 * 5 * (2+3+1) = 90.
    assert estimate_bytes([2, 3, 1], batch=5, dtype="float64", copies=4) == (4 * 13 + 90) * 8
    assert estimate_bytes([2, 3, 1], batch=5, dtype=np.float32, copies=1) == (13 + 90) * 4


def test_check_memory_refuses_with_the_figures():
    check_memory(10, "a tiny network", available=100)
    with pytest.raises(ConfigError, match=r"a huge network needs about 2\.0 GiB of memory; this machine has 1\.0 KiB"):
        check_memory(2 * 1024**3, "a huge network", available=1024)
    assert format_bytes(12) == "12 bytes" and format_bytes(1536) == "1.5 KiB"
