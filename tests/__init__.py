"""The test suite (a regular package, so ``from tests.helpers import ...`` finds this folder even
when an installed distribution ships a top-level ``tests`` package of its own)."""
