"""Errors a user can act on."""


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the places we look, and could not be downloaded."""
