"""Stochastic gradient Hamiltonian Monte Carlo (SGHMC) as an optax transform.

Chen, Fox & Guestrin (2014), eq. (15), the "SGD with momentum" form of their
Algorithm 2 (``eta = eps^2 M^-1``, ``alpha = eps M^-1 C``, ``v = eps M^-1 r``,
``beta_hat = eps M^-1 B_hat / 2``):

    Delta theta = v,
    Delta v = -eta grad U~(theta) - alpha v + N(0, 2 (alpha - beta_hat) eta).

At a temperature ``T`` the friction's fluctuation–dissipation partner becomes
``2 alpha eta T``, and the stationary law is ``exp(-U / T)`` for ``theta`` and
``N(0, eta T)`` for ``v`` (kinetic temperature ``|v|^2 / (n eta) = T``). The
stochastic gradient adds noise of variance ``eta^2 V`` to ``v``; the user's
estimate ``V_hat`` of the gradient-noise variance is subtracted
(``beta_hat = eta V_hat / 2``), so the injected variance is
``max(2 eta (alpha T - beta_hat), 0)``. A wrong ``V_hat`` (or friction)
leaves the kinetic temperature off target; :func:`statjax.optim.sgnht` adapts
the friction instead.

The momentum is updated first with the gradient at the current parameters,
and the update returned is the new ``v`` (the paper's ordering, up to the
position of the first half step; ``theta`` moves by the freshly kicked ``v``).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from statjax.optim._common import (
    ScalarOrSchedule,
    all_finite,
    check_scalar,
    check_unit_interval,
    count_refusal,
    increment,
    keep_if,
    seed_key,
    step_key,
    value_at,
    zero_unless,
)
from statjax.random import normal_like
from statjax.types import ArrayTree, PRNGKey


class SGHMCState(NamedTuple):
    """State of :func:`sghmc`.

    Attributes:
        count: steps taken, refused ones included (for schedules and keys).
        key: the base PRNG key.
        momentum: ``v``, shaped like the parameters.
        num_refused: steps refused for a non-finite gradient.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's
    key: PRNGKey
    momentum: ArrayTree
    num_refused: jax.Array


def sghmc(
    learning_rate: ScalarOrSchedule,
    friction: float = 0.1,
    temperature: ScalarOrSchedule = 1.0,
    gradient_noise_variance: float = 0.0,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformation:
    """SGHMC: ``v <- (1 - alpha) v - eta g + sqrt(2 eta (alpha T - beta_hat)) xi``, update ``v``.

    Chen, Fox & Guestrin (2014), eq. (15), at temperature ``T`` (module docstring).

    Args:
        learning_rate: ``eta > 0`` (``eps^2 / M``), a float or schedule.
        friction: ``alpha`` in ``(0, 1]``, the fraction of momentum lost per step
            (``1 - alpha`` is SGD's momentum coefficient).
        temperature: ``T >= 0``, a float or schedule.
        gradient_noise_variance: ``V_hat >= 0``, the estimated per-coordinate
            variance of the stochastic gradient; ``beta_hat = eta V_hat / 2``.
        seed: an integer or a PRNG key (see :func:`statjax.optim.sgld`).

    A gradient with a NaN or infinite entry gives a zero update and keeps ``v``.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = sghmc(learning_rate=1e-3, friction=0.1, seed=0)
        >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    """
    check_scalar("learning_rate", learning_rate)
    check_scalar("temperature", temperature, allow_zero=True)
    check_unit_interval("friction", friction, closed_right=True)
    check_scalar("gradient_noise_variance", gradient_noise_variance, allow_zero=True)
    key = seed_key(seed)

    def init_fn(params):
        momentum = jax.tree_util.tree_map(jnp.zeros_like, params)
        zero = jnp.zeros([], jnp.int32)
        return SGHMCState(count=zero, key=key, momentum=momentum, num_refused=zero)

    def update_fn(grads, state, params=None):
        del params
        lr = value_at(learning_rate, state.count)
        temp = value_at(temperature, state.count)
        beta_hat = 0.5 * lr * gradient_noise_variance
        noise_scale = jnp.sqrt(jnp.maximum(2.0 * lr * (friction * temp - beta_hat), 0.0))
        noise = normal_like(step_key(state.key, state.count), grads)
        momentum = jax.tree_util.tree_map(
            lambda v, g, n: ((1.0 - friction) * v - lr * g + noise_scale * n).astype(v.dtype),
            state.momentum,
            grads,
            noise,
        )
        finite = all_finite(grads)
        momentum = keep_if(finite, momentum, state.momentum)
        num_refused = count_refusal(state.num_refused, finite)
        new_state = SGHMCState(increment(state.count), state.key, momentum, num_refused)
        return zero_unless(finite, momentum), new_state

    return optax.GradientTransformation(init_fn, update_fn)
