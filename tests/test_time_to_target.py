"""Time to target: the first validation that reaches ``target``, in result.json, kept by a
resume, refused by the preflight when it is not a number."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.callbacks.time_to_target import TimeToTarget
from optimlab.errors import ConfigError
from optimlab.runner.preflight import preflight


def _trainer(value: float, step: int, epoch: int, *, sanity: bool = False) -> SimpleNamespace:
    """What the callback reads from a trainer at the end of a validation."""
    return SimpleNamespace(
        callback_metrics={"val/acc": torch.tensor(value), "val/loss": torch.tensor(1 - value)},
        global_step=step,
        current_epoch=epoch,
        sanity_checking=sanity,
    )


def _feed(callback: TimeToTarget, values: list[float], steps_per_epoch: int = 10) -> None:
    for epoch, value in enumerate(values):
        callback.on_validation_end(_trainer(value, (epoch + 1) * steps_per_epoch, epoch), None)


def test_the_first_validation_at_or_past_the_target_in_the_metrics_direction() -> None:
    accuracy = TimeToTarget("val/acc", 0.7)  # larger is better: the first value >= 0.7
    accuracy.on_fit_start(None, None)
    accuracy.on_validation_end(_trainer(0.99, 0, 0, sanity=True), None)  # not a validation
    assert accuracy.time_to_target is None
    _feed(accuracy, [0.5, 0.69, 0.7, 0.9, 0.6])  # float32 0.7 (0.69999999) counts
    assert accuracy.time_to_target["step"] == 30 and accuracy.time_to_target["epoch"] == 3
    assert 0 <= accuracy.time_to_target["wall_s"] < 5

    loss = TimeToTarget("val/loss", 0.25)  # smaller is better: the first 1 - value <= 0.25
    _feed(loss, [0.5, 0.7, 0.74, 0.8])
    assert (loss.time_to_target["step"], loss.time_to_target["epoch"]) == (40, 4)

    never = TimeToTarget("val/acc", 0.95)
    _feed(never, [0.5, float("nan"), 0.9])
    assert never.time_to_target is None


def test_the_recorded_time_and_the_clock_survive_the_state_dict() -> None:
    first = TimeToTarget("val/acc", 0.7)
    first.on_fit_start(None, None)
    _feed(first, [0.5, 0.8])
    state = first.state_dict()

    resumed = TimeToTarget("val/acc", 0.7)
    resumed.load_state_dict(state)
    resumed.on_fit_start(None, None)
    _feed(resumed, [0.9, 0.95])  # later validations do not move it
    assert resumed.time_to_target == first.time_to_target == state["time_to_target"]

    slow = TimeToTarget("val/acc", 0.7)
    slow.load_state_dict({"time_to_target": None, "elapsed_s": 100.0})  # 100 s before the crash
    slow.on_fit_start(None, None)
    _feed(slow, [0.8])
    assert 100 <= slow.time_to_target["wall_s"] < 105  # counted on from where it stopped
    assert TimeToTarget("val/acc", 0.8).state_key != first.state_key  # another target


def test_a_run_records_the_first_epoch_its_validation_curve_reached(compose_train) -> None:
    cfg = compose_train("trainer.max_epochs=3", "optimized_metric=val/loss", "target=1e9")
    train(cfg)  # every loss is below 1e9: the first validation reaches it
    run = Path(cfg.paths.output_dir)
    first = json.loads((run / "result.json").read_text())
    steps_per_epoch = first["steps"] // 3
    assert first["target"] == 1e9
    assert first["time_to_target"]["epoch"] == 1
    assert first["time_to_target"]["step"] == steps_per_epoch
    assert 0 < first["time_to_target"]["wall_s"] < first["wall_time_s"]

    # a target in the middle of the logged curve: the first epoch whose val/loss is <= it
    curve = [v for _, v in sorted(read_scalars(run / "tensorboard")["val/loss"])]
    assert len(curve) == 3
    target = sorted(curve)[1]  # reached by two of the three epochs
    expected = next(epoch for epoch, v in enumerate(curve, 1) if v <= target)
    again = compose_train("trainer.max_epochs=3", "optimized_metric=val/loss", f"target={target!r}")
    train(again)
    result = json.loads((Path(again.paths.output_dir) / "result.json").read_text())
    assert result["time_to_target"]["epoch"] == expected
    assert result["time_to_target"]["step"] == expected * steps_per_epoch

    never = compose_train("trainer.max_epochs=1", "target=1.5")  # val/acc never exceeds 1
    train(never)
    result = json.loads((Path(never.paths.output_dir) / "result.json").read_text())
    assert result["target"] == 1.5 and result["time_to_target"] is None

    without = compose_train("trainer.max_epochs=1")
    train(without)
    result = json.loads((Path(without.paths.output_dir) / "result.json").read_text())
    assert "time_to_target" not in result and "target" not in result


def test_a_resumed_run_keeps_the_time_its_first_part_recorded(
    compose_train, tmp_path: Path
) -> None:
    common = ["trainer.max_epochs=3", "target=0.0", "test=false"]  # reached at epoch 1
    first = compose_train(
        *common,
        "+callbacks.crash._target_=helpers.interrupts.StopAfterEpochs",
        "+callbacks.crash.epochs=2",
        output_dir=tmp_path / "first",
    )
    train(first)
    recorded = json.loads((tmp_path / "first" / "result.json").read_text())["time_to_target"]
    assert recorded["epoch"] == 1
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    states = torch.load(last, weights_only=True)["callbacks"]
    assert [s["time_to_target"] for k, s in states.items() if "TimeToTarget" in k] == [recorded]

    resumed = compose_train(*common, f"ckpt_path={last}", output_dir=tmp_path / "resumed")
    train(resumed)
    result = json.loads((tmp_path / "resumed" / "result.json").read_text())
    assert result["epochs"] == 3  # it went on (its own first validation is epoch 3)
    assert result["time_to_target"] == recorded


@pytest.mark.parametrize("value", ["abc", "true", "[0.5]", "nan"])
def test_the_preflight_refuses_a_target_that_is_not_a_number(compose_train, value: str) -> None:
    # the value check (the studies declare numeric targets) or the target check, whichever first
    with pytest.raises(ConfigError, match=r"^target must be a number.* got"):
        preflight(compose_train(f"target={value}"))


def test_the_preflight_refuses_a_target_without_a_metric(compose_train) -> None:
    with pytest.raises(ConfigError, match="optimized_metric, which is null"):
        preflight(compose_train("target=0.5", "optimized_metric=null"))
