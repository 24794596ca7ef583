"""The version of lstmgen, in a module of its own so that any wing can read it without
importing the package's face (``lstmgen/__init__.py`` hands on the API)."""

__version__ = "0.1.0"
