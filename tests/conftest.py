"""Test configuration: hypothesis profiles and float-error trapping.

Profiles: ``dev`` (default, randomized), ``ci`` (derandomized, no deadline; chosen when the
``CI`` environment variable is set), ``thorough`` (many examples). Select one explicitly
with ``HYPOTHESIS_PROFILE=thorough``.
"""

import numpy as np
import pytest

import nn
from nn.testing import load_profile

load_profile()  # HYPOTHESIS_PROFILE, else "ci" when CI is set, else "dev" (docs/testing.md)


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
