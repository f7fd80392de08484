"""Chain-steps per second of MALA and HMC through ``run_chains`` on whatever device JAX has.

Not a peer comparison (``bench_blackjax.py`` is): a probe of the one driver's
throughput on an accelerator, and, run with ``PYTHONPATH`` pointing at an older
checkout, of one statjax version against another on the same device.

    python benchmarks/driver_throughput.py --chains 1024 8192 65536
"""

import argparse
import time

import jax
import jax.numpy as jnp

import statjax


def quadratic(x):
    return 0.5 * jnp.sum(x**2)


def best_time(kernel, positions, num_steps: int, repeats: int) -> float:
    final, _ = statjax.run_chains(kernel, jax.random.key(0), positions, num_steps)
    jax.block_until_ready(final.position)
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        final, _ = statjax.run_chains(kernel, jax.random.key(repeat), positions, num_steps)
        jax.block_until_ready(final.position)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1024, 8192, 65536])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"# statjax {statjax.__file__}, jax {jax.__version__}, {jax.devices()}")
    kernels = {
        "mala": statjax.mala(quadratic, 0.05),
        "hmc": statjax.hmc(quadratic, 0.05, 10),
    }
    for name, kernel in kernels.items():
        for chains in args.chains:
            seconds = best_time(kernel, jnp.zeros((chains, args.dim)), args.steps, args.repeats)
            rate = chains * args.steps / seconds
            print(f"{name:5s} chains={chains:6d} {seconds * 1e3:8.1f} ms  {rate:.3e} chain-steps/s")


if __name__ == "__main__":
    main()
