"""Large deviations by tilted ensembles: exact rate functions of Gaussian toys are recovered.

Toy 1 (sampled with MALA): ``p_0 = N(0, I_d)``, ``L = |x|^2 / d``. Under ``p_k``,
``x ~ N(0, l_k I)`` with ``l_k = 1 / (1 + 2k/d)``, ``log Z(k) = -(d/2) log(1 + 2k/d)``,
``I(l) = (l - 1 - log l) / 2`` per dimension, and ``d L ~ chi^2_d`` under ``p_0``
gives exact tail probabilities. Toy 2 (exact draws): ``L = a.x``, Gaussian, where the
quadrature is exact and ``I(l) = l^2 / (2 |a|^2)``.

Every statistical check is ``|estimate - exact| < NUM_SIGMA * stderr`` with the
jackknife standard error the estimator reports, fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import statjax
from statjax.energy import tilted_energy
from statjax.samplers import run as run_module
from statjax.thermo.large_deviations import (
    TILT_LADDER_FIELDS,
    adapt_tilted_step_sizes,
    large_deviation_rate,
    sample_tilted,
    tilt_ladder,
)

DIMENSION = 50
NUM_SIGMA = 4.0  # jackknife over 12 chains: z-scores are t-like with 11 dof
NUM_CHAINS = 12
LEVELS = np.array([0.3, 0.9, 1.1, 3.0])  # two rare (P < 1e-6), two typical


def reference_energy(x):
    return 0.5 * jnp.sum(x**2)


def mean_square(x):
    return jnp.sum(x**2) / DIMENSION


def _ladder() -> np.ndarray:
    """Tilts whose exact means ``l_k`` are geometric from 0.2 to 3.5, plus ``k = 0``."""
    means = np.geomspace(0.2, 3.5, 16)
    return np.sort(np.append(DIMENSION * (1.0 / means - 1.0) / 2.0, 0.0))


def _exact_tail(levels, lower):
    d = DIMENSION
    return np.where(
        lower, scipy.stats.chi2.logcdf(d * levels, d), scipy.stats.chi2.logsf(d * levels, d)
    )


@pytest.fixture(scope="module")
def chi_square_run():
    tilts = _ladder()
    kernel = statjax.samplers.mala(tilted_energy(reference_energy, mean_square), 0.1)
    positions = jnp.zeros((tilts.size * NUM_CHAINS, DIMENSION))
    step_sizes, positions = adapt_tilted_step_sizes(
        kernel, jax.random.key(1), positions, 200, tilts=tilts
    )
    samples = sample_tilted(
        kernel, jax.random.key(0), positions, 1000, tilts=tilts, step_sizes=step_sizes, thin=5
    )
    result = large_deviation_rate(tilts, samples.observables, scale=DIMENSION, levels=LEVELS)
    return tilts, samples, result, np.asarray(step_sizes)


def test_rate_function_matches_the_exact_chi_square_curve(chi_square_run):
    tilts, _, result, _ = chi_square_run
    level = np.asarray(result.observable_mean)
    exact_level = 1.0 / (1.0 + 2.0 * tilts / DIMENSION)
    np.testing.assert_array_less(
        np.abs(level - exact_level), NUM_SIGMA * np.asarray(result.observable_standard_error)
    )
    nonzero = tilts != 0
    exact_log_z = -(DIMENSION / 2) * np.log1p(2.0 * tilts / DIMENSION)
    np.testing.assert_array_less(
        np.abs(np.asarray(result.log_z) - exact_log_z)[nonzero],
        NUM_SIGMA * np.asarray(result.log_z_standard_error)[nonzero],
    )
    # The rate at the *estimated* level: errors in l move the point along the curve.
    exact_rate = (level - 1.0 - np.log(level)) / 2.0
    np.testing.assert_array_less(
        np.abs(np.asarray(result.rate) - exact_rate)[nonzero],
        NUM_SIGMA * np.asarray(result.rate_standard_error)[nonzero],
    )
    # At k = 0 the Legendre transform is 0 by construction; exact I(l_0) is O(se(l)^2).
    assert float(result.rate[~nonzero][0]) == 0.0
    # Both sides of the typical value are covered, and it is a large deviation there.
    assert exact_rate[0] > 0.5 and exact_rate[-1] > 0.3


def test_tail_probabilities_reach_rare_events_exactly(chi_square_run):
    tilts, _, result, _ = chi_square_run
    level = np.asarray(result.observable_mean)
    tail = np.asarray(result.tail_log_probability)
    exact = _exact_tail(level, tilts >= 0)
    np.testing.assert_array_less(
        np.abs(tail - exact), NUM_SIGMA * np.asarray(result.tail_log_probability_standard_error)
    )
    # Far below 1e-6 on both sides: probabilities naive sampling cannot resolve.
    assert tail[0] < np.log(1e-12) and tail[-1] < np.log(1e-8)
    exact_levels = _exact_tail(LEVELS, LEVELS <= 1.0)
    estimate = np.asarray(result.level_log_probability)
    np.testing.assert_array_less(
        np.abs(estimate - exact_levels),
        NUM_SIGMA * np.asarray(result.level_log_probability_standard_error),
    )


def test_naive_sampling_agrees_near_the_typical_value_and_fails_in_the_tails(chi_square_run):
    tilts, samples, result, _ = chi_square_run
    untilted = np.asarray(samples.observables)[:, tilts == 0, :][:, 0, :]  # (draws, chains)
    lower = LEVELS <= 1.0
    hits = np.where(lower[:, None, None], untilted <= LEVELS[:, None, None],
                    untilted >= LEVELS[:, None, None])  # fmt: skip
    per_chain = hits.mean(1)  # (levels, chains): independent chains give the error bar
    naive = per_chain.mean(1)
    naive_standard_error = per_chain.std(1, ddof=1) / np.sqrt(NUM_CHAINS)
    exact = np.exp(_exact_tail(LEVELS, lower))
    typical = (LEVELS > 0.5) & (LEVELS < 2.0)
    np.testing.assert_array_less(
        np.abs(naive - exact)[typical], NUM_SIGMA * naive_standard_error[typical]
    )
    assert np.all(naive[~typical] == 0.0)  # no draw: naive log P = -inf there
    assert np.all(np.isfinite(np.asarray(result.level_log_probability)))


def test_linear_observable_with_exact_draws():
    # L = a.x under p_k = N(-k a, I): L ~ N(-k s, s), s = |a|^2; log Z = k^2 s / 2, and
    # the Legendre transform is I(l) = l^2 / (2 s). <L>_k is linear: the quadrature is exact.
    variance = 2.0
    tilts = np.linspace(-3.0, 3.0, 7)
    draws = np.random.default_rng(1).normal(
        -tilts[None, :, None] * variance, np.sqrt(variance), (250, tilts.size, 16)
    )
    result = large_deviation_rate(tilts, draws)
    level = np.asarray(result.observable_mean)
    nonzero = tilts != 0
    error = np.asarray(result.rate_standard_error)[nonzero]
    np.testing.assert_array_less(
        np.abs(np.asarray(result.rate) - level**2 / (2 * variance))[nonzero], NUM_SIGMA * error
    )
    np.testing.assert_array_less(
        np.abs(np.asarray(result.log_z) - tilts**2 * variance / 2)[nonzero], NUM_SIGMA * error
    )
    exact_tail = np.where(
        tilts >= 0,
        scipy.stats.norm.logcdf(level, scale=np.sqrt(variance)),
        scipy.stats.norm.logsf(level, scale=np.sqrt(variance)),
    )
    np.testing.assert_array_less(
        np.abs(np.asarray(result.tail_log_probability) - exact_tail),
        NUM_SIGMA * np.asarray(result.tail_log_probability_standard_error),
    )


def test_each_rung_gets_its_own_step_size(chi_square_run):
    _, samples, _, step_sizes = chi_square_run
    # Dual averaging reaches MALA's target 0.574 on every rung; a stiffer rung (larger k:
    # the tilted Gaussian has variance l_k = 1 / (1 + 2k/d)) gets a smaller step.
    np.testing.assert_allclose(samples.acceptance_rate, 0.574, atol=0.1)
    assert np.all(np.diff(step_sizes) < 0)


def test_new_ladder_step_size_or_energy_object_does_not_recompile(chi_square_run):
    tilts, _, _, _ = chi_square_run
    kernel = statjax.samplers.mala(tilted_energy(reference_energy, mean_square), 0.05)
    before = run_module._run_chunk._cache_size()
    positions = jnp.ones((tilts.size * NUM_CHAINS, DIMENSION))
    step_sizes = np.linspace(0.03, 0.06, tilts.size)
    sample_tilted(
        kernel, jax.random.key(3), positions, 1000, tilts=tilts * 0.5, step_sizes=step_sizes, thin=5
    )
    assert run_module._run_chunk._cache_size() == before


def test_a_ladder_runs_each_chain_at_its_own_tilt_and_step_size():
    """Tilt and step size are per-chain kernel leaves; a state carries its own tilted energy."""
    kernel = statjax.samplers.mala(tilted_energy(reference_energy, mean_square), 0.1)
    ladder = tilt_ladder(kernel, [0.0, 3.0], 2, step_sizes=[0.1, 0.02])
    np.testing.assert_array_equal(ladder.energy_fn.tilt, [0.0, 0.0, 3.0, 3.0])
    np.testing.assert_allclose(ladder.step_size, [0.1, 0.1, 0.02, 0.02])
    final, trace = statjax.run_chains(
        ladder, jax.random.key(0), jnp.ones((4, DIMENSION)), 5,
        observe=lambda state, info: info.acceptance_rate, per_chain=TILT_LADDER_FIELDS,
    )  # fmt: skip
    tilts = np.array([0.0, 0.0, 3.0, 3.0])
    position = np.asarray(final.position)
    expected = 0.5 * np.sum(position**2, 1) + tilts * np.sum(position**2, 1) / DIMENSION
    np.testing.assert_allclose(final.energy, expected, rtol=1e-5)
    assert isinstance(final, statjax.samplers.base.ChainState)
    assert trace.shape == (5, 4)
    # The same chain alone, with the scalar tilt and step size of its rung, draws the same.
    alone = kernel.replace(energy_fn=kernel.energy_fn.replace(tilt=3.0), step_size=0.02)
    single, _ = statjax.run_chains(alone, jax.random.key(0), jnp.ones((4, DIMENSION)), 5)
    np.testing.assert_allclose(single.position[2:], final.position[2:], rtol=1e-5, atol=1e-6)


def test_legacy_and_typed_keys_give_the_same_draws():
    kernel = statjax.samplers.mala(tilted_energy(reference_energy, mean_square), 0.1)
    positions = jnp.ones((4, DIMENSION))
    typed = sample_tilted(kernel, jax.random.key(5), positions, 10, tilts=[0.0, 2.0])
    legacy = sample_tilted(kernel, jax.random.PRNGKey(5), positions, 10, tilts=[0.0, 2.0])
    np.testing.assert_array_equal(typed.observables, legacy.observables)
    typed_steps, _ = adapt_tilted_step_sizes(
        kernel, jax.random.key(5), positions, 10, tilts=[0.0, 2.0]
    )
    legacy_steps, _ = adapt_tilted_step_sizes(
        kernel, jax.random.PRNGKey(5), positions, 10, tilts=[0.0, 2.0]
    )
    np.testing.assert_array_equal(typed_steps, legacy_steps)


def test_bad_input_names_the_argument():
    draws = np.ones((10, 3, 4))
    with pytest.raises(ValueError, match="must contain 0"):
        large_deviation_rate([1.0, 2.0, 3.0], draws)
    with pytest.raises(ValueError, match="strictly increasing"):
        large_deviation_rate([0.0, 2.0, 1.0], draws)
    with pytest.raises(ValueError, match=r"observables must have shape"):
        large_deviation_rate([0.0, 1.0], draws)
    with pytest.raises(ValueError, match="at least 2 chains"):
        large_deviation_rate([0.0, 1.0, 2.0], draws[..., :1])
    with pytest.raises(ValueError, match="scale"):
        large_deviation_rate([0.0, 1.0, 2.0], draws, scale=0.0)
    with pytest.raises(ValueError, match="levels"):
        large_deviation_rate([0.0, 1.0, 2.0], draws, levels=[np.nan])
    with pytest.raises(TypeError, match="TiltedEnergy"):
        sample_tilted(
            statjax.samplers.mala(reference_energy, 0.1), jax.random.key(0), jnp.zeros((2, 2)), 10,
            tilts=[0.0],
        )  # fmt: skip
    kernel = statjax.samplers.mala(tilted_energy(reference_energy, mean_square), 0.1)
    with pytest.raises(ValueError, match="not a multiple of the 2 tilts"):
        sample_tilted(kernel, jax.random.key(0), jnp.zeros((3, 2)), 10, tilts=[0.0, 1.0])
    with pytest.raises(ValueError, match="num_chains_per_tilt"):
        tilt_ladder(kernel, [0.0], 0)
    with pytest.raises(ValueError, match="step_sizes"):
        sample_tilted(
            kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, tilts=[0.0], step_sizes=[-1.0]
        )
    with pytest.raises(ValueError, match="num_burnin_steps"):
        sample_tilted(
            kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, tilts=[0.0], num_burnin_steps=2.5
        )
    with pytest.raises(ValueError, match="num_steps"):
        adapt_tilted_step_sizes(kernel, jax.random.key(0), jnp.zeros((2, 2)), 2.5, tilts=[0.0])
