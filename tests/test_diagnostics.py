"""Tests for statjax/diagnostics.py: R-hat, ESS, autocorrelation, acceptance.

R-hat and ESS are checked against arviz 0.23 on the very same draws (our
``(draw, chain)`` layout transposed to arviz's ``(chain, draw)``); the
integrated autocorrelation time against the exact value for an AR(1) process.
"""

import contextlib
import math
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import lfilter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # arviz announces its refactor
    az = pytest.importorskip("arviz")

from statjax.diagnostics import (
    acceptance_rate,
    autocorrelation,
    effective_sample_size,
    integrated_autocorrelation_time,
    overall_acceptance_rate,
    potential_scale_reduction,
)

NUM_DRAWS, NUM_CHAINS = 1000, 4
"""One trace shape for every arviz comparison, so each diagnostic compiles once per dtype."""

ARVIZ_ESS_METHOD = {"bulk": "bulk", "tail": "tail", "basic": "mean"}

# Tolerances against arviz (which computes in float64 on the same draws). In float64
# only the summation order and the FFT length differ: ~1e-15 relative, 1e-10 leaves
# room. In float32 the FFT autocovariances carry relative errors ~log2(n) eps ~ 1e-6
# and the Geyer sum adds O(100) of them, so ESS agrees to ~1e-5 (observed <= 1.5e-5);
# R-hat ~ 1 depends on variance ratios only and agrees to a few 1e-6 absolute. The
# bounds below leave a margin of ~5x, and are far below what matters (R-hat's 1.01).
TOLERANCES = {
    "float32": {"rhat_atol": 1e-5, "ess_rtol": 1e-4},
    "float64": {"rhat_atol": 1e-10, "ess_rtol": 1e-10},
}

NUM_SIGMA = 4.0
"""Monte-Carlo tolerance in standard errors for the AR(1) checks (fixed seeds)."""


def ar1_chains(rng, rho, num_draws, num_chains):
    """Stationary AR(1) chains ``x_t = rho x_{t-1} + e_t``, ``e_t ~ N(0, 1)``, time first.

    ``x_0`` is drawn from the stationary law ``N(0, 1 / (1 - rho^2))``, so the whole
    chain is stationary and ``tau = (1 + rho) / (1 - rho)`` exactly.
    """
    noise = rng.normal(size=(num_draws, num_chains))
    noise[0] /= np.sqrt(1 - rho**2)
    return lfilter([1.0], [1.0, -rho], noise, axis=0)


def make_trace(case):
    """A ``(NUM_DRAWS, NUM_CHAINS)`` float64 trace of one of the comparison cases."""
    rng = np.random.default_rng(sum(map(ord, case)))
    if case == "iid_normal":
        return rng.normal(size=(NUM_DRAWS, NUM_CHAINS))
    if case == "strongly_correlated_ar1":
        return ar1_chains(rng, 0.95, NUM_DRAWS, NUM_CHAINS)
    if case == "different_means":
        return ar1_chains(rng, 0.3, NUM_DRAWS, NUM_CHAINS) + np.array([0.0, 0.0, 1.0, 2.0])
    if case == "discrete_with_ties":
        # An Ising-like energy: multiples of 4 around -100, a dozen distinct values.
        return 4.0 * np.round(2.0 * ar1_chains(rng, 0.8, NUM_DRAWS, NUM_CHAINS)) - 100.0
    raise ValueError(case)


CASES = ["iid_normal", "strongly_correlated_ar1", "different_means", "discrete_with_ties"]


def precision(name):
    """Context in which JAX computes in ``name`` (``"float32"`` or ``"float64"``)."""
    return jax.enable_x64(True) if name == "float64" else contextlib.nullcontext()


def arviz_layout(samples):
    """Our ``(draw, chain)`` trace as arviz's ``(chain, draw)`` float64 array."""
    return np.asarray(samples, dtype=np.float64).T


def arviz_rhat(samples):
    return float(az.rhat(arviz_layout(samples), method="rank"))


def arviz_ess(samples, kind):
    return float(az.ess(arviz_layout(samples), method=ARVIZ_ESS_METHOD[kind]))


