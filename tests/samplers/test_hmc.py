"""HMC (statjax/samplers/hmc.py): input checks, dtypes, zero temperature, -inf, recompiles.

The statistical tests of HMC are in test_kernels.py.
"""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.samplers.base import ChainState, Kernel, StepInfo


def quadratic(x):
    return 0.5 * jnp.sum(x**2)


def test_vector_valued_energy_is_refused_at_trace_time():
    kernel = statjax.hmc(lambda x: 0.5 * x**2, 0.1, 3)
    with pytest.raises(ValueError, match="one scalar per position"):
        kernel.init(jnp.zeros(3))
    with pytest.raises(ValueError, match="one scalar per position"):
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((4, 3)), 5)


def test_integer_positions_are_refused_naming_the_dtype():
    kernel = statjax.hmc(quadratic, 0.1, 3)
    with pytest.raises(TypeError, match=r"hmc needs floating-point positions.*int32"):
        kernel.init(jnp.zeros(3, jnp.int32))


@pytest.mark.parametrize("count", [2.5, 0, -1, True, "3", jnp.array([2, 3])])
def test_integration_steps_must_be_a_whole_number(count):
    with pytest.raises(ValueError, match="num_integration_steps must be an integer >= 1"):
        statjax.hmc(quadratic, 0.1, count)


def test_whole_counts_of_any_type_are_accepted_and_stay_a_traced_leaf():
    for count in (3, 3.0, np.int64(3), jnp.asarray(3)):
        kernel = statjax.hmc(quadratic, 0.1, count)
        assert kernel.num_integration_steps.dtype == jnp.int32
        assert int(kernel.num_integration_steps) == 3
        leaves = jax.tree_util.tree_leaves(kernel)
        assert any(leaf is kernel.num_integration_steps for leaf in leaves)


def test_a_new_number_of_integration_steps_reuses_the_compiled_step():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(kernel, key, state):
        return kernel.step(key, state, 1.0)

    state = statjax.hmc(quadratic, 0.1, 1).init(jnp.ones(2))
    ends = [step(statjax.hmc(quadratic, 0.1, n), jax.random.key(0), state)[0] for n in (1, 4, 9)]
    # The count is used (the trajectories differ), and nothing was traced twice.
    assert not np.allclose(ends[0].position, ends[1].position)
    assert not np.allclose(ends[1].position, ends[2].position)


def _dtypes(tree):
    return jax.tree_util.tree_map(lambda x: jnp.result_type(x), tree)


def test_bfloat16_positions_keep_every_dtype_across_steps():
    """Momenta and the leapfrog run in float32; the energy is evaluated at bfloat16 positions."""
    kernel = statjax.hmc(quadratic, 0.2, 5)
    initial = jnp.ones((64, 2), jnp.bfloat16)
    state = kernel.init(initial[0])
    new_state, info = jax.jit(kernel.step)(jax.random.key(0), state, 1.0)
    assert _dtypes(new_state) == _dtypes(state)
    assert state.position.dtype == jnp.bfloat16 and info.energy_change.dtype == jnp.float32
    final, (rates, changes) = statjax.run_chains(
        kernel,
        jax.random.key(1),
        initial,
        20,
        observe=lambda s, i: (i.acceptance_rate, i.energy_change),
    )
    assert final.position.dtype == jnp.bfloat16 and final.energy_grad.dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(final.position, np.float32)))
    assert np.all(np.isfinite(np.asarray(changes)))
    assert np.all((np.asarray(rates) >= 0) & (np.asarray(rates) <= 1))
    assert np.unique(np.asarray(final.position, np.float32)).size > 32


def test_float32_positions_run_under_x64():
    """A float64 mass matrix or step size under x64 must not promote the float32 carry."""
    with jax.enable_x64(True):
        kernel = statjax.hmc(quadratic, np.float64(0.1), 3, inverse_mass_matrix=np.ones(2))
        final, _ = statjax.run_chains(kernel, jax.random.key(0), jnp.ones((8, 2), jnp.float32), 5)
        assert _dtypes(final) == _dtypes(kernel.init(jnp.ones(2, jnp.float32)))
        assert np.all(np.isfinite(final.position))


