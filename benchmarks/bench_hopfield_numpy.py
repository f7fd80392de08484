"""Asynchronous Glauber sweeps of a Hopfield network: vectorised numpy vs statjax.

Both run the same algorithm on the same network, in one process: ``N`` spins,
``P = 0.1 N`` random patterns stored by Hebb's rule, spins updated in the order
``0, ..., N - 1`` from local fields kept current (a flip of ``s_i`` adds
``-2 s_i C[i]`` to every chain's fields), one uniform per spin per sweep;
heat-bath (Glauber) rule ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))`` at
``--temperature`` > 0, the sign rule (ties keep the spin) at 0, i.e. ``beta = inf``.

- numpy: the textbook form vectorised over chains, as a numpy user would write
  it: ``float32`` spins and the integer Hebbian matrix ``C = N J``, fields
  ``S @ C`` once per sweep, a Python loop over spins with one ``np.where`` and one
  rank-1 field update (``np.outer``) per spin, one ``Generator.random`` call
  (PCG64, float32) per sweep. It keeps no energies.
At ``--temperature 0`` the two are first checked to reach identical spins.

- statjax: :func:`statjax.models.hopfield.asynchronous_sweep` under
  :func:`statjax.run_chains` (vmap over chains, scan over sweeps, one jitted
  call, host-side checks included) at ``beta = 1 / T`` (``inf`` at ``T = 0``);
  it also keeps every chain's energy and the mean heat-bath flip probability.

Spin updates per second = chains x N x sweeps / wall time: best of
``--repeats`` (:func:`timing.best_times`: compiled first, the two interleaved).
Ratio = statjax / numpy (> 1: statjax faster). Run:

    python benchmarks/bench_hopfield_numpy.py [--sizes 100 400] [--chains 1 64] [--temperature 0.5]
"""

import argparse
import math
import os

import jax
import numpy as np

import statjax
from statjax.models.hopfield import asynchronous_sweep, hebbian, random_patterns
from timing import best_times


def numpy_sweeps(spins, products, beta, num_sweeps, rng):
    """``num_sweeps`` sweeps of ``spins: (chains, N)`` (float32 ±1, in place); returns them."""
    num_spins = spins.shape[1]
    zero_temperature = math.isinf(beta)
    scale = np.float32(2.0 * beta / num_spins)
    for _ in range(num_sweeps):
        uniform = rng.random(spins.shape, dtype=np.float32)
        fields = spins @ products  # N f, per chain
        for i in range(num_spins):
            spin, field = spins[:, i], fields[:, i]
            if zero_temperature:
                flip = spin * field < 0
            else:
                flip = uniform[:, i] * (1.0 + np.exp(scale * spin * field)) < 1.0
            change = np.where(flip, -2.0 * spin, 0.0).astype(np.float32)
            spins[:, i] = spin + change
            fields += np.outer(change, products[i])
    return spins


def runners(num_spins: int, num_chains: int, num_sweeps: int, temperature: float):
    """The numpy and statjax runs of the same work; zero-argument callables."""
    key = jax.random.key(0)
    patterns = random_patterns(key, max(1, num_spins // 10), num_spins)
    network = hebbian(patterns)
    zero_temperature = temperature == 0
    beta = math.inf if zero_temperature else 1.0 / temperature
    starts = random_patterns(jax.random.fold_in(key, 1), num_chains, num_spins)

    rng = np.random.default_rng(0)
    products = np.asarray(network.pattern_products, np.float32)
    spins = np.asarray(starts, np.float32)

    def run_numpy():
        return numpy_sweeps(spins, products, beta, num_sweeps, rng)

    kernel = asynchronous_sweep(network)
    if zero_temperature:
        # The sign rule is deterministic: both must reach the same spins, sweep for sweep.
        ours, _ = statjax.run_chains(kernel, key, starts, 3, beta=beta)
        theirs = numpy_sweeps(spins.copy(), products, beta, 3, rng)
        assert np.array_equal(np.asarray(ours.position, np.float32), theirs)
    holder = {"states": starts, "repeat": 0}

    def run_statjax():
        holder["repeat"] += 1
        holder["states"], _ = statjax.run_chains(
            kernel, jax.random.fold_in(key, holder["repeat"]), holder["states"], num_sweeps,
            beta=beta,
        )  # fmt: skip
        return holder["states"]

    return run_numpy, run_statjax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--temperature", type=float, default=0.5, help="0: the sign rule")
    parser.add_argument("--spin-updates", type=float, default=2e5, help="per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(
        f"# jax {jax.__version__} on {jax.devices()[0].platform}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}, T = {args.temperature}"
    )
    print(
        f"{'N':>5} {'chains':>6} {'sweeps':>6} {'numpy Mspin/s':>14} "
        f"{'statjax Mspin/s':>16} {'ratio':>6}"
    )
    for num_spins in args.sizes:
        for num_chains in args.chains:
            num_sweeps = max(2, round(args.spin_updates / (num_chains * num_spins)))
            run_numpy, run_statjax = runners(num_spins, num_chains, num_sweeps, args.temperature)
            numpy_time, statjax_time = best_times([run_numpy, run_statjax], repeats=args.repeats)
            updates = num_chains * num_spins * num_sweeps
            rates = updates / numpy_time / 1e6, updates / statjax_time / 1e6
            print(
                f"{num_spins:>5} {num_chains:>6} {num_sweeps:>6} {rates[0]:>14.2f} "
                f"{rates[1]:>16.2f} {numpy_time / statjax_time:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
