r"""The kernel Stein discrepancy: sample quality from the score alone, no ``log Z``.

For a target ``p(x) ∝ exp(-beta E(x))`` with score ``s(x) = grad log p(x) =
-beta grad E(x)`` and a base kernel ``k``, the Langevin Stein kernel (Liu, Lee &
Jordan 2016, "A kernelized Stein discrepancy for goodness-of-fit tests";
Chwialkowski, Strathmann & Gretton 2016; Gorham & Mackey 2017, "Measuring sample
quality with kernels") is

.. math::

    u_p(x, y) = s(x)^\top s(y)\, k(x, y) + s(x)^\top \nabla_y k(x, y)
              + s(y)^\top \nabla_x k(x, y) + \operatorname{tr} \nabla_x \nabla_y k(x, y),

with ``E_{x, y ~ p} u_p(x, y) = 0`` and ``KSD^2(q, p) = E_{x, y ~ q} u_p(x, y) >= 0``,
zero iff ``q = p`` for a characteristic ``k``. The base kernel is the inverse
multiquadric ``k(x, y) = (c^2 + |x - y|^2)^b`` (``c = 1, b = -1/2``), for which
Gorham & Mackey prove that the KSD detects non-convergence (and convergence) for
distantly dissipative targets; with ``r = x - y`` and ``q = c^2 + |r|^2``:

.. math::

    u_p(x, y) = q^b\, s(x)^\top s(y) + 2 b\, q^{b - 1} (s(y) - s(x))^\top r
              - 2 b\, d\, q^{b - 1} - 4 b (b - 1)\, q^{b - 2} |r|^2.

From ``n`` samples: the V-statistic ``(1/n^2) sum_ij u_ij`` (non-negative, biased
up by ``O(1/n)``) and the U-statistic ``(1/(n(n-1))) sum_{i != j} u_ij`` (unbiased
for ``KSD^2``, may be negative). Off the target the U-statistic is asymptotically
normal with Hoeffding's standard error ``2 sigma_1 / sqrt(n)``, ``sigma_1^2`` the
variance over ``i`` of ``mean_j u_ij``; on the target it is degenerate (error
``O(1/n)``), and :func:`ksd_test` calibrates it by the wild bootstrap
(Chwialkowski et al. 2016; Rademacher weights, iid samples).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax.checks import as_key, check_count, check_positive
from statjax.pytree import guarded_jit
from statjax.types import ArrayTree, PRNGKey


class KSDResult(NamedTuple):
    """A kernel Stein discrepancy estimate.

    Attributes:
        ksd: ``sqrt(max(V, 0))``, the usual reported number (units of the score).
        v_statistic: ``(1/n^2) sum_ij u_ij`` (>= 0).
        u_statistic: ``(1/(n(n-1))) sum_{i != j} u_ij``, unbiased for ``KSD^2``.
        standard_error: Hoeffding's ``2 sigma_1 / sqrt(n)`` of the U-statistic
            (meaningful off the target; on it the U-statistic is degenerate).
    """

    ksd: jax.Array
    v_statistic: jax.Array
    u_statistic: jax.Array
    standard_error: jax.Array


def imq_stein_kernel(
    samples: jax.Array,
    scores: jax.Array,
    c: jax.typing.ArrayLike = 1.0,
    exponent: jax.typing.ArrayLike = -0.5,
) -> jax.Array:
    """The Stein kernel matrix ``u_p(x_i, x_j)`` of the IMQ kernel (module docstring).

    Args:
        samples: ``(n, d)``.
        scores: ``(n, d)``, ``grad log p`` at the samples.
        c: the IMQ's ``c > 0``.
        exponent: the IMQ's ``b`` in ``(-1, 0)``.

    Returns:
        ``(n, n)``.
    """
    samples = jnp.asarray(samples)
    dim = samples.shape[-1]
    difference = samples[:, None, :] - samples[None, :, :]  # r = x_i - x_j
    squared = jnp.sum(difference**2, -1)
    q = c**2 + squared
    score_dot = scores @ scores.T
    # (s(x_j) - s(x_i)) . (x_i - x_j)
    score_difference = jnp.einsum("jk,ijk->ij", scores, difference) - jnp.einsum(
        "ik,ijk->ij", scores, difference
    )
    b = jnp.asarray(exponent)
    return jnp.asarray(
        q**b * score_dot
        + 2 * b * q ** (b - 1) * score_difference
        - 2 * b * dim * q ** (b - 1)
        - 4 * b * (b - 1) * q ** (b - 2) * squared
    )


def _flatten(samples):
    leaves = jax.tree_util.tree_leaves(samples)
    num = leaves[0].shape[0]
    return jnp.concatenate([jnp.reshape(x, (num, -1)) for x in leaves], axis=1)


def scores_from_energy(energy_fn: Callable, samples: ArrayTree, beta: jax.typing.ArrayLike = 1.0):
    """``-beta grad E(x)`` at every sample (leading axis), flattened to ``(n, d)``."""
    gradients = jax.vmap(jax.grad(lambda x: jnp.asarray(energy_fn(x)).sum()))(samples)
    return -jnp.asarray(beta) * _flatten(gradients)


# One program per energy and shape (eager, every small op of a network would compile).
_scores = guarded_jit(scores_from_energy)


@jax.jit
def _statistics(samples, scores, c, exponent):
    matrix = imq_stein_kernel(samples, scores, c, exponent)
    n = samples.shape[0]
    total = jnp.sum(matrix)
    diagonal = jnp.trace(matrix)
    v_statistic = total / n**2
    u_statistic = (total - diagonal) / (n * (n - 1))
    row_means = (jnp.sum(matrix, 1) - jnp.diag(matrix)) / (n - 1)
    standard_error = 2.0 * jnp.std(row_means, ddof=1) / jnp.sqrt(n)
    ksd = jnp.sqrt(jnp.maximum(v_statistic, 0.0))
    return KSDResult(ksd, v_statistic, u_statistic, standard_error), matrix


def _prepare(samples, energy_fn, scores, beta, c, exponent):
    check_positive("c", c)
    if not -1.0 < float(exponent) < 0.0:
        raise ValueError(f"exponent must lie in (-1, 0) for the IMQ kernel, got {exponent}.")
    if (energy_fn is None) == (scores is None):
        raise ValueError("give exactly one of `energy_fn` (with `beta`) and `scores`.")
    flat = _flatten(samples).astype(jnp.promote_types(_flatten(samples).dtype, jnp.float32))
    if flat.shape[0] < 2:
        raise ValueError(f"need at least 2 samples, got {flat.shape[0]}.")
    if scores is None:
        check_positive("beta", beta)
        scores = _scores(energy_fn, samples, beta)
    scores = jnp.asarray(scores, flat.dtype).reshape(flat.shape)
    return flat, scores


def kernel_stein_discrepancy(
    samples: ArrayTree,
    energy_fn: Callable | None = None,
    *,
    beta: jax.typing.ArrayLike = 1.0,
    scores: jax.typing.ArrayLike | None = None,
    c: float = 1.0,
    exponent: float = -0.5,
) -> KSDResult:
    """The IMQ kernel Stein discrepancy of ``samples`` from ``exp(-beta E)`` (module docstring).

    Args:
        samples: ``(n, ...)`` (any pytree with a leading sample axis).
        energy_fn: ``E(x)`` for one sample; the score is ``-beta grad E``.
        beta: inverse temperature of the target.
        scores: ``(n, d)`` scores ``grad log p`` instead of ``energy_fn``.
        c: the IMQ's ``c`` (1 by Gorham & Mackey's choice).
        exponent: the IMQ's ``b`` (-1/2).

    Returns:
        A :class:`KSDResult`. Cost ``O(n^2 d)`` time and ``O(n^2 d)`` memory.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> samples = jax.random.normal(jax.random.key(0), (500, 2))
        >>> exact = kernel_stein_discrepancy(samples, lambda x: 0.5 * jnp.sum(x**2))
        >>> shifted = kernel_stein_discrepancy(samples + 1.0, lambda x: 0.5 * jnp.sum(x**2))
        >>> bool(shifted.ksd > 3 * exact.ksd)
        True
    """
    flat, scores = _prepare(samples, energy_fn, scores, beta, c, exponent)
    result, _ = _statistics(flat, scores, jnp.asarray(c, flat.dtype), jnp.asarray(exponent))
    return result


@partial(jax.jit, static_argnames=("num_bootstrap",))
def _wild_bootstrap(key, matrix, num_bootstrap):
    n = matrix.shape[0]
    off_diagonal = matrix - jnp.diag(jnp.diag(matrix))
    signs = jax.random.rademacher(key, (num_bootstrap, n), matrix.dtype)
    return jnp.einsum("bi,ij,bj->b", signs, off_diagonal, signs) / (n * (n - 1))


def ksd_test(
    key: PRNGKey,
    samples: ArrayTree,
    energy_fn: Callable | None = None,
    *,
    beta: jax.typing.ArrayLike = 1.0,
    scores: jax.typing.ArrayLike | None = None,
    num_bootstrap: int = 1000,
    c: float = 1.0,
    exponent: float = -0.5,
) -> tuple[KSDResult, jax.Array]:
    """Goodness-of-fit test of iid ``samples`` against ``exp(-beta E)``: the KSD and a p-value.

    Under the null (samples from the target) the U-statistic is degenerate; its
    law is approximated by the wild bootstrap ``U* = sum_{i != j} e_i e_j u_ij /
    (n (n - 1))`` with Rademacher ``e`` (Chwialkowski, Strathmann & Gretton 2016),
    and ``p = (1 + #{U* >= U}) / (1 + num_bootstrap)``. Correlated samples (MCMC)
    need thinning to near-independence first.

    Returns:
        ``(KSDResult, p_value)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> samples = jax.random.normal(jax.random.key(0), (300, 2))
        >>> _, p_value = ksd_test(jax.random.key(1), samples + 1.0, lambda x: 0.5 * x @ x)
        >>> bool(p_value < 0.01)
        True
    """
    num_bootstrap = check_count("num_bootstrap", num_bootstrap)
    flat, scores = _prepare(samples, energy_fn, scores, beta, c, exponent)
    result, matrix = _statistics(flat, scores, jnp.asarray(c, flat.dtype), jnp.asarray(exponent))
    bootstrap = _wild_bootstrap(as_key(key), matrix, num_bootstrap)
    p_value = (1 + jnp.sum(bootstrap >= result.u_statistic)) / (1 + num_bootstrap)
    return result, p_value


__all__ = [
    "KSDResult",
    "imq_stein_kernel",
    "kernel_stein_discrepancy",
    "ksd_test",
    "scores_from_energy",
]
