r"""``log Z`` of a Gaussian–Bernoulli RBM by annealed importance sampling.

The binary base-rate path of Salakhutdinov & Murray (2008) carried over to real
visible units: the base RBM A has no weights and no hidden biases, visible means
``b_A`` and the target's ``sigma``, so it is the product ``N(b_A, diag sigma^2)``
times ``2^H`` free hidden configurations,
``log Z_A = (V/2) log 2 pi + sum_i log sigma_i + H log 2``. Path point ``beta``
is the Gaussian RBM with weights ``beta W``, hidden biases ``beta c`` and visible
means ``b_beta = (1 - beta) b_A + beta b`` (the same ``sigma``); with the hidden
units summed out,

.. math::

    \log p^*_\beta(v) = -\sum_i \frac{(v_i - b_{\beta,i})^2}{2 \sigma_i^2}
        + \sum_j \mathrm{softplus}\big(\beta (c_j + (\tilde v^\top W)_j)\big),
    \qquad \tilde v = v / \sigma^2,

which at ``beta = 1`` is ``-F(v)`` of the target (so ``Z_1`` is its ``Z``). The
transition at ``beta`` is block Gibbs of that RBM, exact for it:
``h ~ sigmoid(beta (c + W^T v~))``, ``v ~ N(b_beta + beta W h, diag sigma^2)``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax import random as sjrandom
from statjax.checks import as_key, check_count
from statjax.models.rbm.params import GaussianRBMParams
from statjax.pytree import Pytree
from statjax.samplers.loop import Reducer, init_chains, sample_chains
from statjax.thermo.ais import AISResult, ais_estimate
from statjax.types import PRNGKey


class GaussianPathState(NamedTuple):
    """A chain on the Gaussian AIS path (see :class:`GaussianBaseRatePath`).

    Attributes:
        position: the visible units ``v``, ``(V,)``.
        energy: the path energy ``-log p*_beta(v)`` at the chain's ``beta``.
        hidden_activation: ``c + W^T (v / sigma^2)``.
        beta: the path point the chain last moved at (0 at the start).
    """

    position: jax.Array
    energy: jax.Array
    hidden_activation: jax.Array
    beta: jax.Array


class GaussianPathInfo(NamedTuple):
    """A rejection-free step's info with its AIS log-weight increment.

    Attributes:
        acceptance_rate: 1.
        is_accepted: ``True``.
        log_weight_increment: ``log p*_beta(v) - log p*_{beta_prev}(v)``.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    log_weight_increment: jax.Array


class GaussianBaseRatePath(Pytree):
    """Block Gibbs on the path from ``N(b_A, sigma^2) x 2^H`` to a Gaussian RBM (module docstring).

    ``beta`` is the path parameter, not a temperature; a step first records the
    AIS increment of its state from the previous path point to ``beta``, then
    moves at ``beta``.
    """

    params: GaussianRBMParams
    base_visible_mean: jax.Array

    def _path_energy(self, visible, hidden_activation, beta):
        mean = (1.0 - beta) * self.base_visible_mean + beta * self.params.visible_bias
        sigma2 = jnp.exp(2.0 * self.params.log_sigma)
        quadratic = jnp.sum((visible - mean) ** 2 / (2.0 * sigma2), -1)
        return quadratic - jnp.sum(jax.nn.softplus(beta * hidden_activation), -1)

    def _activation(self, visible):
        scaled = visible * jnp.exp(-2.0 * self.params.log_sigma)
        return self.params.hidden_bias + scaled @ self.params.weights

    def init(self, position: jax.Array) -> GaussianPathState:
        """Start at visible units ``v`` at path point ``beta = 0``."""
        visible = jnp.asarray(position, self.params.weights.dtype)
        activation = self._activation(visible)
        beta = jnp.zeros((), visible.dtype)
        return GaussianPathState(
            visible, self._path_energy(visible, activation, beta), activation, beta
        )

    def step(
        self, key: PRNGKey, state: GaussianPathState, beta: jax.typing.ArrayLike
    ) -> tuple[GaussianPathState, GaussianPathInfo]:
        """The AIS increment at ``state``, then one block-Gibbs sweep at path point ``beta``."""
        beta = jnp.asarray(beta, state.energy.dtype)
        increment = state.energy - self._path_energy(state.position, state.hidden_activation, beta)
        key_hidden, key_visible = jax.random.split(key)
        num_hidden = state.hidden_activation.shape[-1]
        uniforms = sjrandom.uniform(key_hidden, (num_hidden,), state.energy.dtype)
        hidden = (uniforms < jax.nn.sigmoid(beta * state.hidden_activation)).astype(
            state.position.dtype
        )
        mean = (1.0 - beta) * self.base_visible_mean + beta * (
            self.params.visible_bias + self.params.weights @ hidden
        )
        noise = sjrandom.normal(key_visible, state.position.shape, state.position.dtype)
        visible = mean + jnp.exp(self.params.log_sigma) * noise
        activation = self._activation(visible)
        new = GaussianPathState(
            visible, self._path_energy(visible, activation, beta), activation, beta
        )
        one = jnp.ones((), increment.dtype)
        return new, GaussianPathInfo(one, jnp.ones((), bool), increment)


