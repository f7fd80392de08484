"""Entropy-SGD (Chaudhari et al. 2017): the local-entropy gradient of a quadratic is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax import optim

CURVATURE = jnp.array([1.0, 3.0])


def loss(x):
    return 0.5 * jnp.sum(CURVATURE * x**2)


def test_local_entropy_gradient_of_a_quadratic():
    """f = k x^2 / 2: Gibbs mean of x' is gamma x / (k + gamma); grad F = gamma k x / (k + gamma).

    Near-zero temperature and a long inner loop make the estimate converge; the
    tolerance is the inner loop's remaining contraction (0.7^200) and float32.
    """
    gamma = 2.0
    transform = optim.local_entropy_gradient(
        gamma, inner_learning_rate=0.1, num_inner_steps=200, temperature=0.0, averaging=0.75
    )
    x = jnp.array([1.0, -2.0])
    local_grad, state = jax.jit(
        lambda x, s: transform.update(jax.grad(loss)(x), s, x, grad_fn=jax.grad(loss))
    )(x, transform.init(x))
    np.testing.assert_allclose(local_grad, gamma * CURVATURE * x / (CURVATURE + gamma), rtol=1e-4)
    assert int(state.count) == 1


def test_scoping_schedule_formula():
    schedule = optim.scoping_schedule(0.03, 1e-3)
    steps = np.arange(0, 5000, 500)
    np.testing.assert_allclose(jax.vmap(schedule)(steps), 0.03 * (1 + 1e-3) ** steps, rtol=1e-5)


def test_entropy_sgd_minimises_a_quadratic_in_a_chain():
    optimizer = optax.chain(
        optax.clip_by_global_norm(10.0),
        optim.entropy_sgd(
            learning_rate=0.5,
            gamma=optim.scoping_schedule(1.0, 1e-2),
            num_inner_steps=10,
            temperature=1e-6,
            seed=0,
        ),
    )

    @jax.jit
    def step(x, state):
        updates, state = optimizer.update(jax.grad(loss)(x), state, x, grad_fn=jax.grad(loss))
        return optax.apply_updates(x, updates), state

    x = jnp.array([3.0, -2.0])
    state = optimizer.init(x)
    for _ in range(100):
        x, state = step(x, state)
    assert float(loss(x)) < 1e-3
