r"""Simulated annealing of Sherrington–Kirkpatrick instances: dwave-neal vs statjax.

Both run the same algorithm on the same instances, in one process:

- the SK energy ``E(s) = -sum_{i<j} J_ij s_i s_j`` (``J_ij ~ N(0, 1/N)``,
  :func:`statjax.energy.ising.sherrington_kirkpatrick`, zero fields). dimod's Ising
  convention is ``E(s) = sum_i h_i s_i + sum_{i<j} J'_ij s_i s_j``, so neal gets
  ``J'_ij = -J_ij`` and ``h = 0``; the conversion is checked on a small instance
  (neal's energies of its samples equal statjax's energies of the same spins)
  before anything is timed;
- sequential Metropolis sweeps over the spins in index order (neal's default,
  ``randomize_order=False``; statjax's :func:`~statjax.samplers.lattice.sequential_sweep`),
  one sweep per temperature;
- the same geometric beta schedule: ``beta_k = geomspace(beta_0, beta_1, S)[k]`` is
  neal's ``beta_schedule_type="geometric"`` and statjax's
  ``geometric_temperature(T_0, alpha)`` with ``T_0 = 1 / beta_0`` and
  ``alpha = (beta_0 / beta_1)^(1 / (S - 1))``;
- the same number of reads ``R`` from uniformly random starts and the same
  number of sweeps ``S``.

Energies: neal returns the final state of every read, so the comparison is of
final energies (best over reads and mean over reads, per spin); statjax's
best-visited energy (the minimum along each read, what
:func:`~statjax.anneal.kernel_annealing` also keeps) is shown beside it. Wall time:
neal's ``sample_ising`` (single-threaded C++, float64) against statjax's
``kernel_annealing`` (XLA on all the CPU cores it is given, float32, reads
vmapped; the initial states, spins and energies, are made before the clock
starts), best of ``--repeats`` interleaved runs after a warm-up that compiles
(:func:`benchmarks.timing.best_times`); the ratio is neal / statjax (> 1: statjax is
faster). Throughput is spin-update proposals per second, ``R S N / time``.

Run (from the repository root, with ``dwave-neal`` installed)::

    python benchmarks/bench_neal.py [--sizes 64 128 256 512] [--reads 64] [--sweeps 1000]
"""

import argparse
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.timing import best_times
from statjax.anneal.annealing import kernel_annealing
from statjax.anneal.schedules import geometric_temperature
from statjax.energy.ising import sherrington_kirkpatrick
from statjax.samplers.lattice import sequential_sweep
from statjax.samplers.run import initial_states


def to_neal(couplings: np.ndarray) -> tuple[dict, dict]:
    """statjax's ``E = -sum_{i<j} J_ij s_i s_j`` as dimod's ``(h, J')``, ``J'_ij = -J_ij``."""
    couplings = np.asarray(couplings, np.float64)
    num_spins = couplings.shape[0]
    rows, cols = np.triu_indices(num_spins, k=1)
    quadratic = {(int(i), int(j)): -float(couplings[i, j]) for i, j in zip(rows, cols, strict=True)}
    return {i: 0.0 for i in range(num_spins)}, quadratic


def neal_sample(sampler, h, quadratic, num_reads, num_sweeps, beta_range, seed):
    """Final spins ``(R, N)`` int8 and energies ``(R,)`` of neal's reads."""
    sampleset = sampler.sample_ising(
        h,
        quadratic,
        num_reads=num_reads,
        num_sweeps=num_sweeps,
        num_sweeps_per_beta=1,
        beta_range=beta_range,
        beta_schedule_type="geometric",
        seed=seed,
    )
    variables = list(range(len(h)))
    spins = sampleset.record.sample[:, [sampleset.variables.index(v) for v in variables]]
    return spins.astype(np.int8), np.asarray(sampleset.record.energy, np.float64)


