"""What a datamodule tells the rest of optimlab, declared in one place.

The task and the preflight never look inside a datamodule: they read ``task`` from its
class, build the network from ``spec.model_kwargs()``, size the run with ``train_size()``
and refuse bad files with ``check_files()``. Any LightningDataModule that has these
members works; the in-memory ones get them from ``InMemoryDataModule``.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)


class DataSpec(Protocol):
    """The sizes a network is built with. An image folder learns them by reading its
    files, so only read ``spec`` once loading the data is fine."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape: (channels, height, width) for images, (features,) for rows."""
        ...

    @property
    def num_outputs(self) -> int:
        """The network's output width: the number of classes, or of regression targets."""
        ...

    def model_kwargs(self) -> dict[str, int]:
        """Constructor arguments of the network: ``in_channels``, ``image_size`` and
        ``num_classes`` for images; ``in_features`` and ``out_features`` for rows."""
        ...


class ClassificationSpec(DataSpec, Protocol):
    """A classification data set's spec also names its classes."""

    @property
    def num_classes(self) -> int: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...


class DataModuleProtocol(Protocol):
    """What every datamodule answers. ``task`` and ``train_size()`` load nothing, so the
    preflight can ask them before any data is read."""

    task: ClassVar[str]  # CLASSIFICATION or REGRESSION: picks the task and the models

    @property
    def spec(self) -> DataSpec: ...

    def train_size(self) -> int | None:
        """Training examples per epoch (before DDP sharding), known without loading the
        data; None when only loading could tell."""
        ...

    def check_files(self) -> None:
        """Refuse, before anything is written, data that loading could only fail on:
        raise a DataError subclass (or ConfigError for a bad setting)."""
        ...


class RegressionData(DataModuleProtocol, Protocol):
    """Regression data also says how its targets were scaled."""

    @property
    def target_std(self) -> float | None:
        """The training targets' std in their own units when they were standardized
        (metrics times it are in those units: dB for airfoil); None otherwise or before
        ``setup``."""
        ...


def target_std_of(datamodule: object) -> float | None:
    """``target_std`` of regression data; None for any other datamodule (or none)."""
    if getattr(type(datamodule), "task", None) != REGRESSION:
        return None
    regression: RegressionData = datamodule  # type: ignore[assignment]
    return regression.target_std
