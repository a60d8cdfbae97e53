"""Hypothesis settings profiles for layer tests: ``dev``, ``ci``, ``thorough``.

``dev``: 25 examples, randomized, no deadline (gradient checks take milliseconds to
seconds, a deadline would only flake). ``ci``: the same, derandomized (the same examples on
every run), with the falsifying example's blob printed. ``thorough``: 300 examples, for a
night run. Select one with :func:`load_profile` (``None`` reads ``HYPOTHESIS_PROFILE``,
else ``ci`` when the ``CI`` environment variable is set, else ``dev``).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

PROFILES: dict[str, dict[str, Any]] = {
    "dev": dict(max_examples=25, deadline=None),
    "ci": dict(max_examples=25, deadline=None, derandomize=True, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow]),
    "thorough": dict(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow]),
}


def register_profiles() -> None:
    """Register the three profiles with hypothesis (idempotent)."""
    for name, kwargs in PROFILES.items():
        settings.register_profile(name, **kwargs)


def load_profile(name: str | None = None) -> str:
    """Register the profiles and load ``name`` (see the module docstring); returns it."""
    register_profiles()
    if name is None:
        name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(name)
    return name
