"""statjax NUTS + windowed adaptation vs BlackJAX's and NumPyro's, same target, same process.

Target: a 100-D Gaussian with variances log-spaced over [0.1, 10] (condition
number 100). Every sampler starts its chains at 0, runs the same number of
warm-up steps (Stan's windowed adaptation of the step size toward a mean
acceptance statistic of 0.8 and of a diagonal inverse mass matrix, maximum
tree depth 10) and the same number of sampling steps:

- statjax: ``window_adaptation(nuts(...))`` with one mass matrix and step size
  pooled over the chains, then ``run_chains``; with ``--per-chain`` also
  "statjax-pc", which adapts one per chain (``per_chain=True``) like the peers;
- BlackJAX: ``blackjax.window_adaptation(blackjax.nuts, ...)`` vmapped over
  chains (BlackJAX adapts each chain alone), then its NUTS step vmapped over
  chains with each chain's parameters and scanned over steps, under one jit;
- NumPyro: its functional NUTS (``numpyro.infer.hmc.hmc(potential_fn, algo="NUTS")``,
  what ``MCMC(chain_method="vectorized")`` runs, with Stan's windowed
  adaptation per chain) vmapped over chains and scanned under one jit.

Each pipeline (warm-up + sampling) is run once to compile and then timed on
``--repeats`` runs with other keys (default ``max(1, 8 // chains)``; ESS,
seconds and gradients are summed over them). Reported per sampler: the bulk ESS of the slowest
coordinate (``statjax.diagnostics.effective_sample_size``, the same function on
every trace), ESS per second (warm-up + sampling wall time), ESS per gradient
evaluation (gradients of the sampling phase, summed over chains), and
"vmap-idle": the share of the gradient evaluations a vmapped loop over
leapfrog steps does for chains whose trajectory has already ended,
``1 - sum_c n_c / (C max_c n_c)`` per step (statjax's flat loop wastes exactly
this; BlackJAX's and NumPyro's loops over doublings waste at least this).

    python benchmarks/bench_nuts.py                       # the table in benchmarks/README.md
    python benchmarks/bench_nuts.py --chains 1 64 --steps 200
"""

import argparse
import platform
import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np

import statjax
from statjax.diagnostics import effective_sample_size
from statjax.samplers.nuts import nuts
from statjax.samplers.window_adaptation import window_adaptation

DIM = 100
VARIANCES = jnp.asarray(np.logspace(-1, 1, DIM), jnp.float32)


def energy(x):
    return 0.5 * jnp.sum(x**2 / VARIANCES)


def log_density(x):
    return -energy(x)


def _observe(state, info):
    return state.position, info.num_integration_steps


def statjax_pipeline(num_chains, num_warmup, num_samples, per_chain=False):
    fields = ("step_size", "inverse_mass_matrix") if per_chain else ()

    def run(key):
        warmup_key, sample_key = jax.random.split(key)
        kernel, states, _ = window_adaptation(
            nuts(energy, 1.0),
            warmup_key,
            jnp.zeros((num_chains, DIM)),
            num_warmup,
            per_chain=per_chain,
        )
        _, (positions, steps) = statjax.run_chains(
            kernel, sample_key, states, num_samples, observe=_observe, per_chain=fields
        )
        return jax.block_until_ready((positions, steps))

    return run


def statjax_per_chain_pipeline(num_chains, num_warmup, num_samples):
    return statjax_pipeline(num_chains, num_warmup, num_samples, per_chain=True)


def blackjax_pipeline(num_chains, num_warmup, num_samples):
    warmup = blackjax.window_adaptation(blackjax.nuts, log_density)

    @jax.jit
    def run_jitted(key):
        warmup_key, sample_key = jax.random.split(key)
        keys = jax.random.split(warmup_key, num_chains)
        (states, parameters), _ = jax.vmap(lambda k, x: warmup.run(k, x, num_warmup))(
            keys, jnp.zeros((num_chains, DIM))
        )

        def one_chain_step(state, key, step_size, inverse_mass_matrix):
            return blackjax.nuts.build_kernel()(
                key, state, log_density, step_size, inverse_mass_matrix
            )

        def one_step(states, step_key):
            step_keys = jax.random.split(step_key, num_chains)
            states, info = jax.vmap(one_chain_step)(
                states,
                step_keys,
                parameters["step_size"],
                parameters["inverse_mass_matrix"],
            )
            return states, (states.position, info.num_integration_steps)

        _, trace = jax.lax.scan(one_step, states, jax.random.split(sample_key, num_samples))
        return trace

    def run(key):
        return jax.block_until_ready(run_jitted(key))

    return run


