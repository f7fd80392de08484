"""RBM parameters as explicit pytrees, their initialisation and the base-rate visible bias."""

import math
from typing import NamedTuple, TypeGuard

import jax
import jax.numpy as jnp

from statjax.checks import as_key, check_count
from statjax.types import PRNGKey


class RBMParams(NamedTuple):
    """Parameters of a Bernoulli–Bernoulli RBM.

    Attributes:
        weights: ``W``, ``(num_visible, num_hidden)``.
        visible_bias: ``b``, ``(num_visible,)``.
        hidden_bias: ``c``, ``(num_hidden,)``.
    """

    weights: jax.Array
    visible_bias: jax.Array
    hidden_bias: jax.Array


class GaussianRBMParams(NamedTuple):
    """Parameters of a Gaussian–Bernoulli RBM (``v`` real, ``h`` binary).

    Attributes:
        weights: ``W``, ``(num_visible, num_hidden)``.
        visible_bias: ``b``, the mean of ``v`` given ``h = 0``, ``(num_visible,)``.
        hidden_bias: ``c``, ``(num_hidden,)``.
        log_sigma: ``log sigma``, visible standard deviations, ``(num_visible,)``;
            frozen in training with ``learn_sigma=False``.
    """

    weights: jax.Array
    visible_bias: jax.Array
    hidden_bias: jax.Array
    log_sigma: jax.Array


def is_gaussian(params: RBMParams | GaussianRBMParams) -> TypeGuard[GaussianRBMParams]:
    """Whether ``params`` are those of a Gaussian–Bernoulli RBM (real visible units)."""
    return isinstance(params, GaussianRBMParams)


def init_rbm(
    key: PRNGKey,
    num_visible: int,
    num_hidden: int,
    *,
    weight_scale: float = 0.01,
    visible_bias: jax.typing.ArrayLike | None = None,
    gaussian: bool = False,
    sigma: float = 1.0,
) -> RBMParams | GaussianRBMParams:
    """Weights ``N(0, weight_scale^2)``, zero hidden biases (Hinton 2010, "A practical guide").

    Args:
        key: PRNG key for the weights.
        num_visible: visible units ``V`` (at least 1).
        num_hidden: hidden units ``H``.
        weight_scale: standard deviation of the initial weights.
        visible_bias: initial ``b`` (default zeros); for binary data
            ``logit(data mean)`` is the usual choice (:func:`base_rate_visible_bias`).
        gaussian: build :class:`GaussianRBMParams` with ``sigma`` for every unit.
        sigma: the initial visible standard deviation of a Gaussian RBM.

    Examples:
        >>> import jax
        >>> params = init_rbm(jax.random.key(0), 6, 4)
        >>> params.weights.shape
        (6, 4)
    """
    num_visible = check_count("num_visible", num_visible, minimum=1)
    num_hidden = check_count("num_hidden", num_hidden, minimum=0)
    weights = weight_scale * jax.random.normal(as_key(key), (num_visible, num_hidden))
    b = jnp.zeros(num_visible) if visible_bias is None else jnp.asarray(visible_bias, jnp.float32)
    c = jnp.zeros(num_hidden)
    if gaussian:
        return GaussianRBMParams(weights, b, c, jnp.full(num_visible, math.log(sigma)))
    return RBMParams(weights, b, c)


def base_rate_visible_bias(data: jax.Array, eps: float = 1e-3) -> jax.Array:
    """``logit`` of the data's per-unit mean, clipped to ``[eps, 1 - eps]``: the base-rate ``b``.

    With zero weights this RBM's visible marginal is the product of the data's
    marginals (Hinton 2010; the base of Salakhutdinov & Murray's 2008 AIS).
    """
    mean = jnp.clip(jnp.mean(jnp.asarray(data, jnp.float32), 0), eps, 1.0 - eps)
    return jnp.log(mean) - jnp.log1p(-mean)


__all__ = [
    "GaussianRBMParams",
    "RBMParams",
    "base_rate_visible_bias",
    "init_rbm",
    "is_gaussian",
]
