"""Run-folder integrity: the experiment loop, locks, checkpoint digests, metrics, signals.

Every test drives a tiny synthetic experiment (``tiny_walk``, written below into
a temporary folder), not a real one, so that the whole file takes seconds: a
random walk of ``size`` float32 coordinates whose increments come from a
NumPy generator seeded by ``fold_in(key, chunk.start)``, so that any two runs
with one seed are bit-identical whatever their interruptions.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from statjax.cli import main
from statjax.config import ExperimentConfig
from statjax.runs import (
    CHECKPOINT_DIR,
    LOCK_FILE,
    METRICS_FILE,
    CheckpointWarning,
    ResumeError,
    Run,
    RunLockedError,
    create_run,
    load_checkpoint,
    open_run,
    read_config,
)

MODULE = """
import dataclasses
import time

import jax
import numpy as np

from statjax.config import ConfigError, ExperimentConfig, setting

CRASH_AT = None  # a test sets a chunk start here to simulate a crash there
REQUIRES = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    num_steps: int = setting(40, ge=1)
    log_every: int = setting(5, ge=1)
    size: int = setting(4096, ge=1)
    pause: float = setting(0.0, ge=0, help="seconds of sleep per chunk (to be caught running)")

    def validate(self):
        if self.num_steps % self.log_every:
            expected = f"a multiple of log_every ({self.log_every})"
            raise ConfigError("num_steps", self.num_steps, expected)


def run(config, run):
    def step_fn(state, chunk):
        if chunk.start == CRASH_AT:
            raise RuntimeError("simulated crash")
        time.sleep(config.pause)
        seed = jax.random.key_data(jax.random.fold_in(state["key"], chunk.start))
        rng = np.random.default_rng(np.asarray(seed).tolist())
        x = np.asarray(state["x"]) + chunk.length * rng.standard_normal(config.size, np.float32)
        return {"key": state["key"], "x": x}, {"mean": float(x.mean())}

    state = {"key": jax.random.key(config.seed), "x": np.zeros(config.size, np.float32)}
    with run.timed("loop"):
        state = run.loop(state, step_fn, config.num_steps, log_every=config.log_every)
    x = np.asarray(state["x"], np.float64)
    return {"mean": x.mean(), "mean_square": (x**2).mean()}
"""

CONFIG = """\
name: tiny
experiment: tiny_walk
seed: 5
checkpoint_every: 10
num_steps: 40
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A folder with ``tiny_walk.py`` and ``tiny.yaml``, importable while the tests run."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "tiny_walk.py").write_text(MODULE)
    (folder / "tiny.yaml").write_text(CONFIG)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("tiny_walk", None)


@pytest.fixture(scope="module")
def reference(study, tmp_path_factory):
    """The uninterrupted run's folder."""
    output = tmp_path_factory.mktemp("reference")
    assert main(["run", str(study / "tiny.yaml"), "--quiet", "--output-dir", str(output)]) == 0
    return _only_run_dir(output)


@pytest.fixture
def crash_at(study, monkeypatch):
    import tiny_walk

    def set_crash(step):
        monkeypatch.setattr(tiny_walk, "CRASH_AT", step)

    return set_crash


def _only_run_dir(output: Path) -> Path:
    (run_dir,) = (output / "tiny").iterdir()
    return run_dir


def _run_new(study: Path, output: Path) -> int:
    return main(["run", str(study / "tiny.yaml"), "--quiet", "--output-dir", str(output)])


def _resume(run_dir: Path) -> int:
    return main(["run", "--resume", str(run_dir), "--quiet"])


def _assert_same_results(run_dir: Path, reference: Path) -> None:
    for name in ("summary.json", METRICS_FILE):
        assert (run_dir / name).read_text() == (reference / name).read_text(), name
    final, expected = load_checkpoint(run_dir), load_checkpoint(reference)
    assert final.step == expected.step
    for value, other in zip(
        jax.tree_util.tree_leaves(final.state),
        jax.tree_util.tree_leaves(expected.state),
        strict=True,
    ):
        assert np.array_equal(np.asarray(value), np.asarray(other))


def _steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in (run_dir / CHECKPOINT_DIR).iterdir() if p.name.isdigit())


def _largest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _finished_then_unfinished(study: Path, output: Path) -> Path:
    """A finished run with its summary removed: as if killed just after its last checkpoint."""
    assert _run_new(study, output) == 0
    run_dir = _only_run_dir(output)
    (run_dir / "summary.json").unlink()
    return run_dir


# ------------------------------------------------------------------ the loop