# ------------------------------------------------------------ against arviz


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_rhat_and_ess_match_arviz(case, dtype):
    tolerance = TOLERANCES[dtype]
    with precision(dtype):
        # Both sides see the same (rounded) draws; only the arithmetic differs.
        samples = make_trace(case).astype(dtype)
        rhat = potential_scale_reduction(samples)
        assert rhat.shape == () and rhat.dtype == dtype
        np.testing.assert_allclose(rhat, arviz_rhat(samples), rtol=0, atol=tolerance["rhat_atol"])
        for kind in ARVIZ_ESS_METHOD:
            ess = effective_sample_size(samples, kind)
            assert ess.shape == () and ess.dtype == dtype
            np.testing.assert_allclose(
                ess, arviz_ess(samples, kind), rtol=tolerance["ess_rtol"], err_msg=kind
            )


def test_rhat_flags_chains_with_different_means():
    # Means 0, 0, 1, 2 against a within-chain sd of ~1.05: far from mixed.
    assert potential_scale_reduction(make_trace("different_means").astype("float32")) > 1.1
    assert potential_scale_reduction(make_trace("iid_normal").astype("float32")) < 1.01


def test_odd_number_of_draws_drops_the_middle_draw_like_arviz():
    samples = make_trace("strongly_correlated_ar1")[:101, :3].astype("float32")
    np.testing.assert_allclose(potential_scale_reduction(samples), arviz_rhat(samples), atol=1e-5)
    np.testing.assert_allclose(effective_sample_size(samples), arviz_ess(samples, "bulk"), 1e-4)


def test_single_chain_is_split_in_halves():
    samples = make_trace("strongly_correlated_ar1")[:, :1].astype("float32")
    np.testing.assert_allclose(effective_sample_size(samples), arviz_ess(samples, "bulk"), 1e-4)
    # arviz returns NaN for one chain; split R-hat still compares its two halves.
    assert np.isfinite(potential_scale_reduction(samples))


def test_integer_trace_equals_float_trace():
    energies = make_trace("discrete_with_ties")
    for diagnostic in (potential_scale_reduction, effective_sample_size):
        assert diagnostic(energies.astype(np.int32)) == diagnostic(energies.astype(np.float32))


# ------------------------------------------------------------- event shapes


def test_event_shape_is_kept_and_elements_are_independent():
    # The four comparison cases side by side as a (2, 2) event.
    traces = [make_trace(case) for case in CASES]
    samples = np.stack(traces, axis=-1).reshape(NUM_DRAWS, NUM_CHAINS, 2, 2).astype("float32")
    rhat = potential_scale_reduction(samples)
    assert rhat.shape == (2, 2)
    np.testing.assert_allclose(rhat.ravel(), [arviz_rhat(t) for t in traces], atol=1e-5)
    for kind in ARVIZ_ESS_METHOD:
        ess = effective_sample_size(samples, kind)
        assert ess.shape == (2, 2)
        expected = [arviz_ess(t.astype("float32"), kind) for t in traces]
        np.testing.assert_allclose(ess.ravel(), expected, rtol=1e-4, err_msg=kind)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # arviz divides 0 by 0
def test_constant_and_nan_elements_follow_arviz():
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(20, 2, 3))
    samples[:, :, 0] = 7.0  # constant: ESS is the number of draws, R-hat is undefined
    samples[5, 1, 1] = np.nan  # a NaN poisons its own element only
    rhat, ess = potential_scale_reduction(samples), effective_sample_size(samples)
    assert rhat.shape == ess.shape == (3,)
    assert np.isnan(rhat[0]) and np.isnan(arviz_rhat(samples[:, :, 0]))
    assert ess[0] == arviz_ess(samples[:, :, 0], "bulk") == 40
    assert np.isnan(rhat[1]) and np.isnan(ess[1])
    np.testing.assert_allclose(rhat[2], arviz_rhat(samples[:, :, 2]), atol=1e-5)
    np.testing.assert_allclose(ess[2], arviz_ess(samples[:, :, 2], "bulk"), rtol=1e-4)


