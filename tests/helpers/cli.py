"""Run a script (train.py, ...) as its command line does, in a forked copy of this process.

A fresh interpreter spends about 5 s of CPU importing torch, Lightning and Hydra before it
reads its arguments; the tests start dozens. A fork of the test process has those modules
already: the child sets argv, environment and working directory, points fds 1 and 2 at files,
runs the script as ``__main__`` and exits with its exit code (or dies of its signal), and the
parent gets the same CompletedProcess a subprocess would give.

Tests of what a user sees from a fresh process (imports, sys.path, PYTHONPATH: test_cli.py)
start real subprocesses. Where forking is unsafe (torch running several intra-op threads,
which a forked child cannot use, as in a plain `pytest` without -n; or not Linux), these
helpers start a subprocess instead.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from helpers.config import ROOT

TESTS = str(Path(__file__).resolve().parents[1])


def _can_fork() -> bool:
    if not sys.platform.startswith("linux"):  # macOS: forking after torch's import can crash
        return False
    import torch

    return torch.get_num_threads() == 1  # conftest sets 1 under xdist with more than 1 worker


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _run_as_main(script: Path, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
    """In the child: what `python script *args` would do, returning its exit code."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [str(script), *args]
    stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    # handlers made before the fork (optuna's, Lightning's, pytest's) write where the parent
    # pointed them: send the stream ones to the child's own stdout and stderr
    old = {id(s): new for s, new in ((sys.stdout, stdout), (sys.stderr, stderr))}
    old |= {id(sys.__stdout__): stdout, id(sys.__stderr__): stderr}
    sys.stdout, sys.stderr = stdout, stderr
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in old:
                handler.setStream(old[id(handler.stream)])
            elif type(handler).__name__ == "LogCaptureHandler":
                logger.removeHandler(handler)  # pytest's: the parent's record list
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    atexit._clear()  # the parent's exit handlers are not this run's
    try:
        runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:  # sys.exit("message")
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    stdout.flush()
    stderr.flush()
    return code


class Started:
    """A script started by start_script; wait() gives its CompletedProcess."""

    def __init__(self, argv: list[str], pid: int | None, popen, out, err) -> None:
        self.args, self.pid, self._popen, self._out, self._err = argv, pid, popen, out, err

    def wait(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        if self._popen is not None:
            stdout, stderr = self._popen.communicate(timeout=timeout)
            return subprocess.CompletedProcess(self.args, self._popen.returncode, stdout, stderr)
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.02)
        outputs = []
        for stream in (self._out, self._err):
            stream.seek(0)
            outputs.append(stream.read().decode("utf-8", errors="replace"))
            stream.close()
        return subprocess.CompletedProcess(self.args, _exit_code(status), *outputs)


def start_script(
    script: str | Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
) -> Started:
    """Start `python <ROOT/script> *args` (env: extra variables); it runs until wait()."""
    path = ROOT / script
    environment = {**os.environ, "PYTHONPATH": TESTS, **(env or {})}
    argv = [sys.executable, str(path), *args]
    if not _can_fork():
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Started(argv, None, popen, None, None)
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 (wait closes)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test
        code = 1
        try:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            code = _run_as_main(path, args, environment, cwd)
        except BaseException:
            traceback.print_exc(file=io.TextIOWrapper(os.fdopen(2, "wb", closefd=False)))
        finally:
            os._exit(code)
    return Started(argv, pid, None, out, err)


def run_script(
    script: str | Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`python <ROOT/script> *args` to the end: exit code (-N if killed by signal N), stdout,
    stderr."""
    return start_script(script, *args, env=env, cwd=cwd).wait(timeout)
