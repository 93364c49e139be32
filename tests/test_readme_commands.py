"""Every command the README shows still works: each is run here, small, or checked by a rule.

The commands come from README.md when the tests are collected (helpers.readme finds them in
its code blocks and inline code), so a command added to the README is covered at once, and a
command no rule below handles fails. RULES says, for the commands that cannot run here (make,
tensorboard, the benchmark, a GPU or DDP run), what is checked instead and why. The others run
in this process, the way their script runs them (Hydra's run or multirun, its callbacks, its
job files), twice over:

1. as written: it composes and passes the preflight with the README's own values (a sweep:
   every job; an Optuna search: every choice of its search space), on the real data sizes;
2. small: the same overrides with the tiny Fashion-MNIST and a 2-step epoch appended (they win
   over the README's values of the same keys; SHRINK fits warm-ups and milestones into it),
   writing under a temporary outputs/; a sweep launches its first job, a search one trial.

`<run>`, `<sweep>` and the other placeholders are a sweep (and its first job) made by the
`made` fixture; `outputs` is that temporary outputs/ directory.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate

from helpers import ROOT, fast_overrides, tiny_fashion_overrides
from helpers.readme import (
    Command,
    CommandFailed,
    compose_command,
    exits_cleanly,
    hydra_app,
    output_dir,
    readme_commands,
    run_first_sweep_job,
    run_script_inprocess,
)
from helpers.tb import read_scalars
from optimlab.runner.cli import check_group_choices
from optimlab.runner.preflight import Preflight
from optimlab.runner.result_file import FINISHED, read_result

README = ROOT / "README.md"
TRAIN, EVAL = ROOT / "train.py", ROOT / "eval.py"
LR_FIND = ROOT / "scripts" / "lr_find.py"
CONF = ROOT / "conf"

# README values that cannot fit the small run (1 epoch of 2 optimizer steps): the as-written
# check keeps them, the small run gets these
SHRINK = {
    "scheduler.warmup_steps": "1",
    "scheduler.warmup_epochs": "0",
    "scheduler.milestones": "[1]",
}


# ------------------------------------------------------------------ the workspace


@dataclass
class Made:
    data: Path  # the tiny Fashion-MNIST (stands for /path/to/fashion-mnist)
    outputs: Path  # paths.log_dir of every small run (stands for outputs)
    scratch: Path  # paths.log_dir of the as-written checks (they write nothing)
    no_data: Path  # paths.data_dir of the as-written checks: nothing there
    sweep: Path  # <sweep dir>; its name is <sweep> and <timestamp>
    run: Path  # <run dir>, <run>: the sweep's first job (1 epoch, checkpoints, events)

    def argv(self, command: Command, *, as_written: bool = False) -> list[str]:
        """The command's words with the placeholders replaced by what was made here (as
        written: a data directory of full size, i.e. none, so the data comes from the
        system's copy or a download, which the preflight does not start)."""
        text = command.text
        for placeholder, value in {
            "<run dir>": self.run,
            "<run>": self.run,
            "<sweep dir>": self.sweep,
            "<sweep>": self.sweep.name,
            "<timestamp>": self.sweep.name,
            "/path/to/fashion-mnist": self.no_data if as_written else self.data,
        }.items():
            text = text.replace(placeholder, str(value))
        left = re.search(r"<[^<>]+>", text)
        assert not left, f"{left.group(0)} in {command.text!r} has no stand-in (Made.argv)"
        outputs = r"(^|=)outputs(?=/|$)"
        return [re.sub(outputs, rf"\g<1>{self.outputs}", word) for word in shlex.split(text)]

    def small_train(self) -> list[str]:
        fast = [o for o in fast_overrides(self.data) if not o.startswith("trainer.max_epochs=")]
        return [
            *fast,
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=2",
            "trainer.limit_test_batches=1",
            f"paths.log_dir={self.outputs}",
        ]

    def small_eval(self) -> list[str]:
        return [
            *tiny_fashion_overrides(self.data),
            "trainer.accelerator=cpu",
            "trainer.limit_test_batches=1",
            f"paths.log_dir={self.outputs}",
        ]

    def sandbox(self, overrides: list[str]) -> list[str]:
        """Where an as-written check points paths (unless the command sets them itself)."""
        given = {o.split("=", 1)[0] for o in overrides}
        extra = {"paths.log_dir": self.scratch, "paths.data_dir": self.no_data}
        return [f"{key}={value}" for key, value in extra.items() if key not in given]


