"""MCMC diagnostics: R-hat, effective sample size, autocorrelation, acceptance.

Every function reads a trace laid out as :func:`statjax.run_chains` writes it,
time first, then chains: ``samples: (num_draws, num_chains, *event_shape)``.
Diagnostics are computed independently for every event element and returned
with shape ``event_shape``. All functions are pure JAX (jit-safe, float32 or
float64) and check shapes at the Python boundary.

R-hat and the bulk/tail/basic effective sample sizes follow Vehtari, Gelman,
Simpson, Carpenter & Bürkner (2021), "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", Bayesian
Analysis 16(2), 667-718, and reproduce ``arviz.rhat(method="rank")`` and
``arviz.ess(method="bulk" | "tail" | "mean")`` (arviz 0.23) to round-off.
"""

import functools
import math
import numbers
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from statjax.moments import RunningMoments, running_moments_init, running_moments_update
from statjax.samplers.loop import Reducer

__all__ = [
    "BatchMeansState",
    "acceptance_rate",
    "autocorrelation",
    "batch_means_ess",
    "effective_sample_size",
    "gelman_rubin",
    "integrated_autocorrelation_time",
    "nested_rhat",
    "overall_acceptance_rate",
    "potential_scale_reduction",
    "streaming_diagnostics",
    "streaming_ess",
    "streaming_nested_rhat",
    "streaming_rhat",
]

EssKind = Literal["bulk", "tail", "basic"]

MIN_DRAWS = 4
"""Fewest draws per chain any diagnostic accepts (as arviz and Stan)."""

# arviz treats a (split) trace whose range is below float64's resolution as
# constant and reports ESS = its size; kept as an absolute float64 threshold
# whatever the dtype, so that float32 and float64 agree with arviz alike.
_CONSTANT_RANGE = 1e-15

# Tail ESS looks at the indicators of these quantiles (Vehtari et al. 2021).
_TAIL_PROBABILITIES = (0.05, 0.95)


# ---------------------------------------------------------------- validation


