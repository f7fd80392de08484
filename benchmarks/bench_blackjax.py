"""statjax vs BlackJAX: MALA and HMC on a 100-D anisotropic Gaussian, same work, same process.

Both samplers run the same target (energy E = -log density), the same number of
chains, steps, step sizes and integration steps, vmapped over chains and scanned
over steps under one jit each, with one key split per step. Each is compiled
first, then timed (best of --repeats, the two interleaved), blocking on the result. Throughput is
chain-steps per second; the ratio is statjax / BlackJAX (> 1: statjax faster).

    python benchmarks/bench_blackjax.py                 # the table in benchmarks/README.md
    python benchmarks/bench_blackjax.py --chains 1 64   # a subset
"""

import argparse
import platform

import blackjax
import jax
import jax.numpy as jnp

import statjax
from timing import best_times

DIM = 100
SCALES = jnp.linspace(0.5, 2.0, DIM)


def energy(x):
    return 0.5 * jnp.sum((x / SCALES) ** 2)


def log_density(x):
    return -energy(x)


def blackjax_runner(algorithm, num_steps):
    @jax.jit
    def run(key, positions):
        states = jax.vmap(algorithm.init)(positions)
        num_chains = positions.shape[0]

        def one_step(states, step_key):
            keys = jax.random.split(step_key, num_chains)
            states, _ = jax.vmap(algorithm.step)(keys, states)
            return states, None

        states, _ = jax.lax.scan(one_step, states, jax.random.split(key, num_steps))
        return states.position

    return run


def statjax_runner(kernel, num_steps):
    def run(key, positions):
        final, _ = statjax.run_chains(kernel, key, positions, num_steps)
        return final.position

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 64, 1024, 8192])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", default=["mala", "hmc"])
    parser.add_argument(
        "--impl",
        default="threefry2x32",
        help="PRNG implementation for both samplers (threefry2x32, rbg, unsafe_rbg)",
    )
    args = parser.parse_args()

    step_size, hmc_step_size, num_integration_steps = 0.05, 0.1, 10
    pairs = {
        "mala": (
            blackjax.mala(log_density, step_size),
            statjax.mala(energy, step_size),
        ),
        "hmc": (
            blackjax.hmc(log_density, hmc_step_size, jnp.ones(DIM), num_integration_steps),
            statjax.hmc(energy, hmc_step_size, num_integration_steps),
        ),
    }
    print(
        f"# {platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, "
        f"jax {jax.__version__}, blackjax {blackjax.__version__}, dim {DIM}, "
        f"{args.steps} steps, best of {args.repeats}, PRNG {args.impl}"
    )
    print(
        f"{'sampler':8} {'chains':>7} {'blackjax steps/s':>17} {'statjax steps/s':>16} {'ratio':>6}"
    )
    key = jax.random.key(0, impl=args.impl)
    for name in args.samplers:
        blackjax_algorithm, statjax_kernel = pairs[name]
        for num_chains in args.chains:
            positions = jax.random.normal(jax.random.key(1), (num_chains, DIM))
            work = num_chains * args.steps
            peer_time, our_time = best_times(
                [
                    blackjax_runner(blackjax_algorithm, args.steps),
                    statjax_runner(statjax_kernel, args.steps),
                ],
                key,
                positions,
                repeats=args.repeats,
            )
            peer, ours = work / peer_time, work / our_time
            print(
                f"{name:8} {num_chains:7d} {peer:17.4g} {ours:16.4g} {ours / peer:6.2f}", flush=True
            )


if __name__ == "__main__":
    main()