def check_sign_convention(sampler) -> float:
    """neal's energies of its samples equal statjax's; returns the largest difference."""
    model = sherrington_kirkpatrick(jax.random.key(123), 12)
    h, quadratic = to_neal(np.asarray(model.couplings))
    spins, energies = neal_sample(sampler, h, quadratic, 32, 100, (0.1, 3.0), 7)
    ours = np.asarray(jax.vmap(model)(jnp.asarray(spins)), np.float64)
    difference = float(np.max(np.abs(ours - energies)))
    if difference > 1e-4:
        raise AssertionError(f"sign convention broken: energies differ by {difference}")
    # And neal minimises the same function: its best equals the enumerated ground state.
    index = np.arange(2**12)[:, None]
    states = (1 - 2 * ((index >> np.arange(12)) & 1)).astype(np.int8)
    exact = float(np.min(np.asarray(jax.vmap(model)(jnp.asarray(states)))))
    if abs(energies.min() - exact) > 1e-4:
        raise AssertionError(f"neal's best {energies.min()} is not the ground state {exact}")
    return difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--instances", type=int, default=2, help="SK instances per size")
    parser.add_argument("--reads", type=int, default=64)
    parser.add_argument("--sweeps", type=int, default=1000)
    parser.add_argument("--beta-range", type=float, nargs=2, default=(1.0 / 3.0, 10.0))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import neal  # dwave-neal: pip install dwave-neal

    sampler = neal.SimulatedAnnealingSampler()
    print(
        f"sign convention checked on N = 12: max |E_neal - E_statjax| = "
        f"{check_sign_convention(sampler):.2e}; neal's best = exact ground state"
    )
    beta0, beta1 = args.beta_range
    alpha = (beta0 / beta1) ** (1.0 / (args.sweeps - 1))
    schedule = geometric_temperature(1.0 / beta0, alpha)
    betas = 1.0 / np.asarray(schedule(jnp.arange(args.sweeps)), np.float64)
    assert np.allclose(betas, np.geomspace(beta0, beta1, args.sweeps), rtol=1e-4)
    print(
        f"reads {args.reads}, sweeps {args.sweeps}, geometric beta {beta0:.4g} -> {beta1:.4g}; "
        f"{os.cpu_count()} CPUs, jax {jax.__version__} {jax.default_backend()}, "
        f"neal {getattr(neal, '__version__', '?')}; load {os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'N':>4} {'inst':>4} | {'neal best':>9} {'neal mean':>9} | {'sj best':>9} "
        f"{'sj mean':>9} {'sj visited':>10} | {'neal s':>7} {'sj s':>7} {'ratio':>6} | "
        f"{'neal Mup/s':>10} {'sj Mup/s':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for num_spins in args.sizes:
        for instance in range(args.instances):
            model = sherrington_kirkpatrick(jax.random.key(1000 * num_spins + instance), num_spins)
            h, quadratic = to_neal(np.asarray(model.couplings))
            kernel = sequential_sweep(model)
            start = jnp.where(
                jax.random.bernoulli(jax.random.key(instance), 0.5, (args.reads, num_spins)), 1, -1
            ).astype(jnp.int8)
            # Initial states (spins and their energies) made once, outside the timing,
            # as neal's timing does not include its random starts either.
            start = jax.block_until_ready(initial_states(kernel, start))
            key = jax.random.key(10 + instance)

            def run_statjax(start=start, kernel=kernel, key=key):
                return kernel_annealing(kernel, key, start, args.sweeps, temperature=schedule)[0]

            def run_neal(h=h, quadratic=quadratic, instance=instance):
                return neal_sample(
                    sampler, h, quadratic, args.reads, args.sweeps, (beta0, beta1), instance
                )[1]

            neal_time, statjax_time = best_times([run_neal, run_statjax], repeats=args.repeats)
            neal_energy = run_neal() / num_spins
            result = run_statjax()
            final = np.asarray(result.energy, np.float64) / num_spins
            visited = np.asarray(result.best_energy, np.float64) / num_spins
            updates = args.reads * args.sweeps * num_spins / 1e6
            row = (
                num_spins,
                instance,
                neal_energy.min(),
                neal_energy.mean(),
                final.min(),
                final.mean(),
                visited.min(),
                neal_time,
                statjax_time,
                neal_time / statjax_time,
                updates / neal_time,
                updates / statjax_time,
            )
            rows.append(row)
            print(
                f"{row[0]:>4} {row[1]:>4} | {row[2]:>9.5f} {row[3]:>9.5f} | {row[4]:>9.5f} "
                f"{row[5]:>9.5f} {row[6]:>10.5f} | {row[7]:>7.3f} {row[8]:>7.3f} {row[9]:>6.2f} | "
                f"{row[10]:>10.1f} {row[11]:>9.1f}",
                flush=True,
            )
    table = np.asarray(rows)
    print(
        f"\nmean over instances: neal mean E/N {table[:, 3].mean():.5f}, statjax mean E/N "
        f"{table[:, 5].mean():.5f}; statjax best <= neal best on "
        f"{int(np.sum(table[:, 4] <= table[:, 2] + 1e-6))}/{len(rows)} instances; "
        f"geometric-mean time ratio neal/statjax {math.exp(np.log(table[:, 9]).mean()):.2f}; "
        f"load {os.getloadavg()[0]:.2f} at {time.strftime('%H:%M:%S')}"
    )


if __name__ == "__main__":
    main()
