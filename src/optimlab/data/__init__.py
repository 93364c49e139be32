"""Datamodules that hold whole splits in memory and serve batches by tensor indexing."""

from optimlab.data.augment import AugmentOptions, RandomCropFlip
from optimlab.data.batches import EpochSampler, TensorBatchLoader
from optimlab.data.cifar10 import CIFAR10DataModule
from optimlab.data.errors import ChecksumError, DataFormatError, DataNotFoundError
from optimlab.data.fashion_mnist import FashionMNISTDataModule
from optimlab.data.image_folder import ImageFolderDataModule
from optimlab.data.in_memory import ImageSpec, InMemoryImageDataModule

__all__ = [
    "AugmentOptions",
    "CIFAR10DataModule",
    "ChecksumError",
    "DataFormatError",
    "DataNotFoundError",
    "EpochSampler",
    "FashionMNISTDataModule",
    "ImageFolderDataModule",
    "ImageSpec",
    "InMemoryImageDataModule",
    "RandomCropFlip",
    "TensorBatchLoader",
]
