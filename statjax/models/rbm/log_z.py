r"""The partition function of an RBM: exact enumeration and base-rate AIS.

- :func:`exact_log_z` enumerates the smaller layer (up to ``MAX_ENUMERATED_UNITS``
  units) in chunks, in log space.
- :func:`ais_log_z` is the annealed importance sampling estimator of Salakhutdinov
  & Murray (2008), "On the quantitative analysis of deep belief networks", from a
  base-rate RBM, with the hidden units summed out analytically. Its chains advance
  through the one driver (:func:`statjax.samplers.loop.sample_chains`) with a
  kernel for the intermediate distributions, and the log weights are a streaming
  reduction of the steps.
"""

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_count
from statjax.models.rbm.energies import free_energy
from statjax.models.rbm.params import GaussianRBMParams, RBMParams, is_gaussian
from statjax.models.rbm.sampling import bernoulli_from_uniforms, unit_uniforms
from statjax.pytree import Pytree
from statjax.samplers.loop import Reducer, init_chains, sample_chains
from statjax.thermo.ais import AISResult, ais_estimate
from statjax.types import PRNGKey

MAX_ENUMERATED_UNITS = 25
"""Largest layer :func:`exact_log_z` enumerates (``2^25`` configurations)."""


def _binary_configurations(first, chunk_size, num_units):
    index = first + jnp.arange(chunk_size, dtype=jnp.int32)
    bits = (index[:, None] >> jnp.arange(num_units, dtype=jnp.int32)) & 1
    return index, bits.astype(jnp.float32)


@partial(jax.jit, static_argnames=("layer", "num_units", "chunk_size", "num_chunks"))
def _enumerated_log_z(params, *, layer, num_units, chunk_size, num_chunks):
    total = 2**num_units

    def log_terms(configurations):
        if layer == "visible":
            return -free_energy(params, configurations)
        # Sum over h of exp(c.h) * prod_i [sum_{v_i} ...]: softplus for binary v,
        # a Gaussian integral for real v.
        activation = configurations @ params.weights.T  # (chunk, V): (W h)_i
        linear = configurations @ params.hidden_bias
        if is_gaussian(params):
            sigma2 = jnp.exp(2.0 * params.log_sigma)
            return linear + jnp.sum(
                (activation**2 + 2.0 * params.visible_bias * activation) / (2.0 * sigma2), -1
            )
        return linear + jnp.sum(jax.nn.softplus(params.visible_bias + activation), -1)

    def body(log_z, first):
        index, configurations = _binary_configurations(first, chunk_size, num_units)
        terms = jnp.where(index < total, log_terms(configurations), -jnp.inf)
        return jnp.logaddexp(log_z, jax.nn.logsumexp(terms)), None

    firsts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk_size
    log_z, _ = jax.lax.scan(body, jnp.asarray(-jnp.inf, params.weights.dtype), firsts)
    if is_gaussian(params):
        num_visible = params.visible_bias.shape[0]
        log_z = log_z + 0.5 * num_visible * math.log(2 * math.pi) + jnp.sum(params.log_sigma)
    return log_z