def interrupted_sweep() -> list[str]:
    """The sweep the README's `hydra.sweep.dir=<sweep dir>` command continues (its overrides
    without that one), so that the sweep made here is the one it continues."""
    for command in COMMANDS:
        if command.program == ("python", "train.py") and "hydra.sweep.dir=<" in command.text:
            text = re.sub(r"\s*hydra\.sweep\.dir=<[^<>]+>", "", command.text)
            return split_flags(shlex.split(text)[2:])[1]
    return ["optimizer=sgd,adam", "scheduler=none,cosine_warmup"]


@pytest.fixture(scope="module")
def made(tiny_fashion_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Made:
    """A sweep interrupted after its first job: `python train.py -m <interrupted_sweep()>`,
    small."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("outputs", "scratch", "no_data"):
        (root / name).mkdir()
    ws = Made(tiny_fashion_dir, root / "outputs", root / "scratch", root / "no_data", root, root)
    sweep = run_first_sweep_job(TRAIN, "train", [*interrupted_sweep(), *ws.small_train()])
    (job,) = sweep.returns
    ws.run = output_dir(job)
    ws.sweep = ws.run.parent
    assert ws.sweep.parent == ws.outputs / "train" / "multiruns"
    assert (ws.run / "checkpoints" / "last.ckpt").is_file()
    return ws


@dataclass
class Ctx:
    made: Made
    capsys: pytest.CaptureFixture[str]

    def stdout(self) -> str:
        return self.capsys.readouterr().out


# ------------------------------------------------------------------ checks shared by rules


def split_flags(args: list[str]) -> tuple[bool, list[str]]:
    """(-m given, the overrides); any other flag is not something these rules know."""
    overrides = [a for a in args if a not in ("-m", "--multirun")]
    flags = [a for a in overrides if a.startswith("-")]
    assert not flags, f"flags {flags} are not handled by test_readme_commands.py"
    return len(overrides) != len(args), overrides


def is_optuna(cfg) -> bool:
    return "optuna" in str(cfg.hydra.sweeper.get("_target_", "")).lower()


def check_as_written(script: Path, config_name: str, overrides: list[str], multirun: bool, made):
    """The command as the README writes it composes and passes the preflight (a sweep: every
    job; a search: every choice and both ends of every range of its space). Returns the
    composed config."""
    with hydra_app(script), exits_cleanly():
        cfg = compose_command(
            script, config_name, [*overrides, *made.sandbox(overrides)], multirun=multirun
        )
        if multirun:
            Preflight().on_multirun_start(cfg)
        else:
            Preflight().on_run_start(cfg)
    return cfg


def check_finished(ret: JobReturn, made: Made) -> Path:
    """A small training run ended well and wrote what a run writes, under outputs."""
    assert ret.status == JobStatus.COMPLETED, ret.return_value
    run_dir = output_dir(ret)
    assert run_dir.is_relative_to(made.outputs), run_dir  # nothing lands in the repository
    result = read_result(run_dir)
    assert result and result["status"] == FINISHED, result
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    if ret.cfg.get("logger"):
        assert "train/loss_step" in read_scalars(run_dir / "tensorboard")
    if (ret.cfg.get("callbacks") or {}).get("model_checkpoint"):
        assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    return run_dir


def shrink(overrides: list[str]) -> list[str]:
    keys = {o.split("=", 1)[0] for o in overrides}
    return [f"{key}={value}" for key, value in SHRINK.items() if key in keys]


# ------------------------------------------------------------------ the rules


def check_train(command: Command, ctx: Ctx) -> None:
    """train.py: as written, then small in-process (a sweep: its first job; a search: one
    trial of a study under outputs/optuna; `resume=`: one more epoch of <run dir>)."""
    made = ctx.made
    multirun, written = split_flags(made.argv(command, as_written=True)[2:])
    with exits_cleanly():
        check_group_choices(written, CONF)  # what train.py does before Hydra starts
    cfg = check_as_written(TRAIN, "train", written, multirun, made)
    overrides = split_flags(made.argv(command)[2:])[1]

    small = [*overrides, *shrink(overrides), *made.small_train()]
    if "trainer=gpu" in overrides:  # (only with CUDA: check_gpu) on the GPU, as written
        small.remove("trainer.accelerator=cpu")
    resume = cfg.get("resume")
    if resume:
        small.append("trainer.max_epochs=2")  # <run dir> ran 1 epoch: one more
    if not multirun:
        run_dir = check_finished(run_script_inprocess(TRAIN, "train", small), made)
        if resume:
            assert re.fullmatch(rf"{re.escape(Path(resume).name)}_resumed(-\d+)?", run_dir.name)
            assert run_dir.parent == Path(resume).parent
            before = torch.load(Path(resume) / "checkpoints" / "last.ckpt", weights_only=False)
            after = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
            assert after["global_step"] == 2 * before["global_step"]  # one more epoch
        assert "optimlab run finished" in ctx.stdout()
        return

    if is_optuna(cfg):
        small.append("hydra.sweeper.n_trials=1")
    sweep_dir = Path(str(cfg.hydra.sweep.dir))
    continuing = sweep_dir == made.sweep  # hydra.sweep.dir=<sweep dir>: the sweep made here
    done_before = [p for p in sweep_dir.iterdir() if read_result(p)] if continuing else []
    sweep = run_first_sweep_job(TRAIN, "train", small)
    assert sweep.launcher == cfg.hydra.launcher._target_
    (job,) = sweep.returns
    run_dir = check_finished(job, made)
    out = ctx.stdout()
    if continuing:  # its first job finished before: not run again
        assert run_dir in done_before and f"{run_dir} already finished: skipped" in out
    assert (run_dir.parent / "summary.csv").is_file() and "summary.csv, summary.md" in out
    if is_optuna(cfg):
        assert list((made.outputs / "optuna").glob("*.db")), "no Optuna study was stored"


def check_gpu(command: Command, ctx: Ctx) -> None:
    """trainer=gpu: on a machine without CUDA, refused in one line (exit 2) naming the GPU;
    with one, run like any train.py command."""
    if torch.cuda.is_available():
        check_train(command, ctx)
        return
    multirun, overrides = split_flags(ctx.made.argv(command, as_written=True)[2:])
    with pytest.raises(CommandFailed) as refused:
        check_as_written(TRAIN, "train", overrides, multirun, ctx.made)
    assert refused.value.code == 2
    (line,) = refused.value.error_lines
    assert "GPU" in line and "Traceback" not in refused.value.stderr


def check_ddp(command: Command, ctx: Ctx) -> None:
    """trainer=ddp: as written only; the 2-process run is tests/test_ddp.py's."""
    multirun, overrides = split_flags(ctx.made.argv(command, as_written=True)[2:])
    check_as_written(TRAIN, "train", overrides, multirun, ctx.made)
    others = [p for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name]
    assert any('"trainer=ddp"' in p.read_text() for p in others), "no test runs trainer=ddp"


def check_eval(command: Command, ctx: Ctx) -> None:
    """eval.py: as written (the checkpoint and the data are there), then small."""
    made = ctx.made
    multirun, written = split_flags(made.argv(command, as_written=True)[2:])
    with exits_cleanly():
        check_group_choices(written, CONF)
    check_as_written(EVAL, "eval", written, multirun, made)
    overrides = split_flags(made.argv(command)[2:])[1]
    ret = run_script_inprocess(EVAL, "eval", [*overrides, *made.small_eval()])
    assert ret.status == JobStatus.COMPLETED, ret.return_value
    out = ctx.stdout()
    assert "tested " in out and "test/acc=" in out


def check_hydra_script(command: Command, ctx: Ctx) -> None:
    """scripts/plot_schedules.py, scripts/trajectories.py: cheap, so run as written (outputs
    under outputs/). A README table row's 6-decimal numbers must be what the run prints."""
    made = ctx.made
    script = ROOT / command.argv[1]
    multirun, overrides = split_flags(made.argv(command)[2:])
    assert not multirun
    ret = run_script_inprocess(script, script.stem, [*overrides, f"paths.log_dir={made.outputs}"])
    assert ret.status == JobStatus.COMPLETED, ret.return_value
    run_dir = output_dir(ret)
    assert run_dir.is_relative_to(made.outputs)
    written = {p.suffix for p in run_dir.iterdir()}
    assert {".png", ".csv"} <= written, sorted(run_dir.iterdir())
    out = ctx.stdout()
    if command.context.startswith("|"):
        cells = [c.strip() for c in command.context.strip("|").split("|")]
        shown = next(i for i, c in enumerate(cells) if "`" in c)  # the command's cell
        for number in re.findall(r"-?\d+\.\d{6}", " ".join(cells[shown + 1 :])):
            assert number in out, f"the README says {number}; the run printed:\n{out}"


def check_lr_find(command: Command, ctx: Ctx) -> None:
    """scripts/lr_find.py: as written it composes and passes its own preflight (the range
    test's keys, then train.py's checks); small: the tiny data, 2-batch epochs, 10 steps."""
    made = ctx.made
    multirun, written = split_flags(made.argv(command, as_written=True)[2:])
    assert not multirun
    with exits_cleanly():
        check_group_choices(written, CONF)
    with hydra_app(LR_FIND), exits_cleanly():
        cfg = compose_command(LR_FIND, "lr_find", [*written, *made.sandbox(written)])
        instantiate(cfg.hydra.callbacks.preflight).on_run_start(cfg)
    overrides = split_flags(made.argv(command)[2:])[1]
    ret = run_script_inprocess(
        LR_FIND, "lr_find", [*overrides, *made.small_train(), "num_steps=10"]
    )
    assert ret.status == JobStatus.COMPLETED, ret.return_value
    run_dir = output_dir(ret)
    assert run_dir.is_relative_to(made.outputs / "lr_find")
    assert {"lr_find.png", "lr_find.csv"} <= {p.name for p in run_dir.iterdir()}
    assert ctx.stdout().splitlines()[-1].startswith("suggested_lr=")


def check_compare_runs(command: Command, ctx: Ctx) -> None:
    """scripts/compare_runs.py <sweep>: its main, on the sweep made here."""
    words = ctx.made.argv(command)
    main = _script_main("compare_runs")
    assert main(words[2:]) == 0
    out = ctx.stdout()
    directory = Path(next(w for w in words[2:] if not w.startswith("-")))
    assert "| run | overrides |" in out
    assert all((directory / f"comparison{ext}").is_file() for ext in (".csv", ".md", ".png"))


def check_study_report(command: Command, ctx: Ctx) -> None:
    """scripts/study_report.py <studies>: its main, on small studies written where the command
    reads them (test_study.py runs a real study; these are made by hand, to be fast)."""
    from test_study import _toy_study

    words = ctx.made.argv(command)
    studies = [Path(w) for w in words[2:] if w.startswith(str(ctx.made.outputs))]
    out = Path(words[words.index("--out") + 1]) if "--out" in words else studies[0]
    for study in studies:
        if study != out and not study.exists():
            _toy_study(study)
    assert _script_main("study_report")(words[2:]) == 0
    report = (out / "study.md").read_text()
    assert "variant at its chosen learning rate" in report
    if len([s for s in studies if s != out]) > 1:
        assert "## Performance profile" in report and (out / "profile.png").is_file()


def _script_main(name: str) -> Callable[[list[str]], int]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / f"scripts/{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def check_tensorboard(command: Command, ctx: Ctx) -> None:
    """tensorboard --logdir DIR: a server, not run; the venv has it and DIR holds runs it reads."""
    words = ctx.made.argv(command)
    assert words[1] == "--logdir" and len(words) == 3, words
    assert (Path(sys.executable).parent / "tensorboard").is_file(), "tensorboard not in the venv"
    scalars = set(read_scalars(Path(words[2])))
    missing = {"train/loss_step", "val/acc", "train/lr"} - scalars
    assert not missing, f"{words[2]}: no TensorBoard scalars {sorted(missing)} there"


def check_optuna_dashboard(command: Command, ctx: Ctx) -> None:
    """optuna-dashboard sqlite:///outputs/optuna/<study>.db: a server; started here on the
    study a search wrote, it must list that study (its page: docs/optuna_dashboard.png)."""
    words = ctx.made.argv(command)
    url = words[1].replace("sqlite:///outputs/", f"sqlite:///{ctx.made.outputs}/")
    database = Path(url.removeprefix("sqlite:///"))
    if not database.exists():  # the README's search ran in another pytest worker
        search = ["hparams_search=sgd_tpe", "hydra.sweeper.n_trials=1", *ctx.made.small_train()]
        run_first_sweep_job(TRAIN, "train", search)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    program = Path(sys.executable).with_name(words[0])
    server = subprocess.Popen(
        [str(program), url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        listing = _get_when_up(f"http://127.0.0.1:{port}/api/studies", server)
    finally:
        server.terminate()
        server.wait(30)
    assert database.stem in listing, listing[:500]


def _get_when_up(address: str, server: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        try:
            with urllib.request.urlopen(address, timeout=5) as response:
                return response.read().decode()
        except OSError:
            assert time.monotonic() < deadline, f"{address} did not answer"
            time.sleep(0.3)


def _make(target: str, *variables: str) -> list[str]:
    """The recipe `make <target>` runs (make -n prints it without running it)."""
    assert shutil.which("make"), "make is not installed"
    # not the variables of a `make test ARGS=...` this test may be running under
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "ARGS")}
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, *variables],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("make")]


