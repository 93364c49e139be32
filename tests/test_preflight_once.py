"""The preflight runs once per run: for a plain run and for a resumed one."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

import optimlab.runner.preflight as preflight_module
from helpers import ROOT, fast_overrides


def _checks_of(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run train.py in this process with ``argv``; count the config checks it made."""
    calls: list[int] = []
    check = preflight_module.check
    monkeypatch.setattr(preflight_module, "check", lambda cfg: (calls.append(1), check(cfg)))
    monkeypatch.setattr(sys, "argv", ["train.py", *argv])
    GlobalHydra.instance().clear()
    try:
        runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
    finally:
        GlobalHydra.instance().clear()
    return len(calls)


def test_a_run_and_its_resume_are_each_checked_once(
    tiny_fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    common = [*fast_overrides(tiny_fashion_dir), "trainer.max_epochs=1", "test=false"]
    assert _checks_of([*common, f"hydra.run.dir={run_dir}"], monkeypatch) == 1
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    resumed = [f"resume={run_dir}", "trainer.max_epochs=2"]
    assert _checks_of(resumed, monkeypatch) == 1
    assert (tmp_path / "run_resumed" / "result.json").is_file()