def _log_weight_increment(state, info):
    del state
    return info.log_weight_increment


_SUM = Reducer(init=lambda record: record, update=lambda total, record, step: total + record)


@partial(jax.jit, static_argnames=("num_chains",))
def _ais_gaussian(params, base_mean, key, betas, *, num_chains):
    key_init, key_path = jax.random.split(key)
    noise = sjrandom.normal(key_init, (num_chains, base_mean.shape[0]), base_mean.dtype)
    visible = base_mean + jnp.exp(params.log_sigma) * noise
    kernel = GaussianBaseRatePath(params, base_mean)
    # Global step t (1..K) moves at betas[t] and weighs the state from betas[t - 1].
    final, log_weights = sample_chains(
        kernel, key_path, init_chains(kernel, visible), betas.shape[0] - 1,
        beta=lambda step: betas[step], start_step=1,
        observe=_log_weight_increment, reducer=_SUM,
    )  # fmt: skip
    return final.position, log_weights


def gaussian_ais_log_z(
    key: PRNGKey,
    params: GaussianRBMParams,
    base_visible_mean: jax.typing.ArrayLike | None = None,
    *,
    betas: jax.typing.ArrayLike | None = None,
    num_chains: int = 100,
) -> AISResult:
    r"""``log Z`` of a Gaussian–Bernoulli RBM by AIS from ``N(b_A, sigma^2) x 2^H``.

    See the module docstring for the path; ``log w = sum_k [log p*_k(v_{k-1}) -
    log p*_{k-1}(v_{k-1})]`` and ``log Z = log Z_A + log mean w`` with the
    delta-method standard error of :func:`statjax.thermo.ais_estimate` (biased low
    by about half the variance of ``log mean w``, like every AIS estimate).
    :func:`~statjax.models.rbm.ais_log_z` calls it for Gaussian parameters.

    Args:
        key: PRNG key.
        params: the Gaussian RBM.
        base_visible_mean: ``b_A``, ``(num_visible,)``: the data mean is a good
            choice; the RBM's own ``b`` by default.
        betas: non-decreasing path from 0 to 1; default
            :func:`~statjax.models.rbm.ais_betas` (14,500 steps).
        num_chains: independent AIS runs.

    Returns:
        An :class:`statjax.thermo.AISResult`; ``final_states`` are the visible
        states at the end of the path.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.models.rbm import exact_log_z, init_rbm
        >>> params = init_rbm(jax.random.key(0), 4, 3, weight_scale=0.5, gaussian=True)
        >>> result = gaussian_ais_log_z(jax.random.key(1), params, betas=jnp.linspace(0, 1, 200))
        >>> bool(abs(result.log_z - exact_log_z(params)) < 0.1)
        True
    """
    from statjax.models.rbm.log_z import ais_betas  # log_z imports this module

    if not isinstance(params, GaussianRBMParams):
        raise TypeError(
            f"gaussian_ais_log_z takes GaussianRBMParams, got {type(params).__name__}; "
            "use ais_log_z for a binary RBM."
        )
    num_chains = check_count("num_chains", num_chains, minimum=2)
    num_visible, num_hidden = params.weights.shape
    base = (
        jnp.asarray(params.visible_bias, jnp.float32)
        if base_visible_mean is None
        else jnp.asarray(base_visible_mean, jnp.float32)
    )
    if base.shape != (num_visible,):
        raise ValueError(f"base_visible_mean must have shape ({num_visible},), got {base.shape}.")
    betas = ais_betas() if betas is None else np.asarray(betas, np.float32)
    if betas.ndim != 1 or betas[0] != 0 or betas[-1] != 1 or np.any(np.diff(betas) < 0):
        raise ValueError("betas must be a non-decreasing path from 0 to 1.")
    visible, log_weights = _ais_gaussian(
        params, base, as_key(key), jnp.asarray(betas, jnp.float32), num_chains=num_chains
    )
    base_log_z = (
        0.5 * num_visible * math.log(2 * math.pi)
        + jnp.sum(params.log_sigma)
        + num_hidden * math.log(2.0)
    )
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, visible)


__all__ = [
    "GaussianBaseRatePath",
    "GaussianPathInfo",
    "GaussianPathState",
    "gaussian_ais_log_z",
]
