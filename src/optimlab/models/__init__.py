"""Networks. Each declares ``task`` so a model that does not fit the data is refused at start."""

from optimlab.models.lenet import LeNet

__all__ = ["LeNet"]
