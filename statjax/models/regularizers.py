r"""Regularizers as priors, constraints and heat baths, for Flax networks.

Three classic regularizers read as statistical mechanics:

- **Weight decay is a Gaussian prior potential.** The penalty
  ``(lambda / 2) |w|^2`` is ``-log N(w; 0, 1 / lambda)`` up to the constant
  ``(d / 2) log(2 pi / lambda)``, the log-normaliser of ``exp(-potential)``
  (MacKay 1992; Bishop 2006, sec. 5.5). :class:`GaussianPrior` exposes the
  potential, its log-normaliser and the normalised log density, so a MAP loss, a
  sampler's energy and a variational free energy
  (:mod:`statjax.models.variational`) all use the same prior.
- **Jacobian regularization** penalises ``||J(x)||_F^2``, ``J = d f / d x``, the
  input-output Jacobian of the network (Hoffman, Roberts & Yaida 2019), estimated
  by random projections: ``||J||_F^2 = C E_v[|v^T J|^2]`` for ``v`` uniform on
  the unit sphere of the ``C``-dimensional output space, or
  ``E_v[|v^T J|^2]`` for ``v ~ N(0, I_C)``. Each projection is one
  vector-Jacobian product, so the cost does not grow with ``C``.
- **Noise injection is a heat bath.** :class:`GaussianNoise` (additive),
  :class:`GaussianDropout` (multiplicative) and :class:`Dropout` (Bernoulli) take
  their noise level as a ``temperature`` call argument — the variance of the
  injected noise — so it may be a traced value that follows a schedule
  (``optax.Schedule``) without recompiling; ``deterministic=True`` makes each an
  identity. Noise comes from a Flax rng stream (``"noise"``, or ``"dropout"`` for
  :class:`Dropout`, as in ``flax.linen.Dropout``).
"""

import math
from collections.abc import Callable
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from statjax.checks import as_key, check_count, check_positive
from statjax.pytree import Pytree
from statjax.types import ArrayTree, PRNGKey

__all__ = [
    "Dropout",
    "GaussianDropout",
    "GaussianNoise",
    "GaussianPrior",
    "dropout_rate",
    "dropout_temperature",
    "jacobian_frobenius_norm",
    "jacobian_norm_estimate",
    "jacobian_regularizer",
]

# ------------------------------------------------------------------ argument checks


# ------------------------------------------------------------------ weight decay as a prior


class GaussianPrior(Pytree):
    r"""The isotropic Gaussian prior ``N(0, 1 / lambda)`` on every parameter: weight decay.

    .. math::

        -\log \mathcal N(w; 0, \lambda^{-1} I_d)
            = \underbrace{\tfrac{\lambda}{2} |w|^2}_{\text{potential}}
              + \underbrace{\tfrac{d}{2} \log \tfrac{2\pi}{\lambda}}_{\log Z},

    so weight decay ``(lambda / 2) |w|^2`` is the prior's potential energy and
    ``log Z`` the log-normaliser it omits (MacKay 1992; Bishop 2006, sec. 5.5).
    With ``N`` data points and the mean loss, the decay coefficient is
    ``lambda / N`` (``optax.add_decayed_weights(lambda / N)``).

    ``precision`` is a pytree leaf: a new ``lambda`` never recompiles a jitted
    function that takes the prior as an argument. It is a scalar or a pytree
    shaped like the parameters (a per-layer or per-weight precision).

    Attributes:
        precision: ``lambda > 0``, the inverse prior variance.

    Examples:
        >>> prior = GaussianPrior(precision=2.0)
        >>> weights = {"w": jnp.array([1.0, -1.0])}
        >>> float(prior.potential(weights))  # (2 / 2) * 2
        2.0
        >>> round(float(prior.log_prob(weights) + prior.potential(weights)), 6)  # -log Z
        -1.14473
    """

    precision: ArrayTree = 1.0

    def __post_init__(self):
        check_positive("precision", self.precision)

    def _precisions(self, params: ArrayTree) -> list:
        leaves = jax.tree_util.tree_leaves(params)
        if len(jax.tree_util.tree_leaves(self.precision)) == 1:
            return [self.precision] * len(leaves)
        return jax.tree_util.tree_leaves(self.precision)

    def potential(self, params: ArrayTree) -> jax.Array:
        """``(lambda / 2) sum_i w_i^2``: the weight-decay penalty, summed over all leaves."""
        pairs = zip(self._precisions(params), jax.tree_util.tree_leaves(params), strict=True)
        return jnp.asarray(sum(0.5 * jnp.sum(precision * jnp.square(w)) for precision, w in pairs))

    def log_normalizer(self, params: ArrayTree) -> jax.Array:
        """``log Z = (1/2) sum_i log(2 pi / lambda_i)`` over the ``d`` parameters of ``params``."""
        pairs = zip(self._precisions(params), jax.tree_util.tree_leaves(params), strict=True)
        return jnp.asarray(
            sum(
                0.5 * jnp.sum(jnp.broadcast_to(jnp.log(2 * math.pi / precision), jnp.shape(w)))
                for precision, w in pairs
            )
        )

    def log_prob(self, params: ArrayTree) -> jax.Array:
        """``log N(w; 0, 1 / lambda) = -potential(w) - log Z``, summed over all parameters."""
        return -self.potential(params) - self.log_normalizer(params)

    def scale(self, params: ArrayTree) -> ArrayTree:
        """The prior standard deviation ``lambda^{-1/2}``, a pytree shaped like ``params``."""
        precisions = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(params), self._precisions(params)
        )
        return jax.tree_util.tree_map(
            lambda precision, w: jnp.broadcast_to(jax.lax.rsqrt(precision * 1.0), jnp.shape(w)),
            precisions,
            params,
        )


