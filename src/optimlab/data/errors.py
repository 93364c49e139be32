"""Errors a user can act on."""


class DataError(Exception):
    """Anything wrong with the data a user pointed at (the preflight reports these)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data set is in none of the places we look, and could not be downloaded."""


class DataFormatError(DataError, ValueError):
    """The files are there but do not hold what their format promises."""


class ChecksumError(DataFormatError):
    """A file's checksum differs from the official one (truncated or corrupt download)."""
