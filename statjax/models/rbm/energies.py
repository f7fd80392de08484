r"""Energies and tempered conditionals of an RBM: ``E(v, h)``, ``F(v)``, ``p_beta(h | v)``, ...

Binary: ``E(v, h) = -b^T v - c^T h - v^T W h``; Gaussian visible units:
``E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - c^T h - sum_ij (v_i / sigma_i^2) W_ij h_j``
(see :mod:`statjax.models.rbm`). At inverse temperature ``beta`` every conditional
is that of ``exp(-beta E)``: logits times ``beta``, Gaussian variance over ``beta``.
"""

import jax
import jax.numpy as jnp

from statjax.models.rbm.params import GaussianRBMParams, RBMParams, is_gaussian

Params = RBMParams | GaussianRBMParams


def visible_energy(params: Params, visible: jax.Array) -> jax.Array:
    """``E(v, h = 0)``, the terms of the joint energy without ``h``: ``-b^T v`` or the quadratic.

    Gaussian: ``sum_i (v_i - b_i)^2 / (2 sigma_i^2)``. Shape ``(..., V) -> (...)``.
    """
    visible = jnp.asarray(visible, params.weights.dtype)
    if is_gaussian(params):
        sigma2 = jnp.exp(2.0 * params.log_sigma)
        return jnp.sum((visible - params.visible_bias) ** 2 / (2.0 * sigma2), -1)
    return -(visible @ params.visible_bias)


def scaled_visible(params: Params, visible: jax.Array) -> jax.Array:
    """``v`` for a binary RBM, ``v / sigma^2`` for a Gaussian one (what couples to ``h``)."""
    visible = jnp.asarray(visible, params.weights.dtype)
    if is_gaussian(params):
        return visible * jnp.exp(-2.0 * params.log_sigma)
    return visible


def energy(params: Params, visible: jax.Array, hidden: jax.Array) -> jax.Array:
    """The joint energy ``E(v, h)`` (see the module docstring); batch axes broadcast.

    Examples:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.ones((2, 1)), jnp.zeros(2), jnp.zeros(1))
        >>> float(energy(params, jnp.ones(2), jnp.ones(1)))
        -2.0
    """
    hidden = jnp.asarray(hidden, params.weights.dtype)
    coupling = jnp.einsum(
        "...i,ij,...j->...", scaled_visible(params, visible), params.weights, hidden
    )
    return visible_energy(params, visible) - hidden @ params.hidden_bias - coupling


def hidden_logits(
    params: Params, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """Logits of ``p(h_j = 1 | v)``: ``beta (c + W^T v~)``, ``v~ = v`` or ``v / s^2``."""
    return jnp.asarray(beta) * (
        params.hidden_bias + scaled_visible(params, visible) @ params.weights
    )


def hidden_probabilities(
    params: Params, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """``p(h_j = 1 | v) = sigmoid(beta (c_j + sum_i v~_i W_ij))``, shape ``(..., num_hidden)``."""
    return jax.nn.sigmoid(hidden_logits(params, visible, beta))


def visible_activation(params: Params, hidden: jax.Array) -> jax.Array:
    """``b + W h``: visible logits at ``beta = 1`` (binary), mean of ``v | h`` (Gaussian)."""
    return params.visible_bias + jnp.asarray(hidden, params.weights.dtype) @ params.weights.T


def visible_mean(params: Params, hidden: jax.Array, beta: jax.typing.ArrayLike = 1.0) -> jax.Array:
    """``E[v | h]`` at ``beta``: ``sigmoid(beta (b + W h))`` (binary) or ``b + W h`` (Gaussian)."""
    activation = visible_activation(params, hidden)
    if is_gaussian(params):
        return activation
    return jax.nn.sigmoid(beta * activation)


def free_energy(params: Params, visible: jax.Array) -> jax.Array:
    r"""``F(v) = -log sum_h exp(-E(v, h))``, hidden units summed out with softplus.

    Binary: ``-b^T v - sum_j softplus(c_j + (v^T W)_j)``; Gaussian:
    ``sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + (v / sigma^2)^T W_j)``.
    Shape: ``visible (..., num_visible) -> (...)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.zeros((2, 1)), jnp.zeros(2), jnp.zeros(1))
        >>> print(round(float(free_energy(params, jnp.ones(2))), 4))  # -log 2
        -0.6931
    """
    softplus = jnp.sum(jax.nn.softplus(hidden_logits(params, visible)), -1)
    return visible_energy(params, visible) - softplus


__all__ = [
    "energy",
    "free_energy",
    "hidden_logits",
    "hidden_probabilities",
    "scaled_visible",
    "visible_activation",
    "visible_energy",
    "visible_mean",
]