# ------------------------------------------------------------------ Jacobian regularization


def jacobian_frobenius_norm(apply_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    r"""The exact squared Frobenius norm ``||d f / d x||_F^2`` of every example's Jacobian.

    Builds the full ``(C, D)`` Jacobian per example with reverse mode (``C``
    vector-Jacobian products): the reference the random-projection estimator
    (:func:`jacobian_norm_estimate`) is checked against, and affordable for few
    outputs.

    Args:
        apply_fn: maps one example ``(*input_shape)`` to its outputs ``(C,)``.
        x: a batch ``(B, *input_shape)``.

    Returns:
        ``(B,)`` values of ``sum_{c, i} (d f_c / d x_i)^2``.

    Examples:
        >>> matrix = jnp.array([[1.0, 2.0], [0.0, 3.0]])
        >>> jacobian_frobenius_norm(lambda x: matrix @ x, jnp.ones((1, 2))).tolist()
        [14.0]
    """
    jacobians = jax.vmap(jax.jacrev(apply_fn))(x)
    return jnp.sum(jnp.square(jacobians).reshape(x.shape[0], -1), axis=-1)


def jacobian_norm_estimate(
    key: PRNGKey,
    apply_fn: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    num_projections: int = 1,
    projection: Literal["sphere", "gaussian"] = "sphere",
) -> jax.Array:
    r"""Unbiased random-projection estimates of ``||d f / d x||_F^2``, one per example.

    Hoffman, Roberts & Yaida (2019), eq. (7) and Algorithm 1:

    .. math::

        \|J\|_F^2 = C\, \mathbb E_{\hat v \sim S^{C-1}} \|\hat v^\top J\|^2
                  = \mathbb E_{v \sim \mathcal N(0, I_C)} \|v^\top J\|^2 ,

    since ``E[v v^T] = I / C`` for ``v`` uniform on the unit sphere and ``I`` for
    a standard normal ``v``. Each projection is one vector-Jacobian product of the
    batched function, so ``apply_fn`` must treat examples independently (no batch
    normalisation in training mode). The estimate averages ``num_projections``
    independent projections per example; its variance falls as
    ``1 / num_projections``.

    Args:
        key: PRNG key of the projections.
        apply_fn: maps a batch ``(B, *input_shape)`` to outputs ``(B, C)``.
        x: the inputs ``(B, *input_shape)``.
        num_projections: projections per example (the paper's ``n_proj``; 1 suffices
            for training with any reasonable batch).
        projection: ``"sphere"`` (the paper's) or ``"gaussian"``.

    Returns:
        ``(B,)`` estimates.

    Examples:
        >>> matrix = jnp.array([[1.0, 2.0], [0.0, 3.0]])
        >>> estimates = jacobian_norm_estimate(
        ...     jax.random.key(0), lambda x: x @ matrix.T, jnp.ones((4000, 2)), 1
        ... )
        >>> bool(abs(float(estimates.mean()) - 14.0) < 0.5)  # exact value 14
        True
    """
    key = as_key(key)
    num_projections = check_count("num_projections", num_projections)
    if projection not in ("sphere", "gaussian"):
        raise ValueError(f"projection must be 'sphere' or 'gaussian', got {projection!r}.")
    outputs, pullback = jax.vjp(apply_fn, x)
    if outputs.ndim != 2 or outputs.shape[0] != x.shape[0]:
        raise ValueError(
            f"apply_fn must map a batch (B, ...) to outputs (B, C); got outputs of shape "
            f"{outputs.shape} for inputs of shape {x.shape}."
        )
    num_outputs = outputs.shape[1]
    vectors = jax.random.normal(key, (num_projections, *outputs.shape), outputs.dtype)
    if projection == "sphere":
        vectors = vectors / jnp.linalg.norm(vectors, axis=-1, keepdims=True)
    # The pullback is linear and examples are independent, so a (B, C) cotangent
    # gives every example's v^T J at once.
    (rows,) = jax.vmap(pullback)(vectors)
    squared = jnp.sum(jnp.square(rows).reshape(num_projections, x.shape[0], -1), axis=-1)
    constant = num_outputs if projection == "sphere" else 1.0
    return constant * jnp.mean(squared, axis=0)


def jacobian_regularizer(
    key: PRNGKey,
    apply_fn: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    num_projections: int = 1,
    projection: Literal["sphere", "gaussian"] = "sphere",
) -> jax.Array:
    r"""The Jacobian penalty ``(1/2) mean_b ||J(x_b)||_F^2``, estimated by random projections.

    Hoffman, Roberts & Yaida (2019), Algorithm 1: the training loss is
    ``L + lambda_JR * jacobian_regularizer(...)`` (their ``lambda_JR / 2 * J_F``
    with the ``1/2`` kept here). Differentiable with respect to the network's
    parameters (closed over by ``apply_fn``).

    Args:
        key: PRNG key of the projections (legacy or typed).
        apply_fn: maps a batch ``(B, *input_shape)`` to outputs ``(B, C)``.
        x: the inputs ``(B, *input_shape)``.
        num_projections: projections per example (as in :func:`jacobian_norm_estimate`).
        projection: ``"sphere"`` or ``"gaussian"`` (as in :func:`jacobian_norm_estimate`).

    Returns:
        A scalar: half the batch mean of the estimated squared Frobenius norms.

    Examples:
        >>> penalty = jacobian_regularizer(jax.random.key(0), lambda x: 3.0 * x, jnp.ones((8, 1)))
        >>> float(penalty)  # J = 3, C = 1: (1/2) * 9 exactly
        4.5
    """
    return 0.5 * jnp.mean(jacobian_norm_estimate(key, apply_fn, x, num_projections, projection))


# ------------------------------------------------------------------ noise layers (heat baths)


def dropout_rate(temperature: jax.typing.ArrayLike) -> jax.Array:
    """The dropout rate ``p = T / (1 + T)`` whose multiplicative noise has variance ``T``.

    Inverted dropout multiplies by ``m / (1 - p)``, ``m ~ Bernoulli(1 - p)``: mean 1,
    variance ``p / (1 - p)``; this is the variance Gaussian dropout matches
    (Srivastava et al. 2014, sec. 10).

    Examples:
        >>> float(dropout_rate(1.0))
        0.5
    """
    temperature = jnp.asarray(temperature)
    return temperature / (1.0 + temperature)


def dropout_temperature(rate: jax.typing.ArrayLike) -> jax.Array:
    """The noise temperature ``T = p / (1 - p)`` of dropout at rate ``p`` (inverse of ``p(T)``).

    Examples:
        >>> round(float(dropout_temperature(0.2)), 6)
        0.25
    """
    rate = jnp.asarray(rate)
    return rate / (1.0 - rate)


class GaussianNoise(nn.Module):
    r"""Additive Gaussian noise: ``y = x + sqrt(T) xi``, ``xi ~ N(0, I)``, variance ``T``.

    Noisy activations as a heat bath at temperature ``T`` (the noise variance),
    the injected-noise regulariser of Bishop (1995), whose small-noise effect is a
    Tikhonov (Jacobian) penalty. ``temperature`` is a call argument, so it may be a
    traced schedule value.

    Attributes:
        rng_collection: the Flax rng stream the noise is drawn from.

    Examples:
        >>> layer = GaussianNoise()
        >>> x = jnp.zeros((20000,))
        >>> y = layer.apply({}, x, 0.25, rngs={"noise": jax.random.key(0)})
        >>> round(float(jnp.std(y)), 1)
        0.5
        >>> bool(jnp.all(layer.apply({}, x, 0.25, deterministic=True) == x))
        True
    """

    rng_collection: str = "noise"

    @nn.compact
    def __call__(
        self, x: jax.Array, temperature: jax.typing.ArrayLike, deterministic: bool = False
    ) -> jax.Array:
        """Add noise of variance ``temperature`` (identity if ``deterministic``)."""
        check_positive("temperature", temperature, allow_zero=True)
        if deterministic:
            return x
        noise = jax.random.normal(self.make_rng(self.rng_collection), jnp.shape(x), x.dtype)
        return x + jnp.sqrt(jnp.asarray(temperature, x.dtype)) * noise


class GaussianDropout(nn.Module):
    r"""Multiplicative Gaussian noise: ``y = x (1 + sqrt(T) xi)``, variance ``T x^2``.

    Gaussian dropout (Srivastava et al. 2014, sec. 10; Wang & Manning 2013) with
    ``alpha = T``: the same mean and variance as Bernoulli dropout at rate
    ``T / (1 + T)`` (:func:`dropout_rate`).

    Attributes:
        rng_collection: the Flax rng stream the noise is drawn from.

    Examples:
        >>> layer = GaussianDropout()
        >>> x = jnp.full((20000,), 2.0)
        >>> y = layer.apply({}, x, 0.25, rngs={"noise": jax.random.key(0)})
        >>> round(float(jnp.mean(y)), 1), round(float(jnp.std(y)), 1)  # 2, sqrt(0.25) * 2
        (2.0, 1.0)
    """

    rng_collection: str = "noise"

    @nn.compact
    def __call__(
        self, x: jax.Array, temperature: jax.typing.ArrayLike, deterministic: bool = False
    ) -> jax.Array:
        """Multiply by ``1 + sqrt(temperature) xi`` (identity if ``deterministic``)."""
        check_positive("temperature", temperature, allow_zero=True)
        if deterministic:
            return x
        noise = jax.random.normal(self.make_rng(self.rng_collection), jnp.shape(x), x.dtype)
        return x * (1.0 + jnp.sqrt(jnp.asarray(temperature, x.dtype)) * noise)


class Dropout(nn.Module):
    r"""Inverted Bernoulli dropout at noise temperature ``T``: rate ``p = T / (1 + T)``.

    ``y = x m / (1 - p)``, ``m ~ Bernoulli(1 - p)`` per unit (Srivastava et al.
    2014): mean ``x``, variance ``T x^2``, the same two moments as
    :class:`GaussianDropout` at ``T``. Unlike ``flax.linen.Dropout``, whose rate is
    a module attribute, the noise level is a call argument and may be traced (a
    schedule value); convert rates with :func:`dropout_temperature`.

    Attributes:
        rng_collection: the Flax rng stream of the masks (``"dropout"``, as in Flax).

    Examples:
        >>> layer = Dropout()
        >>> y = layer.apply({}, jnp.ones(8), 1.0, rngs={"dropout": jax.random.key(0)})
        >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])  # rate 1/2: kept units doubled
        True
    """

    rng_collection: str = "dropout"

    @nn.compact
    def __call__(
        self, x: jax.Array, temperature: jax.typing.ArrayLike, deterministic: bool = False
    ) -> jax.Array:
        """Drop units at rate ``T / (1 + T)`` (identity if ``deterministic``)."""
        check_positive("temperature", temperature, allow_zero=True)
        if deterministic:
            return x
        keep_probability = 1.0 / (1.0 + jnp.asarray(temperature, x.dtype))
        keep = jax.random.bernoulli(
            self.make_rng(self.rng_collection), keep_probability, jnp.shape(x)
        )
        return jnp.where(keep, x / keep_probability, jnp.zeros_like(x))
