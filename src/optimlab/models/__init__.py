"""Networks. Each declares ``task`` so a model that does not fit the data is refused at start."""

from optimlab.models.cnn import CNN
from optimlab.models.init import INIT_SCHEMES, initialize
from optimlab.models.lenet import LeNet
from optimlab.models.regression import MLP, LinearRegression

__all__ = ["CNN", "INIT_SCHEMES", "MLP", "LeNet", "LinearRegression", "initialize"]
