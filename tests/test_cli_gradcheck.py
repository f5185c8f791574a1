"""End-to-end: ``handgrad gradcheck`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handgrad", *args], capture_output=True, text=True, timeout=120)


def test_gradcheck_passes_and_reports_every_parameter():
    r = run_cli("gradcheck", "--inputs", "4", "--hidden", "6", "5", "--outputs", "2", "--activation", "tanh")
    assert r.returncode == 0, r.stderr
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert f"\n{name} " in r.stdout
    assert r.stdout.count("PASS") == 2  # backprop and expanded


def test_gradcheck_fails_with_exit_1_when_tolerance_is_impossible():
    r = run_cli("gradcheck", "--inputs", "3", "--hidden", "4", "--tol", "0", "--method", "backprop")
    assert r.returncode == 1
    assert "FAIL" in r.stdout


def test_gradcheck_usage_error_is_one_line_exit_2():
    r = run_cli("gradcheck", "--hidden", "0")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("handgrad: error:")
    assert "Traceback" not in r.stderr


def test_unknown_activation_is_a_usage_error():
    r = run_cli("gradcheck", "--activation", "swish")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr and "Traceback" not in r.stderr


# Issue 9: settings out of range are refused in one line (exit 2), before any work.
@pytest.mark.parametrize(
    "args, message",
    [
        (["--eps", "0"], "--eps must be a finite number > 0, got 0.0"),
        (["--eps", "nan"], "--eps must be a finite number > 0, got nan"),
        (["--eps=-1e-5"], "--eps must be a finite number > 0, got -1e-05"),
        (["--tol", "-1"], "--tol must be a finite number >= 0, got -1.0"),
        (["--tol", "inf"], "--tol must be a finite number >= 0, got inf"),
        (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
        (["--batch", "0"], "--batch must be an integer >= 1, got 0"),
        (["--outputs", "0"], "--outputs must be an integer >= 1, got 0"),
        (["--hidden", "100000", "100000"], "needs about 372.7 GiB of memory; this machine has"),
    ],
)
def test_bad_settings_are_refused_in_one_line(args, message):
    r = run_cli("gradcheck", *args)
    assert r.returncode == 2, r.stdout
    assert r.stdout == ""  # nothing ran
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("handgrad: error: ") and message in lines[0], r.stderr


@pytest.mark.parametrize("loss", ["binary_crossentropy", "softmax_crossentropy", "huber", "mae"])
def test_every_loss_gets_targets_that_suit_it(loss):
    r = run_cli("gradcheck", "--inputs", "3", "--hidden", "4", "--outputs", "3", "--activation", "tanh", "--loss", loss)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"loss {loss}" in r.stdout and r.stdout.count("PASS") == 2