# ----------------------------------------------------- AR(1): exact values


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_integrated_autocorrelation_time_of_ar1_is_exact(rho):
    num_draws, num_chains, window_constant = 100_000, 4, 5.0
    samples = ar1_chains(np.random.default_rng(7), rho, num_draws, num_chains)
    tau = (1 + rho) / (1 - rho)
    # Sokal (1997): Var(tau_hat) ~= 2 (2M + 1) / S tau^2 for a window M ~ c tau.
    window = math.ceil(window_constant * tau)
    standard_error = tau * math.sqrt(2 * (2 * window + 1) / (num_draws * num_chains))
    estimate = integrated_autocorrelation_time(samples.astype("float32"), window_constant)
    assert estimate.shape == ()
    assert abs(estimate - tau) < NUM_SIGMA * standard_error, (estimate, tau, standard_error)


def test_basic_ess_of_ar1_is_draws_over_tau():
    num_draws, num_chains, rho = 100_000, 4, 0.9
    samples = ar1_chains(np.random.default_rng(8), rho, num_draws, num_chains)
    tau = (1 + rho) / (1 - rho)
    # Geyer's truncation stops near the lag where rho^t meets its noise (~60 here),
    # inside Sokal's window c tau = 95, so Sokal's error bar bounds this one too.
    window = math.ceil(5.0 * tau)
    relative_error = math.sqrt(2 * (2 * window + 1) / (num_draws * num_chains))
    ess = effective_sample_size(samples.astype("float32"), "basic")
    np.testing.assert_allclose(
        ess * tau / (num_draws * num_chains), 1.0, NUM_SIGMA * relative_error
    )


def test_autocorrelation_matches_arviz_per_chain():
    samples = make_trace("strongly_correlated_ar1").astype("float32")
    rho = autocorrelation(samples)
    assert rho.shape == (NUM_DRAWS, NUM_CHAINS)
    np.testing.assert_allclose(rho[0], 1.0, rtol=1e-6)
    expected = az.autocorr(arviz_layout(samples), axis=1).T
    np.testing.assert_allclose(rho, expected, atol=1e-5)
    assert autocorrelation(samples[..., None], max_lag=50).shape == (51, NUM_CHAINS, 1)


# ------------------------------------------------------------------ jit


def test_diagnostics_compile_once_inside_jit():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def diagnose(samples):
        return (
            potential_scale_reduction(samples),
            effective_sample_size(samples, "tail"),
            integrated_autocorrelation_time(samples),
        )

    samples = make_trace("strongly_correlated_ar1").astype("float32")
    rhat, tail_ess, tau = diagnose(samples)
    diagnose(samples + 1.0)  # new values, same shape: no retrace
    np.testing.assert_allclose(rhat, potential_scale_reduction(samples), rtol=1e-6)
    np.testing.assert_allclose(tail_ess, effective_sample_size(samples, "tail"), rtol=1e-6)
    np.testing.assert_allclose(tau, integrated_autocorrelation_time(samples), rtol=1e-6)
    jitted_rhat = jax.jit(potential_scale_reduction)(samples)
    np.testing.assert_allclose(jitted_rhat, rhat, rtol=1e-6)


# ----------------------------------------------------------- acceptance