def numpyro_pipeline(num_chains, num_warmup, num_samples):
    # NumPyro's functional NUTS (what MCMC(chain_method="vectorized") runs), under one
    # jit, so that compilation is excluded as for the others (MCMC.run recompiles on
    # every call: 12 s per call for 2 chains x 100 steps of a 10-D Gaussian here).
    from numpyro.infer.hmc import hmc

    init_kernel, sample_kernel = hmc(potential_fn=energy, algo="NUTS")

    @jax.jit
    def run_jitted(key):
        keys = jax.random.split(jax.random.key_data(key), num_chains)

        def init(key, position):
            return init_kernel(
                position,
                num_warmup=num_warmup,
                target_accept_prob=0.8,
                max_tree_depth=10,
                rng_key=key,
            )

        states = jax.vmap(init)(keys, jnp.zeros((num_chains, DIM)))

        def one_step(states, _):
            states = jax.vmap(sample_kernel)(states)
            return states, (states.z, states.num_steps)

        _, trace = jax.lax.scan(one_step, states, None, length=num_warmup + num_samples)
        return jax.tree_util.tree_map(lambda x: x[num_warmup:], trace)

    def run(key):
        return jax.block_until_ready(run_jitted(key))

    return run


def measure(pipeline, num_chains, num_warmup, num_samples, repeats):
    """Sums over ``repeats`` runs (keys 1, 2, ...) after one compiling run (key 0)."""
    run = pipeline(num_chains, num_warmup, num_samples)
    run(jax.random.key(0))  # compile
    ess = seconds = gradients = idle = busy = 0
    for repeat in range(1, repeats + 1):
        start = time.perf_counter()
        positions, steps = run(jax.random.key(repeat))
        seconds += time.perf_counter() - start
        ess += float(jnp.min(effective_sample_size(positions, kind="bulk")))
        steps = np.asarray(steps, np.int64)
        gradients += int(steps.sum())
        busy += num_chains * int(steps.max(axis=1).sum())
    idle = 1.0 - gradients / busy
    return ess, seconds, gradients, idle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--peers", nargs="+", default=["blackjax", "numpyro"])
    parser.add_argument(
        "--per-chain", action="store_true", help="also statjax with per-chain adaptation"
    )
    parser.add_argument(
        "--repeats", type=int, default=0, help="timed runs per point (default: 8 // chains, >= 1)"
    )
    args = parser.parse_args()
    print(
        f"jax {jax.__version__}, blackjax {blackjax.__version__}, {platform.processor()}, "
        f"{jax.devices()[0].platform}; {DIM}-D Gaussian, variances 0.1..10, "
        f"{args.warmup} warm-up + {args.steps} sampling steps"
    )
    pipelines = {
        "statjax": statjax_pipeline,
        "statjax-pc": statjax_per_chain_pipeline,
        "blackjax": blackjax_pipeline,
        "numpyro": numpyro_pipeline,
    }
    names = ["statjax", *(["statjax-pc"] if args.per_chain else []), *args.peers]
    print(
        "chains  sampler   min bulk ESS  seconds  ESS/s     ESS/grad  grads/chain/step  vmap-idle"
    )
    for num_chains in args.chains:
        results = {}
        for name in names:
            repeats = args.repeats or max(1, 8 // num_chains)
            ess, seconds, gradients, wasted = measure(
                pipelines[name], num_chains, args.warmup, args.steps, repeats
            )
            results[name] = ess / seconds
            print(
                f"{num_chains:6d}  {name:8s}  {ess:12.0f}  {seconds:7.2f}  {ess / seconds:8.1f}  "
                f"{ess / gradients:8.4f}  {gradients / (repeats * num_chains * args.steps):16.1f}  "
                f"{wasted:9.1%}"
            )
        for peer in args.peers:
            print(
                f"        statjax / {peer} ESS per second: "
                f"{results['statjax'] / results[peer]:.2f}x"
            )


if __name__ == "__main__":
    main()
