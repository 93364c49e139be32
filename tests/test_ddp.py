"""DDP with 2 CPU processes: each rank trains on its own shard, rank 0 alone writes outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from optimlab.runner.hydra_callbacks import ddp_helper_process
from optimlab.runner.preflight import _ddp_in_multirun


def _train_py(*overrides: str) -> subprocess.CompletedProcess[str]:
    """``python train.py *overrides`` in a fresh interpreter: Lightning starts rank 1 by
    running the same command line again, which a fork of the test worker cannot do."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
    )


def test_two_cpu_ranks_train_on_their_own_shards_and_write_one_run(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    probe = tmp_path / "probe"
    result = _train_py(
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        f"datamodule.data_dir={tiny_fashion_dir}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "datamodule.batch_size=50",
        "debug=default",
        "trainer.limit_train_batches=3",
        f"paths.log_dir={tmp_path / 'logs'}",
        "callbacks.progress_bar=null",
        "+callbacks.probe._target_=helpers.probes.ShardProbe",
        f"+callbacks.probe.out_dir={probe}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr

    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert ranks[0]["pid"] != ranks[1]["pid"]  # two processes
    shards = [set(r["shard"]) for r in ranks]
    assert not shards[0] & shards[1]  # disjoint shards ...
    assert shards[0] | shards[1] == set(range(500))  # ... that cover the 500 training images
    for rank in ranks:
        assert set(rank["indices"]) <= set(rank["shard"])  # the first batch is from the shard
        assert rank["labels"] == rank["expected_labels"]  # and really holds those images

    (run_dir,) = (tmp_path / "logs" / "debug" / "runs").iterdir()  # one directory for both
    assert (run_dir / "train_ddp_process_1.log").is_file()  # rank 1 ran in it, claimed none
    events = list(run_dir.rglob("events.out.tfevents.*"))
    assert events and {p.name.split(".")[-2] for p in events} == {str(ranks[0]["pid"])}
    checkpoints = sorted(p.name for p in tmp_path.rglob("*.ckpt"))
    assert checkpoints == ["best.ckpt", "last.ckpt"]  # written once, by rank 0
    assert list(tmp_path.rglob("result.json")) == [run_dir / "result.json"]
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"


def test_only_other_ranks_count_as_ddp_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert not ddp_helper_process()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not ddp_helper_process()  # rank 0 claims the directory
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert ddp_helper_process()


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        (["trainer=ddp"], True),  # Lightning would start the whole sweep again in rank 1
        (["trainer=ddp", "trainer.devices=1"], False),
        (["trainer=ddp", "trainer.strategy=ddp_spawn"], False),
        (["trainer=ddp", "hydra/launcher=slurm"], False),  # SLURM starts the ranks itself
        (["trainer=ddp", "hydra/launcher=parallel"], True),
    ],
)
def test_ddp_in_a_multirun_is_refused_unless_something_else_starts_the_ranks(
    compose_train, overrides: list[str], refused: bool
) -> None:
    problem = _ddp_in_multirun(compose_train(*overrides))
    assert (problem is not None) == refused
    if refused:
        assert "ddp_spawn" in problem and "hydra/launcher=slurm" in problem


# ------------------------------------------------------------------ DDP reports the split's values

DDP = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "callbacks.progress_bar=null"]
SHORT = ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.num_sanity_val_steps=0"]
CASES = {  # odd split sizes: a padded shard would count one example twice
    "classification": ["datamodule.val_size=101", "datamodule.eval_batch_size=40"],
    "regression": [  # 225 validation and 225 test rows; plateau watches val/loss
        "datamodule=airfoil",
        "model=mlp",
        "datamodule.eval_batch_size=40",
        "scheduler=plateau",
    ],
}


def _single_process(run_dir: Path, checkpoint: str, stage: str) -> dict[str, float]:
    """``stage`` (validate or test) of ``checkpoint`` in this one process, on the run's data."""
    import lightning as L
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from optimlab.runner.evaluate import load_task

    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    task = load_task(run_dir / "checkpoints" / checkpoint)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    run = trainer.validate if stage == "validate" else trainer.test
    (values,) = run(task, datamodule=instantiate(config.datamodule), verbose=False)
    return {name: float(value) for name, value in values.items()}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_two_ranks_log_what_one_process_measures_on_the_same_checkpoint(
    kind: str, tmp_path: Path
) -> None:
    from helpers.fakedata import write_fashion_mnist

    data = write_fashion_mnist(tmp_path / "data", train=601, test=201)
    fashion = [f"datamodule.data_dir={data}", "datamodule.system_dir=null"]
    result = _train_py(
        *DDP,
        *SHORT,
        *(fashion if kind == "classification" else []),
        *CASES[kind],
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sync_dist" not in result.stderr  # no value needed Lightning's warning
    run_dir = tmp_path / "run"
    logged = json.loads((run_dir / "result.json").read_text())
    tested = _single_process(run_dir, "best.ckpt", "test")
    validated_last = _single_process(run_dir, "last.ckpt", "validate")
    validated_best = _single_process(run_dir, "best.ckpt", "validate")

    metrics = logged["metrics"]
    for name, value in tested.items():  # test: best.ckpt
        assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    for name, value in validated_last.items():  # val/*: the last epoch's, last.ckpt
        assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    # checkpoint selection and the sweep objective (and plateau's monitor, the same value)
    metric = logged["optimized_metric"]
    assert logged["best_value"] == pytest.approx(validated_best[metric], rel=1e-5)
    if kind == "regression":
        assert metrics["test/loss"] == pytest.approx(metrics["test/mse"], rel=1e-6)
