"""The `statjax` command: help, list, run folders, early errors, exact resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from statjax.cli import main
from statjax.parallel import device_summary
from statjax.runs import ResumeError, load_checkpoint, open_run

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = """\
name: tiny
description: a few chains of the landscape experiment, for tests
experiment: experiments.landscape
seed: 3
checkpoint_every: {checkpoint_every}
temperatures: [20.0, 40.0]
num_chains: 8
num_steps: {num_steps}
burn_in: 500
thin: 20
chunk_size: 500
grid: {{num_points: 40}}
"""


def _write_config(folder: Path, num_steps: int = 2000, checkpoint_every: int = 1000) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY_CONFIG.format(num_steps=num_steps, checkpoint_every=checkpoint_every))
    return path


def _only_run_dir(output_dir: Path, name: str = "tiny") -> Path:
    (run_dir,) = (output_dir / name).iterdir()
    return run_dir


@pytest.fixture
def in_repo(monkeypatch):
    """Run from the repository root, where `experiments.landscape` is importable."""
    monkeypatch.chdir(REPO)


def test_help_shows_examples(capsys):
    for argv in (["--help"], ["run", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert "example" in text and "statjax " in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--resume RUN_DIR" in text and "--set KEY.PATH=VALUE" in text and "--quiet" in text


def test_list_prints_one_line_per_config(tmp_path, monkeypatch, capsys):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "b.yaml").write_text("name: beta\ndescription: second\n  study\n")
    (tmp_path / "configs" / "a.yaml").write_text("name: alpha\ndescription: first study\n")
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == "alpha" and lines[0].endswith("first study")
    assert lines[1].split()[0] == "beta" and lines[1].endswith("second study")


def test_list_shows_the_landscape_config(in_repo, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("landscape ") for line in out.splitlines())


def test_run_writes_the_run_folder(in_repo, tmp_path, capsys):
    config_path = _write_config(tmp_path)
    argv = ["run", str(config_path), "--set", "seed=5", "--quiet", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    assert capsys.readouterr().err == "", "--quiet prints nothing"
    run_dir = _only_run_dir(tmp_path)

    names = {path.name for path in run_dir.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "summary.json", "checkpoint", "run.lock"} <= names
    assert {"samples.png", "basin_probabilities.png"} <= names
    assert not [name for name in names if name.startswith(".")], "no temporary files left"
    for plot in ("samples.png", "basin_probabilities.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["seed"] == 5, "overrides are applied in the resolved config"
    assert resolved["output_dir"] == str(tmp_path)
    # Defaults are filled in (the sampler section also has settings of other kinds).
    assert {"kind": "mala", "step_size": 5e-4}.items() <= resolved["sampler"].items()

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1000, 2000]
    assert set(records[0]) == {
        "step",
        "temperature",
        "acceptance_rate",
        "mean_energy",
        "basin_probability",
    }

    summary = json.loads((run_dir / "summary.json").read_text())
    assert [entry["temperature"] for entry in summary["temperatures"]] == [20.0, 40.0]
    for entry in summary["temperatures"]:
        assert np.isclose(sum(entry["basin_probability"]), 1.0)
        assert np.isclose(sum(entry["grid_probability"]), 1.0, atol=1e-5)
        assert len(entry["standard_error"]) == 3

    checkpoint = load_checkpoint(run_dir)
    assert checkpoint.step == 2000
    assert np.asarray(checkpoint.state["chains"]["position"]).shape == (16, 2)
    key = jax.random.wrap_key_data(np.asarray(checkpoint.state["key"]))
    assert np.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(5)))

    # Resuming a finished run does nothing and says so.
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert "already finished" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("sampler.step_size=-1", "sampler.step_size"),
        ("temperatures=[20, 0]", "temperatures[1]"),
        ("num_steps=-10", "num_steps"),
        ("num_chians=4", "num_chians"),
        ("num_chains=lots", "num_chains"),
    ],
)
def test_bad_config_stops_before_any_work(in_repo, tmp_path, capsys, override, key):
    config_path = _write_config(tmp_path)
    argv = ["run", str(config_path), "--set", override, "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 2
    assert f"config key `{key}`" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "no run folder for an invalid config"


def test_missing_config_file_and_bad_flags(in_repo, tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["run", "--resume", str(tmp_path), "--set", "seed=1"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["run"])


def test_resume_says_why_it_cannot(in_repo, tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "stopped before it started" in capsys.readouterr().err


def test_resume_warns_about_changed_code_and_refuses_an_edited_config(in_repo, tmp_path):
    config_path = _write_config(tmp_path, num_steps=1000)
    assert main(["run", str(config_path), "--quiet", "--output-dir", str(tmp_path)]) == 0
    run_dir = _only_run_dir(tmp_path)
    (run_dir / "summary.json").unlink()  # as if killed after the last checkpoint

    run = open_run(run_dir)
    assert run.restore_checkpoint(None).step == 1000
    run._code_sha256 = "0" * 64  # as if statjax or the experiment had been edited since
    with pytest.warns(UserWarning, match="code .* changed since the checkpoint"):
        run.restore_checkpoint(None)
    run.close()

    text = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(text.replace("seed: 3", "seed: 4"))
    with pytest.raises(ResumeError, match="differs from the config that wrote the checkpoint"):
        open_run(run_dir).restore_checkpoint(None)


def test_a_user_experiment_module_runs_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "my_study.py").write_text(
        textwrap.dedent(
            """
            import dataclasses
            from statjax.config import ExperimentConfig, setting

            @dataclasses.dataclass(frozen=True, kw_only=True)
            class Config(ExperimentConfig):
                answer: int = setting(ge=0)

            def run(config, run):
                run.log(1, answer=config.answer)
                return {"answer": config.answer}
            """
        )
    )
    (tmp_path / "study.yaml").write_text("name: study\nexperiment: my_study\nanswer: 41\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "my_study", raising=False)
    assert main(["run", "study.yaml", "--set", "answer=42", "--quiet"]) == 0
    run_dir = _only_run_dir(tmp_path / "runs", "study")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == {"answer": 42, "devices": device_summary()}
    sys.modules.pop("my_study", None)


def _statjax(*args: str) -> list[str]:
    return [sys.executable, "-m", "statjax.cli", *args]


def _start(config_path: Path, output_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        _statjax("run", str(config_path), "--quiet", "--output-dir", str(output_dir)),
        cwd=REPO,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    # Below this test's priority (set before JAX starts its threads, which inherit
    # it), so that on a busy machine the watcher still sees the first checkpoint in time.
    os.setpriority(os.PRIO_PROCESS, process.pid, 5)
    return process


def _kill_after_first_checkpoint(config_path: Path, output_dir: Path) -> Path | None:
    """Start a run, SIGKILL it just after its first checkpoint; its folder, or None if too late."""
    process = _start(config_path, output_dir)
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and process.poll() is None:
            complete = [
                path
                for path in output_dir.glob("tiny/*/checkpoint/*")
                if path.name.isdigit()  # orbax renames a step folder to its number when complete
            ]
            if complete:
                break
            time.sleep(0.01)
        time.sleep(0.1)  # somewhere in the next steps, metrics line or checkpoint
        process.send_signal(signal.SIGKILL)
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    run_dir = _only_run_dir(output_dir)
    if status != -signal.SIGKILL or (run_dir / "summary.json").exists():
        return None
    return run_dir


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    """Kill a run with SIGKILL part-way, resume it, compare with the same run left alone."""
    config_path = _write_config(tmp_path, num_steps=20000, checkpoint_every=1000)
    # Both at once: the machine has two cores and each run is mostly one.
    whole = _start(config_path, tmp_path / "whole")
    try:
        for attempt in range(3):
            run_dir = _kill_after_first_checkpoint(config_path, tmp_path / f"killed{attempt}")
            if run_dir is not None:
                break
        else:
            pytest.fail("three runs finished before they could be killed: machine overloaded?")
        assert not list(run_dir.glob("summary.json")), "the run was killed before it finished"

        resumed = subprocess.run(
            _statjax("run", "--resume", str(run_dir), "--quiet"),
            cwd=REPO,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert whole.wait(timeout=300) == 0
    finally:
        if whole.poll() is None:
            whole.kill()
            whole.wait()
    reference = _only_run_dir(tmp_path / "whole")

    for name in ("summary.json", "metrics.jsonl"):
        assert (run_dir / name).read_text() == (reference / name).read_text(), name
    final, expected = load_checkpoint(run_dir), load_checkpoint(reference)
    assert final.step == expected.step == 20000
    leaves = jax.tree_util.tree_leaves_with_path(final.state)
    assert len(leaves) == len(jax.tree_util.tree_leaves(expected.state))
    for (path, value), other in zip(leaves, jax.tree_util.tree_leaves(expected.state), strict=True):
        value, other = np.asarray(value), np.asarray(other)
        assert value.dtype == other.dtype and np.array_equal(value, other), path
