"""The README's commands: found in its text, and run in this process the way their scripts run.

- readme_commands(markdown): every `python ...`, `make ...`, `tensorboard ...` and
  `optuna-dashboard ...` command line
  of the code blocks (fenced, or indented by 4 spaces), and of inline code spans (a table cell
  that starts with `...` repeats the program of the command above it)
- run_script_inprocess / run_first_sweep_job: `python <script> <overrides>` (with `-m`: the
  sweep, launching its first job only) through Hydra's own run / multirun, its callbacks
  (preflight, run directories, sweep summary) and its job files, without a new interpreter
- compose_command: the config a command composes, without running anything
- exits_cleanly: a SystemExit (a one-line refusal) becomes a CommandFailed carrying the code
  and what the command printed to stderr
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import runpy
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import RunMode
from omegaconf import DictConfig

from helpers.config import CONF_DIR

PREFIXES = ("python ", "make ", "tensorboard ", "optuna-dashboard ")
CONTINUATION = "... "  # a table cell `... key=value` repeats the program of the row above


# ------------------------------------------------------------------ finding the commands


@dataclass(frozen=True)
class Command:
    text: str  # as written, without its trailing comment, continuation lines joined
    argv: tuple[str, ...]  # the words a shell passes (quotes removed)
    line: int  # 1-based line of the README where it starts
    context: str = ""  # the source line (for an inline command: its table row or sentence)
    also: tuple[int, ...] = field(default=(), compare=False)  # the same command, other lines

    @property
    def program(self) -> tuple[str, ...]:
        """`python train.py`, `make test`, `tensorboard`: the words before any argument."""
        return self.argv[:2] if self.argv[0] in ("python", "make") else self.argv[:1]

    @property
    def args(self) -> list[str]:
        return list(self.argv[len(self.program) :])


def strip_comment(line: str) -> str:
    """``line`` without a shell comment (a ``#`` outside quotes, at the start or after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _command(text: str, line: int, context: str) -> Command | None:
    text = strip_comment(" ".join(text.split()))
    if not text.startswith(PREFIXES):
        return None
    return Command(text=text, argv=tuple(shlex.split(text)), line=line, context=context)


def _code_lines(lines: Sequence[str]) -> Iterator[tuple[int, str, bool]]:
    """(index, text, in a code block) for every line; code-block text is dedented."""
    fence: str | None = None
    indented = False
    previous_blank = True
    for index, raw in enumerate(lines):
        line = raw.expandtabs(4)
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = None
            else:
                yield index, stripped, True
            previous_blank = not stripped
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            indented = False
            continue
        indent = len(line) - len(line.lstrip(" "))
        if stripped and indent >= 4 and (indented or previous_blank):
            indented = True  # an indented block cannot interrupt a paragraph
            yield index, stripped, True
        else:
            if stripped:
                indented = False
            yield index, line, False
        previous_blank = not stripped


def readme_commands(markdown: str) -> list[Command]:
    """Every command line of ``markdown`` in order, each distinct command once."""
    lines = markdown.splitlines()
    found: list[Command] = []
    pending: tuple[int, str] | None = None  # a code line ending in "\"
    last_inline: Command | None = None
    for index, text, code in _code_lines(lines):
        if code:
            if pending:
                start, head = pending
                index, text = start, f"{head} {text}"
                pending = None
            if text.endswith("\\"):
                pending = (index, text[:-1].rstrip())
                continue
            command = _command(text, index + 1, lines[index])
            if command:
                found.append(command)
            continue
        table_row = text.lstrip().startswith("|")
        if not table_row:
            last_inline = None
        for span in re.findall(r"`([^`]+)`", text):
            if span.startswith(CONTINUATION) and last_inline is not None:
                span = " ".join([*last_inline.program, span[len(CONTINUATION) :]])
            command = _command(span, index + 1, text.strip())
            if command:
                found.append(command)
                last_inline = command if table_row else None
    if pending:
        raise ValueError(f"README line {pending[0] + 1}: a `\\` continuation with no next line")
    unique: dict[tuple[str, ...], Command] = {}
    for command in found:
        first = unique.get(command.argv)
        if first is None:
            unique[command.argv] = command
        else:
            unique[command.argv] = Command(
                first.text, first.argv, first.line, first.context, (*first.also, command.line)
            )
    return list(unique.values())


# ------------------------------------------------------------------ running them in-process


class CommandFailed(AssertionError):
    """The command exited (a refusal): its exit code and what it printed to stderr."""

    def __init__(self, code: int | str | None, stderr: str) -> None:
        self.code, self.stderr = code, stderr
        super().__init__(f"exit code {code}; stderr ends with:\n{stderr[-3000:]}")

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


class _Tee(io.TextIOBase):
    def __init__(self, stream: Any) -> None:
        self.stream, self.buffer_ = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"


@contextlib.contextmanager
def exits_cleanly() -> Iterator[None]:
    """Run a command's code; its sys.exit(...) raises CommandFailed with its stderr."""
    tee = _Tee(sys.stderr)
    try:
        with contextlib.redirect_stderr(tee):
            yield
    except SystemExit as exit_:
        raise CommandFailed(exit_.code, tee.buffer_.getvalue()) from None


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    """Undo what Hydra's job logging does to the process's loggers (handlers, a log file)."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(v for v in manager.loggerDict.values())]
    saved = {
        id(logger): (logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled)
        for logger in loggers
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        for logger in [logging.getLogger(), *manager.loggerDict.values()]:
            if not isinstance(logger, logging.Logger):
                continue
            before = saved.get(id(logger))
            for handler in logger.handlers:
                if before is None or handler not in before[1]:
                    handler.close()
            if before is None:
                logger.handlers = []
            else:
                _, handlers, level, propagate, disabled = before
                logger.handlers, logger.level = handlers, level
                logger.propagate, logger.disabled = propagate, disabled


@cache
def script_main(script: Path) -> Any:
    """The undecorated ``main(cfg)`` of a Hydra script (train.py, eval.py, scripts/*.py)."""
    environment = dict(os.environ)
    try:  # (importing train.py extends PYTHONPATH for the processes it starts)
        namespace = runpy.run_path(str(script), run_name=f"readme_{script.stem}")
    finally:
        os.environ.clear()
        os.environ.update(environment)
    return namespace["main"].__wrapped__


@contextlib.contextmanager
def hydra_app(script: Path) -> Iterator[Hydra]:
    """Hydra set up as `python <script>` sets it up: job name from the file, configs in conf/."""
    GlobalHydra.instance().clear()
    search_path = create_config_search_path(str(CONF_DIR))
    hydra_config = HydraConfig.instance().cfg  # (a sweep's would make later runs "in a sweep")
    try:
        yield Hydra.create_main_hydra2(task_name=script.stem, config_search_path=search_path)
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = hydra_config


def compose_command(
    script: Path, config_name: str, overrides: Sequence[str], *, multirun: bool = False
) -> DictConfig:
    """The config `python <script> [-m] <overrides>` composes (nothing runs, nothing is written).

    Call it inside hydra_app(script) when the config is used with Hydra's config loader
    (a sweep's jobs); otherwise it opens its own.
    """
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    if GlobalHydra.instance().is_initialized():
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        return hydra.compose_config(config_name, list(overrides), mode, False)
    with hydra_app(script) as hydra:
        return hydra.compose_config(config_name, list(overrides), mode, False)


def run_script_inprocess(script: Path, config_name: str, overrides: Sequence[str]) -> JobReturn:
    """`python <script> <overrides>` in this process: Hydra's run, callbacks and job files."""
    with kept_logging(), hydra_app(script) as hydra, exits_cleanly():
        ret = hydra.run(config_name, script_main(script), list(overrides))
    return ret


class _FirstJobLauncher(BasicLauncher):
    """Hydra's in-process launcher, handed only the first job a sweeper asks for."""

    def __init__(self, configured: Any, returns: list[JobReturn]) -> None:
        super().__init__()
        self.configured, self.returns = configured, returns

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):  # type: ignore[override]
        if self.returns or not job_overrides:
            return []
        launched = super().launch(job_overrides[:1], initial_job_idx)
        self.returns.extend(launched)
        return launched


@dataclass
class SweepRun:
    returns: list[JobReturn]  # the one job launched
    launcher: str  # the class of the launcher the command configures (instantiated, not used)


@contextlib.contextmanager
def _first_job_only(returns: list[JobReturn], configured: list[str]) -> Iterator[None]:
    """Launch the first job only, and compose only it again before (the basic sweeper composes
    every job of a batch to validate it, which optimlab's preflight callback has just done)."""
    original = Plugins.instantiate_launcher
    validate = Sweeper.validate_batch_is_legal

    def instantiate(self: Plugins, hydra_context: Any, task_function: Any, config: Any) -> Any:
        launcher = original(
            self, hydra_context=hydra_context, task_function=task_function, config=config
        )
        configured.append(f"{type(launcher).__module__}.{type(launcher).__qualname__}")
        first = _FirstJobLauncher(launcher, returns)
        first.setup(hydra_context=hydra_context, task_function=task_function, config=config)
        return first

    def validate_first(self: Sweeper, batch: Sequence[Sequence[str]]) -> None:
        validate(self, batch[:1])

    Plugins.instantiate_launcher = instantiate  # type: ignore[method-assign]
    Sweeper.validate_batch_is_legal = validate_first  # type: ignore[method-assign]
    try:
        yield
    finally:
        Plugins.instantiate_launcher = original  # type: ignore[method-assign]
        Sweeper.validate_batch_is_legal = validate  # type: ignore[method-assign]


def run_first_sweep_job(script: Path, config_name: str, overrides: Sequence[str]) -> SweepRun:
    """`python <script> -m <overrides>` in this process, launching only the sweep's first job.

    Everything else is Hydra's multirun: the callbacks (every job's preflight, the sweep
    directory, the summary at the end), the configured sweeper (basic, or Optuna with its
    study), the configured launcher instantiated (then its first job runs here, in-process).
    """
    returns: list[JobReturn] = []
    configured: list[str] = []
    first_job_only = _first_job_only(returns, configured)
    with kept_logging(), hydra_app(script) as hydra, exits_cleanly(), first_job_only:
        hydra.multirun(config_name, script_main(script), list(overrides))
    return SweepRun(returns, configured[0] if configured else "")


def output_dir(ret: JobReturn) -> Path:
    return Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