def _ci_runs(line: str) -> bool:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    return any(strip.split("#")[0].strip() == line for strip in ci)


def check_make(command: Command, ctx: Ctx) -> None:
    """make setup | lint | test: the target exists (make -n), CI runs it (.ci/run);
    make lock | clean-venv: the target exists and does what the README says."""
    target, variables = command.argv[1], list(command.argv[2:])
    recipe = "\n".join(_make(target, *variables))
    if target in ("setup", "lint", "test"):
        assert _ci_runs(f"make {target}"), f".ci/run does not run make {target}"
    if target == "test":
        assert "-m pytest" in recipe
    if target == "lint":
        assert "ruff check" in recipe and "ruff format --check" in recipe
        assert (Path(sys.executable).parent / "ruff").is_file()
    if target == "lock":
        assert "pip freeze" in recipe and "> requirements.lock" in recipe
        assert (ROOT / "scripts" / "mark_platform_pins.py").is_file()
    if target == "clean-venv":
        assert recipe.strip() == "rm -rf .venv"


def check_make_train(command: Command, ctx: Ctx) -> None:
    """make train [ARGS=...]: the set-up half is make setup (CI runs it); the rest is
    `python train.py $(ARGS)`, checked as that README command."""
    variables = list(command.argv[2:])
    last = _make("train", *variables)[-1]
    args = next((v.split("=", 1)[1] for v in variables if v.startswith("ARGS=")), "")
    assert last.split() == [".venv/bin/python", "train.py", *shlex.split(args)], last
    assert _ci_runs("make setup")
    text = f"python train.py {args}".strip()
    if tuple(shlex.split(text)) not in {c.argv for c in COMMANDS}:  # else that case runs it
        check_train(Command(text, tuple(shlex.split(text)), command.line), ctx)


