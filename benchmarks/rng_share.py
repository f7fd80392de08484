"""How much of a MALA step is the random-number generator? (statjax alone, no peer)

Times a full MALA run of ``run_chains`` and, on the same shapes, only the draws a
MALA step needs (``d + 1`` uniforms per chain per step and the ``erfinv`` that
turns ``d`` of them into normals), and prints the generator's share.

    python benchmarks/rng_share.py --chains 1024 --impl threefry2x32
"""

import argparse

import jax
import jax.numpy as jnp

import statjax
from timing import best_times

DIM = 100
SCALES = jnp.linspace(0.5, 2.0, DIM)


def energy(x):
    return 0.5 * jnp.sum((x / SCALES) ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--impl", default="threefry2x32")
    args = parser.parse_args()
    key = jax.random.key(0, impl=args.impl)
    positions = jnp.zeros((args.chains, DIM))
    kernel = statjax.mala(energy, 0.05)

    @jax.jit
    def draws_only(key):
        def one_step(total, step_key):
            keys = jax.random.split(step_key, args.chains)
            uniform = jax.vmap(lambda k: jax.random.uniform(k, (DIM + 1,), minval=-1.0))(keys)
            return total + jax.lax.erf_inv(uniform[:, :DIM] * 0.999999).sum(), None

        return jax.lax.scan(one_step, 0.0, jax.random.split(key, args.steps))[0]

    full, rng = best_times(
        [
            lambda: statjax.run_chains(kernel, key, positions, args.steps)[0].position,
            lambda: draws_only(key),
        ],
        repeats=7,
    )
    print(
        f"{args.chains} chains x {args.steps} steps, PRNG {args.impl}: "
        f"MALA {full:.4f} s, draws alone {rng:.4f} s, generator share {rng / full:.0%}"
    )


if __name__ == "__main__":
    main()
