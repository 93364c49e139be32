"""What a run shows in TensorBoard's HPARAMS tab: its hyperparameters and its final numbers.

The runner calls ``write_hparams`` once, when the run has ended (tested, or diverged). It
writes one hparams session into ``<run>/tensorboard/hparams/``, a TensorBoard run of its own:

- the session's hyperparameters: the option of each config group (``optimizer=adam``), every
  key of the optimizer and scheduler files (``optimizer.lr``, ``scheduler.gamma``), the
  batch size, the run's length, the seed, the target, and every other key the command line
  set (a sweep's axes, ``model.init=he``); lists become their text, ``null`` is left out.
  Only these: TensorBoard shows the first few columns, those whose values differ first;
- the session's metrics, scalars under ``hp/`` (no other tag starts so): the best value of
  the optimized metric (``hp/best/val/acc``, what best.ckpt scored), the test metrics
  (``hp/test/acc``), the last epoch's training loss, the wall time, and with ``target`` set
  the seconds and steps to reach it (absent when it was never reached). TensorBoard shows
  the first five by name: best, test, then time to target or training loss and wall time;
- its status: success, or failure for a run that diverged.

Its own folder because TensorBoard takes every scalar of a session's folder (and below it)
as one of its metrics: the HPARAMS table then has the ``hp/`` columns, not every training
curve. No experiment summary is written: TensorBoard then builds the table's columns from all
sessions together, so a sweep over optimizers shows Adam's betas and SGD's momentum side by
side (one run's summary would hide the keys that run does not have).
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import (
    HParamsPluginData,
    SessionEndInfo,
    SessionStartInfo,
)
from torch.utils.tensorboard import SummaryWriter

from optimlab.config import to_plain

SESSION_DIR = "hparams"  # inside the TensorBoard logger's folder
GROUPS = ("optimizer", "scheduler", "model", "datamodule")
# a config file's keys that name its class, not a hyperparameter
NOT_HPARAMS = frozenset({"_target_", "_partial_", "_convert_", "_recursive_"})
# command-line keys that say where a run is kept or how it is run, not what it is
NOT_SWEPT = frozenset({"hydra", "paths", "task_name", "ckpt_path", "resume", "skip_finished"})

HParam = bool | int | float | str


def write_hparams(
    trainer: L.Trainer,
    cfg: DictConfig,
    metrics: dict[str, float],
    record: dict[str, Any],
    *,
    diverged: bool = False,
) -> Path | None:
    """Write the run's hparams session next to its TensorBoard logger's event files.

    ``metrics`` and ``record`` are what result.json holds (``record``: best_value,
    time_to_target, ...). Returns the session's folder; None when no TensorBoard logger
    runs (``~logger``) or on a DDP rank other than 0. A resumed run rewrites its session.
    """
    folders = [lg.log_dir for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
    if not folders or not trainer.is_global_zero:
        return None
    session = Path(folders[0]) / SESSION_DIR
    shutil.rmtree(session, ignore_errors=True)  # a resumed run's earlier session
    writer = SummaryWriter(str(session))
    step = trainer.global_step
    try:
        for tag, value in session_metrics(metrics, record).items():
            writer.add_scalar(tag, value, step)
        started = _timestamp(record.get("started_at"))
        status = api_pb2.STATUS_FAILURE if diverged else api_pb2.STATUS_SUCCESS
        writer.file_writer.add_summary(_session_start(session_params(cfg), started), step)
        writer.file_writer.add_summary(_session_end(status), step)
    finally:
        writer.close()
    return session


def session_params(cfg: DictConfig) -> dict[str, HParam]:
    """The run's hyperparameters, flat, named as on the command line (``optimizer.lr``)."""
    params: dict[str, Any] = {group: group_choice(cfg, group) for group in GROUPS}
    for group in ("optimizer", "scheduler"):
        params.update(_flat(to_plain(cfg.get(group)), group))
    params["datamodule.batch_size"] = (cfg.get("datamodule") or {}).get("batch_size")
    params["trainer.max_epochs"] = cfg.trainer.get("max_epochs")
    if (cfg.trainer.get("max_steps") or -1) > 0:
        params["trainer.max_steps"] = cfg.trainer.max_steps
    params["seed"] = cfg.get("seed")
    params["target"] = cfg.get("target")  # what hp/time_to_target_s is the time to
    for key in _command_line_keys():
        if key not in params:
            params.update(_flat({key: _value(cfg, key)}, ""))
    return {name: value for name, value in params.items() if value is not None}


