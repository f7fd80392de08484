"""Stochastic gradient Nosé–Hoover thermostat (SGNHT) as an optax transform.

Ding, Fang, Babbush, Chen, Skeel & Neven (2014), Algorithm 1, with step ``h``,
diffusion ``A`` and ``n`` parameters:

    p_{t+1}  = p_t - xi_t p_t h - grad U~(theta_t) h + sqrt(2 A) N(0, h),
    theta_{t+1} = theta_t + p_{t+1} h,
    xi_{t+1} = xi_t + (p_{t+1}.p_{t+1} / n - 1) h.

The thermostat ``xi`` is a friction that grows while the kinetic temperature
``p.p / n`` is above its target and shrinks while below, so that the unknown
noise of the stochastic gradient is absorbed (the paper's Theorem). Here it is
written in the "SGD with momentum" variables of SGHMC (``eta = h^2``,
``v = p h``, ``alpha = xi h``, ``a = A h``) and at a temperature ``T``:

    v     <- (1 - alpha) v - eta grad U~(theta) + sqrt(2 a eta T) xi_t,
    theta <- theta + v,
    alpha <- alpha + v.v / n - eta T.

(``(p.p/n - T) h`` times ``h`` is ``v.v/n - eta T``.) At stationarity the
thermostat's mean increment vanishes, so the time-averaged kinetic temperature
``v.v / (n eta)`` equals ``T`` exactly, whatever the gradient noise.

The post-kick ``v`` of this discretisation runs hot by a factor
``1 / (1 - alpha / 2)`` (for the friction–noise part alone its stationary
variance is ``eta T / (1 - alpha/2)``), so holding it at ``T`` cools the
parameters by ``O(alpha)``; the bias grows with the gradient noise, which raises
``alpha``. With ``midpoint_kinetic_energy=True`` the thermostat reads the
midpoint velocity ``(v_old + v_new) / 2`` instead, whose variance in that same
part is exactly ``eta T`` for any ``alpha``: a departure from the paper's
Algorithm 1 that removes the ``O(alpha)`` bias.

A gradient with a NaN or infinite entry is refused: zero update, ``v`` and the
thermostat kept (one bad entry would otherwise reach every coordinate through
the shared thermostat), the step count advanced and the refusal counted in
``num_refused``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from statjax._tree import tree_vdot
from statjax.optim._common import (
    ScalarOrSchedule,
    all_finite,
    check_scalar,
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


class SGNHTState(NamedTuple):
    """State of :func:`sgnht`.

    Attributes:
        count: steps taken, refused ones included (for schedules and keys).
        key: the base PRNG key.
        momentum: ``v``, shaped like the parameters.
        thermostat: the adaptive friction ``alpha = xi h``, a scalar shared by all parameters.
        num_refused: steps refused for a non-finite gradient.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's
    key: PRNGKey
    momentum: ArrayTree
    thermostat: jax.Array
    num_refused: jax.Array


def sgnht(
    learning_rate: ScalarOrSchedule,
    diffusion: float = 0.1,
    temperature: ScalarOrSchedule = 1.0,
    seed: int | PRNGKey = 0,
    midpoint_kinetic_energy: bool = False,
) -> optax.GradientTransformation:
    """SGNHT: SGHMC whose friction is a Nosé–Hoover thermostat (Ding et al. 2014, Algorithm 1).

    Args:
        learning_rate: ``eta = h^2 > 0``, a float or schedule.
        diffusion: ``a = A h > 0``, the injected noise's friction scale; also the
            thermostat's initial value (the paper starts ``xi_0 = A``).
        temperature: ``T > 0``, the target kinetic temperature, a float or schedule.
        seed: an integer or a PRNG key (see :func:`statjax.optim.sgld`).
        midpoint_kinetic_energy: read the kinetic temperature at ``(v_old + v_new) / 2``
            (see the module docstring); ``False`` is Ding et al.'s Algorithm 1.

    A gradient with a NaN or infinite entry gives a zero update and keeps ``v``
    and the thermostat.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = sgnht(learning_rate=1e-3, diffusion=0.1, seed=0)
        >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    """
    check_scalar("learning_rate", learning_rate)
    check_scalar("diffusion", diffusion)
    check_scalar("temperature", temperature)
    key = seed_key(seed)

    def init_fn(params):
        momentum = jax.tree_util.tree_map(jnp.zeros_like, params)
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params), jnp.float32)
        zero = jnp.zeros([], jnp.int32)
        return SGNHTState(
            count=zero,
            key=key,
            momentum=momentum,
            thermostat=jnp.asarray(diffusion, dtype),
            num_refused=zero,
        )

    def update_fn(grads, state, params=None):
        del params
        lr = value_at(learning_rate, state.count)
        temp = value_at(temperature, state.count)
        noise_scale = jnp.sqrt(2.0 * diffusion * lr * temp)
        noise = normal_like(step_key(state.key, state.count), grads)
        momentum = jax.tree_util.tree_map(
            lambda v, g, n: ((1.0 - state.thermostat) * v - lr * g + noise_scale * n).astype(
                v.dtype
            ),
            state.momentum,
            grads,
            noise,
        )
        measured = momentum
        if midpoint_kinetic_energy:
            measured = jax.tree_util.tree_map(lambda a, b: 0.5 * (a + b), state.momentum, momentum)
        num_params = sum(jnp.size(x) for x in jax.tree_util.tree_leaves(momentum))
        thermostat = state.thermostat + tree_vdot(measured, measured) / num_params - lr * temp
        finite = all_finite(grads)
        momentum, thermostat = keep_if(
            finite, (momentum, thermostat), (state.momentum, state.thermostat)
        )
        num_refused = count_refusal(state.num_refused, finite)
        new_state = SGNHTState(increment(state.count), state.key, momentum, thermostat, num_refused)
        return zero_unless(finite, momentum), new_state

    return optax.GradientTransformation(init_fn, update_fn)


def kinetic_temperature(state: SGNHTState, learning_rate: jax.typing.ArrayLike) -> jax.Array:
    """``v.v / (n eta)``: kinetic temperature of an SGHMC/SGNHT momentum (``T`` at equilibrium).

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = sgnht(learning_rate=1e-2, seed=0)
        >>> _, state = opt.update(jnp.zeros(1000), opt.init(jnp.zeros(1000)))
        >>> round(float(kinetic_temperature(state, 1e-2)), 1)  # one kick of variance 2 a eta T
        0.2
    """
    num_params = sum(jnp.size(x) for x in jax.tree_util.tree_leaves(state.momentum))
    return tree_vdot(state.momentum, state.momentum) / (num_params * learning_rate)
