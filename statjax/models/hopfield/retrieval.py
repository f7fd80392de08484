r"""Retrieval and storage capacity: many networks, loads and cues in one compiled program.

Starting from a stored (or corrupted) pattern, the final overlap
``m = (1/N) xi . s`` stays near 1 below the critical load
``alpha_c = P / N ≈ 0.138`` and collapses above it (Amit, Gutfreund & Sompolinsky
1985, PRL 55, 1530; 1987, Ann. Phys. 173, 30), at a lower ``alpha_c(T)`` at
``T > 0``. :func:`retrieve` runs the asynchronous dynamics of a batch of
networks through the one driver, :func:`capacity_curve` measures final overlaps
against the load over many random pattern sets, and :func:`critical_load`
locates the collapse.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.anneal.schedules import temperature_to_beta
from statjax.checks import as_key, check_count
from statjax.models.hopfield.dynamics import AsynchronousSweep
from statjax.models.hopfield.network import (
    check_patterns,
    corrupt,
    hebbian,
    random_patterns,
)
from statjax.samplers.loop import init_chains, sample_chains
from statjax.types import PRNGKey


def _beta_of_temperature(temperature: float) -> float:
    """``beta = 1 / T`` for a concrete ``T >= 0``; ``T = 0`` is ``beta = +inf``."""
    return float(temperature_to_beta(float(temperature)))


@partial(jax.jit, static_argnames=("num_sweeps",))
def _retrieve(key, patterns, num_patterns, cues, beta, *, num_sweeps):
    def run_network(network_key, patterns, num_patterns, cues):
        kernel = AsynchronousSweep(hebbian(patterns, num_patterns=num_patterns))
        states = init_chains(kernel, cues)
        states, _ = sample_chains(kernel, network_key, states, num_sweeps, beta=beta)
        return states.position

    # One key per network, split over its cues by the driver at every sweep.
    keys = jax.random.split(key, patterns.shape[0])
    return jax.vmap(run_network)(keys, patterns, num_patterns, cues)


def retrieve(
    patterns: ArrayLike,
    key: PRNGKey,
    cues: ArrayLike,
    num_sweeps: int,
    *,
    temperature: float = 0.0,
    num_patterns: ArrayLike | None = None,
) -> jax.Array:
    """Final spins of asynchronous Glauber dynamics from ``cues``, for a batch of networks.

    A runner like :func:`statjax.run_chains`, ``(what runs, key, initial,
    num_steps)``: network ``b`` stores ``patterns[b, :num_patterns[b]]`` by Hebb's
    rule (:func:`hebbian`); its cues are the chains of ``num_sweeps`` sweeps of
    :class:`AsynchronousSweep` at ``temperature`` (``0``: ``beta = +inf``, the sign
    rule), advanced by the one driver (:func:`statjax.samplers.loop.sample_chains`)
    with network ``b``'s key ``split(key, num_networks)[b]``, so sweep ``t`` of cue
    ``c`` draws from ``split(fold_in(key_b, t), num_cues)[c]``. Networks are
    vmapped, in one compiled program per shape (the temperature and the numbers
    of patterns are traced).

    Args:
        patterns: ``(num_networks, P, N)`` ±1.
        key: PRNG key (typed or legacy ``uint32[2]``).
        cues: ``(num_networks, num_cues, N)`` ±1 starting configurations.
        num_sweeps: sweeps to run.
        temperature: ``T >= 0`` (a Python float); ``T = 0`` is ``beta = +inf``.
        num_patterns: ``(num_networks,)`` patterns stored per network (default ``P``).

    Returns:
        ``(num_networks, num_cues, N)`` ``int8`` final spins.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> patterns = random_patterns(jax.random.key(0), 8 * 20, 50).reshape(8, 20, 50)
        >>> final = retrieve(patterns, jax.random.key(1), patterns[:, :1], 20, num_patterns=[2] * 8)
        >>> bool(jnp.all(final[:, 0] == patterns[:, 0]))  # two stored patterns are fixed points
        True
    """
    patterns, cues = jnp.asarray(patterns), jnp.asarray(cues)
    if patterns.ndim != 3:
        raise ValueError(f"patterns must be (num_networks, P, N), got shape {patterns.shape}.")
    check_patterns(patterns.reshape(-1, patterns.shape[-1]))
    if cues.ndim != 3 or cues.shape[0] != patterns.shape[0] or cues.shape[2] != patterns.shape[2]:
        raise ValueError(
            f"cues must be (num_networks, num_cues, N) = ({patterns.shape[0]}, num_cues, "
            f"{patterns.shape[2]}), got shape {cues.shape}."
        )
    num_sweeps = check_count("num_sweeps", num_sweeps)
    beta = _beta_of_temperature(temperature)
    if num_patterns is None:
        num_patterns = np.full(patterns.shape[0], patterns.shape[1])
    num_patterns = jnp.asarray(num_patterns, jnp.int32)
    if num_patterns.shape != patterns.shape[:1]:
        raise ValueError(
            f"num_patterns must be ({patterns.shape[0]},), one per network, "
            f"got shape {num_patterns.shape}."
        )
    return _retrieve(
        as_key(key),
        patterns.astype(jnp.int8),
        num_patterns,
        cues.astype(jnp.int8),
        jnp.float32(beta),
        num_sweeps=num_sweeps,
    )


class CapacityCurve(NamedTuple):
    """Final retrieval overlaps against the load, from :func:`capacity_curve`.

    Attributes:
        loads: ``(L,)`` realised loads ``alpha = P / N``.
        num_patterns: ``(L,)`` patterns stored, ``P = round(alpha N)``.
        overlaps: ``(L, num_networks, num_cues)`` final overlap with the cued pattern.
    """

    loads: np.ndarray
    num_patterns: np.ndarray
    overlaps: jax.Array


def capacity_curve(
    key: PRNGKey,
    num_spins: int,
    loads: ArrayLike,
    *,
    num_networks: int = 10,
    num_cues: int = 1,
    num_sweeps: int = 20,
    temperature: float = 0.0,
    flip_fraction: float = 0.0,
) -> CapacityCurve:
    """Storage-capacity measurement: final overlaps from stored or corrupted patterns vs load.

    For every load ``alpha``, ``num_networks`` independent sets of ``P = round(alpha
    N)`` random patterns are stored; the first ``num_cues`` patterns of each,
    with ``flip_fraction`` of their spins flipped (:func:`corrupt`), start
    ``num_sweeps`` asynchronous sweeps at ``temperature`` (:func:`retrieve`), and
    the overlap of the final state with the cued pattern is recorded. All loads
    and networks run in one batch (patterns padded to the largest ``P``). Below
    ``alpha_c ≈ 0.138`` (AGS 1985) the overlap stays near 1 at ``T = 0``; finite
    ``N`` smooths and shifts the collapse.

    Args:
        key: PRNG key.
        num_spins: ``N``.
        loads: ``(L,)`` target loads ``> 0``.
        num_networks: pattern sets per load.
        num_cues: cued patterns per set (at most the smallest ``P``).
        num_sweeps: sweeps of asynchronous dynamics.
        temperature: ``T >= 0``.
        flip_fraction: share of a cue's spins flipped.

    Returns:
        A :class:`CapacityCurve`.

    Examples:
        >>> import jax
        >>> curve = capacity_curve(jax.random.key(0), 50, [0.05, 0.4], num_networks=4)
        >>> curve.num_patterns.tolist(), curve.overlaps.shape
        ([2, 20], (2, 4, 1))
        >>> bool(curve.overlaps[0].mean() > curve.overlaps[1].mean())
        True
    """
    num_spins = check_count("num_spins", num_spins, minimum=2)
    loads = np.asarray(loads, dtype=float)
    if loads.ndim != 1 or loads.size == 0 or not np.all(np.isfinite(loads) & (loads > 0)):
        raise ValueError(f"loads must be a non-empty 1-D array of values > 0, got {loads!r}.")
    num_networks = check_count("num_networks", num_networks)
    num_cues = check_count("num_cues", num_cues)
    _beta_of_temperature(temperature)  # refuse a bad temperature before any work
    num_patterns = np.maximum(np.rint(loads * num_spins).astype(int), 1)
    if num_cues > num_patterns.min():
        raise ValueError(
            f"num_cues={num_cues} exceeds the smallest number of patterns "
            f"{int(num_patterns.min())} (load {loads[num_patterns.argmin()]} x N={num_spins})."
        )
    num_loads, max_patterns = loads.size, int(num_patterns.max())
    pattern_key, cue_key, run_key = jax.random.split(as_key(key), 3)
    shape = (num_loads * num_networks, max_patterns, num_spins)
    patterns = random_patterns(pattern_key, shape[0] * max_patterns, num_spins).reshape(shape)
    cues = corrupt(cue_key, patterns[:, :num_cues], flip_fraction)
    final = retrieve(
        patterns, run_key, cues, num_sweeps, temperature=temperature,
        num_patterns=np.repeat(num_patterns, num_networks),
    )  # fmt: skip
    overlaps = _cued_overlaps(final, patterns)
    return CapacityCurve(
        num_patterns / num_spins,
        num_patterns,
        overlaps.reshape(num_loads, num_networks, num_cues),
    )


@jax.jit
def _cued_overlaps(final: jax.Array, patterns: jax.Array) -> jax.Array:
    """``(num_networks, num_cues)`` overlap of each final state with the pattern it was cued by."""
    cued = patterns[:, : final.shape[1]].astype(jnp.float32)
    return jnp.mean(final.astype(jnp.float32) * cued, axis=-1)


def critical_load(loads: ArrayLike, overlap: ArrayLike, threshold: float = 0.5) -> jax.Array:
    """The load at which ``overlap`` first falls below ``threshold``, linearly interpolated.

    Between the last load at or above the threshold and the first below it,
    ``alpha_c = alpha_0 + (m_0 - threshold) / (m_0 - m_1) (alpha_1 - alpha_0)``.
    NaN when the curve never falls below the threshold or starts below it.
    jit/vmap-safe (e.g. over bootstrap resamples of the mean overlap).

    Args:
        loads: ``(L,)`` increasing loads.
        overlap: ``(L,)`` mean final overlaps.
        threshold: the overlap that separates retrieval from its collapse.

    Returns:
        A scalar.

    Examples:
        >>> round(float(critical_load([0.1, 0.12, 0.14, 0.16], [0.99, 0.97, 0.6, 0.3], 0.785)), 4)
        0.13
    """
    loads, overlap = jnp.asarray(loads, jnp.float32), jnp.asarray(overlap, jnp.float32)
    if loads.ndim != 1 or overlap.shape != loads.shape:
        raise ValueError(
            f"loads and overlap must be 1-D of one length, got {loads.shape} and {overlap.shape}."
        )
    return _critical_load(loads, overlap, threshold)


@jax.jit
def _critical_load(loads: jax.Array, overlap: jax.Array, threshold) -> jax.Array:
    below = overlap < threshold
    first = jnp.argmax(below)
    before = jnp.maximum(first - 1, 0)
    fraction = (overlap[before] - threshold) / (overlap[before] - overlap[first])
    crossing = loads[before] + fraction * (loads[first] - loads[before])
    return jnp.where(jnp.any(below) & (first > 0), crossing, jnp.nan)


__all__ = ["CapacityCurve", "capacity_curve", "critical_load", "retrieve"]
