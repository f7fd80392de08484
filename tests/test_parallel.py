"""Sharded runs on several (forced host) devices and across two processes.

The device count of the CPU backend is fixed when JAX starts, so every check runs
in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``:
``tests/parallel_checks.py`` (4 devices, one process) and
``tests/distributed_worker.py`` (2 processes x 2 devices, ``jax.distributed`` on
localhost). This process only compares what they print.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Each check starts JAX in subprocesses on forced host devices: tens of seconds.
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def _env(num_devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def checks() -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE / "parallel_checks.py")],
        env=_env(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return _last_json(result.stdout)


def test_four_devices(checks):
    assert checks["num_devices"] == 4


def test_devices_config_section(checks):
    assert checks["config_mesh"] == {"chains": 2, "replicas": 2}
    assert checks["config_default_mesh"] == {"chains": 4, "replicas": 1}
    summary = checks["device_summary"]
    assert summary["num_devices"] == 4 and summary["platform"] == "cpu"
    assert summary["num_processes"] == 1


def test_devices_config_rejects_bad_values():
    from statjax.config import ConfigError, parse_config
    from statjax.parallel import DevicesConfig

    with pytest.raises(ConfigError, match="replicas"):
        parse_config({"count": 4, "replicas": 3}, DevicesConfig)
    with pytest.raises(ConfigError, match="count"):
        parse_config({"count": -1}, DevicesConfig)
    with pytest.raises(ConfigError, match="distributed"):
        parse_config({"distributed": "yes"}, DevicesConfig)


def test_run_chains_sharded_is_identical_and_stays_sharded(checks):
    assert checks["run_identical"]
    assert checks["run_final_sharded"] and checks["run_final_spec"] == "P('chains',)"
    assert checks["run_trace_sharded"] and checks["run_trace_spec"] == "P(None, 'chains')"
    assert checks["run_collectives"] == []  # nothing gathered inside the loop


def test_random_streams_identical_on_four_devices(checks):
    """statjax.random's draws (uniform, normal, Bernoulli, integers) of sharded chains."""
    assert checks["random_streams_identical"]


def test_annealing_with_sharded_chains(checks):
    assert checks["kernel_annealing_identical"] and checks["kernel_annealing_sharded"]
    assert checks["simulated_annealing_identical"]
    assert checks["simulated_annealing_spec"] == "P('chains',)"


def test_reductions_across_shards(checks):
    assert checks["chain_mean_ok"]
    assert checks["moments_sharded"]
    assert checks["merged_moments_ok"]


def test_replica_exchange_with_ladder_split_across_devices(checks):
    assert checks["pt_start_spec"] == "P('chains', 'replicas')"
    assert checks["pt_swaps_accepted"] > 0  # swaps across device boundaries happened
    assert checks["pt_identical"]
    assert checks["pt_from_states_identical"]
    assert checks["pt_statistics_identical"]
    assert checks["pt_final_sharded"] and checks["pt_final_spec"] == "P('chains', 'replicas')"


@pytest.mark.parametrize("name", ["ising_small", "ising_odd_block", "ising_large"])
def test_row_decomposed_ising_matches_single_device(checks, name):
    assert checks[f"{name}_identical"]
    assert checks[f"{name}_energy_exact"]
    assert checks[f"{name}_spec"] == "P(None, 'rows')"


def test_plain_lattice_sweep_with_chains_split(checks):
    assert checks["ising_small_chains_split_identical"]
    assert checks["ising_small_chains_split_sharded"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one():
    worker = str(HERE / "distributed_worker.py")
    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, worker, port, str(rank)],
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    single = subprocess.run(
        [sys.executable, worker, "single"], env=_env(1), capture_output=True, text=True, timeout=120
    )
    outputs = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, stderr[-4000:]
        outputs.append(_last_json(stdout))
    assert single.returncode == 0, single.stderr[-4000:]
    reference = _last_json(single.stdout)
    for result in outputs:
        assert result["process_count"] == 2 and result["device_count"] == 4
        assert result["addressable"] == 2 and result["sharded"]
        np.testing.assert_array_equal(result["position"], reference["position"])
        np.testing.assert_array_equal(result["trace"], reference["trace"])
        assert result["mean_energy"] == pytest.approx(reference["mean_energy"], rel=1e-6)
