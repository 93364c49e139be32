"""Datamodules that hold whole splits in memory and serve batches by tensor indexing."""

from optimlab.data.batches import EpochSampler, TensorBatchLoader
from optimlab.data.errors import DataNotFoundError
from optimlab.data.fashion_mnist import FashionMNISTDataModule
from optimlab.data.in_memory import ImageSpec, InMemoryImageDataModule

__all__ = [
    "DataNotFoundError",
    "EpochSampler",
    "FashionMNISTDataModule",
    "ImageSpec",
    "InMemoryImageDataModule",
    "TensorBatchLoader",
]
