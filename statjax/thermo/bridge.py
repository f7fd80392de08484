r"""``log Z`` along a temperature ladder from stored energies: stepping stone, BAR and MBAR.

A replica-exchange run (:func:`statjax.samplers.tempering.replica_exchange`)
samples ``exp(-beta_k E) / Z_k`` at every rung ``k`` of its ladder and caches
every replica's untempered energy, so the ratios ``Z_k / Z_0`` come from the
energies it already computed (Pigeons.jl gives ``log Z`` with every run the
same way). Observe :func:`temperature_energies` while running,

.. code-block:: python

    final, energies = statjax.run_chains(pt, key, x0, num_steps, observe=temperature_energies)
    result = ladder_log_z(energies[burn_in:], pt.betas, method="mbar")

and ``result.log_z[k]`` estimates ``log Z(beta_k) - log Z(beta_0)``. Three estimators:

- **stepping stone** (Xie, Lewis, Fan, Kuo & Chen 2011, Syst. Biol. 60, 150):
  ``log Z_{k+1}/Z_k = log mean_{x ~ p_k} exp(-(beta_{k+1} - beta_k) E(x))``,
  summed along the ladder; uses each rung's own samples only;
- **BAR** (Bennett 1976, J. Comput. Phys. 22, 245; Shirts, Bair, Hooker & Pande
  2003, Phys. Rev. Lett. 91, 140601): for each neighbouring pair, the
  minimum-variance combination of both rungs' samples, the root ``Delta f`` of
  ``sum_F 1/(1 + exp(M + w_F - Delta f)) = sum_R 1/(1 + exp(-M + w_R + Delta f))``
  (:func:`bar`); summed along the ladder;
- **MBAR** (Shirts & Chodera 2008, J. Chem. Phys. 129, 124105): all samples of
  all rungs at once, the root of
  ``f_i = -log sum_n exp(-u_i(x_n)) / sum_k N_k exp(f_k - u_k(x_n))``, found here
  as the minimum of its convex objective by Newton's method (:func:`mbar`);
  ``u_k = beta_k E``.

**Error bars: a block jackknife over the correlated trace.** The trace is cut
along time into ``num_blocks`` contiguous blocks (all chains of a block
together); the estimator is recomputed without each block, and
``se^2 = (B - 1) / B sum_b (theta_(b) - mean theta_(.))^2``. Blocks much longer
than the autocorrelation time make this valid for correlated samples, where
MBAR's asymptotic covariance (which assumes independent samples) is too small.

These are host-side post-processing of a trace (numpy, float64): sums over up to
millions of samples with Newton's method need the precision, and nothing here
draws random numbers or runs a chain.
"""

from typing import NamedTuple

import jax
import numpy as np

from statjax.checks import check_count

LADDER_METHODS = ("stepping_stone", "bar", "mbar")
"""The ladder estimators :func:`ladder_log_z` knows."""


class LadderLogZ(NamedTuple):
    """``log Z`` at every rung of a ladder, relative to the first rung (plus ``base_log_z``).

    Attributes:
        log_z: ``(K,)`` ``base_log_z + log Z(beta_k) - log Z(beta_0)``; ``log_z[0] = base_log_z``.
        standard_error: ``(K,)`` block-jackknife standard errors (module docstring).
        betas: ``(K,)`` the ladder.
        method: ``"stepping_stone"``, ``"bar"`` or ``"mbar"``.
        num_blocks: the number of jackknife blocks.
    """

    log_z: np.ndarray
    standard_error: np.ndarray
    betas: np.ndarray
    method: str
    num_blocks: int


def temperature_energies(state, info=None) -> jax.Array:
    """``(R,)`` untempered energies of a replica-exchange state, ordered by temperature slot.

    Pass it as ``observe`` to :func:`statjax.run_chains`: entry ``k`` is the energy
    of the replica at ``betas[k]`` after the step's swaps.
    """
    del info
    return state.energy[state.replica_index]


