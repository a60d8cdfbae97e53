"""The version of the ``readable-nn`` distribution, in one place.

pyproject.toml reads it (``[tool.setuptools.dynamic]``); ``nn.__version__`` and
``optim.__version__`` are this string.
"""

__version__ = "0.1.0"
