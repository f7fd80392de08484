"""Stochastic gradient Langevin dynamics (SGLD) as an optax transform.

Welling & Teh (2011), eq. (4): ``Delta theta_t = eps_t / 2 (grad log p(theta_t) +
N/n sum_i grad log p(x_i | theta_t)) + eta_t``, ``eta_t ~ N(0, eps_t)``. With the
energy ``U = -log p`` (its minibatch estimate's gradient is the gradient optax
receives), learning rate ``lr = eps / 2`` and a temperature ``T`` (the
stationary law is ``exp(-U / T)``; ``T = 1`` is the paper's), the step is

    theta_{t+1} = theta_t - lr grad U(theta_t) + sqrt(2 lr T) xi_t,   xi_t ~ N(0, I),

the Euler–Maruyama step of ``d theta = -grad U dt + sqrt(2T) dW`` (ULA with
stochastic gradients). As in ``statjax.samplers.ula`` the drift does not depend
on ``T``; only the noise does (``docs/design-decisions.md``).

A gradient with a NaN or infinite entry is refused: the update is zero, the
step count still advances (schedules and the key of step ``t`` stay functions of
the global step) and ``num_refused`` counts it (``statjax.optim``'s docstring).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from statjax.optim._common import (
    ScalarOrSchedule,
    all_finite,
    check_scalar,
    count_refusal,
    increment,
    seed_key,
    step_key,
    value_at,
    zero_unless,
)
from statjax.random import normal_like
from statjax.types import PRNGKey


class SGLDState(NamedTuple):
    """State of :func:`sgld`.

    Attributes:
        count: steps taken, refused ones included (for schedules and keys).
        key: the base PRNG key.
        num_refused: steps refused for a non-finite gradient.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's
    key: PRNGKey
    num_refused: jax.Array


def sgld(
    learning_rate: ScalarOrSchedule,
    temperature: ScalarOrSchedule = 1.0,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformation:
    """SGLD: ``update = -lr grad U + sqrt(2 lr T) xi`` (Welling & Teh 2011, eq. 4).

    Updates are *added* to the parameters (``optax.apply_updates``), and the
    gradients it receives are gradients of the energy (the loss, e.g. the
    minibatch negative log posterior scaled to the full data set). A gradient
    with a NaN or infinite entry gives a zero update, counted in ``num_refused``.

    Args:
        learning_rate: ``lr > 0`` (``eps / 2`` in the paper), a float or an
            ``optax.Schedule`` of the step count.
        temperature: ``T >= 0``, a float or a schedule; ``T = 0`` is plain SGD.
        seed: an integer or a PRNG key; the noise of step ``t`` uses
            ``fold_in(key, t)``. Give each chain its own key
            (``jax.vmap(lambda k, p: sgld(lr, seed=k).init(p))(keys, params)``).

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> opt = sgld(learning_rate=1e-2, temperature=1.0, seed=0)
        >>> params = jnp.zeros(3)
        >>> state = opt.init(params)
        >>> updates, state = opt.update(params - 1.0, state)  # grad of |x - 1|^2 / 2
        >>> params = optax.apply_updates(params, updates)
    """
    check_scalar("learning_rate", learning_rate)
    check_scalar("temperature", temperature, allow_zero=True)
    key = seed_key(seed)

    def init_fn(params):
        del params
        zero = jnp.zeros([], jnp.int32)
        return SGLDState(count=zero, key=key, num_refused=zero)

    def update_fn(grads, state, params=None):
        del params
        lr = value_at(learning_rate, state.count)
        temp = value_at(temperature, state.count)
        noise = normal_like(step_key(state.key, state.count), grads)
        noise_scale = jnp.sqrt(2.0 * lr * temp)
        updates = jax.tree_util.tree_map(
            lambda g, n: (-lr * g + noise_scale * n).astype(g.dtype), grads, noise
        )
        finite = all_finite(grads)
        num_refused = count_refusal(state.num_refused, finite)
        new_state = SGLDState(increment(state.count), state.key, num_refused)
        return zero_unless(finite, updates), new_state

    return optax.GradientTransformation(init_fn, update_fn)
