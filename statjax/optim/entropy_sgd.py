"""Entropy-SGD: descent on the local entropy, with an inner Langevin loop (Chaudhari et al. 2017).

Chaudhari, Choromanska, Soatto, LeCun, Baldassi, Borgs, Chayes, Sagun &
Zecchina (2017). The local free energy of ``f`` around ``x`` at coupling
``gamma`` is ``F(x; gamma) = -log int exp(-f(x') - gamma/2 |x - x'|^2) dx'``;
its gradient is ``gamma (x - <x'>)``, the average over the Gibbs measure of
``x'`` (their eq. (7)). Algorithm 1 estimates ``<x'>`` with ``L`` SGLD steps:

    x' <- x;  mu <- x
    repeat L times:
        dx' = grad f(x') - gamma (x - x')
        x'  <- x' - eta' dx' + sqrt(eta') epsilon N(0, I)
        mu  <- (1 - a) mu + a x'
    x <- x - eta gamma (x - mu)

The thermal noise ``epsilon`` is ``sqrt(2 T)`` in this package's convention
(inner noise ``sqrt(2 eta' T)``). ``gamma`` is scoped upwards during training,
``gamma_t = gamma_0 (1 + gamma_1)^t`` (their Section 4.3): :func:`scoping_schedule`.

:func:`local_entropy_gradient` returns ``gamma (x - mu)`` as a *gradient*, so it
chains with any optax optimizer (the paper uses SGD with Nesterov momentum or
Adam for the outer step); :func:`entropy_sgd` chains it with ``optax.sgd``.
The inner loop needs gradients at points other than the parameters, so
``update`` takes the minibatch gradient function as the extra argument
``grad_fn`` (``optax.chain`` passes it through).

The inner loop is SGLD and refuses a non-finite gradient as
:func:`statjax.optim.sgld` does: an inner step whose gradient has a NaN or
infinite entry leaves ``x'`` and ``mu`` as they were, and ``num_refused``
counts it. The local-entropy gradient is then always finite (for finite
parameters), so no NaN reaches the outer optimizer; a minibatch whose every
gradient is non-finite gives ``gamma (x - x) = 0``, a skipped step for plain
SGD (with momentum, the parameters coast on the momentum for that step).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from statjax.checks import check_count
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
)
from statjax.pytree import Pytree
from statjax.random import normal_like
from statjax.types import ArrayTree, PRNGKey


class LocalEntropyState(NamedTuple):
    """State of :func:`local_entropy_gradient`.

    Attributes:
        count: outer steps taken (for schedules and keys).
        key: the base PRNG key.
        num_refused: inner SGLD steps refused for a non-finite gradient.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's
    key: PRNGKey
    num_refused: jax.Array


