"""How much of a MALA step is the random-number generator? (statjax alone, no peer)

Times, interleaved in one process (best of --repeats):

- a full MALA run of ``run_chains`` drawing with ``statjax.random``'s fused path
  and with ``jax.random`` itself (``statjax.random.use_backend("jax")``; the same
  numbers for a Threefry key, so the same chains);
- only the draws a MALA step needs (``d + 1`` uniforms per chain per step, ``d``
  of them turned into normals), through each backend;
- the normal transform on the fused path: ``sqrt(2) erfinv(v)`` (what
  ``jax.random.normal`` and statjax compute) against Box–Muller, both from one
  word per number, so the transforms alone differ;

and prints the generator's share of a MALA step.

    python benchmarks/rng_share.py --chains 1024 --impl threefry2x32
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import statjax
import statjax.random as sjrandom
from timing import best_times

DIM = 100
SCALES = jnp.linspace(0.5, 2.0, DIM)


def energy(x):
    return 0.5 * jnp.sum((x / SCALES) ** 2)


def draws_runner(num_chains, num_steps, draw):
    @jax.jit
    def run(key):
        def one_step(total, step_key):
            keys = jax.random.split(step_key, num_chains)
            return total + jax.vmap(draw)(keys).sum(), None

        return jax.lax.scan(one_step, 0.0, jax.random.split(key, num_steps))[0]

    return run


def mala_draws(backend):
    def draw(key):
        noise, log_u = sjrandom.normal_and_log_uniform_like(key, jnp.zeros(DIM), backend=backend)
        return noise.sum() + log_u

    return draw


def erfinv_normals(key):
    return sjrandom.normal(key, (DIM + 1,), backend="fused")


def box_muller_normals(key):
    # One hash per number (its two words: u1 in (0, 1], u2 in [0, 1)) and the cosine
    # variate: the same hash work as erfinv_normals, so only the transform differs.
    seed0, seed1 = sjrandom.seed_words(key)
    counters = jax.lax.iota(jnp.uint32, DIM + 1)
    x0, x1 = sjrandom.threefry2x32(
        jnp.broadcast_to(seed0, counters.shape),
        jnp.broadcast_to(seed1, counters.shape),
        jnp.zeros_like(counters),
        counters,
    )
    u1 = sjrandom.unit_float32_open_left(x0)
    u2 = sjrandom.unit_float32(x1)
    return jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(np.float32(2 * np.pi) * u2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--impl", default="threefry2x32")
    args = parser.parse_args()
    key = jax.random.key(0, impl=args.impl)
    positions = jnp.zeros((args.chains, DIM))
    kernel = statjax.mala(energy, 0.05)

    def mala(backend):
        def run():
            with sjrandom.use_backend(backend):
                return statjax.run_chains(kernel, key, positions, args.steps)[0].position

        return run

    draws = {
        name: draws_runner(args.chains, args.steps, draw)
        for name, draw in [
            ("draws_fused", mala_draws("fused")),
            ("draws_jax", mala_draws("jax")),
            ("erfinv", erfinv_normals),
            ("box_muller", box_muller_normals),
        ]
    }
    names = ["mala_fused", "mala_jax", *draws]
    runners = [mala("fused"), mala("jax")] + [lambda f=f: f(key) for f in draws.values()]
    times = dict(zip(names, best_times(runners, repeats=args.repeats), strict=True))
    print(
        f"# {args.chains} chains x {args.steps} steps x {DIM + 1} numbers, PRNG {args.impl}, "
        f"best of {args.repeats} (ms)"
    )
    for name, seconds in times.items():
        print(f"{name:12s} {seconds * 1e3:9.1f}")
    print(
        f"generator share of MALA: fused {times['draws_fused'] / times['mala_fused']:.0%}, "
        f"jax.random {times['draws_jax'] / times['mala_jax']:.0%}; "
        f"MALA fused/jax speedup {times['mala_jax'] / times['mala_fused']:.2f}x; "
        f"draws {times['draws_jax'] / times['draws_fused']:.2f}x; "
        f"Box-Muller / erfinv time {times['box_muller'] / times['erfinv']:.2f}"
    )


if __name__ == "__main__":
    main()