def check_benchmark(command: Command, ctx: Ctx) -> None:
    """benchmarks/: minutes of timing; benchmarks/tests covers it, and CI runs those."""
    if not (ROOT / "benchmarks").is_dir():
        pytest.skip("benchmarks/ was deleted, as the README allows a project to do")
    assert (ROOT / command.argv[1]).is_file(), f"{command.argv[1]} does not exist"
    assert list((ROOT / "benchmarks" / "tests").glob("test_*.py"))
    assert any(
        "pytest" in line and "benchmarks" in line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
    )


@dataclass(frozen=True)
class Rule:
    pattern: str  # matched against the command's text
    check: Callable[[Command, Ctx], None]
    why: str


RUNS = "runs here, in-process: as written, then small"

# The first matching rule handles a command; a README command that none matches fails.
RULES = [
    # -- commands that cannot run here, and what is checked instead
    Rule(
        r"make (setup|lint|test)(\s|$)",
        check_make,
        "CI itself runs them (.ci/run); make test is the suite this file is part of",
    ),
    Rule(
        r"make (lock|clean-venv)(\s|$)",
        check_make,
        "lock needs the network and a throwaway venv; clean-venv deletes the venv in use",
    ),
    Rule(
        r"make train(\s|$)",
        check_make_train,
        "pip-installs before it trains: the train half is run as python train.py $(ARGS)",
    ),
    Rule(r"tensorboard --logdir ", check_tensorboard, "a server that runs until stopped"),
    Rule(
        r"optuna-dashboard sqlite:///",
        check_optuna_dashboard,
        "a server that runs until stopped: started, asked for its studies, stopped",
    ),
    Rule(
        r"python benchmarks/",
        check_benchmark,
        "minutes of timing; benchmarks/tests are its tests (deleted with it)",
    ),
    Rule(
        r"python train\.py .*\btrainer=gpu\b",
        check_gpu,
        "without CUDA the command must be refused, in one line, exit 2",
    ),
    Rule(
        r"python train\.py .*\btrainer=ddp\b",
        check_ddp,
        "Lightning starts rank 1 by rerunning the command line (here: pytest); "
        "tests/test_ddp.py runs it as 2 processes",
    ),
    # -- commands that run here, small
    Rule(r"python train\.py(\s|$)", check_train, RUNS),
    Rule(r"python eval\.py(\s|$)", check_eval, RUNS),
    Rule(r"python scripts/(plot_schedules|trajectories)\.py(\s|$)", check_hydra_script, RUNS),
    Rule(r"python scripts/compare_runs\.py(\s|$)", check_compare_runs, RUNS),
    Rule(r"python scripts/lr_find\.py(\s|$)", check_lr_find, RUNS),
    Rule(r"python scripts/study_report\.py(\s|$)", check_study_report, RUNS),
]


