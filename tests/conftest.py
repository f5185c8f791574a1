"""Shared test settings: hypothesis profiles and the location of the seed's data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI runs every property test, with fewer examples (CI=true is set by .ci/run).
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

REPO = Path(__file__).resolve().parent.parent
#: The seed project's data sets: ../shared/data/ from the repository root, or $HANDGRAD_DATA.
DATA_DIR = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def data_dir() -> Path:
    """The seed's data folder; tests that need it skip with a reason where it is absent."""
    if not (DATA_DIR / "house" / "train_house.csv").is_file():
        message = f"the seed's data sets are not at {DATA_DIR} (set HANDGRAD_DATA)"
        if os.environ.get("HANDGRAD_REQUIRE_DATA"):  # CI: the data are always there; never skip silently
            pytest.fail(message)
        pytest.skip(message)
    return DATA_DIR
