"""The typed errors of lstmgen.

Library modules raise these and never print; the command line (``lstmgen.cli``) turns them
into a one-line message on stderr and an exit code: 2 for usage and configuration mistakes, 1
for data and checkpoint problems and for an optional package that is not installed.
"""


class LstmgenError(Exception):
    """Base class of every error a user can cause; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(LstmgenError):
    """A configuration file, key or value is wrong (exit code 2)."""

    exit_code = 2


class DataError(LstmgenError):
    """A corpus cannot be read or is unusable: missing, empty, badly encoded, wrong column."""

    exit_code = 1


class CheckpointError(LstmgenError):
    """A run directory or checkpoint is missing, corrupt, unsafe or from a newer version."""

    exit_code = 1


class MissingPackageError(LstmgenError):
    """An optional extra that a command or corpus needs is not installed; the message names the
    ``pip install 'lstmgen[EXTRA]'`` that adds it (exit code 1: the command line was right, the
    environment lacks a package)."""

    exit_code = 1


class AddressError(LstmgenError):
    """The server cannot listen where it was asked to: the port is in use, or needs privileges
    (exit code 1, like a run directory in use: the command was right, the machine is busy)."""

    exit_code = 1


class TrainingError(LstmgenError):
    """Training cannot go on: it kept diverging after every rollback (exit code 1)."""

    exit_code = 1
