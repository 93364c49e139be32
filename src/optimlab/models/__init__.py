"""Networks. Each declares ``task`` (classification or regression) so a mismatch with the data is caught at start."""

from optimlab.models.lenet import LeNet

__all__ = ["LeNet"]
