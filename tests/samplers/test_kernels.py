"""Every kernel against exact answers: Gaussian moments, tempering, NaN regions, keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax

NUM_CHAINS = 2048


def _kernels(energy, scales):
    return {
        "metropolis": statjax.metropolis(energy, 0.8 * scales),
        "mala": statjax.mala(energy, 0.1),
        "hmc": statjax.hmc(energy, 0.25, 8, inverse_mass_matrix=scales**2),
    }


@pytest.mark.parametrize("name", ["metropolis", "mala", "hmc"])
@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_exact_kernels_recover_gaussian_moments(
    name, beta, gaussian, assert_gaussian_moments, dispersed_positions
):
    """Final states of many independent chains are iid draws from N(mean, scales^2 / beta)."""
    kernel = _kernels(gaussian, gaussian.scales)[name]
    final, _ = statjax.run_chains(
        kernel, jax.random.key(0), dispersed_positions(NUM_CHAINS, 3), 600, beta=beta
    )
    assert_gaussian_moments(final.position, gaussian.mean, gaussian.scales**2 / beta)


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_ula_matches_its_exact_biased_variance(beta, gaussian, assert_gaussian_moments):
    """ULA on E = x^2 / (2 s^2) is an AR(1) chain with stationary variance
    ``T s^2 / (1 - eps / (2 s^2))``: exact, so the O(eps) bias is tested too."""
    step_size = 0.2
    kernel = statjax.ula(gaussian, step_size)
    initial = jnp.broadcast_to(gaussian.mean, (NUM_CHAINS, 3))
    final, _ = statjax.run_chains(kernel, jax.random.key(3), initial, 600, beta=beta)
    variance = gaussian.scales**2 / beta / (1 - step_size / (2 * gaussian.scales**2))
    assert_gaussian_moments(final.position, gaussian.mean, variance)


def test_per_chain_betas_give_a_ladder_in_one_call(gaussian, assert_gaussian_moments):
    """vmap over temperatures: half the chains at beta = 1, half at beta = 4."""
    betas = jnp.repeat(jnp.array([1.0, 4.0]), NUM_CHAINS // 2)
    kernel = statjax.mala(gaussian, 0.1)
    initial = jnp.broadcast_to(gaussian.mean, (NUM_CHAINS, 3))
    final, _ = statjax.run_chains(kernel, jax.random.key(5), initial, 600, beta=betas)
    half = NUM_CHAINS // 2
    for block, beta in ((slice(0, half), 1.0), (slice(half, None), 4.0)):
        assert_gaussian_moments(final.position[block], gaussian.mean, gaussian.scales**2 / beta)


@pytest.mark.parametrize("name", ["metropolis", "mala", "ula", "hmc"])
def test_nan_region_is_never_entered(name):
    """E is NaN for x_0 > 0.5 (and +inf for x_1 > 1): no chain ever steps there."""

    def energy(x):
        quadratic = 0.5 * jnp.sum(x**2)
        return jnp.where(x[0] > 0.5, jnp.nan, jnp.where(x[1] > 1.0, jnp.inf, quadratic))

    kernel = {
        "metropolis": statjax.metropolis(energy, 0.7),
        "mala": statjax.mala(energy, 0.3),
        "ula": statjax.ula(energy, 0.3),
        "hmc": statjax.hmc(energy, 0.3, 5),
    }[name]
    initial = jnp.zeros((256, 2))
    _, trace = statjax.run_chains(
        kernel, jax.random.key(0), initial, 300, observe=lambda s: (s.position, s.energy)
    )
    positions, energies = trace
    assert np.all(np.isfinite(np.asarray(energies)))
    assert np.all(np.asarray(positions[..., 0]) <= 0.5)
    assert np.all(np.asarray(positions[..., 1]) <= 1.0)


@pytest.mark.parametrize("name", ["metropolis", "mala", "hmc"])
def test_same_key_same_result_and_vmap_equals_single_chain(name, gaussian):
    kernel = _kernels(gaussian, gaussian.scales)[name]
    positions = jnp.stack([jnp.zeros(3), jnp.ones(3), -jnp.ones(3)])
    keys = jax.random.split(jax.random.key(7), 3)
    step = jax.jit(kernel.step)
    states = jax.vmap(kernel.init)(positions)
    batched, _ = jax.vmap(step, in_axes=(0, 0, None))(keys, states, 2.0)
    batched_again, _ = jax.vmap(step, in_axes=(0, 0, None))(keys, states, 2.0)
    np.testing.assert_array_equal(batched.position, batched_again.position)
    for i in range(3):
        single, _ = step(keys[i], kernel.init(positions[i]), 2.0)
        np.testing.assert_allclose(single.position, batched.position[i], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(single.energy, batched.energy[i], rtol=1e-6, atol=1e-6)


def test_kernels_work_on_pytree_positions(assert_gaussian_moments):
    """A position that is a dict of arrays: E = |a|^2 / 2 + |b|^2 / (2 * 0.25)."""

    def energy(x):
        return 0.5 * jnp.sum(x["a"] ** 2) + 2.0 * jnp.sum(x["b"] ** 2)

    initial = {"a": jnp.zeros((NUM_CHAINS, 2)), "b": jnp.zeros((NUM_CHAINS,))}
    kernel = statjax.hmc(energy, 0.2, 8, inverse_mass_matrix={"a": 1.0, "b": 0.25})
    final, _ = statjax.run_chains(kernel, jax.random.key(2), initial, 400)
    assert_gaussian_moments(final.position["a"], 0.0, 1.0)
    assert_gaussian_moments(final.position["b"][:, None], 0.0, 0.25)


def test_factories_reject_bad_settings(gaussian):
    with pytest.raises(ValueError, match="step_size"):
        statjax.mala(gaussian, -0.1)
    with pytest.raises(ValueError, match="step_size"):
        statjax.metropolis(gaussian, jnp.array([0.1, 0.0, 0.1]))
    with pytest.raises(ValueError, match="num_integration_steps"):
        statjax.hmc(gaussian, 0.1, 0)
    with pytest.raises(ValueError, match="inverse_mass_matrix"):
        statjax.hmc(gaussian, 0.1, 3, inverse_mass_matrix=jnp.array([1.0, -1.0, 1.0]))


def test_kernels_can_be_built_inside_jit_from_traced_settings(gaussian):
    """Inside a jitted training step, building a kernel from traced numbers must work."""

    @jax.jit
    def one_step(step_size, num_integration_steps, inverse_mass_matrix):
        kernels = [
            statjax.metropolis(gaussian, step_size),
            statjax.mala(gaussian, step_size),
            statjax.ula(gaussian, step_size),
            statjax.hmc(gaussian, step_size, num_integration_steps, inverse_mass_matrix),
        ]
        return [k.step(jax.random.key(0), k.init(jnp.zeros(3)), 1.0)[0].position for k in kernels]

    positions = one_step(0.1, 4, jnp.ones(3))
    assert all(np.all(np.isfinite(p)) for p in positions)