def test_loop_resumes_after_a_crash_to_identical_results(
    study, reference, crash_at, tmp_path, capsys
):
    """Crash at step 25 (metrics logged to 25, checkpoint at 20), resume: the same files."""
    crash_at(25)
    assert _run_new(study, tmp_path) == 1
    run_dir = _only_run_dir(tmp_path)
    assert "keeps its last checkpoint, step 20" in capsys.readouterr().err
    with open_run(run_dir, quiet=True) as run:
        assert [record["step"] for record in run.metrics()][-1] == 25
    crash_at(None)
    assert _resume(run_dir) == 0
    _assert_same_results(run_dir, reference)
    assert [json.loads(line)["step"] for line in (run_dir / METRICS_FILE).open()] == list(
        range(5, 45, 5)
    )
    assert set(json.loads((run_dir / "timings.json").read_text())) == {"loop"}
    assert "loop" not in (run_dir / "summary.json").read_text()


def test_crash_before_the_first_checkpoint_says_so(study, crash_at, tmp_path, capsys):
    crash_at(5)
    assert _run_new(study, tmp_path) == 1
    assert "has no checkpoint yet" in capsys.readouterr().err


# ------------------------------------------------------------------ checkpoints


def test_a_flipped_byte_in_the_newest_step_is_refused_and_rewritten(study, reference, tmp_path):
    run_dir = _finished_then_unfinished(study, tmp_path)
    assert _steps(run_dir) == [30, 40]
    damaged = _largest_file(run_dir / CHECKPOINT_DIR / "40")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))

    # zstd has no checksum here, so only the digest sees it (the silent wrong resume).
    with pytest.warns(CheckpointWarning, match=r"step 40 is damaged \(its arrays differ from"):
        assert _resume(run_dir) == 0
    _assert_same_results(run_dir, reference)
    assert _steps(run_dir) == [30, 40]
    run = open_run(run_dir, quiet=True)  # both steps intact now: restore reads step 40 quietly
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        assert run.restore_checkpoint(_template()).step == 40
    run.close()


def test_a_truncated_newest_step_resumes(study, reference, tmp_path):
    run_dir = _finished_then_unfinished(study, tmp_path)
    damaged = _largest_file(run_dir / CHECKPOINT_DIR / "40")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.warns(CheckpointWarning, match="step 40 is damaged"):
        assert _resume(run_dir) == 0
    _assert_same_results(run_dir, reference)


# orbax leaves a reader coroutine of the failed restore for the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_every_step_damaged_is_a_short_message(study, tmp_path, capsys):
    run_dir = _finished_then_unfinished(study, tmp_path)
    for step in (30, 40):
        damaged = _largest_file(run_dir / CHECKPOINT_DIR / str(step))
        damaged.write_bytes(b"")
    assert _resume(run_dir) == 2
    err = capsys.readouterr().err
    assert "every checkpoint is damaged" in err and "step 30" in err and "step 40" in err
    assert len(err.splitlines()) <= 2 and len(err) < 1000, err
    assert "changed" not in err


def test_a_damaged_metadata_digit_is_refused(study, tmp_path):
    run_dir = _finished_then_unfinished(study, tmp_path)
    (meta,) = (run_dir / CHECKPOINT_DIR / "40" / "meta").glob("metadata")
    text = meta.read_text()
    meta.write_text(text.replace('"step": 40', '"step": 41'))
    run = open_run(run_dir, quiet=True)
    with pytest.warns(CheckpointWarning, match="metadata differs from its SHA-256 digest"):
        assert run.restore_checkpoint(_template()).step == 30
    assert _steps(run_dir) == [30]
    run.close()


def _template():
    return {"key": jax.random.key(5), "x": np.zeros(4096, np.float32)}


# ------------------------------------------------------------------ metrics


def test_only_a_torn_last_metrics_line_is_forgiven(study, tmp_path):
    run_dir = _finished_then_unfinished(study, tmp_path)
    path = run_dir / METRICS_FILE
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines) + '{"step": 45, "me')  # a kill in the middle of a write
    run = open_run(run_dir, quiet=True)
    assert [record["step"] for record in run.metrics()] == list(range(5, 45, 5))
    assert run.restore_checkpoint(_template()).step == 40
    assert path.read_text() == "".join(lines)  # the torn line is cut
    run.close()

    path.write_text("".join(lines[:3]) + '{"step": 20, "mean": 0.1\n' + "".join(lines[4:]))
    run = open_run(run_dir, quiet=True)
    with pytest.raises(ResumeError, match="line 4 of 8 is damaged"):
        run.restore_checkpoint(_template())
    run.close()
    assert "line 4 of 8 is damaged" in _cli_error(run_dir)


def _cli_error(run_dir: Path) -> str:
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert _resume(run_dir) == 2
    return err.getvalue()


# ------------------------------------------------------------------ locks and signals


