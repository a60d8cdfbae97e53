"""Test configuration: hypothesis profiles and float-error trapping.

Profiles: ``dev`` (default, randomized), ``ci`` (derandomized, no deadline; chosen when the
``CI`` environment variable is set), ``thorough`` (many examples). Select one explicitly
with ``HYPOTHESIS_PROFILE=thorough``.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import nn

settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None)
_default_profile = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or _default_profile)


@pytest.fixture(autouse=True)
def _raise_on_float_errors():
    """Every test runs under np.errstate(all="raise") and a fresh global seed."""
    nn.manual_seed(0)
    with np.errstate(all="raise"):
        yield


@pytest.fixture
def allow_underflow():
    """For tests that train: gradual underflow of tiny probabilities and gradients to
    subnormals is IEEE-correct and not an error, so every float error but that one traps.
    Use with ``pytestmark = pytest.mark.usefixtures("allow_underflow")``."""
    with np.errstate(under="ignore"):
        yield
