r"""Replica overlaps: ``P(q)``, the Edwards–Anderson order parameter, the spin-glass susceptibility.

Two *replicas* ``a, b`` (independent chains on the same couplings, at the same
temperature) have the overlap

.. math::

    q_{ab} = \frac{1}{N} \sum_i s_i^a s_i^b \quad \text{(Ising)}, \qquad
    q_{ab} = \frac{1}{N} \sum_i \frac{Q \delta_{s_i^a s_i^b} - 1}{Q - 1} \quad
    \text{(Q-state Potts)},

both in ``[-1, 1]`` (Potts: ``[-1/(Q-1), 1]``), 0 on average between unrelated
configurations. Its distribution ``P(q)`` is the order parameter of spin glasses
(Parisi 1983; Edwards & Anderson 1975; Binder & Young 1986, Rev. Mod. Phys. 58,
801): a single peak at 0 of width ``~ N^{-1/2}`` in the paramagnet; peaks at
``±q_EA`` and (mean field) a continuous plateau between them below ``T_c``.
From ``q`` (:func:`overlap_statistics`):

- ``<q^2>`` and the spin-glass susceptibility ``chi_SG = N <q^2>``; for the
  Sherrington–Kirkpatrick model above ``T_c = 1`` it tends to ``1 / (1 -
  beta^2)`` as ``N -> inf`` (replica-symmetric, annealed high-temperature
  result; Binder & Young 1986, §4);
- ``<|q|>`` and ``sqrt(<q^2>)``, the finite-size estimates of ``q_EA``;
- the Binder ratio of the overlap ``g = (3 - <q^4> / <q^2>^2) / 2``, whose
  crossing in ``N`` locates ``T_c`` (Bhatt & Young 1985).

**Errors**: a delete-one jackknife (:func:`statjax.thermo.jackknife`) over
groups of the leading axis of the overlap array (independent instances, or
blocks of time), with every other axis pooled; ratios such as ``g`` are
jackknifed as functions of the group means.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import check_count
from statjax.thermo.observables import Estimate, jackknife


def replica_overlap(
    spins_a: jax.typing.ArrayLike,
    spins_b: jax.typing.ArrayLike,
    num_spin_axes: int = 1,
    num_states: int | None = None,
) -> jax.Array:
    """``q_ab`` between two batches of configurations, over their last ``num_spin_axes`` axes.

    Args:
        spins_a: ``(*batch, *spin_shape)`` Ising (±1) spins, or Potts spins in
            ``0..Q-1`` when ``num_states = Q`` is given.
        spins_b: the same shape.
        num_spin_axes: how many trailing axes make one configuration (2 for a square lattice).
        num_states: ``Q`` for Potts spins; ``None`` for Ising spins.

    Returns:
        ``(*batch,)`` overlaps.

    Example:
        >>> import jax.numpy as jnp
        >>> float(replica_overlap(jnp.array([1, 1, -1, -1]), jnp.array([1, -1, -1, 1])))
        0.0
    """
    spins_a, spins_b = jnp.asarray(spins_a), jnp.asarray(spins_b)
    if spins_a.shape != spins_b.shape:
        raise ValueError(f"replicas differ in shape: {spins_a.shape} and {spins_b.shape}.")
    axes = tuple(range(spins_a.ndim - num_spin_axes, spins_a.ndim))
    if num_states is None:
        product = spins_a.astype(jnp.float32) * spins_b.astype(jnp.float32)
    else:
        num_states = check_count("num_states", num_states, minimum=2)
        same = (spins_a == spins_b).astype(jnp.float32)
        product = (num_states * same - 1.0) / (num_states - 1.0)
    return jnp.mean(product, axis=axes)


def overlap_bin_edges(num_spins: int, num_bins: int) -> np.ndarray:
    """Histogram edges holding the allowed ``q = -1, -1 + 2/N, ..., 1`` evenly, none on an edge.

    Example:
        >>> overlap_bin_edges(4, 5).tolist()  # one allowed q per bin
        [-1.25, -0.75, -0.25, 0.25, 0.75, 1.25]
    """
    num_spins = check_count("num_spins", num_spins)
    num_bins = check_count("num_bins", num_bins)
    per_bin = max(1, -(-(num_spins + 1) // num_bins))
    count = -(-(num_spins + 1) // per_bin)
    return -1.0 - 1.0 / num_spins + (2.0 * per_bin / num_spins) * np.arange(count + 1)


def overlap_distribution(
    overlaps: jax.typing.ArrayLike, num_spins: int, num_bins: int = 41, symmetrize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``P(q)`` as a normalised histogram: ``(edges, density)``.

    With ``symmetrize`` (zero field: ``P(q) = P(-q)`` exactly), every ``q`` is
    counted with its mirror ``-q`` too, which halves the noise of the estimate.

    Example:
        >>> import numpy as np
        >>> edges, density = overlap_distribution(np.array([0.0, 0.5]), 4, 5)
        >>> (density * np.diff(edges)).sum().round(6)
        np.float64(1.0)
    """
    values = np.asarray(overlaps, np.float64).ravel()
    if symmetrize:
        values = np.concatenate([values, -values])
    edges = overlap_bin_edges(num_spins, num_bins)
    density, _ = np.histogram(values, bins=edges, density=True)
    return edges, density


