r"""The Hopfield network: Hebbian storage, its energy, patterns, cues and overlaps.

A Hopfield network (Hopfield 1982, PNAS 79, 2554) stores ``P`` patterns
``xi^mu in {-1, +1}^N`` in the Hebbian couplings and has the energy of a dense
Ising model,

.. math::

    J = \frac{1}{N} \sum_{\mu=1}^{P} \xi^\mu \xi^{\mu\top}, \quad J_{ii} = 0, \qquad
    E(s) = -\tfrac{1}{2} s^\top J s - h^\top s .

The network keeps the integer matrix ``C = N J`` (``|C_ij| <= P``), so local
fields ``N f = C s + N h`` are exact integers for ``h = 0`` (in float32 while
``P N < 2^24``) and zero-temperature ties are ties. The overlap
``m^mu = (1/N) xi^mu . s`` measures retrieval.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.checks import as_key
from statjax.energy.ising import DenseIsing, IsingSpinVector
from statjax.pytree import Pytree
from statjax.random import uniform as random_uniform
from statjax.types import PRNGKey


def check_patterns(patterns: ArrayLike) -> jax.Array:
    """``patterns`` as an array ``(P, N)``; concrete entries must be ±1 (``ValueError``)."""
    patterns = jnp.asarray(patterns)
    if patterns.ndim != 2 or patterns.shape[0] < 1 or patterns.shape[1] < 2:
        raise ValueError(
            f"patterns must be (num_patterns, num_spins) with num_patterns >= 1 and "
            f"num_spins >= 2, got shape {patterns.shape}."
        )
    if not isinstance(patterns, jax.core.Tracer):
        values = np.unique(np.asarray(patterns))
        if not set(values.tolist()) <= {-1, 1}:
            raise ValueError(
                f"patterns must hold only -1 and +1, got values {values[:6].tolist()}; "
                "map {0, 1} data with 2 * x - 1."
            )
    return patterns


def check_spins(spins: ArrayLike, num_spins: int, name: str = "spins") -> jax.Array:
    """``spins`` as an array whose last axis is ``num_spins`` long (``ValueError`` otherwise)."""
    spins = jnp.asarray(spins)
    if spins.ndim < 1 or spins.shape[-1] != num_spins:
        raise ValueError(
            f"{name} must end in the number of spins {num_spins}, got shape {spins.shape}."
        )
    return spins


class HopfieldNetwork(IsingSpinVector, Pytree):
    r"""A Hopfield network with Hebbian couplings ``J = C / N``: an energy ``E(s)``.

    .. math::

        C = \sum_\mu \xi^\mu \xi^{\mu\top} - P\,I, \qquad
        E(s) = -\frac{1}{2N} s^\top C s - h^\top s

    Keeping the integer matrix ``C`` (not ``J``) makes local fields and energy
    differences exact, so zero-temperature ties are ties. Build it with
    :func:`hebbian`. Works with :mod:`statjax.thermo.exact` (``spin_shape``,
    ``spin_values``).

    Attributes:
        pattern_products: ``C``, ``(N, N)``, integer-valued float32, zero diagonal.
        fields: ``h``, ``(N,)``.
    """

    pattern_products: jax.Array
    fields: jax.Array

    __hash__ = object.__hash__

    @property
    def couplings(self) -> jax.Array:
        """The Hebbian couplings ``J = C / N``, ``(N, N)``."""
        return self.pattern_products / self.num_spins

    def scaled_ising(self) -> DenseIsing:
        """The :class:`~statjax.energy.ising.DenseIsing` ``(C, N h)``, whose energy is ``N E``."""
        return DenseIsing(self.pattern_products, self.num_spins * self.fields)

    def local_fields(self, spins: ArrayLike) -> jax.Array:
        """``f = J s + h``, ``(N,)``."""
        return self.scaled_ising().local_fields(spins) / self.num_spins

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy ``E(s)`` of one configuration ``spins: (N,)`` (values ±1); a float scalar."""
        return self.scaled_ising()(spins) / self.num_spins


