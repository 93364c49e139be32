"""Datamodules that hold whole splits in memory and serve batches by tensor indexing.

What every datamodule tells the task and the preflight is declared in ``protocol.py``.
"""

from optimlab.data.airfoil import AirfoilDataModule
from optimlab.data.augment import AugmentOptions, RandomCropFlip
from optimlab.data.batches import EpochSampler, TensorBatchLoader
from optimlab.data.cifar10 import CIFAR10DataModule
from optimlab.data.errors import ChecksumError, DataFormatError, DataNotFoundError
from optimlab.data.fashion_mnist import FashionMNISTDataModule
from optimlab.data.image_folder import ImageFolderDataModule
from optimlab.data.images import ImageOptions, InMemoryImageDataModule
from optimlab.data.in_memory import InMemoryDataModule
from optimlab.data.protocol import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    ClassificationSpec,
    DataModuleProtocol,
    DataSpec,
    RegressionData,
    target_std_of,
)
from optimlab.data.specs import ImageSpec, RegressionSpec

__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "TASKS",
    "AirfoilDataModule",
    "AugmentOptions",
    "CIFAR10DataModule",
    "ChecksumError",
    "ClassificationSpec",
    "DataFormatError",
    "DataModuleProtocol",
    "DataNotFoundError",
    "DataSpec",
    "EpochSampler",
    "FashionMNISTDataModule",
    "ImageFolderDataModule",
    "ImageOptions",
    "ImageSpec",
    "InMemoryDataModule",
    "InMemoryImageDataModule",
    "RandomCropFlip",
    "RegressionData",
    "RegressionSpec",
    "TensorBatchLoader",
    "target_std_of",
]