def _logsumexp(values: np.ndarray, axis: int | None = None, b: np.ndarray | None = None):
    """``log sum(b * exp(values))`` along ``axis`` without overflow (numpy, float64)."""
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    scaled = np.exp(values - top) if b is None else b * np.exp(values - top)
    total = np.sum(scaled, axis=axis, keepdims=True)
    return np.squeeze(np.log(total) + top, axis=axis)


def _log_mean_exp(values: np.ndarray) -> float:
    return float(_logsumexp(values) - np.log(values.size))


def bar(work_forward: np.ndarray, work_reverse: np.ndarray) -> float:
    r"""Bennett's acceptance ratio: ``Delta f = f_1 - f_0 = -log(Z_1 / Z_0)`` from work values.

    ``work_forward = u_1(x) - u_0(x)`` at draws ``x ~ p_0``, ``work_reverse =
    u_0(x) - u_1(x)`` at draws ``x ~ p_1`` (reduced, i.e. ``beta``-weighted,
    energies ``u``; Crooks 2000's forward and reverse work). ``Delta f`` is the
    root of Bennett's equation (module docstring) with ``M = log(n_F / n_R)``,
    found by bisection; it is the maximum-likelihood estimate (Shirts et
    al. 2003) and MBAR with two states.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> # Gaussians N(0, 1) -> N(1, 1): u_1 - u_0 = 0.5 - x, Delta f = 0.
        >>> forward = 0.5 - rng.normal(0.0, 1.0, 20_000)
        >>> reverse = rng.normal(1.0, 1.0, 20_000) - 0.5
        >>> bool(abs(bar(forward, reverse)) < 0.05)
        True
    """
    forward = np.asarray(work_forward, np.float64).ravel()
    reverse = np.asarray(work_reverse, np.float64).ravel()
    if forward.size < 1 or reverse.size < 1:
        raise ValueError("bar needs at least one forward and one reverse work value.")
    if not (np.all(np.isfinite(forward)) and np.all(np.isfinite(reverse))):
        raise ValueError("bar: work values must be finite.")
    shift = np.log(forward.size / reverse.size)
    # Discrete energies repeat: sum over distinct values with their multiplicities.
    forward, forward_counts = np.unique(forward, return_counts=True)
    reverse, reverse_counts = np.unique(reverse, return_counts=True)

    def imbalance(delta_f: float) -> float:
        # log-sum form of sum_F fermi(M + w_F - df) - sum_R fermi(-M + w_R + df)
        left = _logsumexp(-np.logaddexp(0.0, shift + forward - delta_f), b=forward_counts)
        right = _logsumexp(-np.logaddexp(0.0, -shift + reverse + delta_f), b=reverse_counts)
        return float(left - right)

    # The root lies between the two one-sided (Zwanzig) estimates, widened until it is bracketed.
    low = float(min(np.min(forward), -np.max(reverse))) - 1.0
    high = float(max(np.max(forward), -np.min(reverse))) + 1.0
    while imbalance(low) > 0:
        low -= 2.0 * (high - low)
    while imbalance(high) < 0:
        high += 2.0 * (high - low)
    # The imbalance increases with delta_f: bisection to the float64 resolution.
    for _ in range(200):
        middle = 0.5 * (low + high)
        if imbalance(middle) < 0:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, abs(middle)):
            break
    return 0.5 * (low + high)


