"""``nn.testing``: property-based gradient tests for any layer, loss or optimizer.

Needs hypothesis (``pip install 'readable-nn[test]'``). Importing this package
registers ``nn``'s global random generator with hypothesis, which then seeds it before
every generated example and restores it after, as it does for ``random`` and
``numpy.random``: examples are reproducible even for layers that draw from the global
generator (``rng=None``).

A complete test (docs/testing.md)::

    import nn
    from nn.testing import batch_shapes, check_layer

    def test_my_linear():
        check_layer(lambda: nn.Linear(3, 2), batch_shapes(last=3), batch_independent=True)
"""

from __future__ import annotations

try:
    import hypothesis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nn.testing needs hypothesis: pip install 'readable-nn[test]'") from exc

from .._config import global_rng
from .cli import ExerciseFailed, check_exercise
from .profiles import PROFILES, load_profile, register_profiles
from .properties import (
    LAYER_PROPERTIES,
    LOSS_PROPERTIES,
    PropertyFailure,
    PropertyReport,
    check_layer,
    check_layer_case,
    check_loss,
    check_loss_case,
    check_optimizer,
    check_optimizer_case,
    layer_test,
)
from .strategies import (
    arrays,
    away_from,
    batch_shapes,
    class_targets,
    distinct,
    finite_floats,
    image_shapes,
    layer_inputs,
    probability_targets,
    seeds,
    sequence_shapes,
    shapes,
)


class _GlobalGeneratorAsRandom:
    """The ``random.Random``-like view hypothesis needs: ``seed``, ``getstate``, ``setstate``
    on ``nn``'s global ``numpy.random.Generator`` (reseeded in place, never replaced)."""

    def seed(self, seed) -> None:
        import numpy as np

        global_rng().bit_generator.state = np.random.PCG64(int(seed) % 2**63).state

    def getstate(self):
        return global_rng().bit_generator.state

    def setstate(self, state) -> None:
        global_rng().bit_generator.state = state


_REGISTERED_RANDOM = _GlobalGeneratorAsRandom()  # a strong reference: hypothesis keeps a weak one
hypothesis.register_random(_REGISTERED_RANDOM)

__all__ = [
    "check_layer", "check_layer_case", "check_loss", "check_loss_case", "check_optimizer",
    "check_optimizer_case", "layer_test", "PropertyFailure", "PropertyReport",
    "LAYER_PROPERTIES", "LOSS_PROPERTIES", "PROFILES", "load_profile", "register_profiles",
    "arrays", "away_from", "batch_shapes", "class_targets", "distinct", "finite_floats",
    "image_shapes", "layer_inputs", "probability_targets", "seeds", "shapes",
    "check_exercise", "ExerciseFailed",
]
__all__ += ["sequence_shapes"]
