"""BAOAB, Metropolized OBABO and the Nosé–Hoover chain against exact answers.

Every statistical check compares a mean over ``C`` independent chains (fixed
seeds) of per-chain time averages with an exact value: the standard error is the
spread of the per-chain averages divided by ``sqrt(C)`` (the chains are
independent, so no autocorrelation model is needed), and the tolerance is
``K_SIGMA`` standard errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.samplers.thermostats import baoab, nose_hoover_chain, obabo
from statjax.thermo.grid import grid_expectation

K_SIGMA = 4.0
STIFFNESS = 2.0
BETA = 2.0
BURN_IN = 200


def _harmonic(x):
    return 0.5 * STIFFNESS * jnp.sum(x**2)


def _double_well(x):
    """A 1-D anharmonic energy with two shallow wells, ``x^4 / 4 - x^2 / 2``."""
    return jnp.sum(0.25 * x**4 - 0.5 * x**2)


def _position(state, info):
    del info
    return state.position[0]


def _chain_average(values):
    """Per-chain time averages ``(C,)`` after the burn-in of a ``(T, C)`` trace."""
    return np.asarray(values, np.float64)[BURN_IN:].mean(axis=0)


def _assert_mean_matches(per_chain, exact, allowance=0.0):
    standard_error = per_chain.std(ddof=1) / np.sqrt(per_chain.size)
    assert abs(per_chain.mean() - exact) <= K_SIGMA * standard_error + allowance, (
        per_chain.mean(),
        exact,
        standard_error,
    )
    return standard_error


STEP_SIZES = np.array([0.3, 0.9, 1.3], np.float32)  # all stable: h^2 k < 4
CHAINS_PER_STEP = 64


@pytest.fixture(scope="module")
def baoab_second_moments():
    """``<x^2>`` per chain of BAOAB on ``E = k x^2 / 2``, three step sizes in one run."""
    step_sizes = np.repeat(STEP_SIZES, CHAINS_PER_STEP)
    kernel = baoab(_harmonic, step_sizes, friction=1.0)
    start = np.random.default_rng(0).standard_normal((step_sizes.size, 1)).astype(np.float32)
    _, trace = statjax.run_chains(
        kernel,
        jax.random.key(1),
        start,
        1000,
        beta=BETA,
        observe=_position,
        per_chain=("step_size",),
    )
    return _chain_average(np.asarray(trace) ** 2).reshape(STEP_SIZES.size, CHAINS_PER_STEP)


@pytest.mark.parametrize("index", range(STEP_SIZES.size))
def test_baoab_configurational_variance_is_exact_for_a_harmonic_oscillator(
    baoab_second_moments, index
):
    """Leimkuhler & Matthews (2013): Var(x) = 1 / (beta k) at every stable step size."""
    _assert_mean_matches(baoab_second_moments[index], 1.0 / (BETA * STIFFNESS))


def test_ula_variance_is_biased_as_predicted():
    """ULA on ``k x^2 / 2``: ``x' = (1 - eps k) x + sqrt(2 eps / beta) xi``.

    Its stationary variance is ``(2 eps / beta) / (1 - (1 - eps k)^2) =
    1 / (beta k (1 - eps k / 2))``: with ``eps k = 1`` twice the exact one. The
    sampled variance matches the biased value and is many standard errors from
    ``1 / (beta k)``.
    """
    step_size = 0.5
    kernel = statjax.ula(_harmonic, step_size)
    start = np.random.default_rng(2).standard_normal((CHAINS_PER_STEP, 1)).astype(np.float32)
    _, trace = statjax.run_chains(
        kernel, jax.random.key(3), start, 1000, beta=BETA, observe=_position
    )
    per_chain = _chain_average(np.asarray(trace) ** 2)
    biased = 1.0 / (BETA * STIFFNESS * (1 - step_size * STIFFNESS / 2))
    standard_error = _assert_mean_matches(per_chain, biased)
    assert abs(per_chain.mean() - 1.0 / (BETA * STIFFNESS)) > 10 * standard_error


def _exact_moments(beta):
    moments = grid_expectation(
        _double_well, lambda x: {"x2": x[0] ** 2, "x4": x[0] ** 4}, beta, [-6.0], [6.0], 4001
    )
    return float(moments["x2"]), float(moments["x4"])


def test_metropolized_obabo_is_exact_on_an_anharmonic_energy():
    """OBABO + Metropolis (GHMC) at a large step: <x^2>, <x^4> equal quadrature's."""
    num_chains = 96
    kernel = obabo(_double_well, 0.9, friction=0.5)
    start = np.random.default_rng(4).standard_normal((num_chains, 1)).astype(np.float32)
    _, (position, rate) = statjax.run_chains(
        kernel,
        jax.random.key(5),
        start,
        1200,
        beta=1.0,
        observe=lambda state, info: (state.position[0], info.acceptance_rate),
    )
    assert 0.3 < float(np.mean(rate)) < 0.999  # the test rejects: it is doing work
    exact_x2, exact_x4 = _exact_moments(1.0)
    _assert_mean_matches(_chain_average(np.asarray(position) ** 2), exact_x2)
    _assert_mean_matches(_chain_average(np.asarray(position) ** 4), exact_x4)