def mbar(
    reduced_potentials: np.ndarray,
    num_samples: np.ndarray,
    initial_free_energies: np.ndarray | None = None,
    *,
    multiplicities: np.ndarray | None = None,
    tolerance: float = 1e-10,
    max_iterations: int = 200,
) -> np.ndarray:
    r"""MBAR free energies ``f_k = -log Z_k`` (with ``f_0 = 0``) by Newton's method.

    Minimises the convex function (Shirts & Chodera 2008, Appendix C; the form
    of pymbar's solver)

    .. math::

        F(f) = \sum_n \log \sum_k N_k e^{f_k - u_{kn}} - \sum_k N_k f_k,

    whose stationary point is the MBAR equation; gradient
    ``N_k (sum_n W_kn - 1)``, Hessian ``diag(N_k sum_n W_kn) - N_k N_l sum_n W_kn W_ln``
    with ``W_kn = exp(f_k - u_kn) / sum_l N_l exp(f_l - u_ln)``; steps are halved
    until ``F`` decreases.

    Args:
        reduced_potentials: ``(K, N)`` ``u_k(x_n)`` for every state ``k`` and every
            pooled sample ``n`` (from whichever state it was drawn).
        num_samples: ``(K,)`` samples drawn from each state, summing to ``N``.
        initial_free_energies: a starting point (e.g. the stepping-stone estimate).
        multiplicities: ``(N,)`` how many samples each column stands for (distinct
            values of a discrete energy, with their counts); ones by default.
        tolerance: stop when the largest gradient entry is below ``tolerance * N``.
        max_iterations: Newton steps at most.

    Returns:
        ``(K,)`` ``f_k - f_0``; ``log Z_k - log Z_0 = -f_k``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 0.5, 5000)])
        >>> u = np.stack([0.5 * x**2, 2.0 * x**2])  # Z_1 / Z_0 = 1 / 2
        >>> f = mbar(u, np.array([5000, 5000]))
        >>> bool(abs(f[1] - np.log(2.0)) < 0.03)
        True
    """
    u = np.asarray(reduced_potentials, np.float64)
    counts = np.asarray(num_samples, np.float64)
    if u.ndim != 2 or counts.shape != (u.shape[0],):
        raise ValueError(
            f"mbar: reduced_potentials must be (K, N) and num_samples (K,), got {u.shape} "
            f"and {counts.shape}."
        )
    if not np.all(np.isfinite(u)):
        raise ValueError("mbar: reduced potentials must be finite.")
    repeats = np.ones(u.shape[1]) if multiplicities is None else np.asarray(multiplicities, float)
    total = float(repeats.sum())
    if repeats.shape != (u.shape[1],) or abs(counts.sum() - total) > 0.5 or np.any(counts < 0):
        raise ValueError(
            f"mbar: num_samples must be >= 0 and sum to the number of samples {total:g}, "
            f"got {counts.tolist()}."
        )
    occupied = counts > 0
    log_counts = np.where(occupied, np.log(np.where(occupied, counts, 1.0)), -np.inf)
    f = np.zeros(u.shape[0]) if initial_free_energies is None else np.array(initial_free_energies)
    f = f - f[0]

    def objective(f):
        log_denominator = _logsumexp(log_counts[:, None] + f[:, None] - u, axis=0)
        return float(repeats @ log_denominator - np.sum(counts * f)), log_denominator

    value, log_denominator = objective(f)
    for _ in range(max_iterations):
        weights = np.exp(f[:, None] - u - log_denominator[None, :])  # W_kn
        column = weights @ repeats
        gradient = counts * column - counts
        if np.max(np.abs(gradient[1:])) < tolerance * total:
            break
        weighted = counts[:, None] * weights
        hessian = np.diag(counts * column) - (weighted * repeats) @ weighted.T
        step = np.zeros_like(f)
        step[1:] = np.linalg.lstsq(hessian[1:, 1:], -gradient[1:], rcond=None)[0]
        scale = 1.0
        while True:
            trial = f + scale * step
            trial_value, trial_denominator = objective(trial)
            if trial_value <= value + 1e-12 * abs(value) or scale < 1e-8:
                break
            scale *= 0.5
        f, value, log_denominator = trial, trial_value, trial_denominator
    return f - f[0]