def hebbian(
    patterns: ArrayLike,
    fields: ArrayLike | None = None,
    num_patterns: ArrayLike | None = None,
) -> HopfieldNetwork:
    r"""The Hopfield network storing ``patterns`` by Hebb's rule (Hopfield 1982).

    ``J = (1/N) sum_mu xi^mu xi^mu^T`` with a zero diagonal; see
    :class:`HopfieldNetwork`.

    Args:
        patterns: ``(P, N)`` patterns of ±1 (checked when concrete).
        fields: ``h``, ``(N,)``; zero by default.
        num_patterns: store only the first ``num_patterns`` rows (an integer, may be
            traced): networks of different loads then share one shape, so a batch of
            them runs in one compiled program.

    Returns:
        A :class:`HopfieldNetwork`.

    Examples:
        >>> import jax.numpy as jnp
        >>> network = hebbian(jnp.array([[1, -1, 1, -1]]))
        >>> network.couplings[0].tolist()
        [0.0, -0.25, 0.25, -0.25]
        >>> float(network(jnp.array([1, -1, 1, -1])))  # -(1/2) (1/N) (N^2 - N)
        -1.5
    """
    patterns = check_patterns(patterns)
    num_stored, num_spins = patterns.shape
    if fields is None:
        fields = jnp.zeros(num_spins, jnp.float32)
    fields = jnp.asarray(fields, jnp.float32)
    if fields.shape != (num_spins,):
        raise ValueError(f"fields must have shape ({num_spins},), got {fields.shape}.")
    weights = jnp.ones(num_stored, jnp.float32)
    if num_patterns is not None:
        is_concrete = not isinstance(num_patterns, jax.core.Tracer)
        if is_concrete and not 0 <= int(np.asarray(num_patterns)) <= num_stored:
            raise ValueError(
                f"num_patterns must lie in [0, {num_stored}] (rows of patterns), "
                f"got {num_patterns!r}."
            )
        weights = (jnp.arange(num_stored) < num_patterns).astype(jnp.float32)
    return HopfieldNetwork(_pattern_products(patterns, weights), fields)


@jax.jit
def _pattern_products(patterns: jax.Array, weights: jax.Array) -> jax.Array:
    values = patterns.astype(jnp.float32)
    # Integer entries (|C_ij| <= P) are exact in float32; HIGHEST keeps them exact on
    # accelerators whose default matmul precision is lower.
    products = jnp.matmul(values.T * weights, values, precision=jax.lax.Precision.HIGHEST)
    return products * (1.0 - jnp.eye(values.shape[1], dtype=jnp.float32))


def random_patterns(key: PRNGKey, num_patterns: int, num_spins: int) -> jax.Array:
    """``(num_patterns, num_spins)`` independent unbiased ±1 patterns, ``int8``.

    Examples:
        >>> import jax
        >>> random_patterns(jax.random.key(0), 3, 10).shape
        (3, 10)
    """
    return jax.random.rademacher(as_key(key), (num_patterns, num_spins), dtype=jnp.int8)


def corrupt(key: PRNGKey, spins: ArrayLike, flip_fraction: float) -> jax.Array:
    """Flip exactly ``round(flip_fraction * N)`` randomly chosen spins of every row.

    Args:
        key: PRNG key.
        spins: ``(..., N)`` ±1 spins.
        flip_fraction: share of the spins to flip, in ``[0, 1]`` (a Python float).

    Returns:
        ``(..., N)`` spins, the dtype of ``spins``; each row at overlap
        ``1 - 2 round(flip_fraction N) / N`` with its original.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> cue = corrupt(jax.random.key(0), jnp.ones(20, jnp.int8), 0.15)
        >>> int((cue == -1).sum())
        3
    """
    spins = jnp.asarray(spins)
    if spins.ndim < 1:
        raise ValueError(f"spins must have a last axis of spins, got shape {spins.shape}.")
    if not 0.0 <= float(flip_fraction) <= 1.0:
        raise ValueError(f"flip_fraction must lie in [0, 1], got {flip_fraction!r}.")
    num_flips = round(float(flip_fraction) * spins.shape[-1])
    return _corrupt(as_key(key), spins, num_flips=num_flips)


@partial(jax.jit, static_argnames=("num_flips",))
def _corrupt(key: PRNGKey, spins: jax.Array, *, num_flips: int) -> jax.Array:
    # The ranks of i.i.d. uniforms are a uniform random permutation of each row.
    ranks = jnp.argsort(jnp.argsort(random_uniform(key, spins.shape), axis=-1), axis=-1)
    return jnp.where(ranks < num_flips, -spins, spins)


def retrieval_overlap(patterns: ArrayLike, spins: ArrayLike) -> jax.Array:
    """The overlaps ``m^mu = (1/N) xi^mu . s`` of spins with every pattern.

    Args:
        patterns: ``(P, N)``.
        spins: ``(..., N)``.

    Returns:
        ``(..., P)``; ``m^mu = 1`` exactly when ``s = xi^mu``.

    Examples:
        >>> import jax.numpy as jnp
        >>> retrieval_overlap(jnp.array([[1, 1, 1, 1]]), jnp.array([1, 1, 1, -1])).tolist()
        [0.5]
    """
    patterns = jnp.asarray(patterns)
    if patterns.ndim != 2:
        raise ValueError(f"patterns must be (num_patterns, num_spins), got {patterns.shape}.")
    spins = check_spins(spins, patterns.shape[1])
    dot = jnp.matmul(
        spins.astype(jnp.float32),
        patterns.astype(jnp.float32).T,
        precision=jax.lax.Precision.HIGHEST,
    )
    return dot / patterns.shape[1]


__all__ = [
    "HopfieldNetwork",
    "check_patterns",
    "check_spins",
    "corrupt",
    "hebbian",
    "random_patterns",
    "retrieval_overlap",
]