NOSE_HOOVER_BETAS = (1.0, 2.0)


@pytest.fixture(scope="module")
def nose_hoover_trace():
    """64 trajectories per beta of a chain of 3 thermostats on the 1-D double well.

    A single thermostat is not ergodic on one degree of freedom; M = 3 is (MKT
    1992), which the agreement of the independent trajectories checks.
    """
    num_chains = 48
    betas = np.repeat(np.asarray(NOSE_HOOVER_BETAS, np.float32), num_chains)
    kernel = nose_hoover_chain(_double_well, 0.1, time_scale=1.0, chain_length=3)
    start = np.random.default_rng(6).standard_normal((betas.size, 1)).astype(np.float32)
    _, trace = statjax.run_chains(
        kernel,
        jax.random.key(7),
        start,
        6000,
        beta=betas,
        thin=4,
        observe=lambda state, info: (
            state.position[0],
            info.kinetic_temperature,
            info.extended_energy,
        ),
    )
    return [
        np.asarray(leaf).reshape(leaf.shape[0], len(NOSE_HOOVER_BETAS), num_chains)
        for leaf in trace
    ]


@pytest.mark.parametrize("index", range(len(NOSE_HOOVER_BETAS)))
def test_nose_hoover_kinetic_temperature_is_the_target(nose_hoover_trace, index):
    """The time average of ``p^2 / m`` is ``1 / beta``."""
    _, kinetic_temperature, _ = nose_hoover_trace
    per_chain = _chain_average(kinetic_temperature[:, index])
    _assert_mean_matches(per_chain, 1.0 / NOSE_HOOVER_BETAS[index])


@pytest.mark.parametrize("index", range(len(NOSE_HOOVER_BETAS)))
def test_nose_hoover_configurations_follow_the_boltzmann_law(nose_hoover_trace, index):
    """<x^2> and <x^4> on the double well equal quadrature's at beta = 1 and 2."""
    position, _, _ = nose_hoover_trace
    exact_x2, exact_x4 = _exact_moments(NOSE_HOOVER_BETAS[index])
    x = position[:, index]
    _assert_mean_matches(_chain_average(x**2), exact_x2)
    _assert_mean_matches(_chain_average(x**4), exact_x4)


def test_nose_hoover_ignores_the_key():
    """A deterministic kernel: two keys give the same trajectory."""
    kernel = nose_hoover_chain(_double_well, 0.1)
    step = jax.jit(kernel.step)
    state = kernel.init(jnp.ones(1))
    first, _ = step(jax.random.key(0), state, 1.0)
    second, _ = step(jax.random.key(1), state, 1.0)
    np.testing.assert_array_equal(first.position, second.position)


@pytest.mark.parametrize(
    ("factory", "argument", "value"),
    [
        (baoab, "friction", -1.0),
        (obabo, "step_size", 0.0),
        (nose_hoover_chain, "time_scale", -1.0),
    ],
)
def test_bad_settings_are_refused(factory, argument, value):
    kwargs = {"step_size": 0.1, argument: value}
    with pytest.raises(ValueError, match=argument):
        factory(_harmonic, **kwargs)
