"""statjax's adaptive tempered SMC vs BlackJAX's on one Gaussian target: log Z error per second.

Target: an anisotropic Gaussian in D dimensions, ``E(x) = sum ((x - mu) / s)^2 / 2``
(closed-form ``log Z``), reached from ``beta_0`` (exact Gaussian draws) along the
temperature path ``exp(-beta E)``. BlackJAX tempers ``prior * likelihood^lambda``;
with ``log prior = -beta_0 E`` and ``log likelihood = -(1 - beta_0) E`` its path is
the same one, ``beta = beta_0 + lambda (1 - beta_0)``. Both libraries get the same
particles, MALA step size and moves per stage, resample (systematic) at every
stage and pick the next temperature so that the ESS of the new weights is
``--target-ess`` of ``N`` (BlackJAX's ``ess_solver``; statjax's conditional ESS is
the same quantity after a resampling). Each runs the whole adaptive schedule under
one ``jit`` (a ``lax.while_loop``; statjax's is built in); ``--runs`` independent
runs (keys) are timed, best of ``--repeats``, interleaved, compiled first.

Figure of merit: ``1 / (MSE(log Z) * seconds per run)``, the inverse of the
work-normalised variance (the "log Z error reached per second"). Ratio = statjax
/ BlackJAX (> 1: statjax better).

    python benchmarks/bench_smc_blackjax.py
    python benchmarks/bench_smc_blackjax.py --dim 50 --particles 4096
"""

import argparse
import os
import platform
import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.smc import resampling

import statjax
from statjax.energy import AnisotropicGaussian
from statjax.thermo.smc import adaptive_tempered_smc


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--particles", type=int, default=1024)
    parser.add_argument("--beta-0", type=float, default=0.01)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--mcmc-steps", type=int, default=5)
    parser.add_argument("--target-ess", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def main():
    args = parse()
    gaussian = AnisotropicGaussian(
        mean=jnp.linspace(-1.0, 1.0, args.dim), scales=jnp.linspace(0.5, 2.0, args.dim)
    )
    beta_0 = args.beta_0
    exact = float(gaussian.log_z(1.0))
    base_log_z = gaussian.log_z(beta_0)

    def draws(key):
        noise = jax.random.normal(key, (args.particles, args.dim))
        return gaussian.mean + gaussian.scales / np.sqrt(beta_0) * noise

    kernel = statjax.samplers.mala(gaussian, args.step_size)

    def statjax_run(key):
        init_key, run_key = jax.random.split(key)
        return adaptive_tempered_smc(
            kernel,
            run_key,
            draws(init_key),
            initial_beta=beta_0,
            target_beta=1.0,
            base_log_z=base_log_z,
            target_ess=args.target_ess,
            resample_threshold=1.0,
            resampling="systematic",
            num_steps_per_beta=args.mcmc_steps,
            max_stages=256,
        ).log_z

    smc = blackjax.adaptive_tempered_smc(
        lambda x: -beta_0 * gaussian(x),
        lambda x: -(1.0 - beta_0) * gaussian(x),
        blackjax.mcmc.mala.build_kernel(),
        blackjax.mcmc.mala.init,
        {"step_size": jnp.array([args.step_size])},
        resampling.systematic,
        args.target_ess,
        num_mcmc_steps=args.mcmc_steps,
    )

    @jax.jit
    def blackjax_run(key):
        init_key, run_key = jax.random.split(key)

        def not_done(carry):
            return carry[1].tempering_param < 1.0

        def one_step(carry):
            step, state, log_z = carry
            state, info = smc.step(jax.random.fold_in(run_key, step), state)
            return step + 1, state, log_z + info.log_likelihood_increment

        carry = (0, smc.init(draws(init_key)), jnp.zeros(()))
        return jax.lax.while_loop(not_done, one_step, carry)[2] + base_log_z

    keys = jax.random.split(jax.random.key(0), args.runs)
    results = {}
    for name, runner in (("statjax", statjax_run), ("blackjax", blackjax_run)):
        jax.block_until_ready(runner(keys[0]))  # compile
        results[name] = {"times": [], "log_z": None}
    for _ in range(args.repeats):
        for name, runner in (("statjax", statjax_run), ("blackjax", blackjax_run)):
            start = time.perf_counter()
            log_zs = [float(runner(key)) for key in keys]
            results[name]["times"].append((time.perf_counter() - start) / args.runs)
            results[name]["log_z"] = np.asarray(log_zs)
    print(
        f"# {platform.machine()} {os.cpu_count()} CPUs, jax {jax.__version__}, blackjax "
        f"{blackjax.__version__}; D = {args.dim}, N = {args.particles}, MALA step "
        f"{args.step_size} x {args.mcmc_steps} per stage, target ESS {args.target_ess}, "
        f"{args.runs} runs"
    )
    merit = {}
    for name, result in results.items():
        errors = result["log_z"] - exact
        seconds = min(result["times"])
        mse = float(np.mean(errors**2))
        merit[name] = 1.0 / (mse * seconds)
        print(
            f"{name:9s} bias {errors.mean():+.4f}  rmse {np.sqrt(mse):.4f}  "
            f"{seconds * 1e3:8.1f} ms/run  1/(MSE s) {merit[name]:10.1f}"
        )
    ratio = merit["statjax"] / merit["blackjax"]
    print(f"ratio statjax / blackjax (1 / (MSE * seconds)): {ratio:.2f}")


if __name__ == "__main__":
    main()
