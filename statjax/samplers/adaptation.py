"""Step-size adaptation by dual averaging, shared across vmapped chains."""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from statjax.samplers.base import check_positive
from statjax.samplers.run import (
    _beta_at,
    _check_counts,
    _check_initial_energy,
    _initial_states,
    _num_chains,
    _prepare_beta,
)
from statjax.types import ArrayTree, BetaLike, PRNGKey


class DualAveragingState(NamedTuple):
    """State of Nesterov's dual averaging on ``log step_size``.

    Attributes:
        log_step_size: the iterate ``x_t`` (the step size used next).
        log_step_size_avg: the averaged iterate ``x_bar_t`` (the final answer).
        step: iteration count ``t``.
        average_error: ``H_bar_t``, running mean of ``target - acceptance``.
        mu: shrinkage point, ``log(10 * initial_step_size)``.
    """

    log_step_size: jax.Array
    log_step_size_avg: jax.Array
    step: jax.Array
    average_error: jax.Array
    mu: jax.Array


def dual_averaging_init(initial_step_size: jax.typing.ArrayLike) -> DualAveragingState:
    """Start dual averaging at ``initial_step_size`` (Hoffman & Gelman 2014, Alg. 5)."""
    log_step = jnp.log(jnp.asarray(initial_step_size, dtype=float))
    zero = jnp.zeros_like(log_step)
    return DualAveragingState(log_step, zero, zero, zero, jnp.log(10.0) + log_step)


def dual_averaging_update(
    state: DualAveragingState,
    acceptance_rate: jax.typing.ArrayLike,
    target_acceptance: float = 0.8,
    gamma: float = 0.05,
    t0: float = 10.0,
    kappa: float = 0.75,
) -> DualAveragingState:
    """One dual-averaging update of ``log step_size`` toward ``target_acceptance``.

    Hoffman & Gelman (2014), "The No-U-Turn Sampler", eqs. (5)-(6):

        H_bar_t = (1 - 1/(t + t0)) H_bar_{t-1} + (target - a_t) / (t + t0)
        x_t     = mu - sqrt(t) / gamma * H_bar_t
        x_bar_t = t^-kappa x_t + (1 - t^-kappa) x_bar_{t-1}

    Pass the acceptance rate averaged over chains to adapt one step size for all
    of them (the vmapped case), or a per-chain array for per-chain step sizes.
    """
    step = state.step + 1
    weight = 1.0 / (step + t0)
    average_error = (1 - weight) * state.average_error + weight * (
        target_acceptance - acceptance_rate
    )
    log_step_size = state.mu - jnp.sqrt(step) / gamma * average_error
    decay = step ** (-kappa)
    log_step_size_avg = decay * log_step_size + (1 - decay) * state.log_step_size_avg
    return DualAveragingState(log_step_size, log_step_size_avg, step, average_error, state.mu)


def adapt_step_size(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    beta: BetaLike = 1.0,
    target_acceptance: float = 0.8,
) -> tuple[Any, Any]:
    """Tune ``kernel.step_size`` so that the chains accept ``target_acceptance`` on average.

    Runs ``num_steps`` warm-up steps of all chains in one jitted scan; after each
    step the acceptance rate averaged over chains drives
    :func:`dual_averaging_update`, so one step size serves every chain (and, with
    the temperature-scaled kernels of statjax, every temperature). Returns the
    kernel with the averaged step size ``exp(x_bar)`` and the chains' states at the
    end of warm-up, ready for :func:`statjax.run_chains`.

    Args:
        kernel: a kernel with a scalar ``step_size`` field (MALA, ULA, HMC, ...).
        key: PRNG key (warm-up keys follow the :func:`statjax.run_chains` rule).
        initial: positions ``(num_chains, ...)`` or kernel states.
        num_steps: warm-up steps.
        beta: as in :func:`statjax.run_chains`.
        target_acceptance: the acceptance rate to reach, in (0, 1); 0.574 is
            optimal for MALA in high dimension, 0.65 to 0.8 for HMC.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum(x**2), 1.0)
        >>> kernel, states = statjax.samplers.adapt_step_size(
        ...     kernel, jax.random.key(0), jnp.zeros((16, 2)), 200)
    """
    if not 0.0 < target_acceptance < 1.0:
        raise ValueError(f"target_acceptance must lie in (0, 1), got {target_acceptance}.")
    num_steps, _, _ = _check_counts(num_steps, 1, 0)
    check_positive("kernel.step_size", kernel.step_size)
    states = _initial_states(kernel, initial)
    num_chains = _num_chains(states)
    _check_initial_energy(states)
    beta = _prepare_beta(beta, num_chains, 0, num_steps)
    averaging = dual_averaging_init(kernel.step_size)
    states, averaging = _adapt(
        kernel, key, states, beta, averaging, jnp.asarray(target_acceptance), num_steps=num_steps
    )
    return kernel.replace(step_size=jnp.exp(averaging.log_step_size_avg)), states


@partial(jax.jit, static_argnames=("num_steps",))
def _adapt(kernel, key, states, beta, averaging, target_acceptance, *, num_steps):
    num_chains = _num_chains(states)

    def one_step(carry, step):
        states, averaging = carry
        tuned = kernel.replace(step_size=jnp.exp(averaging.log_step_size))
        keys = jax.random.split(jax.random.fold_in(key, step), num_chains)
        states, info = jax.vmap(tuned.step)(keys, states, _beta_at(beta, step, num_chains))
        averaging = dual_averaging_update(
            averaging, jnp.mean(info.acceptance_rate), target_acceptance
        )
        return (states, averaging), None

    (states, averaging), _ = jax.lax.scan(one_step, (states, averaging), jnp.arange(num_steps))
    return states, averaging