def session_metrics(metrics: dict[str, float], record: dict[str, Any]) -> dict[str, float]:
    """The run's final numbers, under ``hp/`` (result.json's values)."""
    values: dict[str, float] = {}
    metric = record.get("optimized_metric")
    if metric and record.get("best_value") is not None:
        values[f"hp/best/{metric}"] = float(record["best_value"])
    tested = {name: value for name, value in metrics.items() if name.startswith("test/")}
    values.update({f"hp/{name}": float(value) for name, value in tested.items()})
    if record.get("final_train_loss") is not None:
        values["hp/train/loss_final"] = float(record["final_train_loss"])
    if record.get("wall_time_s") is not None:
        values["hp/wall_time_s"] = float(record["wall_time_s"])
    reached = record.get("time_to_target")
    if reached:
        values["hp/time_to_target_s"] = float(reached["wall_s"])
        values["hp/time_to_target_steps"] = float(reached["step"])
    return values


def _hydra_choice(group: str) -> str | None:
    """The option Hydra picked for a config group, or None (not a group, or no Hydra)."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return None


def group_choice(cfg: DictConfig, group: str) -> str:
    """The option picked for ``group`` (optimizer=adam), or its class name outside Hydra."""
    choice = _hydra_choice(group)
    if choice:
        return choice
    target = (cfg.get(group) or {}).get("_target_")
    return str(target).rsplit(".", 1)[-1] if target else "none"


def _flat(node: dict[str, Any], prefix: str) -> dict[str, Any]:
    """{a: {b: 1}, c: [1, 2]} -> {prefix.a.b: 1, prefix.c: "[1, 2]"}; a None stays None."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if key in NOT_HPARAMS:
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flat(value, name))
        elif isinstance(value, (list, tuple)):
            flat[name] = str(list(value))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def _command_line_keys() -> list[str]:
    """The keys this run's command line set (a sweep job's own included), not where it is
    kept: Hydra's own list of keys that do not name a run decides, with NOT_SWEPT."""
    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    excluded = set(hydra.job.config.override_dirname.exclude_keys)
    keys = []
    for override in hydra.overrides.task:
        key, sep, _ = str(override).partition("=")
        key = key.lstrip("+")
        named = sep and not key.startswith("~") and key not in excluded
        if named and key.split(".", 1)[0] not in NOT_SWEPT:
            keys.append(key)
    return keys


def _value(cfg: DictConfig, key: str) -> Any:
    """A key's value in the run's config; a config group's (``experiment=...``) option."""
    choice = _hydra_choice(key)
    if choice:
        return choice
    value = OmegaConf.select(cfg, key, default=None)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _timestamp(started_at: str | None) -> float:
    try:
        return datetime.fromisoformat(str(started_at)).timestamp()
    except ValueError:
        return time.time()


def _session_start(params: dict[str, HParam], started: float) -> Summary:
    info = SessionStartInfo(start_time_secs=started)
    for name, value in params.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = value
        else:
            info.hparams[name].string_value = str(value)
    return _summary(metadata.SESSION_START_INFO_TAG, HParamsPluginData(session_start_info=info))


def _session_end(status: int) -> Summary:
    info = SessionEndInfo(status=status, end_time_secs=time.time())
    return _summary(metadata.SESSION_END_INFO_TAG, HParamsPluginData(session_end_info=info))


def _summary(tag: str, data: HParamsPluginData) -> Summary:
    """A Summary holding the hparams plugin's data under its tag."""
    value = Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))
    return Summary(value=[value])