class OverlapStatistics(NamedTuple):
    """Overlap moments, each an :class:`~statjax.thermo.observables.Estimate` (jackknife).

    Attributes:
        q_mean: ``<q>`` (0 in zero field, by symmetry).
        abs_q_mean: ``<|q|>``, an estimate of ``q_EA``.
        q2_mean: ``<q^2>``.
        q_ea: ``sqrt(<q^2>)``, an estimate of ``q_EA``.
        spin_glass_susceptibility: ``chi_SG = N <q^2>``.
        binder_ratio: ``g = (3 - <q^4> / <q^2>^2) / 2``.
    """

    q_mean: Estimate
    abs_q_mean: Estimate
    q2_mean: Estimate
    q_ea: Estimate
    spin_glass_susceptibility: Estimate
    binder_ratio: Estimate


def overlap_statistics(overlaps: jax.typing.ArrayLike, num_spins: int) -> OverlapStatistics:
    """Moments of ``q`` with jackknife errors over the groups of the leading axis.

    Args:
        overlaps: ``(num_groups, ...)`` overlaps; the leading axis holds independent
            groups (instances, independent runs, or blocks of time much longer than
            the autocorrelation time), every other axis is pooled. At least 2 groups.
        num_spins: ``N``.

    Returns:
        An :class:`OverlapStatistics`.

    Example:
        >>> import numpy as np
        >>> q = np.random.default_rng(0).normal(0.0, 0.25, (20, 500))  # N <q^2> = 100/16
        >>> stats = overlap_statistics(q, 100)
        >>> round(float(stats.spin_glass_susceptibility.value), 1)
        6.2
    """
    num_spins = check_count("num_spins", num_spins)
    values = jnp.asarray(overlaps, jnp.float32)
    if values.ndim < 1 or values.shape[0] < 2:
        raise ValueError(
            f"overlaps need a leading axis of at least 2 independent groups, got {values.shape}."
        )
    groups = values.reshape(values.shape[0], -1)
    means = [jnp.mean(groups**k, axis=1) for k in (1, 2, 4)]
    absolute = jnp.mean(jnp.abs(groups), axis=1)
    return OverlapStatistics(
        q_mean=jackknife(lambda m: m, means[0]),
        abs_q_mean=jackknife(lambda m: m, absolute),
        q2_mean=jackknife(lambda m: m, means[1]),
        q_ea=jackknife(jnp.sqrt, means[1]),
        spin_glass_susceptibility=jackknife(lambda m: num_spins * m, means[1]),
        binder_ratio=jackknife(lambda m2, m4: 0.5 * (3.0 - m4 / m2**2), means[1], means[2]),
    )


__all__ = [
    "OverlapStatistics",
    "overlap_bin_edges",
    "overlap_distribution",
    "overlap_statistics",
    "replica_overlap",
]
