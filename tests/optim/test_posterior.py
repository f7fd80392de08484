"""The posterior-sample collector: burn-in, thinning, a bounded ring buffer, ensemble prediction."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statjax import optim


def test_burn_in_thinning_and_ring_buffer():
    collector = optim.posterior_collector(capacity=3, burn_in=4, thin=3)
    state = collector.init({"w": jnp.zeros(2)})
    collect = jax.jit(chex.assert_max_traces(collector.collect, n=1))
    for step in range(20):
        state = collect(state, {"w": jnp.full(2, float(step))})
    # Offered at steps 4, 7, 10, 13, 16, 19; the ring keeps the last three.
    assert int(state.num_collected) == 6 and int(state.num_kept) == 3
    assert sorted(np.asarray(state.samples["w"][:, 0]).tolist()) == [13.0, 16.0, 19.0]
    assert int(state.num_offered) == 20


def test_partial_buffer_mask_and_ensemble_mean():
    collector = optim.posterior_collector(capacity=5)
    state = collector.init(jnp.zeros(()))
    for value in (1.0, 2.0, 6.0):
        state = collector.collect(state, jnp.asarray(value))
    np.testing.assert_array_equal(state.mask, [True, True, True, False, False])
    assert float(optim.ensemble_mean(lambda theta, x: theta * x, state, 3.0)) == pytest.approx(9.0)


def test_keep_flag_for_cyclical_sampling_stage():
    collector = optim.posterior_collector(capacity=10)
    state = collector.init(jnp.zeros(()))
    for step in range(10):
        keep = optim.is_sampling_phase(step, 10, 2, exploration_fraction=0.6)
        state = collector.collect(state, jnp.asarray(float(step)), keep)
    kept = np.asarray(state.samples)[np.asarray(state.mask)]
    np.testing.assert_array_equal(np.sort(kept), [3.0, 4.0, 8.0, 9.0])


def test_collector_vmaps_over_chains():
    collector = optim.posterior_collector(capacity=2, thin=2)
    states = jax.vmap(collector.init)(jnp.zeros((3, 4)))
    collect = jax.jit(jax.vmap(collector.collect))
    for step in range(4):
        chains = jnp.arange(3.0)[:, None] * 10 + step * jnp.ones((3, 4))
        states = collect(states, chains, jnp.array([True, True, False]))
    np.testing.assert_array_equal(states.num_collected, [2, 2, 0])
    np.testing.assert_array_equal(states.samples[:, :, 0], [[0.0, 2.0], [10.0, 12.0], [0.0, 0.0]])


def test_ensemble_probabilities_average_softmax():
    collector = optim.posterior_collector(capacity=2)
    state = collector.init(jnp.zeros(2))
    state = collector.collect(state, jnp.array([10.0, -10.0]))
    state = collector.collect(state, jnp.array([-10.0, 10.0]))
    probs = optim.ensemble_probabilities(lambda theta, x: theta * x, state, jnp.ones((4, 1)))
    np.testing.assert_allclose(probs, 0.5, atol=1e-6)


def test_collector_inside_a_jitted_sgld_loop_gives_posterior_mean():
    """SGLD on U = (x - 2)^2 / 2 at T = 1: the kept samples average to 2 within MC error."""
    optimizer = optim.sgld(0.1, temperature=1.0, seed=0)
    collector = optim.posterior_collector(capacity=400, burn_in=100, thin=5)

    def step(carry, _):
        x, opt_state, samples = carry
        updates, opt_state = optimizer.update(x - 2.0, opt_state)
        x = optax.apply_updates(x, updates)
        return (x, opt_state, collector.collect(samples, x)), None

    x = jnp.zeros(())
    carry = (x, optimizer.init(x), collector.init(x))
    (_, _, samples), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, length=2100))(carry)
    assert int(samples.num_kept) == 400
    mean = float(optim.ensemble_mean(lambda theta: theta, samples))
    # AR(1) with rho = 0.9 per step, thinned by 5: rho^5 = 0.59, so ESS ~ 400 (1-0.59)/(1+0.59).
    stderr = np.sqrt(1 / (1 - 0.05) / (400 * 0.41 / 1.59))
    assert abs(mean - 2.0) < 5 * stderr


@pytest.mark.parametrize(
    "kwargs", [{"capacity": 0}, {"capacity": 2, "burn_in": -1}, {"capacity": 2, "thin": 0}]
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        optim.posterior_collector(**kwargs)