def exact_log_z(params: RBMParams | GaussianRBMParams, *, chunk_size: int = 2**14) -> jax.Array:
    r"""``log Z`` exactly, by enumerating the smaller layer in chunks, in log space.

    Binary RBM, over ``h`` (if ``H <= V``): ``log Z = logsumexp_h [c^T h + sum_i
    softplus(b_i + (W h)_i)]``; over ``v``: ``logsumexp_v [-F(v)]``. Gaussian RBM
    (always over ``h``): ``log Z = (V/2) log 2 pi + sum_i log sigma_i + logsumexp_h
    [c^T h + sum_i ((W h)_i^2 + 2 b_i (W h)_i) / (2 sigma_i^2)]``. Cost ``2^min(V, H)``
    matrix-vector products; up to ``MAX_ENUMERATED_UNITS`` units.

    Examples:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.zeros((3, 2)), jnp.zeros(3), jnp.zeros(2))
        >>> print(round(float(exact_log_z(params)), 4))  # 5 log 2
        3.4657
    """
    num_visible, num_hidden = params.weights.shape
    layer = "hidden" if (num_hidden <= num_visible or is_gaussian(params)) else "visible"
    num_units = num_hidden if layer == "hidden" else num_visible
    if num_units > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact log Z enumerates 2^{num_units} {layer} configurations; the limit is "
            f"{MAX_ENUMERATED_UNITS} units. Use ais_log_z for larger RBMs."
        )
    chunk_size = int(min(check_count("chunk_size", chunk_size), 2**num_units))
    return _enumerated_log_z(
        params, layer=layer, num_units=num_units, chunk_size=chunk_size,
        num_chunks=-(-(2**num_units) // chunk_size),
    )  # fmt: skip


def ais_betas(scale: float = 1.0) -> np.ndarray:
    """Salakhutdinov & Murray's (2008) schedule: steps of 1e-3 to 0.5, 1e-4 to 0.9, 1e-5 to 1.

    That is 14,500 intermediate distributions; ``scale`` multiplies the number of
    steps in each piece (``scale = 0.1``: 1,450).

    Examples:
        >>> ais_betas().shape
        (14501,)
    """
    pieces = [(0.0, 0.5, 500), (0.5, 0.9, 4000), (0.9, 1.0, 10000)]
    parts = [np.linspace(a, b, max(1, round(n * scale)) + 1)[:-1] for a, b, n in pieces]
    return np.concatenate([*parts, np.ones(1)])


class BaseRatePathState(NamedTuple):
    """A chain on the base-rate AIS path (see :class:`BaseRatePath`).

    Attributes:
        position: the visible units ``v``, ``(V,)``.
        energy: the path energy ``-log p*_beta(v)`` at ``beta``, the path point the
            chain last moved at (``0`` at the start).
        hidden_activation: ``c + W^T v``, which gives ``log p*_beta(v)`` at any
            ``beta`` without a matrix product.
        beta: that path point.
    """

    position: jax.Array
    energy: jax.Array
    hidden_activation: jax.Array
    beta: jax.Array


class BaseRatePathInfo(NamedTuple):
    """A rejection-free step's info, with the AIS log-weight increment of the step.

    Attributes:
        acceptance_rate: 1 (block Gibbs is rejection-free).
        is_accepted: ``True``.
        log_weight_increment: ``log p*_beta(v) - log p*_{beta_prev}(v)`` at the
            state the step started from.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    log_weight_increment: jax.Array


class BaseRatePath(Pytree):
    r"""Block Gibbs on Salakhutdinov & Murray's path from a base-rate RBM A to the RBM B.

    The unnormalised marginal at path point ``beta`` is

    .. math::

        p^*_\beta(v) = e^{(1 - \beta) b_A^\top v} \; e^{-F(v;\, \beta \theta_B)}
                     = e^{(1 - \beta) b_A^\top v + \beta b^\top v}
                       \prod_j (1 + e^{\beta (c_j + (W^\top v)_j)}),

    a step at ``beta`` draws ``h ~ sigmoid(beta (c + W^T v))`` then
    ``v ~ sigmoid((1 - beta) b_A + beta (b + W h))``, which leaves it invariant.
    ``beta`` is the path parameter, not a temperature: the target's parameters are
    scaled by it, so ``log p*`` is not linear in ``beta``, and the state's energy
    is the path energy ``-log p*_beta(v)`` at the state's own ``beta``. The info
    carries the AIS increment ``log p*_beta(v) - log p*_{beta_prev}(v)``.
    """

    params: RBMParams
    base_visible_bias: jax.Array

    def _path_energy(self, visible, hidden_activation, beta):
        linear = ((1.0 - beta) * self.base_visible_bias + beta * self.params.visible_bias) @ visible
        return -linear - jnp.sum(jax.nn.softplus(beta * hidden_activation), -1)

    def init(self, position: jax.Array) -> BaseRatePathState:
        """Start at visible units ``v`` at path point ``beta = 0`` (the base-rate RBM)."""
        visible = jnp.asarray(position, self.params.weights.dtype)
        activation = self.params.hidden_bias + visible @ self.params.weights
        beta = jnp.zeros((), visible.dtype)
        return BaseRatePathState(
            visible, self._path_energy(visible, activation, beta), activation, beta
        )

    def step(
        self, key: PRNGKey, state: BaseRatePathState, beta: jax.typing.ArrayLike
    ) -> tuple[BaseRatePathState, BaseRatePathInfo]:
        """The AIS increment at ``state``, then one block-Gibbs sweep at path point ``beta``."""
        beta = jnp.asarray(beta, state.energy.dtype)
        increment = state.energy - self._path_energy(state.position, state.hidden_activation, beta)
        num_hidden = state.hidden_activation.shape[-1]
        uniforms = unit_uniforms(key, (num_hidden + state.position.shape[-1],))
        hidden = bernoulli_from_uniforms(
            uniforms[:num_hidden], jax.nn.sigmoid(beta * state.hidden_activation)
        )
        logits = (1.0 - beta) * self.base_visible_bias + beta * (
            self.params.visible_bias + hidden @ self.params.weights.T
        )
        visible = bernoulli_from_uniforms(uniforms[num_hidden:], jax.nn.sigmoid(logits))
        activation = self.params.hidden_bias + visible @ self.params.weights
        new = BaseRatePathState(
            visible, self._path_energy(visible, activation, beta), activation, beta
        )
        one = jnp.ones((), increment.dtype)
        return new, BaseRatePathInfo(one, jnp.ones((), bool), increment)


def _log_weight_increment(state, info):
    del state
    return info.log_weight_increment


_SUM = Reducer(init=lambda record: record, update=lambda total, record, step: total + record)


@partial(jax.jit, static_argnames=("num_chains",))
def _ais_base_rate(params, base_bias, key, betas, *, num_chains):
    key_init, key_path = jax.random.split(key)
    visible = bernoulli_from_uniforms(
        jax.random.uniform(key_init, (num_chains, base_bias.shape[0])), jax.nn.sigmoid(base_bias)
    )
    kernel = BaseRatePath(params, base_bias)
    # Global step t (1..K) moves at betas[t] and weighs the move from betas[t - 1].
    final, log_weights = sample_chains(
        kernel, key_path, init_chains(kernel, visible), betas.shape[0] - 1,
        beta=lambda step: betas[step], start_step=1,
        observe=_log_weight_increment, reducer=_SUM,
    )  # fmt: skip
    return final.position, log_weights


def ais_log_z(
    key: PRNGKey,
    params: RBMParams | GaussianRBMParams,
    base_visible_bias: jax.typing.ArrayLike | None = None,
    *,
    betas: jax.typing.ArrayLike | None = None,
    num_chains: int = 100,
) -> AISResult:
    r"""``log Z`` of a binary RBM by AIS from a base-rate RBM (Salakhutdinov & Murray 2008).

    The base RBM A has no weights and visible biases ``b_A`` (from the data's
    marginals, :func:`~statjax.models.rbm.base_rate_visible_bias`; zeros by
    default), so ``log Z_A = sum_i softplus(b_A,i) + H log 2`` and it is sampled
    exactly. The path is

    .. math::

        p^*_k(v) = e^{(1 - \beta_k) b_A^\top v} \; e^{-F(v;\, \beta_k \theta_B)},

    with the hidden units of B summed out (the weights are Rao-Blackwellised); the
    transition at ``beta_k`` is block Gibbs (:class:`BaseRatePath`):
    ``h ~ sigmoid(beta_k (c + W^T v))``,
    ``v ~ sigmoid((1 - beta_k) b_A + beta_k (b + W h))``. ``log w = sum_k [log
    p^*_k(v_{k-1}) - log p^*_{k-1}(v_{k-1})]`` and ``log Z_B = log Z_A + log mean w``.
    The estimate and its delta-method standard error come from
    :func:`statjax.thermo.ais_estimate`; ``mean w`` is unbiased for ``Z_B / Z_A``, so
    ``log Z`` is biased low by about half its variance (an underestimate of ``Z`` is
    what one should expect when the chains do not mix). The chains run through
    :func:`statjax.samplers.loop.sample_chains`: step ``k`` of chain ``c`` draws
    from ``split(fold_in(key_path, k), num_chains)[c]``.

    Args:
        key: PRNG key.
        params: the binary RBM ``B``; Gaussian parameters go to
            :func:`~statjax.models.rbm.gaussian_ais.gaussian_ais_log_z`.
        base_visible_bias: ``b_A``, ``(num_visible,)`` (Gaussian: the base's
            visible mean).
        betas: non-decreasing path from 0 to 1; default :func:`ais_betas` (14,500 steps).
        num_chains: independent AIS runs (S&M use 100).

    Returns:
        An :class:`statjax.thermo.AISResult`; ``final_states`` are the visible
        states ``(num_chains, num_visible)`` at the end of the path.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.models.rbm import init_rbm
        >>> params = init_rbm(jax.random.key(0), 8, 4, weight_scale=0.5)
        >>> result = ais_log_z(jax.random.key(1), params, betas=jnp.linspace(0, 1, 200))
        >>> bool(abs(result.log_z - exact_log_z(params)) < 0.1)
        True
    """
    if is_gaussian(params):
        # Real visible units: the Gaussian base-rate path (base_visible_bias = its mean b_A).
        from statjax.models.rbm.gaussian_ais import gaussian_ais_log_z

        return gaussian_ais_log_z(
            key, params, base_visible_bias, betas=betas, num_chains=num_chains
        )
    num_chains = check_count("num_chains", num_chains)
    num_visible = params.weights.shape[0]
    base = (
        jnp.zeros(num_visible)
        if base_visible_bias is None
        else jnp.asarray(base_visible_bias, jnp.float32)
    )
    if base.shape != (num_visible,):
        raise ValueError(f"base_visible_bias must have shape ({num_visible},), got {base.shape}.")
    betas = ais_betas() if betas is None else np.asarray(betas, np.float32)
    if betas.ndim != 1 or betas[0] != 0 or betas[-1] != 1 or np.any(np.diff(betas) < 0):
        raise ValueError("betas must be a non-decreasing path from 0 to 1.")
    visible, log_weights = _ais_base_rate(
        params, base, as_key(key), jnp.asarray(betas, jnp.float32), num_chains=num_chains
    )
    # At beta = 0 the path is exp(b_A^T v) times 2^H from B's (free) hidden units.
    base_log_z = jnp.sum(jax.nn.softplus(base)) + params.weights.shape[1] * math.log(2.0)
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, visible)


__all__ = [
    "MAX_ENUMERATED_UNITS",
    "BaseRatePath",
    "BaseRatePathInfo",
    "BaseRatePathState",
    "ais_betas",
    "ais_log_z",
    "exact_log_z",
]
