"""Thermodynamic observables of spin models from Monte-Carlo traces, with error bars.

Inputs are traces as :func:`statjax.run_chains` records them, time first, then
chains: ``energies: (num_draws, num_chains, *batch)`` and
``magnetizations: (num_draws, num_chains, *batch)`` (total ``E`` and
``M = sum_i s_i``), with ``*batch`` any further axes (e.g. one per temperature,
after reshaping a trace whose chains run at several betas). Burn-in must already
be cut. Every estimator returns an :class:`Estimate` ``(value, error)`` with the
``batch`` shape.

Error bars: **delete-one jackknife over groups** (Quenouille 1956; Efron 1982,
"The jackknife, the bootstrap and other resampling plans"; Young 2015, "Everything
you wanted to know about data analysis and fitting", arXiv:1210.3781). A group is
one independent chain (``num_batches=1``, the default) or one of ``num_batches``
contiguous blocks of every chain (batch means: valid when a block is much longer
than the integrated autocorrelation time, see
:func:`statjax.diagnostics.integrated_autocorrelation_time`). Each observable is
a function of group means of ``E``, ``E^2``, ``|M|``, ``M^2``, ``M^4``; the
jackknife recomputes it with each group left out, which gives a standard error
that accounts for the correlations between the moments and removes the ``O(1 /
num_groups)`` bias of the nonlinear ones (``C``, ``chi``, Binder). The error is
one standard error: about 68% of intervals ``value ± error`` hold the exact value
when the groups are independent and numerous (>~ 20).

Definitions, per spin for ``N`` spins (``k_B = 1``):

- energy per spin ``e = <E> / N``;
- absolute magnetization per spin ``<|m|>``, ``m = M / N``;
- heat capacity per spin ``c = beta^2 (<E^2> - <E>^2) / N``;
- susceptibility per spin ``chi = beta N (<m^2> - <|m|>^2)``, the finite-lattice
  estimator in zero field, where ``<m> = 0`` by symmetry (Landau & Binder 2014, "A
  Guide to Monte Carlo Simulations in Statistical Physics", §4.2);
  ``connected=False`` gives ``beta N <m^2>``;
- Binder cumulant ``U_4 = 1 - <m^4> / (3 <m^2>^2)`` (Binder 1981, Z. Phys. B 43,
  119): ``2/3`` in the ordered phase, ``0`` for a Gaussian (disordered) ``m``; its
  curves for different ``L`` cross near ``T_c``.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class Estimate(NamedTuple):
    """A Monte-Carlo estimate and its one-standard-error bar (jackknife over groups).

    Attributes:
        value: the bias-corrected jackknife estimate, shape ``batch``.
        error: its standard error, shape ``batch``.
    """

    value: jax.Array
    error: jax.Array


class SpinObservables(NamedTuple):
    """All the observables of :func:`spin_observables`, each an :class:`Estimate`."""

    energy_per_spin: Estimate
    abs_magnetization_per_spin: Estimate
    heat_capacity_per_spin: Estimate
    susceptibility_per_spin: Estimate
    binder_cumulant: Estimate


def _as_trace(samples: ArrayLike, name: str) -> jax.Array:
    samples = jnp.asarray(samples)
    if samples.ndim < 2:
        raise ValueError(
            f"`{name}` must have shape (num_draws, num_chains, *batch), time first then chains; "
            f"got shape {samples.shape}. For one chain, pass `{name}[:, None]` and "
            "num_batches > 1."
        )
    return samples.astype(jnp.promote_types(samples.dtype, jnp.float32))


def _group_means(samples: jax.Array, num_batches: int) -> jax.Array:
    """``(num_groups, *batch)`` means of groups (chains x contiguous batches)."""
    if isinstance(num_batches, bool) or not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f"num_batches must be a positive integer, got {num_batches!r}.")
    num_draws, num_chains, *batch = samples.shape
    batch_length = num_draws // num_batches
    if batch_length < 1:
        raise ValueError(f"num_batches={num_batches} exceeds the number of draws ({num_draws}).")
    if num_chains * num_batches < 2:
        raise ValueError(
            "the jackknife needs at least 2 groups: pass several chains, or num_batches >= 2 "
            f"(got {num_chains} chain(s) and num_batches={num_batches})."
        )
    # Draws past the last whole batch are left out, so every group has the same weight.
    blocks = samples[: batch_length * num_batches].reshape(
        num_batches, batch_length, num_chains, *batch
    )
    return jnp.mean(blocks, axis=1).reshape(num_batches * num_chains, *batch)


def jackknife(function: Callable[..., jax.Array], *group_means: jax.Array) -> Estimate:
    """Delete-one jackknife estimate of ``function(*means)`` from per-group means.

    With ``n`` groups, ``theta_(g)`` the function of the means without group ``g``
    and ``theta`` that of all groups: value ``n theta - (n - 1) mean_g theta_(g)``,
    error ``sqrt((n - 1) / n sum_g (theta_(g) - mean theta_(.))^2)`` (Efron 1982).

    Args:
        function: of as many arrays as ``group_means``, elementwise (vectorised).
        group_means: arrays ``(num_groups, *batch)`` of equal-weight group means.

    Examples:
        >>> import jax.numpy as jnp
        >>> values = jnp.arange(10.0)[:, None]
        >>> estimate = jackknife(lambda mean: mean, values)  # the mean and its stderr
        >>> print(float(estimate.value[0]), round(float(estimate.error[0]), 4))
        4.5 0.9574
    """
    num_groups = group_means[0].shape[0]
    totals = [jnp.sum(means, axis=0) for means in group_means]
    full = function(*[total / num_groups for total in totals])
    left_out = function(
        *[
            (total - means) / (num_groups - 1)
            for total, means in zip(totals, group_means, strict=True)
        ]
    )
    mean_left_out = jnp.mean(left_out, axis=0)
    value = num_groups * full - (num_groups - 1) * mean_left_out
    error = jnp.sqrt(
        (num_groups - 1) / num_groups * jnp.sum((left_out - mean_left_out) ** 2, axis=0)
    )
    return Estimate(value, error)


def energy_per_spin(energies: ArrayLike, num_spins: int, num_batches: int = 1) -> Estimate:
    """``<E> / N`` with its jackknife error.

    Examples:
        >>> import jax
        >>> energies = -100.0 + jax.random.normal(jax.random.key(0), (1000, 8))
        >>> estimate = energy_per_spin(energies, num_spins=50)
        >>> print(round(float(estimate.value), 2))
        -2.0
    """
    means = _group_means(_as_trace(energies, "energies"), num_batches)
    return jackknife(lambda mean: mean / num_spins, means)


def abs_magnetization_per_spin(
    magnetizations: ArrayLike, num_spins: int, num_batches: int = 1
) -> Estimate:
    """``<|M|> / N`` with its jackknife error.

    Examples:
        >>> import jax.numpy as jnp
        >>> magnetizations = jnp.array([[16.0, -16.0], [-16.0, 16.0], [16.0, 16.0]])
        >>> print(float(abs_magnetization_per_spin(magnetizations, 16).value))
        1.0
    """
    trace = jnp.abs(_as_trace(magnetizations, "magnetizations"))
    return jackknife(lambda mean: mean / num_spins, _group_means(trace, num_batches))


def heat_capacity_per_spin(
    energies: ArrayLike, beta: ArrayLike, num_spins: int, num_batches: int = 1
) -> Estimate:
    """``beta^2 (<E^2> - <E>^2) / N`` with its jackknife error.

    The energies are centred on their overall mean first (the variance does not
    change), so float32 loses nothing to ``<E^2> - <E>^2`` cancellation.

    Examples:
        >>> import jax
        >>> energies = 3.0 * jax.random.normal(jax.random.key(0), (4000, 16))  # Var E = 9
        >>> print(round(float(heat_capacity_per_spin(energies, 1.0, num_spins=9).value), 1))
        1.0
    """
    trace = _as_trace(energies, "energies")
    trace = trace - jnp.mean(trace, axis=(0, 1))
    beta = jnp.asarray(beta, trace.dtype)
    first = _group_means(trace, num_batches)
    second = _group_means(trace**2, num_batches)
    return jackknife(lambda m1, m2: beta**2 * (m2 - m1**2) / num_spins, first, second)


def susceptibility_per_spin(
    magnetizations: ArrayLike,
    beta: ArrayLike,
    num_spins: int,
    num_batches: int = 1,
    connected: bool = True,
) -> Estimate:
    """``beta N (<m^2> - <|m|>^2)`` (``connected=True``) or ``beta N <m^2>``, with errors.

    ``m = M / N``. In zero field on a finite lattice ``<m> = 0``, so ``<|m|>`` stands
    in for the order parameter below ``T_c`` (Landau & Binder 2014).

    Examples:
        >>> import jax.numpy as jnp
        >>> magnetizations = jnp.array([[4.0, -4.0], [-4.0, 4.0], [4.0, 4.0]])
        >>> print(float(susceptibility_per_spin(magnetizations, 1.0, 4).value))  # |m| = 1 always
        0.0
    """
    trace = _as_trace(magnetizations, "magnetizations") / num_spins
    beta = jnp.asarray(beta, trace.dtype)
    absolute = _group_means(jnp.abs(trace), num_batches)
    second = _group_means(trace**2, num_batches)
    if connected:
        return jackknife(lambda m1, m2: beta * num_spins * (m2 - m1**2), absolute, second)
    return jackknife(lambda m2: beta * num_spins * m2, second)


def binder_cumulant(magnetizations: ArrayLike, num_batches: int = 1) -> Estimate:
    """``U_4 = 1 - <M^4> / (3 <M^2>^2)`` (Binder 1981) with its jackknife error.

    Examples:
        >>> import jax.numpy as jnp
        >>> magnetizations = jnp.array([[16.0, -16.0], [-16.0, 16.0]])  # fully ordered
        >>> print(round(float(binder_cumulant(magnetizations).value), 4))
        0.6667
    """
    trace = _as_trace(magnetizations, "magnetizations")
    # Scaled to O(1) so that M^4 cannot overflow float32 on large lattices.
    scale = jnp.maximum(jnp.max(jnp.abs(trace)), 1.0)
    trace = trace / scale
    second = _group_means(trace**2, num_batches)
    fourth = _group_means(trace**4, num_batches)
    return jackknife(lambda m2, m4: 1.0 - m4 / (3.0 * m2**2), second, fourth)


def spin_observables(
    energies: ArrayLike,
    magnetizations: ArrayLike,
    beta: ArrayLike,
    num_spins: int,
    num_batches: int = 1,
) -> SpinObservables:
    """Energy, ``|m|``, heat capacity, susceptibility and Binder cumulant at once.

    Args:
        energies: ``(num_draws, num_chains, *batch)`` total energies ``E``.
        magnetizations: same shape, total magnetizations ``M = sum_i s_i``.
        beta: inverse temperature, broadcastable to ``batch``.
        num_spins: ``N``.
        num_batches: contiguous blocks per chain used as jackknife groups.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> from statjax.samplers.lattice import checkerboard
        >>> kernel = checkerboard(square_ising(8))
        >>> _, (energy, magnetization) = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((8, 8, 8), jnp.int8), 100, beta=0.6,
        ...     observe=lambda s: (s.energy, s.magnetization))
        >>> result = spin_observables(energy[20:], magnetization[20:], 0.6, num_spins=64)
        >>> bool(result.abs_magnetization_per_spin.value > 0.9)
        True
    """
    return SpinObservables(
        energy_per_spin(energies, num_spins, num_batches),
        abs_magnetization_per_spin(magnetizations, num_spins, num_batches),
        heat_capacity_per_spin(energies, beta, num_spins, num_batches),
        susceptibility_per_spin(magnetizations, beta, num_spins, num_batches),
        binder_cumulant(magnetizations, num_batches),
    )


__all__ = [
    "Estimate",
    "SpinObservables",
    "abs_magnetization_per_spin",
    "binder_cumulant",
    "energy_per_spin",
    "heat_capacity_per_spin",
    "jackknife",
    "spin_observables",
    "susceptibility_per_spin",
]