def test_a_second_process_on_a_folder_refuses_and_sigterm_exits_cleanly(study, reference, tmp_path):
    """One `--resume` runs in a subprocess; a second one at the same time exits 2 naming it.

    Then SIGTERM stops the first (exit 143, lock released), and a resume finishes
    the run: metrics.jsonl has no duplicate line and the results equal the
    uninterrupted run's.
    """
    config = read_config(study / "tiny.yaml", ["pause=0.25"], output_dir=str(tmp_path))
    run = create_run(config, quiet=True)
    run.close()
    first = subprocess.Popen(
        [sys.executable, "-m", "statjax.cli", "run", "--resume", str(run.directory), "--quiet"],
        cwd=study,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _steps_or_none(run.directory) and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1]
            time.sleep(0.02)
        holder = json.loads((run.directory / LOCK_FILE).read_text())
        assert holder["pid"] == first.pid
        with pytest.raises(RunLockedError, match=f"pid {first.pid} on "):
            open_run(run.directory)
        assert f"in use by another statjax process (pid {first.pid}" in _cli_error(run.directory)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 143, err
    assert "terminated; continue with" in err and "Traceback" not in err
    assert not (run.directory / "summary.json").exists()
    assert _resume(run.directory) == 0
    steps = [json.loads(line)["step"] for line in (run.directory / METRICS_FILE).open()]
    assert steps == list(range(5, 45, 5))
    # The pause is not part of the numbers: same summary as the reference run without it.
    assert (run.directory / "summary.json").read_text() == (reference / "summary.json").read_text()


def _steps_or_none(run_dir: Path) -> list[int]:
    folder = run_dir / CHECKPOINT_DIR
    return _steps(run_dir) if folder.is_dir() else []


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)]
)
def test_a_signal_during_a_checkpoint_write_waits_for_the_write(
    study, tmp_path, monkeypatch, signum, raised
):
    config = read_config(study / "tiny.yaml", output_dir=str(tmp_path))
    run = Run(tmp_path, config, quiet=True)
    manager = run._checkpoint_manager()
    save = manager.save

    def interrupted_save(*args, **kwargs):
        os.kill(os.getpid(), signum)  # arrives in the middle of the write
        return save(*args, **kwargs)

    monkeypatch.setattr(manager, "save", interrupted_save)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with pytest.raises(raised):
            run.save_checkpoint(10, _template())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert _steps(tmp_path) == [10]
    assert run.restore_checkpoint(_template()).step == 10  # finalised and intact
    run.close()


# ------------------------------------------------------------------ installation


def test_a_missing_optional_package_stops_before_any_work(study, tmp_path, monkeypatch, capsys):
    import tiny_walk

    monkeypatch.setattr(tiny_walk, "REQUIRES", ("sklearn", "surely_not_installed_pkg"))
    assert _run_new(study, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "statjax: error: experiment tiny_walk needs the package surely_not_installed_pkg "
        "(module surely_not_installed_pkg), which is not installed: "
        "pip install surely_not_installed_pkg"
    )
    assert not (tmp_path / "tiny").exists()


def test_a_missing_import_of_the_experiment_is_named(study, tmp_path, monkeypatch, capsys):
    (tmp_path / "needs_sklearn_twin.py").write_text("import sklearn_twin_not_installed.datasets\n")
    (tmp_path / "twin.yaml").write_text("name: twin\nexperiment: needs_sklearn_twin\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert main(["run", "twin.yaml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "needs the package sklearn_twin_not_installed" in err
    assert "pip install sklearn_twin_not_installed" in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------ command line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output-dir", ""], "--output-dir: got an empty folder name"),
        (["--output-dir", "{file}"], "--output-dir {file}: cannot make a run folder"),
        (["--output-dir", "{file}/below"], "--output-dir {file}/below: cannot make a run folder"),
        (["--set", "seed=18446744073709551616"], "config key `seed`"),
        (["--set", "seed=4294967296"], "config key `seed`"),
        (["--set", "pause=.inf"], "config key `pause`: got inf (float), which is infinite"),
        (["--set", "pause=1e400"], "config key `pause`: got '1e400' (str), which is infinite"),
        (["--set", "log_every=3"], "config key `log_every`: --set log_every=3 conflicts with"),
    ],
)
def test_bad_command_lines_exit_2_naming_what_the_user_wrote(
    study, tmp_path, capsys, argv, message
):
    afile = tmp_path / "a_file"
    afile.write_text("")
    argv = [arg.format(file=afile) for arg in argv]
    if "--output-dir" not in argv:
        argv += ["--output-dir", str(tmp_path / "out")]
    assert main(["run", str(study / "tiny.yaml"), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message.format(file=afile) in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONFIG.encode() + b"description: caf\xe9\n", "is not UTF-8 text (byte 0xe9 at offset"),
        (
            (
                CONFIG
                + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                + "".join(
                    f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n"
                    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
                )
            ).encode(),
            "expands to more than 100000 values",
        ),
    ],
)
def test_bad_config_files_exit_2_with_a_message(study, tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text)
    assert main(["run", str(path), "--quiet", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_log_after_a_torn_line_starts_on_a_line_of_its_own(tmp_path):
    with Run(tmp_path, ExperimentConfig(name="demo", experiment="experiments.demo")) as run:
        (tmp_path / METRICS_FILE).write_text('{"step": 1}\n{"step": 2, "a')
        run.log(2, a=1.0)
        assert run.metrics() == [{"step": 1}, {"step": 2, "a": 1.0}]
