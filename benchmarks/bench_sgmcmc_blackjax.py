"""statjax.optim vs BlackJAX: SGLD and SGHMC on a small Bayesian MLP, same work, same process.

Model: a 20-32-2 tanh MLP with a Gaussian prior, on 4096 synthetic points
(labels from a random teacher MLP); energy U = -log prior - N/n sum_batch log lik.
Both libraries get the same data, minibatch indices (batch size --batch-size),
number of gradient steps, step size and temperature, vmapped over chains and
scanned over steps under one jit each. BlackJAX's ``sghmc.step`` resamples the
momentum and takes ``num_integration_steps`` (L) gradient steps on one
minibatch; statjax's ``sghmc`` keeps its momentum, and is fed the same
minibatch for L consecutive updates, so both make the same gradient steps.
Throughput is gradient steps (per chain) per second; each runner is compiled
first, then timed (best of --repeats, interleaved), blocking on the result.
Ratio = statjax / BlackJAX (> 1: statjax faster).

    python benchmarks/bench_sgmcmc_blackjax.py
    python benchmarks/bench_sgmcmc_blackjax.py --chains 1 --steps 2000
"""

import argparse
import os
import platform

import blackjax
import jax
import jax.numpy as jnp
import optax

from statjax import optim
from timing import best_times

NUM_DATA, DIM, HIDDEN, CLASSES = 4096, 20, 32, 2
PRIOR_PRECISION = 1.0


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (DIM, HIDDEN)) / jnp.sqrt(DIM),
        "b1": jnp.zeros(HIDDEN),
        "w2": jax.random.normal(k2, (HIDDEN, CLASSES)) / jnp.sqrt(HIDDEN),
        "b2": jnp.zeros(CLASSES),
    }


def logits_fn(params, x):
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def log_prior(params):
    return -0.5 * PRIOR_PRECISION * sum(jnp.sum(p**2) for p in jax.tree.leaves(params))


def log_likelihood(params, datum):
    x, y = datum
    return jax.nn.log_softmax(logits_fn(params, x))[y]


def energy(params, batch):
    """``-log prior - N/n sum_batch log p(y | x)``: the minibatch estimate of the energy."""
    x, y = batch
    log_probs = jax.nn.log_softmax(logits_fn(params, x))
    log_lik = jnp.take_along_axis(log_probs, y[:, None], axis=1).sum()
    return -log_prior(params) - NUM_DATA / x.shape[0] * log_lik


def make_data(key):
    k_x, k_teacher = jax.random.split(key)
    x = jax.random.normal(k_x, (NUM_DATA, DIM))
    y = jnp.argmax(logits_fn(init_params(k_teacher), x), axis=1)
    return x, y


def blackjax_runner(name, data, batch_indices, step_size, temperature, friction, inner_steps):
    grad_fn = blackjax.sgmcmc.gradients.grad_estimator(log_prior, log_likelihood, NUM_DATA)
    if name == "sgld":
        algorithm = blackjax.sgld(grad_fn)
        indices, outer = batch_indices, batch_indices.shape[0]
    else:
        # BlackJAX SGHMC: x += eps v; v = (1 - alpha eps) v + eps grad log p + noise;
        # our eta = eps^2, our friction = alpha eps.
        algorithm = blackjax.sghmc(grad_fn, inner_steps, alpha=friction / step_size)
        indices, outer = batch_indices[::inner_steps], batch_indices.shape[0] // inner_steps

    @jax.jit
    def run(key, positions):
        def one_step(positions, inputs):
            step_key, index = inputs
            minibatch = (data[0][index], data[1][index])
            keys = jax.random.split(step_key, positions["b2"].shape[0])
            step = lambda k, p: algorithm.step(k, p, minibatch, step_size, temperature)
            return jax.vmap(step)(keys, positions), None

        positions, _ = jax.lax.scan(one_step, positions, (jax.random.split(key, outer), indices))
        return positions

    return run


def statjax_runner(name, data, batch_indices, step_size, temperature, friction, inner_steps):
    if name == "sgld":
        make = lambda key: optim.sgld(step_size, temperature, seed=key)
    else:
        make = lambda key: optim.sghmc(step_size**2, friction, temperature, seed=key)
        batch_indices = jnp.repeat(batch_indices[::inner_steps], inner_steps, axis=0)
    grad_energy = jax.grad(energy)

    @jax.jit
    def run(key, positions):
        num_chains = positions["b2"].shape[0]
        states = jax.vmap(lambda k, p: make(k).init(p))(
            jax.random.split(key, num_chains), positions
        )
        optimizer = make(key)  # update reads each chain's own key from its state

        def one_step(carry, index):
            positions, states = carry
            minibatch = (data[0][index], data[1][index])
            grads = jax.vmap(grad_energy, (0, None))(positions, minibatch)
            updates, states = jax.vmap(optimizer.update)(grads, states, positions)
            return (optax.apply_updates(positions, updates), states), None

        (positions, _), _ = jax.lax.scan(one_step, (positions, states), batch_indices)
        return positions

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samplers", nargs="+", default=["sgld", "sghmc"])
    args = parser.parse_args()
    step_size, temperature, friction, inner_steps = 1e-4, 1.0, 0.1, 10

    key_data, key_batches, key_init, key_run = jax.random.split(jax.random.key(0), 4)
    data = make_data(key_data)
    batch_indices = jax.random.randint(key_batches, (args.steps, args.batch_size), 0, NUM_DATA)
    load = os.getloadavg()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{jax.devices()[0].device_kind}, jax {jax.__version__}, blackjax {blackjax.__version__}; "
        f"MLP {DIM}-{HIDDEN}-{CLASSES}, N {NUM_DATA}, batch {args.batch_size}, "
        f"{args.steps} gradient steps, best of {args.repeats}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{'sampler':8} {'chains':>7} {'blackjax steps/s':>17} {'statjax steps/s':>16} {'ratio':>6}"
    )
    for name in args.samplers:
        settings = (data, batch_indices, step_size, temperature, friction, inner_steps)
        runners = [blackjax_runner(name, *settings), statjax_runner(name, *settings)]
        for num_chains in args.chains:
            positions = jax.vmap(init_params)(jax.random.split(key_init, num_chains))
            peer_time, our_time = best_times(runners, key_run, positions, repeats=args.repeats)
            peer, ours = args.steps / peer_time, args.steps / our_time
            print(
                f"{name:8} {num_chains:7d} {peer:17.4g} {ours:16.4g} {ours / peer:6.2f}", flush=True
            )
    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
