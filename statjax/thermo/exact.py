r"""Exact thermodynamics of small discrete systems by enumeration of every configuration.

For a system of ``N`` spins taking ``q`` values there are ``q^N`` configurations;
up to about ``2^24`` of them (24 Ising spins, 15 three-state Potts spins) the sums

.. math::

    Z(\beta) = \sum_s e^{-\beta E(s)}, \qquad
    U = \langle E \rangle, \qquad C = \beta^2 (\langle E^2 \rangle - \langle E \rangle^2)

are computed exactly (up to floating-point rounding) in seconds. This is the
reference that every spin-model sampler is tested against.

How: configurations are enumerated in chunks of ``chunk_size`` (bounded memory);
a chunk's configurations are decoded from their integer indices (base-``q``
digits) and its energies evaluated with one ``jax.vmap``; a ``lax.scan`` over
chunks merges, for every ``beta`` at once, the chunk's log-weight
``log sum exp(-beta E)``, its Boltzmann-weighted mean and its weighted variance,
with Chan, Golub & LeVeque's (1979) pairwise formula in log space. Nothing is
exponentiated outside a log-sum-exp, and the variance is accumulated about the
running mean, never as ``<E^2> - <E>^2``, so float32 keeps ~6 significant digits
of ``C`` at any temperature.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax._tree import as_pytree_fn
from statjax.pytree import guarded_jit

MAX_CONFIGURATIONS = 2**26
"""Largest ``q^N`` enumerated (about 64 M configurations: 26 Ising spins)."""


class ExactThermodynamics(NamedTuple):
    """Exact thermodynamic quantities; every field has the shape of ``beta``.

    Attributes:
        log_z: ``log Z(beta)``.
        mean_energy: ``U = <E>``.
        energy_variance: ``<E^2> - <E>^2``.
        heat_capacity: ``C = beta^2 Var(E)`` (total, not per spin; ``k_B = 1``).
        observables: Boltzmann averages of ``observable(spins)``, shape
            ``beta.shape + observable's shape``, or ``None`` without an observable.
    """

    log_z: jax.Array
    mean_energy: jax.Array
    energy_variance: jax.Array
    heat_capacity: jax.Array
    observables: jax.Array | None


def _configuration_space(model, spin_shape, spin_values) -> tuple[tuple[int, ...], np.ndarray]:
    shape = tuple(spin_shape if spin_shape is not None else model.spin_shape)
    values = np.asarray(spin_values if spin_values is not None else model.spin_values)
    num_configurations = len(values) ** int(np.prod(shape))
    if num_configurations > MAX_CONFIGURATIONS:
        raise ValueError(
            f"exact enumeration of {len(values)}^{int(np.prod(shape))} = {num_configurations} "
            f"configurations is beyond the limit of {MAX_CONFIGURATIONS} (about 26 Ising spins); "
            "use a smaller system, or a sampler with statjax.thermo observables."
        )
    return shape, values


def exact_thermodynamics(
    model: Callable,
    beta: ArrayLike,
    observable: Callable | None = None,
    *,
    spin_shape: tuple[int, ...] | None = None,
    spin_values: tuple[int, ...] | None = None,
    chunk_size: int = 2**14,
) -> ExactThermodynamics:
    """``log Z``, ``<E>``, ``Var E``, ``C`` (and ``<observable>``) by exact enumeration.

    Args:
        model: an energy ``E(spins) -> scalar``; a statjax spin model
            (:mod:`statjax.energy.ising`) tells its own ``spin_shape`` and
            ``spin_values``, any other callable needs them as arguments.
        beta: inverse temperature(s), a scalar or an array of any shape.
        observable: optional ``f(spins) -> array`` (e.g. ``|M|``, ``M^2``) whose
            Boltzmann average is returned in ``observables``.
        spin_shape: shape of one configuration (default ``model.spin_shape``).
        spin_values: values of one spin (default ``model.spin_values``).
        chunk_size: configurations per chunk (memory ~ ``chunk_size * len(beta)``).

    Returns:
        An :class:`ExactThermodynamics`, fields shaped like ``beta``.

    Examples:
        >>> from statjax.energy.ising import square_ising
        >>> exact = exact_thermodynamics(square_ising(2), 0.0)  # Z = 2^4 at beta = 0
        >>> print(round(float(exact.log_z), 4))
        2.7726
    """
    shape, values = _configuration_space(model, spin_shape, spin_values)
    beta = jnp.asarray(beta, float)
    num_configurations = len(values) ** int(np.prod(shape))
    chunk_size = int(min(chunk_size, num_configurations))
    result = _enumerate(
        as_pytree_fn(model),
        None if observable is None else as_pytree_fn(observable),
        beta.reshape(-1),
        shape=shape,
        values=tuple(int(v) for v in values),
        chunk_size=chunk_size,
        num_chunks=-(-num_configurations // chunk_size),
    )
    log_z, mean, variance, observed = result
    observed = None if observed is None else observed.reshape(beta.shape + observed.shape[1:])
    variance = variance.reshape(beta.shape)
    return ExactThermodynamics(
        log_z.reshape(beta.shape),
        mean.reshape(beta.shape),
        variance,
        beta**2 * variance,
        observed,
    )


def exact_log_z(model: Callable, beta: ArrayLike, **kwargs) -> jax.Array:
    """``log Z(beta)`` by exact enumeration; see :func:`exact_thermodynamics`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from statjax.energy.ising import DenseIsing
        >>> model = DenseIsing(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.zeros(2))
        >>> print(round(float(exact_log_z(model, 1.0)), 4))  # log(2 e + 2 / e)
        1.8201
    """
    return exact_thermodynamics(model, beta, **kwargs).log_z


@guarded_jit(static_argnames=("shape", "values", "chunk_size", "num_chunks"))
def _enumerate(energy_fn, observable, betas, *, shape, values, chunk_size, num_chunks):
    q = len(values)
    num_spins = int(np.prod(shape))
    num_configurations = q**num_spins
    place_values = jnp.asarray(q ** np.arange(num_spins), jnp.int32)
    spin_table = jnp.asarray(values, jnp.int8)
    dtype = betas.dtype

    def chunk_statistics(first):
        index = first + jnp.arange(chunk_size, dtype=jnp.int32)
        valid = index < num_configurations
        digits = (index[:, None] // place_values) % q
        configurations = spin_table[digits].reshape((chunk_size, *shape))
        energies = jax.vmap(energy_fn)(configurations).astype(dtype)
        logits = jnp.where(valid, -betas[:, None] * energies, -jnp.inf)
        log_weight = jax.scipy.special.logsumexp(logits, axis=1)
        probabilities = jnp.exp(logits - log_weight[:, None])
        mean = jnp.sum(probabilities * energies, axis=1)
        variance = jnp.sum(probabilities * (energies - mean[:, None]) ** 2, axis=1)
        observed = None
        if observable is not None:
            values_of = jax.vmap(observable)(configurations).astype(dtype)
            flat = jnp.where(valid[:, None], values_of.reshape(chunk_size, -1), 0.0)
            # An explicit product and sum: XLA's CPU matmul loses digits over long chunks.
            observed = jnp.sum(probabilities[:, :, None] * flat[None], axis=1)
        return log_weight, mean, variance, observed

    def merge(carry, first):
        log_weight, mean, variance, observed = carry
        chunk_log_weight, chunk_mean, chunk_variance, chunk_observed = chunk_statistics(first)
        total = jnp.logaddexp(log_weight, chunk_log_weight)
        fraction = jnp.exp(chunk_log_weight - total)
        delta = chunk_mean - mean
        # Chan, Golub & LeVeque (1979) with normalised weights (1 - f, f).
        variance = (1 - fraction) * variance + fraction * chunk_variance
        variance = variance + fraction * (1 - fraction) * delta**2
        mean = mean + fraction * delta
        if observed is not None:
            observed = observed + fraction[:, None] * (chunk_observed - observed)
        return (total, mean, variance, observed), None

    num_betas = betas.shape[0]
    observed = None
    if observable is not None:
        example = jax.eval_shape(observable, jax.ShapeDtypeStruct(shape, jnp.int8))
        observed = jnp.zeros((num_betas, int(np.prod(example.shape))), dtype)
    zeros = jnp.zeros(num_betas, dtype)
    initial = (jnp.full(num_betas, -jnp.inf, dtype), zeros, zeros, observed)
    firsts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk_size
    (log_z, mean, variance, observed), _ = jax.lax.scan(merge, initial, firsts)
    if observed is not None:
        observed = observed.reshape((num_betas, *example.shape))
    return log_z, mean, variance, observed


__all__ = ["MAX_CONFIGURATIONS", "ExactThermodynamics", "exact_log_z", "exact_thermodynamics"]