def rule_for(command: Command) -> Rule | None:
    return next((r for r in RULES if re.match(r.pattern, command.text)), None)


def run_command(command: Command, ctx: Ctx) -> None:
    rule = rule_for(command)
    assert rule is not None, (
        f"README line {command.line}: no rule in test_readme_commands.py handles "
        f"{command.text!r}; add one (run it small, or say what is checked instead and why)"
    )
    rule.check(command, ctx)


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


@pytest.mark.slow  # about 25 s on 2 CPU cores, most of it in-process runs of 2 steps
@pytest.mark.parametrize("command", COMMANDS, ids=[f"L{c.line}:{c.text}" for c in COMMANDS])
def test_readme_command_works(command: Command, made: Made, capsys) -> None:
    run_command(command, Ctx(made, capsys))


def test_the_readme_has_its_commands_and_every_rule_is_used() -> None:
    programs = {c.program for c in COMMANDS}
    assert {("python", "train.py"), ("python", "eval.py"), ("make", "test")} <= programs
    unused = [r.pattern for r in RULES if not any(rule_for(c) is r for c in COMMANDS)]
    assert not unused, f"rules no README command uses (remove them): {unused}"


# ------------------------------------------------------------------ the checks can fail

FAKE_README = """\
# fake

Some prose with `python train.py optimizer=adam` inline.

    make test     # run the tests
    python train.py -m optimizer=sgd,adam \\
        scheduler=none   # a sweep

```bash
python scripts/trajectories.py optimizer=sgd  # fenced
```

| demo | command | end |
| --- | --- | --- |
| a | `python scripts/trajectories.py optimizer=sgd optimizer.lr=0.4` | (1.0) |
| b | `... optimizer=momentum` | (2.0) |

A paragraph
    python not_code.py (an indented line inside a paragraph is not a code block)

    python train.py optimizer=adam
"""