def test_acceptance_rate_per_chain_and_overall():
    is_accepted = jnp.array([[True, False, True], [True, False, False], [False, False, True]])
    np.testing.assert_allclose(acceptance_rate(is_accepted), [2 / 3, 0.0, 2 / 3])
    np.testing.assert_allclose(acceptance_rate(is_accepted, axis=1), [2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(overall_acceptance_rate(is_accepted), 4 / 9)
    probabilities = jnp.array([[0.2, 1.0], [0.4, 0.5]])
    np.testing.assert_allclose(acceptance_rate(probabilities), [0.3, 0.75])
    assert jax.jit(acceptance_rate)(is_accepted).dtype == jnp.float32


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "diagnostic",
    [
        potential_scale_reduction,
        effective_sample_size,
        integrated_autocorrelation_time,
        autocorrelation,
    ],
)
def test_trace_shape_errors_name_the_argument_and_shape(diagnostic):
    with pytest.raises(ValueError, match=r"`samples`.*\(num_draws, num_chains.*\(100,\)"):
        diagnostic(np.zeros(100))
    with pytest.raises(ValueError, match=r"`samples`.*at least 4 draws.*\(3, 4\)"):
        diagnostic(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"`samples`.*at least one chain.*\(10, 0\)"):
        diagnostic(np.zeros((10, 0)))


def test_argument_errors():
    samples = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"`kind`.*'mean'"):
        effective_sample_size(samples, kind="mean")
    with pytest.raises(ValueError, match=r"`max_lag`.*num_draws = 10.*got 10"):
        autocorrelation(samples, max_lag=10)
    with pytest.raises(ValueError, match=r"`max_lag`.*got 2.5"):
        autocorrelation(samples, max_lag=2.5)
    with pytest.raises(ValueError, match=r"`window_constant`.*got 0"):
        integrated_autocorrelation_time(samples, window_constant=0)
    with pytest.raises(TypeError, match=r"`samples` must be real"):
        potential_scale_reduction(samples.astype(np.complex64))
    with pytest.raises(ValueError, match=r"`is_accepted_or_probabilities`.*scalar"):
        acceptance_rate(True)
    with pytest.raises(ValueError, match=r"`axis`.*\(10, 2\).*axis=2"):
        acceptance_rate(samples, axis=2)
    with pytest.raises(ValueError, match=r"`is_accepted_or_probabilities`.*\(0, 3\)"):
        overall_acceptance_rate(np.zeros((0, 3)))


# ------------------------------------- streaming R-hat/ESS and nested R-hat (issue 17)

from statjax.diagnostics import (  # noqa: E402
    batch_means_ess,
    gelman_rubin,
    nested_rhat,
    streaming_diagnostics,
    streaming_ess,
    streaming_nested_rhat,
    streaming_rhat,
)
from statjax.samplers.loop import init_chains, sample_chains  # noqa: E402

STREAM_STEPS, STREAM_CHAINS = 700, 8
"""Not a power of 2: the last batch is incomplete and the batches have been merged."""


@pytest.fixture(scope="module")
def streamed_and_stored():
    """One MALA run through the driver, reduced as it goes and stored as a trace."""
    import statjax

    kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2 / jnp.array([1.0, 4.0])), 0.6)
    positions = jnp.asarray(np.random.default_rng(0).standard_normal((STREAM_CHAINS, 2)) * 3)
    states = init_chains(kernel, positions.astype(jnp.float32))

    @jax.jit
    def run(states):
        def position(state, info):
            return state.position

        _, carry = sample_chains(
            kernel,
            jax.random.key(0),
            states,
            STREAM_STEPS,
            observe=position,
            reducer=streaming_diagnostics(16),
        )
        _, trace = sample_chains(kernel, jax.random.key(0), states, STREAM_STEPS, observe=position)
        return carry, trace

    return run(states)


def test_streaming_rhat_equals_the_batch_rhat(streamed_and_stored):
    """Same per-chain sums: equal up to Welford-vs-two-pass rounding (float32, 1e-5)."""
    carry, trace = streamed_and_stored
    np.testing.assert_allclose(streaming_rhat(carry), gelman_rubin(trace), rtol=1e-5)
    np.testing.assert_allclose(streaming_nested_rhat(carry, 4), nested_rhat(trace, 4), rtol=1e-5)
    # The chains start far apart (3 sigma): R-hat sees it.
    assert np.all(np.asarray(gelman_rubin(trace[:20])) > 1.05)


def test_streaming_ess_equals_batch_means_on_the_same_draws(streamed_and_stored):
    """Same batches (size 64 after 700 draws with 16 kept) and the same variance: rounding only."""
    carry, trace = streamed_and_stored
    assert int(carry.batch_size) == 64 and int(carry.num_batches) == 700 // 64
    np.testing.assert_allclose(streaming_ess(carry), batch_means_ess(trace, 16), rtol=1e-4)


def test_gelman_rubin_matches_arviz_identity():
    draws = np.asarray(jax.random.normal(jax.random.key(3), (200, 4, 2))) + np.array([0, 0.3])
    expected = az.rhat(az.convert_to_dataset(draws.transpose(1, 0, 2)), method="identity")
    np.testing.assert_allclose(gelman_rubin(draws), expected["x"].values, rtol=1e-5)


