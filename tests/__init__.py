"""lstmgen's tests: a regular package, so that a stray top-level ``tests`` package in site-packages
(some PyPI distributions ship one) cannot shadow it in ``from tests.conftest import ...``."""
