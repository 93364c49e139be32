"""Augmented batches: reproducible per (seed, epoch), training only, before normalization."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from helpers import CONF_DIR
from helpers.fake_images import write_cifar10
from optimlab.data import (
    CIFAR10DataModule,
    EpochSampler,
    FashionMNISTDataModule,
    RandomCropFlip,
    TensorBatchLoader,
)
from optimlab.data.batches import AUGMENT_STREAM, derived_generator
from optimlab.data.transforms import channel_stats

IMAGE_CONFIGS = ("fashion_mnist", "cifar10", "image_folder")


def _loader(seed: int = 0, rank: int = 0, world_size: int = 1) -> TensorBatchLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (40, 3, 8, 8), generator=generator).to(torch.uint8)
    sampler = EpochSampler(40, shuffle=True, seed=seed, rank=rank, world_size=world_size)
    return TensorBatchLoader(
        images, torch.arange(40), batch_size=16, sampler=sampler, augment=RandomCropFlip(2)
    )


def _epoch(loader: TensorBatchLoader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def _same(a, b) -> bool:
    return all(torch.equal(x, y) and torch.equal(i, j) for (x, i), (y, j) in zip(a, b, strict=True))


def test_same_seed_and_epoch_give_the_same_batches_after_a_restart() -> None:
    first, restarted = _loader(), _loader()
    _epoch(first, 0)  # an epoch already seen does not shift the next one's draws
    assert _same(_epoch(first, 1), _epoch(restarted, 1))
    assert _same(_epoch(first, 1), _epoch(first, 1))


def test_other_epochs_seeds_and_ranks_give_other_augmentations() -> None:
    loader = _loader()
    epoch0, epoch1 = _epoch(loader, 0), _epoch(loader, 1)
    assert not _same(epoch0, epoch1)
    assert not _same(epoch0, _epoch(_loader(seed=1), 0))
    draws = [derived_generator(0, 0, rank, AUGMENT_STREAM).seed() for rank in (0, 1)]
    assert draws[0] != draws[1]


def test_augmentation_keeps_the_labels_of_each_image() -> None:
    loader = _loader()
    plain = TensorBatchLoader(loader.inputs, loader.targets, batch_size=16, sampler=loader.sampler)
    for (x, y), (raw, raw_y) in zip(_epoch(loader, 3), _epoch(plain, 3), strict=True):
        assert torch.equal(y, raw_y)  # same images in the same order
        assert not torch.equal(x, raw)  # but different pixels
        assert x.shape == raw.shape and x.dtype == torch.uint8


def test_derived_generators_mix_their_keys() -> None:
    a = torch.rand(4, generator=derived_generator(1, 2, 3))
    assert torch.equal(a, torch.rand(4, generator=derived_generator(1, 2, 3)))
    assert not torch.equal(a, torch.rand(4, generator=derived_generator(2, 1, 3)))


def test_fashion_mnist_is_not_augmented_unless_asked(tiny_fashion_dir: Path) -> None:
    options = {"system_dir": None, "download": False, "val_size": 100, "batch_size": 500}
    plain = FashionMNISTDataModule(str(tiny_fashion_dir), **options)
    assert plain.augment is None
    augmented = FashionMNISTDataModule(
        str(tiny_fashion_dir),
        **options,
        augment={"random_crop_padding": 2, "horizontal_flip": True},
    )
    for dm in (plain, augmented):
        dm.setup("fit")
    (x, y), (ax, ay) = (
        next(iter(plain.train_dataloader())),
        next(iter(augmented.train_dataloader())),
    )
    assert torch.equal(y, ay)
    assert not torch.equal(x, ax)
    # validation batches stay as they are
    (vx, _), (avx, _) = next(iter(plain.val_dataloader())), next(iter(augmented.val_dataloader()))
    assert torch.equal(vx, avx)


def test_padding_is_black_before_normalization(tiny_fashion_dir: Path) -> None:
    dm = FashionMNISTDataModule(
        str(tiny_fashion_dir), system_dir=None, download=False, val_size=100, batch_size=500,
        augment={"random_crop_padding": 6, "horizontal_flip": False},
    )  # fmt: skip
    dm.setup("fit")
    x, _ = next(iter(dm.train_dataloader()))
    black = (0.0 - 0.2860) / 0.3530
    assert torch.isclose(x.min(), torch.tensor(black), atol=1e-5)


@pytest.mark.parametrize("name", IMAGE_CONFIGS)
def test_every_image_datamodule_has_the_same_augment_keys(name: str) -> None:
    cfg = OmegaConf.load(CONF_DIR / "datamodule" / f"{name}.yaml")
    assert set(cfg.augment) == {"random_crop_padding", "horizontal_flip"}
    lines = (CONF_DIR / "datamodule" / f"{name}.yaml").read_text().splitlines()
    keys = [line for line in lines if line and not line.startswith(("#", "_target_"))]
    assert all("#" in line for line in keys), "every key needs a one-line comment"


def test_channel_stats_are_those_of_the_float_images() -> None:
    images = torch.randint(0, 256, (20, 3, 5, 5), dtype=torch.uint8)
    mean, std = channel_stats(images)
    scaled = images.double() / 255
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    assert torch.allclose(as_tensor(mean), scaled.mean(dim=(0, 2, 3)), atol=1e-9)
    assert torch.allclose(as_tensor(std), scaled.std(dim=(0, 2, 3), correction=0), atol=1e-9)


def test_null_mean_and_std_are_measured_on_the_training_split(tiny_fashion_dir: Path) -> None:
    dm = FashionMNISTDataModule(
        str(tiny_fashion_dir), system_dir=None, download=False, val_size=0, batch_size=600,
        mean=None, std=None,
    )  # fmt: skip
    dm.setup("fit")
    x, _ = next(iter(dm.train_dataloader()))
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std(correction=0)) - 1) < 1e-4
    with pytest.raises(ValueError, match=r"both datamodule\.mean and datamodule\.std"):
        FashionMNISTDataModule(str(tiny_fashion_dir), mean=None)
    wrong = FashionMNISTDataModule(
        str(tiny_fashion_dir), system_dir=None, download=False, mean=[0.5] * 3, std=[0.5] * 3
    )
    with pytest.raises(ValueError, match="3 values but the images have 1 channel"):
        _ = wrong.normalize


class _BatchRecorder(L.LightningModule):
    """A linear classifier that remembers a fingerprint of every training batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3 * 32 * 32, 10)
        self.seen: list[tuple[int, float]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append((self.current_epoch, float(x.double().sum())))
        return torch.nn.functional.cross_entropy(self.net(x.flatten(1)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(data_dir: Path, root: Path, epochs: int, ckpt: str | None = None) -> _BatchRecorder:
    from lightning.pytorch.callbacks import ModelCheckpoint

    dm = CIFAR10DataModule(
        str(data_dir), download=False, checksum=False, val_size=0, batch_size=20, seed=3
    )
    module = _BatchRecorder()
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, default_root_dir=root,
        callbacks=[ModelCheckpoint(dirpath=root, save_top_k=-1, filename="{epoch}")],
    )  # fmt: skip
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
    return module


@pytest.mark.filterwarnings("ignore:.*no `validation_step`", "ignore:Checkpoint directory")
def test_training_epochs_differ_repeat_and_survive_a_resume(tmp_path: Path) -> None:
    data = write_cifar10(tmp_path / "cifar", train=60, test=10)
    whole = _fit(data, tmp_path / "a", epochs=3).seen
    assert whole == _fit(data, tmp_path / "b", epochs=3).seen  # same seed, same batches
    by_epoch = [[s for e, s in whole if e == epoch] for epoch in range(3)]
    assert len({tuple(sums) for sums in by_epoch}) == 3  # every epoch is augmented anew
    _fit(data, tmp_path / "c", epochs=1)
    resumed = _fit(data, tmp_path / "c", epochs=3, ckpt=str(tmp_path / "c" / "epoch=0.ckpt"))
    assert resumed.seen == [s for s in whole if s[0] > 0]


def test_evaluation_shards_hold_each_example_once_across_ranks() -> None:
    """Training pads the shards to one length; evaluation (pad=False) repeats nothing."""
    shards = [
        EpochSampler(7, shuffle=False, seed=0, rank=rank, world_size=3, pad=False).indices()
        for rank in range(3)
    ]
    assert sorted(torch.cat(shards).tolist()) == list(range(7))
    padded = [
        EpochSampler(7, shuffle=False, seed=0, rank=rank, world_size=3).indices()
        for rank in range(3)
    ]
    assert {len(shard) for shard in padded} == {3}  # 9 slots for 7 examples: 2 repeated