def test_the_parser_finds_blocks_fences_continuations_and_table_rows() -> None:
    found = readme_commands(FAKE_README)
    assert [c.text for c in found] == [
        "python train.py optimizer=adam",
        "make test",
        "python train.py -m optimizer=sgd,adam scheduler=none",
        "python scripts/trajectories.py optimizer=sgd",
        "python scripts/trajectories.py optimizer=sgd optimizer.lr=0.4",
        "python scripts/trajectories.py optimizer=momentum",
    ]
    assert found[0].also == (21,)  # the same command again at the end: run once
    assert found[2].line == 6 and found[2].args == ["-m", "optimizer=sgd,adam", "scheduler=none"]
    assert found[5].context.startswith("| b |")
    quoted = readme_commands("    python train.py 'a=[1,2]' # x # y\n")
    assert quoted[0].argv == ("python", "train.py", "a=[1,2]")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("python train.py optimizer=adamm", "optimizer=adamm is not an option"),
        ("python train.py optimizer.lrr=0.1", "lrr"),
        ("python train.py -m optimizer=sgd,adamm", "adamm"),
        ("python train.py scheduler=cosine_warmup scheduler.warmup_steps=999999", "warm"),
        ("python train.py -m optimizer=sgd,adam optimizer.lr=-1", "optimizer.lr"),
        ("python eval.py ckpt_path=<run>/checkpoints/nope.ckpt", "does not exist"),
        ("python scripts/lr_find.py start_lr=1 end_lr=0.1", "must be below end_lr"),
        ("python train.py --cfg job", "flags ['--cfg'] are not handled"),
        ("python train.py resume=<no such thing>", "has no stand-in"),
        ("python frobnicate.py", "no rule"),
        ("make frobnicate", "no rule"),
        ("make setup-typo", "no rule"),
        ("python benchmarks/nope.py", "does not exist"),
        ("tensorboard --logdir outputs/nowhere", "no TensorBoard scalars"),
    ],
)
def test_a_broken_readme_command_fails(line: str, expected: str, tmp_path: Path, capsys) -> None:
    """Nothing here trains: each fails at the check a user would hit first."""
    (command,) = readme_commands(f"    {line}\n")
    run = tmp_path / "sweep" / "0_run"
    (run / "checkpoints").mkdir(parents=True)
    made = Made(tmp_path, tmp_path / "out", tmp_path / "scratch", tmp_path, run.parent, run)
    with pytest.raises(Exception) as failed:  # (the message is checked)
        run_command(command, Ctx(made, capsys))
    assert expected in str(failed.value) + capsys.readouterr().err


def test_a_refusal_comes_back_with_its_exit_code_and_line() -> None:
    with pytest.raises(CommandFailed) as failed, exits_cleanly():
        print("error: one line", file=sys.stderr)
        raise SystemExit(2)
    assert failed.value.code == 2 and failed.value.error_lines == ["error: one line"]


def test_a_wrong_number_in_a_table_row_fails(tmp_path: Path, capsys) -> None:
    """The trajectories table's end points are checked against what the command prints."""
    row = (
        "| gd | `python scripts/trajectories.py optimizer=sgd optimizer.lr=0.4` | (-0.943468, 0) |"
    )
    (command,) = readme_commands(row + "\n")
    made = Made(tmp_path, tmp_path, tmp_path, tmp_path, tmp_path, tmp_path)
    with pytest.raises(AssertionError, match=r"the README says -0\.943468"):
        run_command(command, Ctx(made, capsys))
