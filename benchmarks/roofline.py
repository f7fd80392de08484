"""A roofline for statjax's kernels: how close each runs to this machine's generator limit.

On the CPU every statjax kernel is bound by its random numbers (``rng_share.py``:
81 % of a MALA run). The wall is therefore the *generator's rate*: this script
measures it (fused uniform words/s and fused normals/s under one ``jit``, large
arrays, best of ``--repeats``), counts the random numbers one step of each kernel
needs, and reports

    fraction of the limit = (numbers per step / generator rate) / measured time per step,

i.e. the share of the measured time that the random numbers alone would take at
the generator's full rate (1.0 = at the wall; the rest is the kernel's own
arithmetic and memory traffic). The arithmetic of one step is given as the
second count (integer/float operations per site or per coordinate, counted
from the code).

    python benchmarks/roofline.py [--repeats 5]
"""

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp

import statjax
import statjax.random
from statjax.energy.ising import square_ising
from statjax.samplers.cluster import swendsen_wang, wolff
from statjax.samplers.lattice import checkerboard
from statjax.samplers.multispin import HI_BITS, multispin_checkerboard

BETA_C = math.log(1.0 + math.sqrt(2.0)) / 2.0
NUM_DRAWS = 2**24


def best_time(run, repeats: int) -> float:
    jax.block_until_ready(run())
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
    return best


def generator_rates(repeats: int) -> dict:
    """Fused words/s (uint32), uniforms/s and normals/s (float32), one jit each.

    Each draw is consumed by a sum in the same program (fused: nothing of the
    draws' size is written to memory), as a kernel consumes its numbers.
    """
    key = jax.random.key(0)
    draws = {
        "words": jax.jit(lambda k: jnp.sum(statjax.random.bits(k, (NUM_DRAWS,)) & 1)),
        "uniforms": jax.jit(lambda k: jnp.sum(statjax.random.uniform(k, (NUM_DRAWS,)))),
        "normals": jax.jit(lambda k: jnp.sum(statjax.random.normal(k, (NUM_DRAWS,)))),
    }
    return {name: NUM_DRAWS / best_time(lambda f=f: f(key), repeats) for name, f in draws.items()}


def kernel_time(kernel, positions, num_steps: int, repeats: int, beta=BETA_C) -> float:
    """Seconds per step and chain under ``run_chains``."""
    key = jax.random.key(1)

    def run():
        return statjax.run_chains(kernel, key, positions, num_steps, beta=beta)[0].energy

    return best_time(run, repeats) / (num_steps * positions.shape[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--length", type=int, default=512, help="Ising side (checkerboard)")
    parser.add_argument("--cluster-length", type=int, default=32)
    args = parser.parse_args()
    rates = generator_rates(args.repeats)
    print(
        f"# jax {jax.__version__} on {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"generator limit: {rates['words'] / 1e9:.3g} G words/s, "
        f"{rates['uniforms'] / 1e9:.3g} G uniforms/s, {rates['normals'] / 1e9:.3g} G normals/s"
    )
    length, small = args.length, args.cluster_length
    big_spins = jnp.ones((1, length, length), jnp.int8)
    small_spins = jnp.ones((16, small, small), jnp.int8)
    dim = 100
    gaussian = jax.random.normal(jax.random.key(2), (1024, dim))

    def energy(x):
        return 0.5 * jnp.sum(x**2)

    # (name, kernel, positions, words per step, normals per step, arithmetic per step)
    rows = [
        ("checkerboard Ising", checkerboard(square_ising(length)), big_spins,
         length**2, 0, "~15 int8 ops/site"),
        ("multi-spin Ising", multispin_checkerboard(square_ising(length)), big_spins,
         length**2 * (HI_BITS + 2) / 32, 0, "~25 uint32 ops/32 sites per plane"),
        ("Swendsen-Wang", swendsen_wang(square_ising(small)), small_spins,
         3 * small**2, 0, "labels: ~5 rounds x (gathers + scatter-min)/site"),
        ("Wolff", wolff(square_ising(small)), small_spins,
         2 * small**2 + 2, 0, "growth rounds x ~10 ops/site"),
        ("MALA D=100", statjax.mala(energy, 0.1), gaussian, 1, dim, "~10 flops/coordinate"),
        ("HMC D=100, 10 leapfrog", statjax.hmc(energy, 0.1, 10), gaussian, 1, dim,
         "~60 flops/coordinate"),
    ]  # fmt: skip
    print(
        "| kernel | time per step and chain | random numbers per step | arithmetic | "
        "fraction of generator limit |"
    )
    print("|---|---|---|---|---|")
    for name, kernel, positions, words, normals, arithmetic in rows:
        seconds = kernel_time(kernel, positions, 20, args.repeats)
        floor = words / rates["words"] + normals / rates["normals"]
        print(
            f"| {name} | {seconds * 1e6:.4g} us | {words:.4g} words + {normals} normals | "
            f"{arithmetic} | {floor / seconds:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
