"""Preconditioned SGLD (pSGLD) with an RMSprop preconditioner, as an optax transform.

Li, Chen, Carlson & Carin (2016), Algorithm 1 and eq. (4)–(5):

    V_t = a V_{t-1} + (1 - a) g_t * g_t,            G_t = 1 / (lambda + sqrt(V_t)),
    theta_{t+1} = theta_t + eps/2 [G_t grad log p(theta_t) + Gamma(theta_t)] + N(0, eps G_t).

With the energy ``U = -log p``, ``lr = eps / 2`` and a temperature ``T``:

    theta_{t+1} = theta_t - lr G_t grad U + sqrt(2 lr T G_t) xi_t.

The curvature-correction term ``Gamma`` (derivatives of ``G`` in ``theta``) is
left out, as in the paper's experiments: its authors show the bias this adds is
small when ``a`` is close to 1, where ``G`` changes slowly. It is not always
negligible: on a 2-D Gaussian with full-batch gradients the sampled variance
comes out 25-40% high at ``a = 0.99`` and 3-10% high at ``a = 0.999``
(``tests/optim/test_sgmcmc_gaussian.py``). Prefer ``a`` near 1 when the
samples, not just the optimum, matter.

A gradient with a NaN or infinite entry is refused: zero update, ``V`` kept, the
step count advanced and the refusal counted in ``num_refused``.
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


class PSGLDState(NamedTuple):
    """State of :func:`psgld`.

    Attributes:
        count: steps taken, refused ones included (for schedules and keys).
        key: the base PRNG key.
        square_average: ``V``, the running mean of squared gradients.
        num_refused: steps refused for a non-finite gradient.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's
    key: PRNGKey
    square_average: ArrayTree
    num_refused: jax.Array


def psgld(
    learning_rate: ScalarOrSchedule,
    temperature: ScalarOrSchedule = 1.0,
    decay: float = 0.99,
    epsilon: float = 1e-5,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformation:
    """pSGLD: ``update = -lr G grad U + sqrt(2 lr T G) xi``, ``G = 1 / (lambda + sqrt(V))``.

    Li et al. (2016), Algorithm 1 (without ``Gamma``; see the module docstring).

    Args:
        learning_rate: ``lr = eps / 2 > 0``, a float or schedule.
        temperature: ``T >= 0``, a float or schedule.
        decay: the RMSprop decay ``a`` in ``[0, 1)`` (the paper's ``alpha``, 0.99).
        epsilon: the paper's ``lambda > 0`` (1e-5), which bounds ``G``.
        seed: an integer or a PRNG key (see :func:`statjax.optim.sgld`).

    A gradient with a NaN or infinite entry gives a zero update and keeps ``V``.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = psgld(learning_rate=1e-3, seed=0)
        >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    """
    check_scalar("learning_rate", learning_rate)
    check_scalar("temperature", temperature, allow_zero=True)
    check_unit_interval("decay", decay, closed_left=True)
    check_scalar("epsilon", epsilon)
    key = seed_key(seed)

    def init_fn(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        zero = jnp.zeros([], jnp.int32)
        return PSGLDState(count=zero, key=key, square_average=zeros, num_refused=zero)

    def update_fn(grads, state, params=None):
        del params
        lr = value_at(learning_rate, state.count)
        temp = value_at(temperature, state.count)
        square_average = jax.tree_util.tree_map(
            lambda v, g: decay * v + (1.0 - decay) * g * g, state.square_average, grads
        )
        noise = normal_like(step_key(state.key, state.count), grads)

        def leaf_update(g, v, n):
            preconditioner = 1.0 / (epsilon + jnp.sqrt(v))
            return (
                -lr * preconditioner * g + jnp.sqrt(2.0 * lr * temp * preconditioner) * n
            ).astype(g.dtype)

        updates = jax.tree_util.tree_map(leaf_update, grads, square_average, noise)
        finite = all_finite(grads)
        square_average = keep_if(finite, square_average, state.square_average)
        num_refused = count_refusal(state.num_refused, finite)
        new_state = PSGLDState(increment(state.count), state.key, square_average, num_refused)
        return zero_unless(finite, updates), new_state

    return optax.GradientTransformation(init_fn, update_fn)
