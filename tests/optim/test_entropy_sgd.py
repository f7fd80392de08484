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


def nan_like(tree):
    return jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), tree)


def test_nonfinite_inner_gradients_are_refused_and_counted():
    """A NaN outer gradient refuses the first inner step only; a bad minibatch gives 0."""
    transform = optim.local_entropy_gradient(1.0, num_inner_steps=6, temperature=1e-4, seed=0)
    x = jnp.array([1.0, -2.0])

    def update(grads, state, scale=1.0):
        grad_fn = lambda x_prime: scale * jax.grad(loss)(x_prime)
        return transform.update(grads, state, x, grad_fn=grad_fn)

    clean, _ = update(jax.grad(loss)(x), transform.init(x))
    local_grad, state = update(nan_like(x), transform.init(x))
    assert np.all(np.isfinite(local_grad)) and int(state.num_refused) == 1
    assert not np.allclose(local_grad, clean)  # the first inner step did not move
    for bad in (np.nan, np.inf):
        local_grad, state = update(jnp.full(2, bad), state, bad)
        np.testing.assert_array_equal(local_grad, 0.0)
    assert int(state.num_refused) == 1 + 2 * 6 and int(state.count) == 3


def test_entropy_sgd_skips_a_bad_minibatch_and_keeps_minimising():
    optimizer = optim.entropy_sgd(
        learning_rate=0.5, gamma=1.0, momentum=None, num_inner_steps=10, temperature=1e-6
    )

    @jax.jit
    def step(x, state, bad):
        scale = jnp.where(bad, jnp.nan, 1.0)
        grad_fn = lambda x: scale * jax.grad(loss)(x)
        updates, state = optimizer.update(grad_fn(x), state, x, grad_fn=grad_fn)
        return optax.apply_updates(x, updates), state, updates

    x = jnp.array([3.0, -2.0])
    state = optimizer.init(x)
    for iteration in range(60):
        before = x
        x, state, updates = step(x, state, iteration == 20)
        if iteration == 20:
            np.testing.assert_array_equal(updates, 0.0)
            np.testing.assert_array_equal(x, before)
    assert np.all(np.isfinite(x)) and float(loss(x)) < 1e-3
    assert int(state[0].num_refused) == 10


def test_integer_seed_legacy_and_typed_keys_give_the_same_numbers():
    x = jnp.array([1.0, -2.0])

    def estimate(seed):
        transform = optim.local_entropy_gradient(1.0, num_inner_steps=3, temperature=0.1, seed=seed)
        return transform.update(jax.grad(loss)(x), transform.init(x), x, grad_fn=jax.grad(loss))[0]

    estimates = [estimate(seed) for seed in (5, jax.random.PRNGKey(5), jax.random.key(5))]
    np.testing.assert_array_equal(estimates[0], estimates[1])
    np.testing.assert_array_equal(estimates[0], estimates[2])


def test_a_new_scoping_schedule_reuses_the_compiled_program():
    traces = []

    @jax.jit
    def values(schedule):
        traces.append(None)
        return jax.vmap(schedule)(jnp.arange(0, 5000, 500))

    steps = np.arange(0, 5000, 500)
    for gamma_0, gamma_1 in ((0.03, 1e-3), (1.0, 1e-2), (0.5, 0.0)):
        np.testing.assert_allclose(
            values(optim.scoping_schedule(gamma_0, gamma_1)),
            gamma_0 * (1 + gamma_1) ** steps,
            rtol=1e-5,
        )
    assert len(traces) == 1
