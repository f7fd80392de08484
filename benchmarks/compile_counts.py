"""Compiled programs for new schedules, step sizes and energies of one class, and legacy keys.

Three ``run_chains`` calls each; the count is ``run_chains``' compile cache.
Run it at two checkouts (``PYTHONPATH=/path/to/old/checkout``) to compare:

    python benchmarks/compile_counts.py
"""

import jax
import jax.numpy as jnp

import statjax
from statjax.anneal import geometric_temperature, temperature_to_beta
from statjax.energy import DoubleWell
from statjax.samplers import run as run_module


def quadratic(x):
    return 0.5 * jnp.sum(x**2)


def count(label, calls) -> None:
    run_module._run_chunk.clear_cache()
    for call in calls:
        call()
    print(f"{label}: {run_module._run_chunk._cache_size()} programs for {len(calls)} runs")


def main() -> None:
    print("statjax from", statjax.__file__)
    positions = jnp.zeros((8, 3))
    kernel = statjax.mala(quadratic, 0.1)
    key = jax.random.key(0)

    def with_schedule(t0):
        beta = temperature_to_beta(geometric_temperature(t0, 0.99))
        return lambda: statjax.run_chains(kernel, key, positions, 20, beta=beta)

    def with_step_size(step_size):
        return lambda: statjax.run_chains(statjax.mala(quadratic, step_size), key, positions, 20)

    def with_barrier(barrier):
        energy = DoubleWell(3, barrier=barrier)
        return lambda: statjax.run_chains(statjax.mala(energy, 0.1), key, positions, 20)

    count("new schedules", [with_schedule(t) for t in (1.0, 2.0, 3.0)])
    count("new step sizes", [with_step_size(s) for s in (0.1, 0.2, 0.3)])
    count("new energies of one class", [with_barrier(b) for b in (1.0, 2.0, 3.0)])
    try:
        statjax.run_chains(kernel, jax.random.PRNGKey(0), positions, 20, observe=lambda s: s.energy)
        print("legacy PRNGKey: runs")
    except Exception as error:  # the point is to print what the old code raised
        print("legacy PRNGKey:", type(error).__name__, str(error)[:90])


if __name__ == "__main__":
    main()
