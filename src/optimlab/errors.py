"""The errors a user can act on: only these become a one-line message (runner/cli.py).

Anything else is a bug, in optimlab or below it, and keeps its traceback.
"""

from __future__ import annotations


class OptimlabError(Exception):
    """Base of the errors whose message alone tells the user what to fix."""


class ConfigError(OptimlabError, ValueError):
    """A setting a user can fix; the message names the key and how."""


class DataError(OptimlabError):
    """Anything wrong with the data a user pointed at."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data set is in none of the places we look, and could not be downloaded."""


class DataFormatError(DataError, ValueError):
    """The files are there but do not hold what their format promises."""


class ChecksumError(DataFormatError):
    """A file's checksum differs from the official one (truncated or corrupt download)."""


class DivergedError(OptimlabError, RuntimeError):
    """The loss stopped being a finite number."""


EXIT_BAD_INPUT = 2  # a setting or a file the user can fix
EXIT_DIVERGED = 3  # the loss became NaN/inf