def _check_trace(energies, betas) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(energies, np.float64)
    betas = np.asarray(betas, np.float64)
    if betas.ndim != 1 or betas.size < 2 or not np.all(np.diff(betas) > 0):
        raise ValueError(f"betas must be a strictly increasing ladder of >= 2, got {betas}.")
    if values.ndim == 2:
        values = values[:, None, :]
    if values.ndim != 3 or values.shape[-1] != betas.size:
        raise ValueError(
            f"energies must be (num_steps, [num_chains,] K = {betas.size}) energies by "
            f"temperature slot, got shape {np.shape(energies)}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("energies must be finite.")
    return values, betas


def _stepping_stone(samples: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``(K,)`` ``log Z_k - log Z_0`` from ``samples`` ``(S, K)`` (samples by rung)."""
    gaps = np.diff(betas)
    steps = [_log_mean_exp(-gap * samples[:, k]) for k, gap in enumerate(gaps)]
    return np.concatenate([[0.0], np.cumsum(steps)])


def _bar_ladder(samples: np.ndarray, betas: np.ndarray) -> np.ndarray:
    steps = []
    for k in range(len(betas) - 1):
        gap = betas[k + 1] - betas[k]
        steps.append(-bar(gap * samples[:, k], -gap * samples[:, k + 1]))
    return np.concatenate([[0.0], np.cumsum(steps)])


def _mbar_ladder(samples: np.ndarray, betas: np.ndarray, start: np.ndarray) -> np.ndarray:
    # Every rung's samples, pooled and evaluated at every beta; a discrete energy's
    # repeated values are one column each, with their multiplicity.
    pooled, repeats = np.unique(samples, return_counts=True)
    counts = np.full(len(betas), samples.shape[0])
    return -mbar(betas[:, None] * pooled[None, :], counts, -start, multiplicities=repeats)


def ladder_log_z(
    energies: jax.typing.ArrayLike,
    betas: jax.typing.ArrayLike,
    *,
    method: str = "mbar",
    base_log_z: float = 0.0,
    num_blocks: int = 10,
) -> LadderLogZ:
    """``log Z(beta_k)`` along a ladder from a replica-exchange energy trace (module docstring).

    Args:
        energies: ``(num_steps, num_chains, K)`` or ``(num_steps, K)`` untempered
            energies by temperature slot (observe :func:`temperature_energies`),
            burn-in removed.
        betas: ``(K,)`` the ladder, strictly increasing.
        method: ``"stepping_stone"``, ``"bar"`` or ``"mbar"``.
        base_log_z: ``log Z(beta_0)``, added to every entry.
        num_blocks: jackknife blocks along time (>= 2; at most ``num_steps``).

    Returns:
        A :class:`LadderLogZ`.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> betas = np.array([0.5, 1.0, 2.0])  # E = x^2 / 2 in 1-D: log Z = log sqrt(2 pi / beta)
        >>> energies = 0.5 * rng.normal(size=(4000, 3)) ** 2 / betas
        >>> result = ladder_log_z(energies, betas)
        >>> bool(abs(result.log_z[-1] + np.log(2.0)) < 4 * result.standard_error[-1])
        True
    """
    if method not in LADDER_METHODS:
        raise ValueError(f"method must be one of {LADDER_METHODS}, got {method!r}.")
    values, betas = _check_trace(energies, betas)
    num_blocks = check_count("num_blocks", num_blocks, minimum=2)
    if num_blocks > values.shape[0]:
        raise ValueError(f"num_blocks ({num_blocks}) exceeds the {values.shape[0]} steps.")

    def estimate(samples: np.ndarray) -> np.ndarray:
        stones = _stepping_stone(samples, betas)
        if method == "stepping_stone":
            return stones
        if method == "bar":
            return _bar_ladder(samples, betas)
        return _mbar_ladder(samples, betas, stones)

    full = estimate(values.reshape(-1, betas.size))
    blocks = np.array_split(np.arange(values.shape[0]), num_blocks)
    leave_one_out = np.stack(
        [estimate(np.delete(values, block, axis=0).reshape(-1, betas.size)) for block in blocks]
    )
    spread = leave_one_out - leave_one_out.mean(axis=0)
    standard_error = np.sqrt((num_blocks - 1) / num_blocks * np.sum(spread**2, axis=0))
    return LadderLogZ(full + base_log_z, standard_error, betas, method, num_blocks)


__all__ = [
    "LADDER_METHODS",
    "LadderLogZ",
    "bar",
    "ladder_log_z",
    "mbar",
    "temperature_energies",
]