class ScopingSchedule(Pytree):
    """``gamma_0 (1 + gamma_1)^t`` with both numbers as leaves (see :func:`scoping_schedule`)."""

    gamma_0: float
    gamma_1: float

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The coupling at ``step``."""
        log_growth = jnp.log1p(self.gamma_1)
        return self.gamma_0 * jnp.exp(jnp.asarray(step, jnp.float32) * log_growth)


def scoping_schedule(gamma_0: float, gamma_1: float) -> ScopingSchedule:
    """``gamma_t = gamma_0 (1 + gamma_1)^t`` (Chaudhari et al. 2017, Section 4.3).

    A pytree whose numbers are leaves: a new schedule reuses a compiled program.

    Examples:
        >>> round(float(scoping_schedule(1e-4, 1e-3)(1000)), 7)
        0.0002717
    """
    check_scalar("gamma_0", gamma_0)
    check_scalar("gamma_1", gamma_1, allow_zero=True)
    return ScopingSchedule(gamma_0, gamma_1)


def local_entropy_gradient(
    gamma: ScalarOrSchedule,
    inner_learning_rate: float = 0.1,
    num_inner_steps: int = 20,
    temperature: float = 1e-8,
    averaging: float = 0.75,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformationExtraArgs:
    """Replace the gradient by ``gamma (x - mu)``, the local-entropy gradient (Algorithm 1).

    ``update(grads, state, params, grad_fn=...)``: ``grads`` is ``grad f(params)``
    (used for the first inner step) and ``grad_fn(x')`` the minibatch gradient at
    another point, both on the same minibatch.

    Args:
        gamma: the coupling ``gamma > 0``, a float or schedule (:func:`scoping_schedule`).
        inner_learning_rate: ``eta' > 0`` of the inner SGLD loop.
        num_inner_steps: ``L >= 1``.
        temperature: the inner loop's ``T >= 0`` (``epsilon = sqrt(2 T)``; the paper's
            ``epsilon ~ 1e-4`` is ``T = 5e-9``).
        averaging: ``a`` in ``(0, 1]``, the weight of the newest ``x'`` in ``mu``.
        seed: an integer or a PRNG key.

    An inner step whose gradient has a NaN or infinite entry is refused (module
    docstring); ``num_refused`` counts them.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> loss = lambda x: 0.5 * jnp.sum(x**2)
        >>> transform = local_entropy_gradient(gamma=1.0, num_inner_steps=5, seed=0)
        >>> x = jnp.ones(2)
        >>> grad, state = transform.update(
        ...     jax.grad(loss)(x), transform.init(x), x, grad_fn=jax.grad(loss)
        ... )
    """
    check_scalar("gamma", gamma)
    check_scalar("inner_learning_rate", inner_learning_rate)
    check_scalar("temperature", temperature, allow_zero=True)
    check_unit_interval("averaging", averaging, closed_right=True)
    num_inner_steps = check_count("num_inner_steps", num_inner_steps)
    key = seed_key(seed)

    def init_fn(params):
        del params
        zero = jnp.zeros([], jnp.int32)
        return LocalEntropyState(count=zero, key=key, num_refused=zero)

    def update_fn(grads, state, params=None, *, grad_fn: Callable[[ArrayTree], ArrayTree]):
        if params is None:
            raise ValueError(
                "local_entropy_gradient needs params: call update(grads, state, params)."
            )
        coupling = value_at(gamma, state.count)
        noise_scale = jnp.sqrt(2.0 * inner_learning_rate * temperature)
        keys = jax.random.split(step_key(state.key, state.count), num_inner_steps)

        def inner_step(carry, key_and_index):
            x_prime, mu, num_refused = carry
            key, index = key_and_index
            grad_f = jax.lax.cond(index == 0, lambda: grads, lambda: grad_fn(x_prime))
            noise = normal_like(key, x_prime)
            new_x_prime = jax.tree_util.tree_map(
                lambda xp, x, g, n: (
                    xp - inner_learning_rate * (g - coupling * (x - xp)) + noise_scale * n
                ),
                x_prime,
                params,
                grad_f,
                noise,
            )
            new_mu = jax.tree_util.tree_map(
                lambda m, xp: (1 - averaging) * m + averaging * xp, mu, new_x_prime
            )
            finite = all_finite(grad_f)
            x_prime, mu = keep_if(finite, (new_x_prime, new_mu), (x_prime, mu))
            return (x_prime, mu, count_refusal(num_refused, finite)), None

        (_, mu, num_refused), _ = jax.lax.scan(
            inner_step,
            (params, params, state.num_refused),
            (keys, jnp.arange(num_inner_steps)),
        )
        local_grad = jax.tree_util.tree_map(
            lambda x, m: (coupling * (x - m)).astype(x.dtype), params, mu
        )
        return local_grad, LocalEntropyState(increment(state.count), state.key, num_refused)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def entropy_sgd(
    learning_rate: ScalarOrSchedule,
    gamma: ScalarOrSchedule = 0.03,
    momentum: float | None = 0.9,
    nesterov: bool = True,
    inner_learning_rate: float = 0.1,
    num_inner_steps: int = 20,
    temperature: float = 1e-8,
    averaging: float = 0.75,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformationExtraArgs:
    """Entropy-SGD: ``x <- x - eta gamma (x - mu)`` (Chaudhari et al. 2017, Algorithm 1).

    The outer step is ``optax.sgd(learning_rate, momentum, nesterov)`` applied to
    :func:`local_entropy_gradient` (see it for the other arguments).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> loss = lambda x: jnp.sum(x**2)
        >>> opt = entropy_sgd(learning_rate=0.1, gamma=scoping_schedule(0.03, 1e-3), seed=0)
        >>> x = jnp.ones(2)
        >>> state = opt.init(x)
        >>> updates, state = opt.update(jax.grad(loss)(x), state, x, grad_fn=jax.grad(loss))
    """
    return optax.chain(
        local_entropy_gradient(
            gamma, inner_learning_rate, num_inner_steps, temperature, averaging, seed
        ),
        optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov),
    )
