"""Streaming mean and variance (Welford), so long runs need no stored trace."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax.types import ArrayTree


class RunningMoments(NamedTuple):
    """Count, mean and sum of squared deviations of a stream of pytrees.

    Welford (1962); merging two streams uses Chan, Golub & LeVeque (1979):
    ``m2 = m2_a + m2_b + delta^2 n_a n_b / n``. Every leaf of ``mean`` and ``m2``
    has the shape of one observation, so per-chain moments keep the chain axis.

    Attributes:
        count: number of observations (a scalar).
        mean: running mean, a pytree like one observation.
        m2: running sum of squared deviations from the mean, same structure.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count: the public field name
    mean: ArrayTree
    m2: ArrayTree

    @property
    def variance(self) -> ArrayTree:
        """Unbiased sample variance ``m2 / (count - 1)`` (NaN with fewer than 2)."""
        return jax.tree_util.tree_map(lambda m2: m2 / (self.count - 1), self.m2)


def running_moments_init(example: ArrayTree) -> RunningMoments:
    """Empty moments for observations shaped like ``example``.

    Examples:
        >>> import jax.numpy as jnp
        >>> moments = running_moments_init(jnp.zeros(3))
        >>> moments = running_moments_update(moments, jnp.ones(3))
        >>> moments.mean
        Array([1., 1., 1.], dtype=float32)
    """
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(jnp.shape(x), _float_dtype(x)), example)
    return RunningMoments(jnp.zeros((), jnp.float32), zeros, zeros)


def running_moments_update(moments: RunningMoments, observation: ArrayTree) -> RunningMoments:
    """Add one observation: ``mean += delta / n``, ``m2 += delta (x - mean_new)``."""
    count = moments.count + 1
    tree_map = jax.tree_util.tree_map
    mean = tree_map(lambda m, x: m + (x - m) / count, moments.mean, observation)
    m2 = tree_map(
        lambda s, old, new, x: s + (x - old) * (x - new),
        moments.m2,
        moments.mean,
        mean,
        observation,
    )
    return RunningMoments(count, mean, m2)


def running_moments_merge(a: RunningMoments, b: RunningMoments) -> RunningMoments:
    """Moments of the concatenation of two streams (Chan et al. 1979)."""
    count = a.count + b.count
    weight_b = jnp.where(count > 0, b.count / jnp.maximum(count, 1), 0.0)

    def merge_mean(mean_a, mean_b):
        return mean_a + (mean_b - mean_a) * weight_b

    def merge_m2(mean_a, mean_b, m2_a, m2_b):
        delta = mean_b - mean_a
        return m2_a + m2_b + delta**2 * a.count * weight_b

    mean = jax.tree_util.tree_map(merge_mean, a.mean, b.mean)
    m2 = jax.tree_util.tree_map(merge_m2, a.mean, b.mean, a.m2, b.m2)
    return RunningMoments(count, mean, m2)


def _float_dtype(x):
    dtype = jnp.result_type(x)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)