def _as_trace(samples: jax.typing.ArrayLike, name: str = "samples") -> jax.Array:
    """``samples`` as a float array of shape ``(num_draws, num_chains, *event_shape)``."""
    shape = tuple(jnp.shape(samples))
    expected = "(num_draws, num_chains, *event_shape)"
    if len(shape) < 2:
        raise ValueError(
            f"`{name}` must have shape {expected}, time first then chains; got shape "
            f"{shape}. For a single chain of shape (num_draws,), pass `{name}[:, None]`."
        )
    if shape[0] < MIN_DRAWS:
        raise ValueError(
            f"`{name}` must have at least {MIN_DRAWS} draws along axis 0 (shape {expected}); "
            f"got shape {shape}, i.e. {shape[0]} draws. Run the chains longer."
        )
    if shape[1] < 1:
        raise ValueError(f"`{name}` must have at least one chain along axis 1; got shape {shape}.")
    samples = jnp.asarray(samples)
    if jnp.issubdtype(samples.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real; got dtype {samples.dtype}.")
    # Integers (Ising energies, magnetisations) and bools become the default float;
    # float16/bfloat16 are promoted to float32, which the ranks and FFTs need.
    return samples.astype(jnp.promote_types(samples.dtype, jnp.float32))


def _per_event_element(
    diagnostic: Callable[[jax.Array], jax.Array], samples: jax.Array
) -> jax.Array:
    """Apply ``diagnostic: (num_draws, num_chains) -> scalar`` to every event element.

    An element whose draws contain a NaN gets NaN, as in arviz.
    """
    num_draws, num_chains, *event_shape = samples.shape
    flat = samples.reshape(num_draws, num_chains, math.prod(event_shape))

    def guarded(draws: jax.Array) -> jax.Array:
        value = diagnostic(draws).astype(draws.dtype)
        return jnp.where(jnp.any(jnp.isnan(draws)), jnp.nan, value)

    return jax.vmap(guarded, in_axes=2)(flat).reshape(event_shape)


# ---------------------------------------------- building blocks on (draws, chains)


def _split_chains(draws: jax.Array) -> jax.Array:
    """``(n, m) -> (n // 2, 2m)``: first and last halves of every chain as separate chains.

    For an odd ``n`` the middle draw is dropped, as in arviz and Stan.
    """
    half = draws.shape[0] // 2
    return jnp.concatenate([draws[:half], draws[-half:]], axis=1)


def _rank_normalize(draws: jax.Array) -> jax.Array:
    """Normal scores of the pooled ranks: ``z = Phi^-1((r - 3/8) / (S + 1/4))``.

    ``r`` is the rank of a draw among all ``S`` draws of all chains, tied draws
    sharing their average rank (so a discrete observable, like an Ising energy, keeps
    its ties); the offsets are Blom's (1958), as in Vehtari et al. (2021).
    """
    pooled = draws.ravel()
    pooled_sorted = jnp.sort(pooled)
    num_below = jnp.searchsorted(pooled_sorted, pooled, side="left")
    num_at_or_below = jnp.searchsorted(pooled_sorted, pooled, side="right")
    # Tied draws occupy ranks num_below + 1 ... num_at_or_below; take their mean.
    average_rank = (num_below + num_at_or_below + 1).astype(draws.dtype) / 2
    z = ndtri((average_rank - 3 / 8) / (pooled.size + 1 / 4))
    return z.reshape(draws.shape)


def _autocovariance(draws: jax.Array) -> jax.Array:
    """Biased autocovariance of every chain along axis 0, by FFT.

    ``C(t) = (1/n) sum_{s=0}^{n-1-t} (x_s - xbar)(x_{s+t} - xbar)`` for ``t < n``;
    zero padding to at least ``2n - 1`` makes the circular correlation a linear one.
    """
    num_draws = draws.shape[0]
    fft_length = 1 << (2 * num_draws - 1).bit_length()
    centered = draws - jnp.mean(draws, axis=0, keepdims=True)
    spectrum = jnp.fft.rfft(centered, n=fft_length, axis=0)
    power = spectrum.real**2 + spectrum.imag**2
    autocovariance = jnp.fft.irfft(power, n=fft_length, axis=0)[:num_draws]
    return (autocovariance / num_draws).astype(draws.dtype)


def _geyer_ess(draws: jax.Array) -> jax.Array:
    """Multi-chain effective sample size of ``draws: (n, m)`` (Stan / arviz ``_ess``).

    With ``W`` the mean within-chain variance, ``var+ = (n-1)/n W + B/n`` (``B/n``
    the variance of the chain means), the combined autocorrelation is
    ``rho_t = 1 - (W - mean_chains C(t)) / var+``. Sums of pairs
    ``P_k = rho_{2k} + rho_{2k+1}`` are kept while positive (Geyer's initial
    positive sequence) and made non-increasing (initial monotone sequence; Geyer
    1992, Statistical Science 7, 473). Then ``tau = -1 + 2 sum_{k<K} P_k + rho_{2K}``,
    bounded below by ``1/log10(nm)``, and ``ESS = nm / tau``.
    """
    num_draws, num_chains = draws.shape
    total_draws = num_draws * num_chains
    mean_autocovariance = jnp.mean(_autocovariance(draws), axis=1)
    within_variance = mean_autocovariance[0] * num_draws / (num_draws - 1)
    variance_plus = mean_autocovariance[0]
    if num_chains > 1:
        variance_plus += jnp.var(jnp.mean(draws, axis=0), ddof=1)
    rho = 1 - (within_variance - mean_autocovariance) / variance_plus
    rho = rho.at[0].set(1)

    # arviz's loop looks at pairs k = 1, 2, ... while 2k - 1 < n - 3 and the previous
    # pair sum is positive; it stops at pair K, the first non-positive one or the last.
    last_possible_pair = max((num_draws - 3) // 2, 0)
    num_pairs = last_possible_pair + 1
    pair_sums = rho[: 2 * num_pairs].reshape(num_pairs, 2).sum(axis=1)
    num_leading_positive = jnp.sum(jnp.cumprod(pair_sums > 0))
    last_pair = jnp.minimum(num_leading_positive, last_possible_pair)
    # The monotone step replaces each P_k by min(P_k, P_{k-1}): a running minimum.
    monotone_pair_sums = jax.lax.cummin(pair_sums)
    summed_pairs = jnp.sum(jnp.where(jnp.arange(num_pairs) < last_pair, monotone_pair_sums, 0))
    # rho_{2K} joins the sum if pair K was kept (P_K >= 0) or if it is positive itself.
    last_even_rho = rho[2 * last_pair]
    keep_last_even = (pair_sums[last_pair] >= 0) | (last_even_rho > 0)
    tau = -1 + 2 * summed_pairs + jnp.where(keep_last_even, last_even_rho, 0)
    tau = jnp.maximum(tau, 1 / math.log10(total_draws))
    is_constant = jnp.max(draws) - jnp.min(draws) < _CONSTANT_RANGE
    return jnp.where(is_constant, total_draws, total_draws / tau)


def _gelman_rubin(draws: jax.Array) -> jax.Array:
    """``sqrt((n - 1)/n + B / (n W))`` for ``draws: (n, m)`` (Gelman & Rubin 1992).

    ``B = n var(chain means)`` and ``W = mean(chain variances)``, both with ``ddof=1``.
    """
    num_draws = draws.shape[0]
    between_chain_variance = num_draws * jnp.var(jnp.mean(draws, axis=0), ddof=1)
    within_chain_variance = jnp.mean(jnp.var(draws, axis=0, ddof=1))
    return jnp.sqrt((between_chain_variance / within_chain_variance + num_draws - 1) / num_draws)


def _type7_quantile(pooled_sorted: jax.Array, probability: float) -> jax.Array:
    """Linearly interpolated quantile (Hyndman & Fan type 7) of sorted draws.

    The position is computed as ``scipy.stats.mstats.mquantiles(alphap=1, betap=1)``
    does (which arviz uses), so that the same draw is picked; the interpolation
    ``a + g (b - a)`` returns a tied value exactly, which the tail indicators need.
    """
    size = pooled_sorted.size
    position = size * probability + (1 - probability)
    index = math.floor(min(max(position, 1), size - 1))
    fraction = min(max(position - index, 0.0), 1.0)
    below, above = pooled_sorted[index - 1], pooled_sorted[index]
    return below + fraction * (above - below)


def _bulk_ess(draws: jax.Array) -> jax.Array:
    return _geyer_ess(_rank_normalize(_split_chains(draws)))


def _tail_ess(draws: jax.Array) -> jax.Array:
    pooled_sorted = jnp.sort(draws.ravel())

    def quantile_ess(probability: float) -> jax.Array:
        is_below = draws <= _type7_quantile(pooled_sorted, probability)
        return _geyer_ess(_split_chains(is_below.astype(draws.dtype)))

    return jnp.minimum(*(quantile_ess(p) for p in _TAIL_PROBABILITIES))


def _basic_ess(draws: jax.Array) -> jax.Array:
    return _geyer_ess(_split_chains(draws))


_ESS_BY_KIND: dict[str, Callable[[jax.Array], jax.Array]] = {
    "bulk": _bulk_ess,
    "tail": _tail_ess,
    "basic": _basic_ess,
}


# One compiled program per trace shape: the public functions check their
# arguments in Python, then call these.


@jax.jit
def _potential_scale_reduction(samples: jax.Array) -> jax.Array:
    def rank_normalized_split_rhat(draws: jax.Array) -> jax.Array:
        split = _split_chains(draws)
        bulk_rhat = _gelman_rubin(_rank_normalize(split))
        folded = jnp.abs(split - jnp.median(split))
        tail_rhat = _gelman_rubin(_rank_normalize(folded))
        # Python's max(bulk, tail), as arviz: when the folded draws are constant (a
        # +-1 observable split evenly about its median) tail R-hat is NaN and bulk
        # R-hat stands alone.
        return jnp.where(tail_rhat > bulk_rhat, tail_rhat, bulk_rhat)

    return _per_event_element(rank_normalized_split_rhat, samples)


@functools.partial(jax.jit, static_argnames="kind")
def _effective_sample_size(samples: jax.Array, kind: str) -> jax.Array:
    return _per_event_element(_ESS_BY_KIND[kind], samples)


@jax.jit
def _integrated_autocorrelation_time(samples: jax.Array, window_constant: jax.Array) -> jax.Array:
    num_draws = samples.shape[0]

    def windowed_tau(draws: jax.Array) -> jax.Array:
        mean_autocovariance = jnp.mean(_autocovariance(draws), axis=1)
        rho = mean_autocovariance / mean_autocovariance[0]
        tau_by_window = 2 * jnp.cumsum(rho) - 1  # rho(0) = 1 is counted once
        window_is_wide_enough = jnp.arange(num_draws) >= window_constant * tau_by_window
        window = jnp.where(
            jnp.any(window_is_wide_enough), jnp.argmax(window_is_wide_enough), num_draws - 1
        )
        return tau_by_window[window]

    return _per_event_element(windowed_tau, samples)


@functools.partial(jax.jit, static_argnames="max_lag")
def _autocorrelation(samples: jax.Array, max_lag: int) -> jax.Array:
    autocovariance = _autocovariance(samples)[: max_lag + 1]
    return autocovariance / autocovariance[:1]


# ------------------------------------------------------------------ public API


def potential_scale_reduction(samples: jax.typing.ArrayLike) -> jax.Array:
    """Rank-normalized split R-hat of Vehtari et al. (2021).

    Each chain is split in halves (dropping the middle draw of an odd trace), and
    the classic Gelman-Rubin statistic

        R = sqrt((n - 1)/n + B / (n W)),   B = n var_j(mean_j),  W = mean_j var_j

    is computed twice on the ``2m`` half-chains of length ``n``: on the normal
    scores of the pooled ranks (bulk R-hat; ties take their average rank, so
    discrete observables work) and on the normal scores of the folded draws
    ``|x - median(x)|`` (tail R-hat, sensitive to unequal scales). The result is
    the larger of the two; Vehtari et al. recommend trusting a trace only when it
    is below 1.01. Identical to ``arviz.rhat(method="rank")``, except that a single
    chain is accepted (its two halves are compared, as in Stan's ``posterior``)
    where arviz returns NaN.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 4``.

    Returns:
        R-hat per event element, shape ``event_shape``; NaN where an element is
        constant or contains a NaN.

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (1000, 4))
        >>> bool(potential_scale_reduction(samples) < 1.01)
        True
    """
    return _potential_scale_reduction(_as_trace(samples))


def effective_sample_size(samples: jax.typing.ArrayLike, kind: EssKind = "bulk") -> jax.Array:
    """Effective sample size of a multi-chain trace (Vehtari et al. 2021).

    ``ESS = S / tau`` with ``S`` the number of draws and ``tau`` the integrated
    autocorrelation time estimated from all chains jointly by Geyer's (1992)
    initial positive and initial monotone sequences on FFT autocovariances,
    capped so that ``ESS <= S log10(S)``. It is the number of independent draws
    that would estimate the mean of the observable with the same variance:
    ``Var(mean) ≈ Var(x) / ESS``. Chains are always split in halves.

    ``kind`` picks the observable:

    - ``"bulk"``: the rank-normalized draws; the efficiency for the centre of the
      distribution (``arviz.ess(method="bulk")``).
    - ``"tail"``: ``min`` of the ESS of the indicators ``x <= q_0.05`` and
      ``x <= q_0.95`` (type-7 quantiles of the pooled draws), the efficiency for
      5% and 95% quantiles (``arviz.ess(method="tail")``).
    - ``"basic"``: the draws themselves, for the mean of ``x``
      (``arviz.ess(method="mean")``); needs a finite variance.

    A constant element has ``ESS = S`` (arviz's convention).

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 4``.
        kind: ``"bulk"``, ``"tail"`` or ``"basic"``; static under ``jax.jit``.

    Returns:
        ESS per event element, shape ``event_shape``.

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (1000, 4))
        >>> bool(3000 < effective_sample_size(samples) < 5000)
        True
    """
    if kind not in _ESS_BY_KIND:
        raise ValueError(f"`kind` must be one of {sorted(_ESS_BY_KIND)}; got {kind!r}.")
    return _effective_sample_size(_as_trace(samples), kind)


def integrated_autocorrelation_time(
    samples: jax.typing.ArrayLike, window_constant: float = 5.0
) -> jax.Array:
    """Integrated autocorrelation time by Sokal's automatic windowing.

        tau(M) = 1 + 2 sum_{t=1}^{M} rho(t),   M = min{M : M >= c tau(M)}

    where ``rho(t) = mean_chains C(t) / mean_chains C(0)`` pools the biased FFT
    autocovariances ``C`` of the chains, each about its own mean, and ``c`` is
    ``window_constant`` (Madras & Sokal 1988, J. Stat. Phys. 50, 109; Sokal 1997,
    "Monte Carlo methods in statistical mechanics", §3). ``tau`` is the factor by
    which autocorrelation inflates the variance of a mean, ``Var(mean) ≈ tau
    Var(x) / S`` for ``S = num_draws * num_chains`` draws, so ``S / tau`` is
    comparable to ``effective_sample_size(samples, "basic")`` (which uses Geyer's
    truncation instead). For an AR(1) chain ``x_t = a x_{t-1} + noise``,
    ``tau = (1 + a) / (1 - a)``.

    Error bar: ``Var(tau_hat) ≈ 2 (2M + 1) / S * tau^2`` (Sokal 1997);
    the window is reliable when ``num_draws`` is well above ``c tau`` (Sokal
    suggests ``num_draws >~ 1000 tau``). If no window satisfies the criterion the
    longest one, ``num_draws - 1``, is used and the estimate is too short a trace's
    guess. Meant for positively correlated chains; a constant element gives NaN.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 4``.
        window_constant: ``c``; 5 suits chains whose correlations decay roughly
            exponentially, larger values (~10) slower decays.

    Returns:
        ``tau`` per event element, shape ``event_shape``.

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (10_000, 4))
        >>> bool(0.9 < integrated_autocorrelation_time(samples) < 1.1)
        True
    """
    if isinstance(window_constant, int | float) and not window_constant > 0:
        raise ValueError(f"`window_constant` must be positive; got {window_constant}.")
    return _integrated_autocorrelation_time(_as_trace(samples), window_constant)


def autocorrelation(samples: jax.typing.ArrayLike, max_lag: int | None = None) -> jax.Array:
    """Normalized autocorrelation function of every chain, by FFT.

        rho_c(t) = C_c(t) / C_c(0),   C_c(t) = (1/n) sum_{s<n-t} (x_s - xbar_c)(x_{s+t} - xbar_c)

    the biased (divide-by-``n``) estimator, which keeps ``rho_c`` positive definite
    and equals ``arviz.autocorr`` per chain. Useful for plots; for a single number
    use :func:`integrated_autocorrelation_time`.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 4``.
        max_lag: the largest lag returned, ``0 <= max_lag < num_draws``; all lags
            by default. A Python int (it fixes the output shape).

    Returns:
        ``(max_lag + 1, num_chains, *event_shape)``, lag first; ``rho[0] == 1``
        (NaN for a constant chain).

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (1000, 4, 2))
        >>> autocorrelation(samples, max_lag=50).shape
        (51, 4, 2)
    """
    samples = _as_trace(samples)
    num_draws = samples.shape[0]
    if max_lag is None:
        max_lag = num_draws - 1
    # A Python or NumPy integer (it fixes the output shape), not a float or an array.
    is_integer = isinstance(max_lag, numbers.Integral) and not isinstance(max_lag, bool)
    if not is_integer or not 0 <= max_lag < num_draws:
        raise ValueError(
            f"`max_lag` must be an int with 0 <= max_lag < num_draws = {num_draws} "
            f"(samples of shape {samples.shape}); got {max_lag!r}."
        )
    return _autocorrelation(samples, int(max_lag))


def acceptance_rate(is_accepted_or_probabilities: jax.typing.ArrayLike, axis: int = 0) -> jax.Array:
    """Fraction of accepted proposals along ``axis`` (time, by default), per chain.

    ``mean_t a_t``, where ``a_t`` is either the accept/reject decision (a bool,
    ``AcceptanceInfo.is_accepted``) or the Metropolis-Hastings acceptance
    probability ``min(1, exp(log_ratio))`` (``AcceptanceInfo.acceptance_rate``).
    Both have the same expectation; the probabilities have the lower variance
    (they Rao-Blackwellize the coin flip).

    Args:
        is_accepted_or_probabilities: a trace such as ``(num_steps, num_chains)``.
        axis: the time axis to average over.

    Returns:
        The trace with ``axis`` removed, e.g. ``(num_chains,)``, as a float array.

    Examples:
        >>> import jax.numpy as jnp
        >>> acceptance_rate(jnp.array([[True, False], [True, True]]))
        Array([1. , 0.5], dtype=float32)
    """
    values = jnp.asarray(is_accepted_or_probabilities)
    if values.ndim == 0:
        raise ValueError(
            "`is_accepted_or_probabilities` must have a time axis, e.g. shape "
            "(num_steps, num_chains); got a scalar."
        )
    if not -values.ndim <= axis < values.ndim or values.shape[axis] == 0:
        raise ValueError(
            f"`axis` must index a non-empty axis of `is_accepted_or_probabilities` "
            f"(shape {values.shape}); got axis={axis}."
        )
    return jnp.mean(values.astype(jnp.promote_types(values.dtype, jnp.float32)), axis=axis)


def overall_acceptance_rate(is_accepted_or_probabilities: jax.typing.ArrayLike) -> jax.Array:
    """Fraction of accepted proposals over all steps and chains: a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> overall_acceptance_rate(jnp.array([[True, False], [True, True]]))
        Array(0.75, dtype=float32)
    """
    values = jnp.asarray(is_accepted_or_probabilities)
    if values.size == 0:
        raise ValueError(
            f"`is_accepted_or_probabilities` must not be empty; got shape {values.shape}."
        )
    return jnp.mean(values.astype(jnp.promote_types(values.dtype, jnp.float32)))


# ------------------------------------------- many short chains: streaming, nested


def _check_nested(num_chains: int, num_superchains: int) -> int:
    if not isinstance(num_superchains, numbers.Integral) or num_superchains < 2:
        raise ValueError(
            f"`num_superchains` must be an integer >= 2 (nested R-hat compares superchains); "
            f"got {num_superchains!r}."
        )
    if num_chains % num_superchains:
        raise ValueError(
            f"`num_superchains` ({num_superchains}) must divide the number of chains "
            f"({num_chains}): chain c belongs to superchain c // (num_chains // num_superchains)."
        )
    return num_chains // num_superchains


@jax.jit
def _rhat_from_chain_moments(count, chain_means, chain_variances) -> jax.Array:
    """Gelman–Rubin R-hat from per-chain means and variances (``ddof = 1``), chains on axis 0."""
    between = jnp.var(chain_means, axis=0, ddof=1)  # B / n
    within = jnp.mean(chain_variances, axis=0)
    return jnp.sqrt((count - 1) / count + between / within)


@functools.partial(jax.jit, static_argnames="num_superchains")
def _nested_rhat_from_chain_moments(
    count, chain_means, chain_variances, num_superchains: int
) -> jax.Array:
    """Nested R-hat (Margossian et al. 2024, eqs. 15-19) from per-chain means and variances."""
    num_chains = chain_means.shape[0]
    per_superchain = num_chains // num_superchains
    event_shape = chain_means.shape[1:]
    means = chain_means.reshape(num_superchains, per_superchain, *event_shape)
    variances = chain_variances.reshape(num_superchains, per_superchain, *event_shape)
    superchain_means = jnp.mean(means, axis=1)
    between_superchains = jnp.var(superchain_means, axis=0, ddof=1)
    if per_superchain > 1:
        between_chains = jnp.var(means, axis=1, ddof=1)
    else:
        between_chains = jnp.zeros_like(superchain_means)
    within_chains = jnp.where(count > 1, jnp.mean(variances, axis=1), 0.0)
    within_superchains = jnp.mean(between_chains + within_chains, axis=0)
    return jnp.sqrt(1 + between_superchains / within_superchains)


def gelman_rubin(samples: jax.typing.ArrayLike) -> jax.Array:
    """Classic Gelman–Rubin R-hat (Gelman & Rubin 1992), no splitting, no ranks.

    ``R = sqrt((n - 1) / n + var_j(mean_j) / mean_j var_j)`` (variances with
    ``ddof = 1``), which is ``arviz.rhat(method="identity")``. It is what a stream
    can compute (:func:`streaming_rhat` equals it on the same draws): prefer
    :func:`potential_scale_reduction` when the trace is kept.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 4``,
            at least two chains.

    Returns:
        R-hat per event element, ``event_shape``.

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (1000, 4))
        >>> bool(gelman_rubin(samples) < 1.01)
        True
    """
    samples = _as_trace(samples)
    if samples.shape[1] < 2:
        raise ValueError(f"`samples` needs at least 2 chains; got shape {samples.shape}.")
    return _gelman_rubin_of_trace(samples)


@jax.jit
def _gelman_rubin_of_trace(samples: jax.Array) -> jax.Array:
    return _rhat_from_chain_moments(
        samples.shape[0], jnp.mean(samples, axis=0), jnp.var(samples, axis=0, ddof=1)
    )


def nested_rhat(samples: jax.typing.ArrayLike, num_superchains: int) -> jax.Array:
    r"""Nested R-hat for many short chains grouped in superchains (Margossian et al. 2024).

    Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari & Gelman (2024), "Nested
    R-hat: assessing the convergence of Markov chain Monte Carlo when running many
    short chains", Bayesian Analysis. The ``num_chains`` chains form ``K =
    num_superchains`` superchains of ``M`` consecutive chains (chain ``c`` is in
    superchain ``c // M``; chains of a superchain should start from one point).
    With chain means :math:`\bar\theta_{mk}`, chain variances :math:`s^2_{mk}`
    (``ddof = 1``), superchain means :math:`\bar\theta_k` and
    :math:`\bar\theta = \mathrm{mean}_k \bar\theta_k`,

    .. math::

        \hat B_\nu = \frac{1}{K-1} \sum_k (\bar\theta_k - \bar\theta)^2, \quad
        \hat W_\nu = \frac1K \sum_k \Big(\frac{1}{M-1} \sum_m (\bar\theta_{mk} -
        \bar\theta_k)^2 + \frac1M \sum_m s^2_{mk}\Big), \quad
        \hat R_\nu = \sqrt{1 + \hat B_\nu / \hat W_\nu}

    (the first term of :math:`\hat W_\nu` is 0 for ``M = 1``, the second for a
    single draw). It tends to 1 as the chains forget their start; the paper
    suggests ``R_nu < 1 + 0.01`` to ``1.004``-ish thresholds depending on ``K``.
    Works with as little as one draw per chain.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``, ``num_draws >= 1``.
        num_superchains: ``K >= 2``, dividing ``num_chains``.

    Returns:
        Nested R-hat per event element, ``event_shape``.

    Examples:
        >>> import jax
        >>> samples = jax.random.normal(jax.random.key(0), (10, 64))
        >>> bool(abs(nested_rhat(samples, 8) - 1) < 0.05)
        True
    """
    samples = jnp.asarray(samples)
    if samples.ndim < 2 or samples.shape[0] < 1:
        raise ValueError(
            "`samples` must have shape (num_draws, num_chains, *event_shape) with "
            f"num_draws >= 1; got shape {samples.shape}."
        )
    samples = samples.astype(jnp.promote_types(samples.dtype, jnp.float32))
    _check_nested(samples.shape[1], num_superchains)
    return _nested_rhat_of_trace(samples, num_superchains)


@functools.partial(jax.jit, static_argnames="num_superchains")
def _nested_rhat_of_trace(samples: jax.Array, num_superchains: int) -> jax.Array:
    num_draws = samples.shape[0]
    if num_draws > 1:
        variances = jnp.var(samples, axis=0, ddof=1)
    else:
        variances = jnp.zeros(samples.shape[1:], samples.dtype)
    return _nested_rhat_from_chain_moments(
        num_draws, jnp.mean(samples, axis=0), variances, num_superchains
    )


class BatchMeansState(NamedTuple):
    """Carry of :func:`streaming_diagnostics`: O(max_batches) memory whatever the length.

    Attributes:
        moments: per-chain Welford moments of the records (:class:`statjax.RunningMoments`,
            ``mean`` and ``m2`` shaped ``(num_chains, *event_shape)``).
        batch_sums: ``(max_batches, num_chains, *event_shape)`` sums over the
            completed batches (zeros beyond ``num_batches``).
        num_batches: completed batches, always ``< max_batches``.
        batch_size: records per batch, a power of 2.
        partial_sum: sum of the records of the batch being filled.
        partial_count: how many records it holds.
    """

    moments: RunningMoments
    batch_sums: jax.Array
    num_batches: jax.Array
    batch_size: jax.Array
    partial_sum: jax.Array
    partial_count: jax.Array


def streaming_diagnostics(max_batches: int = 64) -> Reducer:
    """A driver :class:`~statjax.samplers.loop.Reducer` for streaming R-hat and ESS.

    Pass it with an ``observe`` returning one array per chain to
    :func:`statjax.samplers.sample_chains`; its carry (a :class:`BatchMeansState`)
    keeps, per chain, Welford's running mean and variance (Welford 1962) and the
    sums of at most ``max_batches`` batches of the records. When ``max_batches``
    batches are complete, neighbouring batches are merged and the batch size
    doubles, so memory is fixed while the batches grow with the run: after
    ``n`` records the batch size is the smallest power of 2 with
    ``n // batch_size < max_batches``. Read it with :func:`streaming_rhat`,
    :func:`streaming_nested_rhat` and :func:`streaming_ess`.

    Args:
        max_batches: even, >= 4; the number of batches kept (between
            ``max_batches / 2`` and ``max_batches - 1`` once the run is longer
            than ``max_batches`` records).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.samplers.loop import sample_chains, init_chains
        >>> kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.5)
        >>> states = init_chains(kernel, jnp.zeros((4, 2)))
        >>> _, carry = sample_chains(kernel, jax.random.key(0), states, 256,
        ...     observe=lambda s, i: s.position, reducer=streaming_diagnostics())
        >>> streaming_rhat(carry).shape, streaming_ess(carry).shape
        ((2,), (2,))
    """
    if not isinstance(max_batches, numbers.Integral) or max_batches < 4 or max_batches % 2:
        raise ValueError(f"`max_batches` must be an even integer >= 4; got {max_batches!r}.")

    def init(example: jax.Array) -> BatchMeansState:
        example = jnp.asarray(example)
        dtype = jnp.promote_types(example.dtype, jnp.float32)
        zeros = jnp.zeros(example.shape, dtype)
        return BatchMeansState(
            running_moments_init(zeros),
            jnp.zeros((max_batches, *example.shape), dtype),
            jnp.zeros((), jnp.int32),
            jnp.ones((), jnp.int32),
            zeros,
            jnp.zeros((), jnp.int32),
        )

    def update(carry: BatchMeansState, record: jax.Array, step: jax.Array) -> BatchMeansState:
        del step
        record = jnp.asarray(record).astype(carry.partial_sum.dtype)
        moments = running_moments_update(carry.moments, record)
        partial_sum = carry.partial_sum + record
        partial_count = carry.partial_count + 1
        is_full = partial_count == carry.batch_size
        batch_sums = jnp.where(
            is_full,
            jax.lax.dynamic_update_index_in_dim(
                carry.batch_sums, partial_sum, carry.num_batches, 0
            ),
            carry.batch_sums,
        )
        num_batches = carry.num_batches + is_full
        partial_sum = jnp.where(is_full, 0.0, partial_sum)
        partial_count = jnp.where(is_full, 0, partial_count)
        # All batches complete: merge neighbours, double the batch size.
        must_merge = num_batches == max_batches
        merged = batch_sums[0::2] + batch_sums[1::2]
        merged = jnp.concatenate([merged, jnp.zeros_like(merged)])
        return BatchMeansState(
            moments,
            jnp.where(must_merge, merged, batch_sums),
            jnp.where(must_merge, max_batches // 2, num_batches),
            jnp.where(must_merge, 2 * carry.batch_size, carry.batch_size),
            partial_sum,
            partial_count,
        )

    return Reducer(init, update)


def _moments_of(carry: BatchMeansState | RunningMoments) -> RunningMoments:
    moments = carry.moments if isinstance(carry, BatchMeansState) else carry
    if not isinstance(moments, RunningMoments) or not isinstance(moments.mean, jax.Array):
        raise TypeError(
            "expected the carry of streaming_diagnostics() or run_chains(..., streaming=True)'s "
            "RunningMoments of one array with a leading chain axis."
        )
    if moments.mean.ndim < 1 or moments.mean.shape[0] < 2:
        raise ValueError(
            f"R-hat needs at least 2 chains; got moments of shape {moments.mean.shape}."
        )
    return moments


def streaming_rhat(carry: BatchMeansState | RunningMoments) -> jax.Array:
    """:func:`gelman_rubin` from streamed per-chain moments, without the trace.

    Accepts the carry of :func:`streaming_diagnostics` or the
    :class:`statjax.RunningMoments` that ``run_chains(..., streaming=True)``
    returns. Equals :func:`gelman_rubin` on the same draws up to rounding
    (Welford's updates against two-pass sums). See :func:`streaming_diagnostics`
    for an example.

    Returns:
        R-hat per event element.
    """
    moments = _moments_of(carry)
    return _rhat_of_moments(moments)


@jax.jit
def _rhat_of_moments(moments: RunningMoments) -> jax.Array:
    return _rhat_from_chain_moments(moments.count, moments.mean, moments.variance)


def streaming_nested_rhat(
    carry: BatchMeansState | RunningMoments, num_superchains: int
) -> jax.Array:
    """:func:`nested_rhat` from streamed per-chain moments (as :func:`streaming_rhat`)."""
    moments = _moments_of(carry)
    _check_nested(moments.mean.shape[0], num_superchains)
    return _nested_rhat_of_moments(moments, num_superchains)


@functools.partial(jax.jit, static_argnames="num_superchains")
def _nested_rhat_of_moments(moments: RunningMoments, num_superchains: int) -> jax.Array:
    variances = jnp.where(moments.count > 1, moments.variance, 0.0)
    return _nested_rhat_from_chain_moments(moments.count, moments.mean, variances, num_superchains)


def _batch_means_ess(
    num_draws, chain_means, chain_m2, batch_means: jax.Array, batch_size, is_complete: jax.Array
) -> jax.Array:
    """``ESS = C n Var(x) / (b Var(batch means))``, both variances pooled over chains.

    ``batch_means: (max_batches, C, *event)``, of which the rows where
    ``is_complete`` count. ``Var(x)`` is the variance of all ``C n`` draws about
    their grand mean (chains' Welford moments combined by Chan et al.'s rule);
    ``b Var(batch means)`` estimates the asymptotic variance ``sigma^2 = Var(x) tau``
    of a chain's mean (Flegal & Jones 2010, "Batch means and spectral variance
    estimators in MCMC", Ann. Stat. 38, 1034).
    """
    num_chains = chain_means.shape[0]
    grand_mean = jnp.mean(chain_means, axis=0)
    total_squares = jnp.sum(chain_m2, axis=0) + num_draws * jnp.sum(
        (chain_means - grand_mean) ** 2, axis=0
    )
    variance = total_squares / (num_chains * num_draws - 1)
    mask = is_complete.reshape(-1, *([1] * (batch_means.ndim - 1)))
    num_means = jnp.sum(is_complete) * num_chains
    batch_grand_mean = jnp.sum(jnp.where(mask, batch_means, 0.0), axis=(0, 1)) / num_means
    squares = jnp.where(mask, (batch_means - batch_grand_mean) ** 2, 0.0)
    batch_variance = jnp.sum(squares, axis=(0, 1)) / (num_means - 1)
    ess = num_chains * num_draws * variance / (batch_size * batch_variance)
    return jnp.where(jnp.sum(is_complete) >= 2, ess, jnp.nan)


def streaming_ess(carry: BatchMeansState) -> jax.Array:
    """Effective sample size by batch means from :func:`streaming_diagnostics`'s carry.

    ``ESS = C n s^2 / (b s_b^2)``: ``s^2`` the variance of all draws, ``s_b^2`` the
    variance of the completed batches' means (batch size ``b``, pooled over the
    ``C`` chains about the grand mean). Assumptions: the batch size exceeds the
    integrated autocorrelation time several times over (batch means nearly
    independent) and there are enough batches (at least ``max_batches / 2``
    once the run has ``max_batches`` records); the chains are stationary (a
    chain far from the others inflates ``s_b^2`` and lowers the ESS, which is
    the conservative direction). Unlike Geyer's estimator of
    :func:`effective_sample_size` it is not capped at ``S log10 S`` and it has
    more variance; equal to :func:`batch_means_ess` on the same draws up to
    rounding. NaN with fewer than 2 completed batches.

    Returns:
        ESS per event element.
    """
    if not isinstance(carry, BatchMeansState):
        raise TypeError("streaming_ess reads the carry of streaming_diagnostics().")
    return _streaming_ess(carry)


@jax.jit
def _streaming_ess(carry: BatchMeansState) -> jax.Array:
    moments = carry.moments
    dtype = carry.batch_sums.dtype
    is_complete = jnp.arange(carry.batch_sums.shape[0]) < carry.num_batches
    batch_size = carry.batch_size.astype(dtype)
    return _batch_means_ess(
        moments.count,
        moments.mean,
        moments.m2,
        carry.batch_sums / batch_size,
        batch_size,
        is_complete,
    )


def batch_means_ess(samples: jax.typing.ArrayLike, max_batches: int = 64) -> jax.Array:
    """:func:`streaming_ess` computed from a stored trace (the batch version of the same estimator).

    The batch size is the one the stream would reach, the smallest power of 2
    ``b`` with ``n // b < max_batches``; the first ``(n // b) b`` draws form the
    batches and all ``n`` draws give the variance.

    Args:
        samples: ``(num_draws, num_chains, *event_shape)``.
        max_batches: as in :func:`streaming_diagnostics`.

    Returns:
        ESS per event element.

    Examples:
        >>> import numpy as np
        >>> draws = np.random.default_rng(0).standard_normal((1024, 4)).astype(np.float32)
        >>> # Independent draws: ESS = 4096, +-12 % (128 batch means); 4 of those.
        >>> bool(2000 < batch_means_ess(draws) < 6200)
        True
    """
    samples = _as_trace(samples)
    if not isinstance(max_batches, numbers.Integral) or max_batches < 4 or max_batches % 2:
        raise ValueError(f"`max_batches` must be an even integer >= 4; got {max_batches!r}.")
    num_draws = samples.shape[0]
    batch_size = 1
    while num_draws // batch_size >= max_batches:
        batch_size *= 2
    return _batch_means_ess_of_trace(samples, batch_size)


@functools.partial(jax.jit, static_argnames="batch_size")
def _batch_means_ess_of_trace(samples: jax.Array, batch_size: int) -> jax.Array:
    num_draws = samples.shape[0]
    num_batches = num_draws // batch_size
    batches = samples[: num_batches * batch_size].reshape(
        num_batches, batch_size, *samples.shape[1:]
    )
    chain_means = jnp.mean(samples, axis=0)
    chain_m2 = jnp.sum((samples - chain_means) ** 2, axis=0)
    is_complete = jnp.ones((num_batches,), bool)
    batch_means = jnp.mean(batches, axis=1)
    return _batch_means_ess(num_draws, chain_means, chain_m2, batch_means, batch_size, is_complete)
