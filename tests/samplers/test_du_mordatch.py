"""Du & Mordatch's Langevin kernel: ULA without clipping, exact AR(1) variance, the contract."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.models.ebm import short_run_chains
from statjax.samplers import du_mordatch_langevin
from statjax.samplers.base import ChainState, Kernel, StepInfo


def test_du_mordatch_kernel_without_clipping_is_ula_at_every_temperature():
    energy = statjax.energy.RingOfGaussians(num_modes=4, radius=2.0, scale=0.7)
    step_size, beta = 0.05, 2.5
    ours = du_mordatch_langevin(energy, step_size, noise_scale=math.sqrt(2 * step_size))
    ula = statjax.ula(energy, step_size)
    state_ours, state_ula = ours.init(jnp.array([0.3, -0.4])), ula.init(jnp.array([0.3, -0.4]))
    step = jax.jit(lambda kernel, key, state: kernel.step(key, state, beta)[0])
    for index in range(5):
        key = jax.random.key(index)
        state_ours, state_ula = step(ours, key, state_ours), step(ula, key, state_ula)
    np.testing.assert_allclose(state_ours.position, state_ula.position, rtol=1e-5, atol=1e-6)


def test_du_mordatch_kernel_clips_gradients_and_positions():
    energy = lambda x: 50.0 * jnp.sum(x**2)  # gradient 100 x: far beyond the clip
    kernel = du_mordatch_langevin(energy, step_size=2.0, noise_scale=0.0, grad_clip=0.03)
    state, _ = kernel.step(jax.random.key(0), kernel.init(jnp.array([3.0, -3.0])), 1.0)
    np.testing.assert_allclose(state.position, [3.0 - 0.06, -3.0 + 0.06], rtol=1e-6)
    boxed = du_mordatch_langevin(energy, 2.0, noise_scale=5.0, lower=-1.0, upper=1.0)
    state, _ = boxed.step(jax.random.key(1), boxed.init(jnp.array([0.9, -0.9])), 1.0)
    assert np.all(np.abs(np.asarray(state.position)) <= 1.0)
    with pytest.raises(ValueError, match="noise_scale"):
        du_mordatch_langevin(energy, 1.0, noise_scale=-0.1)
    with pytest.raises(ValueError, match="upper"):
        du_mordatch_langevin(energy, 1.0, 0.1, lower=1.0, upper=0.0)


def test_du_mordatch_stationary_variance_is_exact_at_temperature():
    # On E = x^2 / 2 the chain is x' = (1 - eps) x + s sqrt(T) xi, an AR(1) process whose
    # stationary variance is s^2 T / (1 - (1 - eps)^2) = s^2 T / (eps (2 - eps)): exact.
    step_size, noise_scale, beta = 0.2, 0.3, 4.0
    kernel = du_mordatch_langevin(lambda x: 0.5 * jnp.sum(x**2), step_size, noise_scale)
    states, rate = short_run_chains(kernel, jax.random.key(0), jnp.zeros((2000, 2)), 80, beta=beta)
    exact = noise_scale**2 / beta / (step_size * (2 - step_size))
    squares = np.asarray(states.position, np.float64).ravel() ** 2  # 4000 independent draws
    # Mean known (0): var_hat = mean(x^2), whose standard error is var sqrt(2 / N).
    stderr = exact * math.sqrt(2.0 / squares.size)
    assert abs(squares.mean() - exact) < 4 * stderr, (squares.mean(), exact, stderr)
    assert float(rate) == 1.0


def test_zero_temperature_is_clipped_gradient_descent_and_bad_input_is_refused():
    energy = lambda x: 0.5 * jnp.sum(x**2)  # gradient x
    kernel = du_mordatch_langevin(energy, step_size=0.5, noise_scale=1.0, grad_clip=0.4)
    assert isinstance(kernel, Kernel)
    state = kernel.init(jnp.array([2.0, -0.2]))
    new, info = jax.jit(kernel.step)(jax.random.key(0), state, math.inf)
    assert isinstance(new, ChainState) and isinstance(info, StepInfo)
    # beta = inf: no noise, x - 0.5 clip(x, -0.4, 0.4).
    np.testing.assert_allclose(new.position, [2.0 - 0.2, -0.2 + 0.1], rtol=1e-6)
    assert float(info.acceptance_rate) == 1.0 and bool(info.is_accepted)
    # A proposal of non-finite energy is refused: the chain stays, reporting 0 / False.
    wall = du_mordatch_langevin(lambda x: jnp.where(x[0] < 1.9, jnp.inf, energy(x)), 0.5, 0.0)
    start = wall.init(jnp.array([2.0, -0.2]))
    stuck, info = wall.step(jax.random.key(0), start, 1.0)
    np.testing.assert_array_equal(stuck.position, start.position)
    assert float(info.acceptance_rate) == 0.0 and not bool(info.is_accepted)
    with pytest.raises(ValueError, match="one scalar"):
        du_mordatch_langevin(lambda x: x**2, 0.1, 0.1).init(jnp.ones(2))
    with pytest.raises(TypeError, match="floating-point"):
        kernel.init(jnp.ones(2, jnp.int32))
    with pytest.raises(ValueError, match="step_size"):
        du_mordatch_langevin(energy, 0.0, 0.1)
