"""The experiment template of docs/experiments.md, run as printed: exact mean energy, resumable."""

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute, load_checkpoint

REPO = Path(__file__).resolve().parents[2]
NUM_SIGMA = 4.0
"""Tolerance in standard errors across independent chains (fixed seed)."""


@pytest.fixture
def study(monkeypatch):
    """The module ``my_project/study.py`` of the docs, built from the code block."""
    text = (REPO / "docs" / "experiments.md").read_text()
    (source,) = re.findall(r"```python\n# my_project/study\.py\n(.*?)```", text, re.DOTALL)
    module = types.ModuleType("my_project_study")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(source, "docs/experiments.md", "exec"), module.__dict__)
    return module


def _config(study, tmp_path, **changes):
    raw = {
        "name": "template-test",
        "experiment": study.__name__,
        "seed": 5,
        "output_dir": str(tmp_path),
        "checkpoint_every": 750,
        "temperatures": [0.5, 2.0],
        "num_chains": 32,
        "num_steps": 1500,
        "burn_in": 300,
        "sampler": {"step_size": 0.2},
    }
    raw.update(changes)
    return parse_config(raw, study.Config)


def test_template_gives_equipartition_and_resumes_exactly(
    study, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(study, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    # Exact: U = |x|^2 / 2 in two dimensions has <U> = T (T / 2 per coordinate).
    # Standard error: the spread of the 32 independent chains' time averages (each
    # over 1200 correlated steps after the burn-in, so the spread carries tau) over
    # sqrt(32); k = NUM_SIGMA.
    temperatures = np.asarray(config.temperatures)
    per_chain = np.asarray(load_checkpoint(run.directory).state["energy_sum"]) / 1200
    per_chain = per_chain.reshape(len(temperatures), config.num_chains)
    stderr = per_chain.std(1, ddof=1) / np.sqrt(config.num_chains)
    np.testing.assert_allclose(summary["mean_energy"], per_chain.mean(1), rtol=1e-12)
    np.testing.assert_array_less(np.abs(per_chain.mean(1) - temperatures), NUM_SIGMA * stderr)
    lines = [line for line in (run.directory / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2  # one per chunk of checkpoint_every steps
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_template_burn_in_is_checked(study, tmp_path):
    with pytest.raises(ConfigError, match="burn_in"):
        _config(study, tmp_path, burn_in=1500)
