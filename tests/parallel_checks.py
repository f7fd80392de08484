"""Multi-device checks, run by tests/test_parallel.py in a subprocess.

The parent sets ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` and
``JAX_PLATFORMS=cpu`` (the flag must be set before JAX starts, hence the
subprocess). Prints one JSON object of named booleans / values on the last line.
"""

import json
import re
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

import statjax
from statjax import parallel
from statjax import random as sjrandom
from statjax.anneal.annealing import kernel_annealing, simulated_annealing
from statjax.anneal.schedules import geometric_temperature
from statjax.config import parse_config
from statjax.energy.ising import IsingLattice, square_ising
from statjax.pytree import Pytree
from statjax.samplers.lattice import checkerboard
from statjax.samplers.lattice_sharded import row_mesh, sharded_checkerboard
from statjax.samplers.run import _run_chunk, run_chains, with_info
from statjax.samplers.tempering import replica_exchange, tempering_statistics


def same(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f")
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def spec_of(x) -> str:
    return str(x.sharding.spec) if isinstance(x.sharding, NamedSharding) else "not named"


def energy(x):
    return 0.5 * jnp.sum(x**2)


def observe(state):
    return state.energy


def check_run_chains(out: dict) -> None:
    mesh = parallel.make_mesh()
    kernel = statjax.samplers.mala(energy, 0.1)
    key = jax.random.key(1)
    x = jax.random.normal(jax.random.key(2), (16, 3))
    plain = run_chains(kernel, key, x, 20, observe=observe, thin=2, chunk_size=10)
    sharded = run_chains(
        kernel, key, parallel.shard_chains(x, mesh), 20, observe=observe, thin=2, chunk_size=10
    )
    out["run_identical"] = same(plain, sharded)
    out["run_final_sharded"] = parallel.is_sharded_by_chains(sharded[0])
    out["run_trace_sharded"] = parallel.is_sharded_by_chains(sharded[1], axis=1)
    out["run_final_spec"] = spec_of(sharded[0].position)
    out["run_trace_spec"] = spec_of(sharded[1])
    # No gather inside the loop: the compiled chunk has no collective at all.
    text = (
        _run_chunk.lower(
            kernel,
            key,
            sharded[0],
            np.ones(16),
            None,
            np.int32(0),
            num_steps=4,
            thin=1,
            observe=with_info(observe),
            reducer=None,
            per_chain=(),
            structure="",
        )
        .compile()
        .as_text()
    )
    out["run_collectives"] = sorted(
        set(re.findall(r"all-gather|all-reduce|collective-permute|all-to-all", text))
    )
    # Reductions across shards.
    out["chain_mean_ok"] = bool(
        np.allclose(parallel.chain_mean(sharded[1], axis=1), np.mean(plain[1], axis=1))
    )
    _, moments = run_chains(
        kernel, key, parallel.shard_chains(x, mesh), 20, observe=observe, streaming=True
    )
    pooled = parallel.merge_chain_moments(moments)
    _, trace = run_chains(kernel, key, x, 20, observe=observe)
    flat = np.asarray(trace).ravel()
    out["moments_sharded"] = parallel.is_sharded_by_chains(moments.mean)
    out["merged_moments_ok"] = bool(
        np.isclose(pooled.mean, flat.mean(), rtol=1e-5)
        and np.isclose(pooled.variance, flat.var(ddof=1), rtol=1e-4)
        and int(pooled.count) == flat.size
    )


def check_replica_exchange(out: dict) -> None:
    mesh = parallel.make_mesh(replicas=2)  # 2 x 2: chains and ladder both split
    inner = statjax.samplers.metropolis(energy, 1.0)
    pt = replica_exchange(inner, jnp.array([0.1, 0.3, 0.6, 1.0]))
    key = jax.random.key(3)
    x = jax.random.normal(jax.random.key(4), (4, 4, 2))
    plain, _ = run_chains(pt, key, x, 30)
    start = parallel.shard_chains(x, mesh, replicas=True)
    out["pt_start_spec"] = spec_of(start)
    sharded, _ = run_chains(pt, key, start, 30)
    out["pt_identical"] = same(plain, sharded)
    out["pt_swaps_accepted"] = int(np.sum(np.asarray(plain.num_swaps_accepted)))
    out["pt_final_spec"] = spec_of(sharded.position)
    out["pt_final_sharded"] = parallel.is_sharded_by_chains(sharded)
    # The same jitted reduction on both (eager and jitted float division may differ).
    statistics = jax.jit(tempering_statistics)
    stats_plain = statistics(plain, pt.betas)
    stats_sharded = statistics(sharded, pt.betas)
    out["pt_statistics_identical"] = same(stats_plain, stats_sharded)
    # Start from already-initialised, sharded states (e.g. a checkpoint).
    states = parallel.shard_chains(jax.jit(jax.vmap(pt.init))(x), mesh, replicas=True)
    resumed, _ = run_chains(pt, key, states, 30)
    out["pt_from_states_identical"] = same(plain, resumed)


def check_ising(
    out: dict, model: IsingLattice, name: str, num_chains: int, steps: int, rule="metropolis"
) -> None:
    mesh = row_mesh()
    single = checkerboard(model, rule)
    split = sharded_checkerboard(model, mesh, rule=rule)
    key = jax.random.key(5)
    spins = jnp.where(
        jax.random.bernoulli(jax.random.key(6), 0.5, (num_chains, *model.shape)), 1, -1
    ).astype(jnp.int8)
    beta = 0.44
    plain = run_chains(single, key, spins, steps, beta=beta, observe=observe)
    sharded = run_chains(split, key, split.shard(spins), steps, beta=beta, observe=observe)
    out[f"{name}_identical"] = same(plain, sharded)
    out[f"{name}_spec"] = spec_of(sharded[0].position)
    if num_chains > 1:
        # The plain sweep with the *chains* split (many lattices, each on one device).
        by_chains = parallel.shard_chains(spins, parallel.make_mesh(num_chains))
        chains_split = run_chains(single, key, by_chains, steps, beta=beta, observe=observe)
        out[f"{name}_chains_split_identical"] = same(plain, chains_split)
        out[f"{name}_chains_split_sharded"] = parallel.is_sharded_by_chains(chains_split[0])
    out[f"{name}_energy_exact"] = bool(
        np.array_equal(
            np.asarray(sharded[0].energy), np.asarray(jax.vmap(model)(plain[0].position))
        )
    )


def check_annealing(out: dict) -> None:
    mesh = parallel.make_mesh()
    schedule = geometric_temperature(2.0, 0.9)
    spins = jnp.where(jax.random.bernoulli(jax.random.key(9), 0.5, (4, 8, 8)), 1, -1)
    kernel = checkerboard(square_ising(8))
    plain = kernel_annealing(
        kernel, jax.random.key(10), spins, 20, temperature=schedule, record_every=5
    )
    sharded = kernel_annealing(
        kernel,
        jax.random.key(10),
        parallel.shard_chains(spins, mesh),
        20,
        temperature=schedule,
        record_every=5,
    )
    out["kernel_annealing_identical"] = same(plain, sharded)
    out["kernel_annealing_sharded"] = parallel.is_sharded_by_chains(sharded[1])
    x = jax.random.normal(jax.random.key(11), (8, 2))
    plain = simulated_annealing(energy, jax.random.key(12), x, 20, temperature=schedule)
    sharded = simulated_annealing(
        energy, jax.random.key(12), parallel.shard_chains(x, mesh), 20, temperature=schedule
    )
    out["simulated_annealing_identical"] = same(plain, sharded)
    out["simulated_annealing_spec"] = spec_of(sharded.best_energy)


class _DrawState(NamedTuple):
    position: jax.Array
    energy: jax.Array


class _Draws(Pytree):
    """Every statjax.random draw of a step, kept as the position: streams made visible."""

    def init(self, position):
        return _DrawState(position, jnp.zeros(()))

    def step(self, key, state, beta):
        keys = jax.random.split(key, 4)
        size = state.position.shape[-1] // 4
        draws = [
            sjrandom.uniform(keys[0], (size,)),
            sjrandom.normal(keys[1], (size,)),
            sjrandom.bernoulli(keys[2], 0.3, (size,)).astype(jnp.float32),
            sjrandom.randint(keys[3], (size,), 0, 7).astype(jnp.float32),
        ]
        return _DrawState(jnp.concatenate(draws), state.energy), None


def check_random_streams(out: dict) -> None:
    mesh = parallel.make_mesh()
    key, x = jax.random.key(21), jnp.zeros((8, 12))
    plain = run_chains(_Draws(), key, x, 4, observe=lambda s: s.position, chunk_size=2)
    sharded = run_chains(
        _Draws(), key, parallel.shard_chains(x, mesh), 4, observe=lambda s: s.position
    )
    out["random_streams_identical"] = same(plain, sharded)


def check_config(out: dict) -> None:
    devices = parse_config({"count": 4, "replicas": 2}, parallel.DevicesConfig)
    out["config_mesh"] = dict(parallel.mesh_from_config(devices).shape)
    out["config_default_mesh"] = dict(parallel.mesh_from_config(parallel.DevicesConfig()).shape)
    out["device_summary"] = parallel.device_summary()


def main() -> None:
    out = {"num_devices": jax.device_count()}
    check_config(out)
    check_annealing(out)
    check_run_chains(out)
    check_replica_exchange(out)
    check_random_streams(out)
    check_ising(out, square_ising(32), "ising_small", num_chains=2, steps=5)
    # 3 rows per device: blocks starting at odd global rows swap their sublattices.
    check_ising(out, IsingLattice((12, 8), 1.0, 0.3), "ising_odd_block", 2, 5, "heat_bath")
    # 2**19 sites: the in-sweep random-number path of the single-device kernel.
    check_ising(out, IsingLattice((512, 1024)), "ising_large", num_chains=1, steps=2)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
