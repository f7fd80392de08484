"""Checkerboard Metropolis for the 2-D Ising model: vectorised numpy vs statjax.

Both run the same algorithm on the same lattices, in one process: periodic
``L x L`` square lattice, ``J = 1``, ``h = 0``, at ``beta_c = ln(1 + sqrt 2) / 2``,
two half-sweeps per sweep (even then odd sublattice), one uniform per site per
sweep.

- numpy: the textbook vectorised form, as fast as plain numpy gets: ``int8``
  spins, neighbour sums with ``np.roll``, the acceptance probability looked up in
  the table ``exp(-2 beta k)`` for the five values of ``k = s_i n_i``, one call
  of ``Generator.random`` (PCG64, float32) per sweep, in place updates with
  ``np.where(..., out=)``. It tracks neither the energy nor the magnetization.
- statjax: :func:`statjax.samplers.lattice.checkerboard` under
  :func:`statjax.run_chains` (vmap over chains, scan over sweeps, one jitted
  call); it also keeps each chain's exact energy and magnetization every sweep.
- statjax multispin: :func:`statjax.samplers.multispin.multispin_checkerboard`,
  the same law with 32 spins per ``uint32`` word and about 10 random bits per spin.

Site updates per second = chains x L^2 x sweeps / wall time: best of
``--repeats`` timed runs, numpy's and statjax's interleaved, after a warm-up
that compiles. Run:

    python benchmarks/bench_ising_numpy.py [--sizes 256 512 1024] [--chains 1 16]
"""

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import statjax
from statjax.energy.ising import square_ising
from statjax.samplers.lattice import checkerboard
from statjax.samplers.multispin import multispin_checkerboard

BETA_C = math.log(1.0 + math.sqrt(2.0)) / 2.0


def numpy_sweeps(spins: np.ndarray, beta: float, num_sweeps: int, rng) -> np.ndarray:
    """``num_sweeps`` checkerboard Metropolis sweeps of ``spins: (chains, L, L)`` int8, in place."""
    length = spins.shape[-1]
    parity = np.add.outer(np.arange(length), np.arange(length)) % 2
    masks = [parity == 0, parity == 1]
    # Acceptance probability for k = s_i n_i in {-4, ..., 4}: exp(-2 beta k), capped at 1.
    table = np.minimum(1.0, np.exp(-2.0 * beta * np.arange(-4, 5))).astype(np.float32)
    for _ in range(num_sweeps):
        uniform = rng.random(spins.shape, dtype=np.float32)
        for mask in masks:
            neighbours = (
                np.roll(spins, 1, -1)
                + np.roll(spins, -1, -1)
                + np.roll(spins, 1, -2)
                + np.roll(spins, -1, -2)
            )
            local = spins * neighbours
            flip = (uniform < table[local + 4]) & mask
            np.negative(spins, out=spins, where=flip)
    return spins


def numpy_runner(length: int, num_chains: int, num_sweeps: int):
    """A numpy run of ``num_sweeps`` sweeps (in place); a zero-argument callable."""
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((num_chains, length, length)) < 0.5, 1, -1).astype(np.int8)
    numpy_sweeps(spins, BETA_C, 1, rng)
    return lambda: numpy_sweeps(spins, BETA_C, num_sweeps, rng)


def statjax_runner(length: int, num_chains: int, num_sweeps: int, multispin: bool = False):
    """A compiled statjax run of ``num_sweeps`` sweeps (states chained); a callable.

    ``multispin``: :func:`statjax.samplers.multispin.multispin_checkerboard` (32
    spins per word, the same law) instead of the ``int8`` checkerboard.
    """
    model = square_ising(length)
    kernel = multispin_checkerboard(model) if multispin else checkerboard(model)
    key = jax.random.key(0)
    signs = jax.random.rademacher(key, (num_chains, length, length), dtype=jnp.int8)
    states, _ = statjax.run_chains(kernel, key, signs, num_sweeps, beta=BETA_C)
    jax.block_until_ready(states)
    holder = {"states": states, "repeat": 0}

    def run() -> None:
        holder["repeat"] += 1
        holder["states"], _ = statjax.run_chains(
            kernel,
            jax.random.fold_in(key, holder["repeat"]),
            holder["states"],
            num_sweeps,
            beta=BETA_C,
        )
        jax.block_until_ready(holder["states"])

    return run


def best_rates(runners: dict, site_updates: float, repeats: int) -> dict:
    """Interleaved timed repeats (a change of load hits all alike); best rate of each."""
    best = dict.fromkeys(runners, math.inf)
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: site_updates / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--site-updates", type=float, default=1e7, help="per timed run")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    print(
        f"# jax {jax.__version__} on {jax.devices()[0].platform}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}"
    )
    print(
        f"{'L':>5} {'chains':>6} {'sweeps':>6} {'numpy Msite/s':>14} "
        f"{'statjax Msite/s':>16} {'ratio':>6} {'multispin Msite/s':>18} {'ratio':>6} "
        f"{'vs checkerboard':>15}"
    )
    for length in args.sizes:
        for num_chains in args.chains:
            num_sweeps = max(2, round(args.site_updates / (num_chains * length**2)))
            runners = {
                "numpy": numpy_runner(length, num_chains, num_sweeps),
                "statjax": statjax_runner(length, num_chains, num_sweeps),
                "multispin": statjax_runner(length, num_chains, num_sweeps, multispin=True),
            }
            rates = best_rates(runners, num_chains * length**2 * num_sweeps, args.repeats)
            rate_numpy, rate_statjax = rates["numpy"], rates["statjax"]
            print(
                f"{length:>5} {num_chains:>6} {num_sweeps:>6} {rate_numpy / 1e6:>14.1f} "
                f"{rate_statjax / 1e6:>16.1f} {rate_statjax / rate_numpy:>6.2f} "
                f"{rates['multispin'] / 1e6:>18.1f} {rates['multispin'] / rate_numpy:>6.2f} "
                f"{rates['multispin'] / rate_statjax:>15.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
