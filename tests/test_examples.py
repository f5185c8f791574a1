"""The scripts in examples/ run and do what they say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_by_hand_fits_the_sine_curve():
    r = subprocess.run([sys.executable, str(EXAMPLES / "by_hand.py")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    losses = [float(v) for v in re.findall(r"Training Loss: ([0-9.e+-]+)", r.stdout)]
    assert len(losses) == 5
    assert losses[-1] < 1e-3 < losses[0]  # the seed project's target for sin(πx): MSE below 1e-3
