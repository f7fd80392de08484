"""The headline benchmarks on whatever accelerator JAX sees; writes a markdown table.

Rows (each ratio measured in this process, runners interleaved, best of
``--repeats``; see ``timing.best_times``):

- Ising checkerboard and multi-spin checkerboard, square lattice ``L x L`` at
  ``beta_c``: site updates per second (the anchor on a GPU: Romero et al. 2020,
  Comput. Phys. Commun. 256, 107473, about 418 spin flips per ns on a V100 with
  multi-spin coding);
- MALA and HMC (D = 100 Gaussian) against BlackJAX: steps x chains per second;
- Swendsen–Wang and Wolff against a checkerboard Metropolis sweep at ``L = 32``:
  microseconds per step and chain (a Wolff step flips one cluster).

The table names the device (``jax.devices()[0].device_kind``), so every figure
travels with its card. Run on a lent accelerator:

    python benchmarks/gpu_headline.py --out benchmarks/gpu_headline.md

and with small sizes on the CPU to check that it works:

    python benchmarks/gpu_headline.py --ising-sizes 128 --chains 64 --steps 20 --repeats 2
"""

import argparse
import math
import os
import time

import blackjax
import jax
import jax.numpy as jnp
from bench_blackjax import DIM, blackjax_runner, energy, log_density, statjax_runner

import statjax
from statjax.energy.ising import square_ising
from statjax.samplers.cluster import swendsen_wang, wolff
from statjax.samplers.lattice import checkerboard
from statjax.samplers.multispin import multispin_checkerboard
from timing import best_times

BETA_C = math.log(1.0 + math.sqrt(2.0)) / 2.0


def lattice_runner(kernel, num_chains: int, length: int, num_steps: int):
    """``run(key, positions)`` of ``num_steps`` steps of ``kernel`` (a callable for best_times)."""

    def run(key, positions):
        final, _ = statjax.run_chains(kernel, key, positions, num_steps, beta=BETA_C)
        return final.energy

    return run


def ising_rows(sizes, num_chains: int, num_sweeps: int, repeats: int) -> list[str]:
    rows = []
    for length in sizes:
        model = square_ising(length)
        spins = jax.random.rademacher(jax.random.key(1), (num_chains, length, length), jnp.int8)
        times = best_times(
            [
                lattice_runner(checkerboard(model), num_chains, length, num_sweeps),
                lattice_runner(multispin_checkerboard(model), num_chains, length, num_sweeps),
            ],
            jax.random.key(0),
            spins,
            repeats=repeats,
        )
        updates = num_chains * length**2 * num_sweeps
        rates = [updates / t for t in times]
        rows.append(
            f"| Ising checkerboard / multi-spin, L = {length}, {num_chains} chains | "
            f"{rates[0] / 1e9:.3g} / {rates[1] / 1e9:.3g} G site updates/s (= per ns) | "
            f"{rates[1] / rates[0]:.2f}x |"
        )
    return rows


def langevin_rows(num_chains: int, num_steps: int, repeats: int) -> list[str]:
    pairs = {
        "MALA": (blackjax.mala(log_density, 0.05), statjax.mala(energy, 0.05)),
        "HMC": (
            blackjax.hmc(log_density, 0.1, jnp.ones(DIM), 10),
            statjax.hmc(energy, 0.1, 10),
        ),
    }
    rows = []
    positions = jax.random.normal(jax.random.key(1), (num_chains, DIM))
    for name, (peer, ours) in pairs.items():
        peer_time, our_time = best_times(
            [blackjax_runner(peer, num_steps), statjax_runner(ours, num_steps)],
            jax.random.key(0),
            positions,
            repeats=repeats,
        )
        work = num_chains * num_steps
        rows.append(
            f"| {name} vs BlackJAX, D = {DIM}, {num_chains} chains | "
            f"{work / peer_time:.4g} / {work / our_time:.4g} chain-steps/s | "
            f"{peer_time / our_time:.2f}x |"
        )
    return rows


def cluster_rows(num_chains: int, num_steps: int, repeats: int, length: int = 32) -> list[str]:
    model = square_ising(length)
    spins = jnp.ones((num_chains, length, length), jnp.int8)
    kernels = [checkerboard(model), swendsen_wang(model), wolff(model)]
    times = best_times(
        [lattice_runner(k, num_chains, length, num_steps) for k in kernels],
        jax.random.key(0),
        spins,
        repeats=repeats,
    )
    per_step = [1e6 * t / (num_chains * num_steps) for t in times]
    return [
        f"| {name} vs Metropolis sweep, L = {length}, {num_chains} chains | "
        f"{per_step[0]:.3g} / {value:.3g} us per step and chain | "
        f"{value / per_step[0]:.2f}x slower |"
        for name, value in (("Swendsen-Wang", per_step[1]), ("Wolff (one cluster)", per_step[2]))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ising-sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--ising-chains", type=int, default=1)
    parser.add_argument("--ising-sweeps", type=int, default=50)
    parser.add_argument("--chains", type=int, default=8192, help="MALA/HMC chains")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cluster-chains", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="markdown file (default: print only)")
    args = parser.parse_args()

    device = jax.devices()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"Device: **{device.device_kind}** ({device.platform}, {jax.device_count()} device(s)), "
        f"jax {jax.__version__}, blackjax {blackjax.__version__}, {started}, "
        f"host load average {os.getloadavg()[0]:.1f}",
        "",
        "| benchmark | peer / statjax (or baseline / new) | ratio |",
        "|---|---|---|",
    ]
    lines += ising_rows(args.ising_sizes, args.ising_chains, args.ising_sweeps, args.repeats)
    lines += langevin_rows(args.chains, args.steps, args.repeats)
    lines += cluster_rows(args.cluster_chains, args.steps, args.repeats)
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
