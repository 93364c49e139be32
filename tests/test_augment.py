"""Batch augmentation: per-image random crop (zero padding) and flip, vectorized and seeded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from optimlab.data.augment import AugmentOptions, RandomCropFlip, build_augment
from optimlab.errors import ConfigError


def _batch(count: int = 16, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # values 1..255 so that padding (0) is distinguishable from image pixels
    return torch.randint(1, 256, (count, channels, size, size), generator=generator).to(torch.uint8)


def _reference(images: torch.Tensor, dy, dx, flip, padding: int) -> torch.Tensor:
    """torchvision's recipe, image by image: pad, crop at (dy, dx), then maybe mirror."""
    h, w = images.shape[-2:]
    out = []
    for image, y, x, f in zip(images, dy.tolist(), dx.tolist(), flip.tolist(), strict=True):
        crop = F.pad(image, [padding] * 4)[:, y : y + h, x : x + w]
        out.append(crop.flip(-1) if f else crop)
    return torch.stack(out)


@pytest.mark.parametrize(("padding", "flip"), [(4, True), (2, False), (0, True), (3, True)])
def test_matches_the_per_image_recipe(padding: int, flip: bool) -> None:
    images = _batch(size=7)
    augment = RandomCropFlip(padding, horizontal_flip=flip)
    dy, dx, flips = augment._draw(len(images), torch.Generator().manual_seed(5))
    expected = _reference(images, dy, dx, flips, padding)
    out = augment(images, torch.Generator().manual_seed(5))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out, expected)


def test_each_image_gets_its_own_crop_and_flip() -> None:
    one = _batch(count=1)
    images = one.expand(64, -1, -1, -1).contiguous()  # 64 copies of one image
    out = RandomCropFlip(4)(images, torch.Generator().manual_seed(0))
    distinct = {bytes(x.numpy()) for x in out}
    assert len(distinct) > 32
    assert not torch.equal(out, images)


def test_flip_only_gives_the_image_or_its_mirror_about_half_the_time() -> None:
    images = _batch(count=400)
    out = RandomCropFlip(0, horizontal_flip=True)(images, torch.Generator().manual_seed(1))
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 150 < int(mirrored.sum()) < 250


def test_crop_shifts_content_and_fills_with_zeros() -> None:
    images = _batch(count=200)
    out = RandomCropFlip(4, horizontal_flip=False)(images, torch.Generator().manual_seed(2))
    assert int((out == 0).sum()) > 0  # padding came in
    assert bool((out == 0).flatten(1).all(1).logical_not().all())  # never all padding


def test_same_generator_seed_same_pixels_other_seed_other_pixels() -> None:
    images = _batch()
    augment = RandomCropFlip(4)
    first = augment(images, torch.Generator().manual_seed(7))
    again = augment(images, torch.Generator().manual_seed(7))
    other = augment(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_grey_non_square_and_empty_batches() -> None:
    grey = torch.randint(1, 256, (5, 1, 6, 9), dtype=torch.uint8)
    augment = RandomCropFlip(2)
    dy, dx, flips = augment._draw(5, torch.Generator().manual_seed(3))
    out = augment(grey, torch.Generator().manual_seed(3))
    assert torch.equal(out, _reference(grey, dy, dx, flips, 2))
    empty = torch.zeros(0, 3, 8, 8, dtype=torch.uint8)
    assert augment(empty, torch.Generator()).shape == empty.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_batches_get_the_same_pixels_as_cpu_batches() -> None:
    images = _batch(count=256, size=32)
    augment = RandomCropFlip(4)
    on_cpu = augment(images, torch.Generator().manual_seed(9))
    on_gpu = augment(images.cuda(), torch.Generator().manual_seed(9))
    assert on_gpu.is_cuda
    assert torch.equal(on_gpu.cpu(), on_cpu)


def test_options_from_config_blocks() -> None:
    assert build_augment(None) is None
    assert build_augment({"random_crop_padding": 0, "horizontal_flip": False}) is None
    augment = build_augment({"random_crop_padding": 4, "horizontal_flip": True})
    assert isinstance(augment, RandomCropFlip)
    assert (augment.padding, augment.horizontal_flip) == (4, True)
    assert AugmentOptions.parse({"horizontal_flip": True}) == AugmentOptions(0, True)
    with pytest.raises(ConfigError, match=r"unknown datamodule.augment keys \['flip'\]"):
        AugmentOptions.parse({"flip": True})
    with pytest.raises(ConfigError, match="random_crop_padding must be an integer >= 0"):
        AugmentOptions.parse({"random_crop_padding": -1})
    with pytest.raises(ConfigError, match="horizontal_flip must be true or false"):
        AugmentOptions.parse({"horizontal_flip": "yes"})
