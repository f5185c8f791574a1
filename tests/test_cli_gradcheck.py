"""End-to-end: ``handgrad gradcheck`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys


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