def test_zero_temperature_is_a_descent_from_rest_and_never_nan():
    """beta = inf: p = 0, so one leapfrog step is x' = x - eps^2 grad E(x) / 2, accepted iff
    H drops; at the minimum dH = 0 is refused (0 * inf), with no NaN and no divergence."""
    kernel = statjax.hmc(quadratic, 0.2, 1)
    key = jax.random.key(0)
    state, info = kernel.step(key, kernel.init(jnp.array([1.0, -2.0])), jnp.inf)
    np.testing.assert_allclose(state.position, (1 - 0.02) * jnp.array([1.0, -2.0]), rtol=1e-6)
    assert bool(info.is_accepted) and float(info.acceptance_rate) == 1.0
    state, info = kernel.step(key, kernel.init(jnp.zeros(2)), jnp.inf)
    np.testing.assert_array_equal(state.position, 0.0)
    assert float(info.acceptance_rate) == 0.0 and not bool(info.is_accepted)
    assert float(info.energy_change) == 0.0 and not bool(info.is_divergent)

    longer = statjax.hmc(quadratic, 0.2, 5)
    initial = jnp.array([[1.0, -2.0], [3.0, 0.5], [0.0, 0.0]])
    final, (energies, rates) = statjax.run_chains(
        longer,
        key,
        initial,
        20,
        beta=jnp.inf,
        observe=lambda s, i: (s.energy, i.acceptance_rate),
    )
    energies = np.asarray(energies)
    assert np.all(np.isfinite(final.position)) and not np.any(np.isnan(np.asarray(rates)))
    assert np.all(np.diff(energies, axis=0) <= 0)
    assert np.all(energies[-1, :2] < 0.1 * energies[0, :2])


def test_minus_inf_hole_is_never_entered():
    def energy(x):
        return jnp.where(x[0] > 0.5, -jnp.inf, quadratic(x))

    _, (positions, energies) = statjax.run_chains(
        statjax.hmc(energy, 0.3, 5),
        jax.random.key(0),
        jnp.zeros((256, 2)),
        100,
        observe=lambda s, i: (s.position, s.energy),
    )
    assert np.all(np.isfinite(np.asarray(energies)))
    assert np.all(np.asarray(positions[..., 0]) <= 0.5)


def test_kernel_conforms_to_the_contract():
    kernel = statjax.hmc(quadratic, 0.1, 3)
    assert isinstance(kernel, Kernel)
    beta = inspect.signature(kernel.step).parameters["beta"]
    assert beta.default is inspect.Parameter.empty
    new_state, info = kernel.step(jax.random.key(0), kernel.init(jnp.ones(2)), 1.0)
    assert isinstance(new_state, ChainState) and isinstance(info, StepInfo)
    np.testing.assert_allclose(new_state.energy, quadratic(new_state.position), rtol=1e-6)
    assert info.is_accepted.dtype == jnp.bool_ and 0.0 <= float(info.acceptance_rate) <= 1.0


def test_dense_momenta_have_covariance_mass_over_beta():
    """p = L^-T z / sqrt(beta) with M^-1 = L L^T: over the basis vectors z = e_i,
    sum_i p_i p_i^T = M / beta exactly (the covariance of p for z ~ N(0, I))."""
    from statjax.samplers.hmc import kinetic_energy, momentum_from_noise, velocity

    inverse_mass = jnp.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    beta = jnp.float32(0.25)
    columns = jax.vmap(lambda z: momentum_from_noise(inverse_mass, z, beta))(jnp.eye(3))
    np.testing.assert_allclose(
        columns.T @ columns, np.linalg.inv(inverse_mass) / 0.25, rtol=1e-4, atol=1e-5
    )
    momentum = jnp.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(velocity(inverse_mass, momentum), inverse_mass @ momentum, rtol=1e-6)
    expected = 0.5 * momentum @ inverse_mass @ momentum
    np.testing.assert_allclose(kinetic_energy(inverse_mass, momentum), expected, rtol=1e-6)


def test_a_diagonal_written_dense_is_the_diagonal_kernel():
    diagonal = jnp.array([2.0, 0.5, 1.5])
    state = statjax.hmc(quadratic, 0.2, 4).init(jnp.array([0.3, -0.2, 1.0]))
    key = jax.random.key(3)
    dense_end, _ = statjax.hmc(quadratic, 0.2, 4, jnp.diag(diagonal)).step(key, state, 0.7)
    diagonal_end, _ = statjax.hmc(quadratic, 0.2, 4, diagonal).step(key, state, 0.7)
    np.testing.assert_allclose(dense_end.position, diagonal_end.position, rtol=1e-5)


def test_a_mass_matrix_neither_positive_nor_positive_definite_is_refused():
    with pytest.raises(ValueError, match="inverse_mass_matrix"):
        statjax.hmc(quadratic, 0.1, 3, jnp.array([[1.0, 2.0], [2.0, 1.0]]) - 1.5)
    statjax.hmc(quadratic, 0.1, 3, jnp.array([[1.0, -0.5], [-0.5, 1.0]]))  # dense, fine
