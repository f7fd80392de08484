"""ULA and MALA (statjax/samplers/langevin.py): input checks, dtypes, zero temperature, -inf.

The statistical tests of both kernels are in test_kernels.py and test_double_well.py.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.samplers.base import ChainState, Kernel, StepInfo

FACTORIES = {"ula": statjax.ula, "mala": statjax.mala}


def quadratic(x):
    return 0.5 * jnp.sum(x**2)


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_vector_valued_energy_is_refused_at_trace_time(name):
    kernel = FACTORIES[name](lambda x: 0.5 * x**2, 0.1)
    with pytest.raises(ValueError, match="one scalar per position"):
        kernel.init(jnp.zeros(3))
    with pytest.raises(ValueError, match="one scalar per position"):
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((4, 3)), 5)


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_integer_positions_are_refused_naming_the_dtype(name):
    kernel = FACTORIES[name](quadratic, 0.1)
    with pytest.raises(TypeError, match=f"{name} needs floating-point positions.*int32"):
        kernel.init(jnp.zeros(3, jnp.int32))
    with pytest.raises(TypeError, match="floating-point positions"):
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((4, 3), jnp.int32), 5)


def test_ula_noise_is_jax_random_normal_for_float32():
    """The float32 stream is pinned: x' = x - eps x + sqrt(2 eps / beta) normal(key)."""
    kernel, key = statjax.ula(quadratic, 0.1), jax.random.key(3)
    position = jnp.array([1.0, -2.0, 0.5])
    state, _ = kernel.step(key, kernel.init(position), 2.0)
    expected = position - 0.1 * position + jnp.sqrt(0.1) * jax.random.normal(key, (3,))
    np.testing.assert_allclose(state.position, expected, rtol=1e-6, atol=1e-7)


def _dtypes(tree):
    return jax.tree_util.tree_map(lambda x: jnp.result_type(x), tree)


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_bfloat16_positions_keep_every_dtype_across_steps(name):
    """Updates are computed in float32 and rounded back: the scan carry never changes type."""
    kernel = FACTORIES[name](quadratic, 0.2)
    initial = jnp.ones((64, 2), jnp.bfloat16)
    state = kernel.init(initial[0])
    new_state, info = jax.jit(kernel.step)(jax.random.key(0), state, 1.0)
    assert _dtypes(new_state) == _dtypes(state)
    assert state.position.dtype == jnp.bfloat16 and info.acceptance_rate.dtype == jnp.float32
    final, rates = statjax.run_chains(
        kernel, jax.random.key(1), initial, 20, observe=lambda s, i: i.acceptance_rate
    )
    assert final.position.dtype == jnp.bfloat16 and final.energy_grad.dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(final.position, np.float32)))
    assert np.all((np.asarray(rates) >= 0) & (np.asarray(rates) <= 1))
    # The chains moved away from their common start (the noise was not rounded away).
    assert np.unique(np.asarray(final.position, np.float32)).size > 32


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_float32_positions_run_under_x64(name):
    """With x64 on, the driver's beta and a float64 step size must not promote the carry."""
    with jax.enable_x64(True):
        for step_size in (0.1, np.float64(0.1)):
            kernel = FACTORIES[name](quadratic, step_size)
            final, _ = statjax.run_chains(
                kernel, jax.random.key(0), jnp.ones((8, 2), jnp.float32), 5
            )
            assert _dtypes(final) == _dtypes(kernel.init(jnp.ones(2, jnp.float32)))
            assert final.position.dtype == jnp.float32
            assert np.all(np.isfinite(final.position))


def test_zero_temperature_ula_is_gradient_descent():
    """beta = inf: the noise scale sqrt(2 eps / beta) is 0, so x_t = (1 - eps)^t x_0."""
    kernel = statjax.ula(quadratic, 0.1)
    initial = jnp.array([[1.0, -2.0], [3.0, 0.5]])
    final, (energies, rates) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        initial,
        30,
        beta=jnp.inf,
        observe=lambda s, i: (s.energy, i.acceptance_rate),
    )
    np.testing.assert_allclose(final.position, 0.9**30 * initial, rtol=1e-5)
    assert np.all(np.diff(np.asarray(energies), axis=0) < 0)
    np.testing.assert_array_equal(rates, 1.0)


def test_zero_temperature_mala_descends_and_stops_without_nan():
    """MALA's limit accepts the descent step iff E(x') + eps |g + g'|^2 / 4 < E(x); at a
    stationary point the ratio is 0 * inf, refused: the chain stays, with no NaN."""
    kernel = statjax.mala(quadratic, 0.1)
    initial = jnp.array([[1.0, -2.0], [0.0, 0.0]])  # the second chain starts at the minimum
    final, (energies, rates, accepted) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        initial,
        30,
        beta=jnp.inf,
        observe=lambda s, i: (s.energy, i.acceptance_rate, i.is_accepted),
    )
    energies, rates, accepted = (np.asarray(a) for a in (energies, rates, accepted))
    assert np.all(np.isfinite(final.position)) and np.all(np.isfinite(energies))
    assert not np.any(np.isnan(rates))
    np.testing.assert_allclose(final.position[0], 0.9**30 * initial[0], rtol=1e-5)
    assert np.all(np.diff(energies[:, 0]) < 0) and np.all(accepted[:, 0])
    np.testing.assert_array_equal(final.position[1], 0.0)
    np.testing.assert_array_equal(rates[:, 1], 0.0)
    assert not np.any(accepted[:, 1])


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_minus_inf_hole_is_never_entered(name):
    """E = -inf for x_0 > 0.5: a proposal there is refused like NaN; no chain ever enters."""

    def energy(x):
        return jnp.where(x[0] > 0.5, -jnp.inf, quadratic(x))

    kernel = FACTORIES[name](energy, 0.3)
    _, (positions, energies, accepted) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        jnp.zeros((256, 2)),
        200,
        observe=lambda s, i: (s.position, s.energy, i.is_accepted),
    )
    assert np.all(np.isfinite(np.asarray(energies)))
    assert np.all(np.asarray(positions[..., 0]) <= 0.5)
    assert not np.all(np.asarray(accepted))  # proposals did land in the hole, and were refused


@pytest.mark.parametrize("name", ["ula", "mala"])
def test_kernel_conforms_to_the_contract(name):
    kernel = FACTORIES[name](quadratic, 0.1)
    assert isinstance(kernel, Kernel)
    beta = inspect.signature(kernel.step).parameters["beta"]
    assert beta.default is inspect.Parameter.empty
    state = kernel.init(jnp.ones(2))
    new_state, info = kernel.step(jax.random.key(0), state, 1.0)
    assert isinstance(new_state, ChainState) and isinstance(info, StepInfo)
    np.testing.assert_allclose(new_state.energy, quadratic(new_state.position), rtol=1e-6)
    assert info.is_accepted.dtype == jnp.bool_ and 0.0 <= float(info.acceptance_rate) <= 1.0