def _nested_rhat_by_hand(draws, num_superchains):
    """Margossian et al. (2024), eqs. 15-19, with explicit loops (float64)."""
    num_draws, num_chains = draws.shape
    per_superchain = num_chains // num_superchains
    superchain_means, within = [], []
    for k in range(num_superchains):
        chains = draws[:, k * per_superchain : (k + 1) * per_superchain]
        chain_means = chains.mean(axis=0)
        superchain_means.append(chain_means.mean())
        between_chains = chain_means.var(ddof=1) if per_superchain > 1 else 0.0
        within_chains = chains.var(axis=0, ddof=1).mean() if num_draws > 1 else 0.0
        within.append(between_chains + within_chains)
    return math.sqrt(1 + np.var(superchain_means, ddof=1) / np.mean(within))


@pytest.mark.parametrize(
    ("num_draws", "num_chains", "num_superchains"), [(5, 12, 3), (1, 8, 4), (6, 4, 4)]
)
def test_nested_rhat_equals_the_papers_formula(num_draws, num_chains, num_superchains):
    rng = np.random.default_rng(num_draws)
    offsets = np.repeat(rng.standard_normal(num_superchains), num_chains // num_superchains)
    draws = rng.standard_normal((num_draws, num_chains)) + 0.5 * offsets
    expected = _nested_rhat_by_hand(draws, num_superchains)
    np.testing.assert_allclose(
        float(nested_rhat(draws.astype(np.float32), num_superchains)), expected, rtol=1e-5
    )


def test_nested_rhat_tends_to_one_for_independent_draws():
    """iid draws: ``R_nu^2 - 1 = B_nu / W_nu``, ``E[B_nu] = s^2 / (M N)``, ``W_nu ≈ s^2 (1 + 1/N)``.

    ``B_nu (K - 1) M N / s^2`` is chi-square with ``K - 1`` degrees of freedom, so
    ``R_nu^2 - 1`` stays below ``(1 + 4 sqrt(2 / (K - 1))) / (M (N + 1))`` (4 of its
    standard deviations above its mean).
    """
    num_superchains, per_superchain, num_draws = 8, 16, 50
    draws = np.random.default_rng(4).standard_normal(
        (num_draws, num_superchains * per_superchain, 3)
    )
    excess = np.asarray(nested_rhat(draws, num_superchains)) ** 2 - 1
    bound = (1 + 4 * math.sqrt(2 / (num_superchains - 1))) / (per_superchain * (num_draws + 1))
    assert np.all((excess >= 0) & (excess < bound)), (excess, bound)


def test_batch_means_ess_of_an_ar1_process():
    """AR(1) with rho = 0.5: the batch-means ESS is ``C n / (b Var(batch mean))``.

    ``Var(batch mean) = (b + 2 sum_{k<b} (b - k) rho^k) / b^2`` exactly (unit
    variance); the estimate's relative standard deviation is ``sqrt(2 / (c C - 1))``
    for ``c C`` batch means: 4 of them.
    """
    rho, num_draws, num_chains, max_batches = 0.5, 4096, 8, 64
    noise = np.random.default_rng(5).standard_normal((num_draws, num_chains)) * math.sqrt(
        1 - rho**2
    )
    draws = lfilter([1.0], [1.0, -rho], noise, axis=0)
    batch_size, num_batches = 128, 32  # smallest power of 2 with 4096 // b < 64
    lags = np.arange(1, batch_size)
    batch_variance = (batch_size + 2 * np.sum((batch_size - lags) * rho**lags)) / batch_size**2
    expected = num_chains * num_draws / (batch_size * batch_variance)
    relative = 4 * math.sqrt(2 / (num_batches * num_chains - 1))
    ess = float(batch_means_ess(draws.astype(np.float32), max_batches))
    assert abs(ess / expected - 1) < relative, (ess, expected)


def test_streaming_diagnostics_refuse_bad_arguments():
    with pytest.raises(ValueError, match="max_batches"):
        streaming_diagnostics(5)
    with pytest.raises(ValueError, match="num_superchains"):
        nested_rhat(np.zeros((4, 6)), 4)
