r"""Block-Gibbs sampling of an RBM: the tempered conditionals and the :class:`BlockGibbs` kernel.

At inverse temperature ``beta`` a sweep draws every hidden unit from
``p_beta(h | v)`` and then every visible unit from ``p_beta(v | h)`` (Hinton
2002); both layers are conditionally independent given the other, so each
half-sweep is one vectorised draw. The chain leaves ``exp(-beta E(v, h))``
invariant. At ``beta = inf`` a sweep is the greedy (zero-temperature) limit:
each unit takes its lower-energy value and a tie keeps its current value.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from statjax.checks import as_key
from statjax.models.rbm.energies import (
    energy,
    hidden_probabilities,
    scaled_visible,
    visible_activation,
    visible_energy,
    visible_mean,
)
from statjax.models.rbm.params import GaussianRBMParams, RBMParams, is_gaussian
from statjax.pytree import Pytree
from statjax.random import normal as random_normal
from statjax.random import uniform as random_uniform
from statjax.samplers.base import AcceptanceInfo
from statjax.types import PRNGKey

Params = RBMParams | GaussianRBMParams


def unit_uniforms(key: PRNGKey, shape: tuple[int, ...]) -> jax.Array:
    """U[0, 1) float32 numbers of ``shape`` from ``key``: :func:`statjax.random.uniform`.

    The one random-number path (a fused Threefry, ``jax.random.uniform``'s values):
    on the CPU several times faster than ``jax.random.uniform`` for the small
    draws of a sweep.
    """
    return random_uniform(key, tuple(shape), jnp.float32)


def bernoulli_from_uniforms(uniforms: jax.Array, probabilities: jax.Array) -> jax.Array:
    """``1.0`` where ``uniforms < probabilities``, else ``0.0`` (a NaN probability gives 0)."""
    return (uniforms < probabilities).astype(probabilities.dtype)


def sample_hidden(
    params: Params, key: PRNGKey, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """Draw ``h ~ p_beta(h | v)`` (float 0/1), for any batch shape of ``visible``."""
    probabilities = hidden_probabilities(params, visible, beta)
    return bernoulli_from_uniforms(unit_uniforms(as_key(key), probabilities.shape), probabilities)


def sample_visible(
    params: Params, key: PRNGKey, hidden: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """Draw ``v ~ p_beta(v | h)``: Bernoulli, or ``N(b + W h, sigma^2 / beta)`` (Gaussian RBM)."""
    key = as_key(key)
    mean = visible_mean(params, hidden, beta)
    if is_gaussian(params):
        noise = random_normal(key, mean.shape, mean.dtype)
        return (
            mean + jnp.exp(params.log_sigma) * jax.lax.rsqrt(jnp.asarray(beta, mean.dtype)) * noise
        )
    return bernoulli_from_uniforms(unit_uniforms(key, mean.shape), mean)


def _keep_ties(draw: jax.Array, probabilities: jax.Array, current: jax.Array) -> jax.Array:
    # A NaN probability is sigmoid(inf * 0): a tie at beta = inf, where the greedy
    # limit keeps the current value (docs/design-decisions.md, temperature convention).
    return jnp.where(jnp.isnan(probabilities), current, draw)


def _sweep(
    params: Params, key: PRNGKey, visible: jax.Array, hidden: jax.Array, beta: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One sweep from ``(v, h)``: ``(v', h', E(v', h'))``.

    A binary RBM draws the uniforms of both layers in one generator call. The joint
    energy reuses the visible activation ``b + W h'`` of the second half-sweep:
    ``E(v', h') = E(v', 0) - c^T h' - v~'^T (W h')``, no extra matrix product.
    """
    probabilities = hidden_probabilities(params, visible, beta)
    num_hidden = probabilities.shape[-1]
    if is_gaussian(params):
        key_hidden, key_visible = jax.random.split(key)
        hidden_uniforms = unit_uniforms(key_hidden, probabilities.shape)
    else:
        uniforms = unit_uniforms(key, (*probabilities.shape[:-1], num_hidden + visible.shape[-1]))
        hidden_uniforms, visible_uniforms = uniforms[..., :num_hidden], uniforms[..., num_hidden:]
    new_hidden = bernoulli_from_uniforms(hidden_uniforms, probabilities)
    new_hidden = _keep_ties(new_hidden, probabilities, jnp.asarray(hidden, new_hidden.dtype))
    activation = visible_activation(params, new_hidden)
    if is_gaussian(params):
        noise = random_normal(key_visible, activation.shape, activation.dtype)
        scale = jnp.exp(params.log_sigma) * jax.lax.rsqrt(jnp.asarray(beta, activation.dtype))
        new_visible = activation + scale * noise
    else:
        visible_probabilities = jax.nn.sigmoid(beta * activation)
        new_visible = bernoulli_from_uniforms(visible_uniforms, visible_probabilities)
        new_visible = _keep_ties(
            new_visible, visible_probabilities, jnp.asarray(visible, new_visible.dtype)
        )
    coupling = jnp.sum(scaled_visible(params, new_visible) * (activation - params.visible_bias), -1)
    new_energy = visible_energy(params, new_visible) - new_hidden @ params.hidden_bias - coupling
    return new_visible, new_hidden, new_energy


def gibbs_sweep(
    params: Params, key: PRNGKey, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> tuple[jax.Array, jax.Array]:
    """One block-Gibbs sweep ``h ~ p_beta(h | v)``, then ``v' ~ p_beta(v | h)``; returns (v', h).

    Any batch shape of ``visible``. (At ``beta = inf`` a hidden tie gives 0; the
    :class:`BlockGibbs` kernel keeps the chain's current ``h`` instead.)
    """
    hidden = jnp.zeros((*jnp.shape(visible)[:-1], params.hidden_bias.shape[-1]))
    new_visible, new_hidden, _ = _sweep(params, as_key(key), visible, hidden, beta)
    return new_visible, new_hidden


class RBMConfiguration(NamedTuple):
    """A joint configuration ``(v, h)`` of an RBM: the position of a Gibbs chain."""

    visible: jax.Array
    hidden: jax.Array


class BlockGibbsState(NamedTuple):
    """State of a block-Gibbs chain.

    Attributes:
        position: the :class:`RBMConfiguration` ``(v, h)``; ``h`` was drawn given
            the previous ``v``, and ``v`` given ``h``.
        energy: the untempered *joint* energy ``E(v, h)``.
    """

    position: RBMConfiguration
    energy: jax.Array


def _where(condition: jax.Array, new: Any, old: Any) -> Any:
    def select(a, b):
        extra = jnp.ndim(a) - jnp.ndim(condition)
        mask = jnp.reshape(condition, jnp.shape(condition) + (1,) * extra)
        return jnp.where(mask, a, b)

    return jax.tree_util.tree_map(select, new, old)


class BlockGibbs(Pytree):
    """Block-Gibbs kernel for ``p_beta(v, h) ∝ exp(-beta E(v, h))`` (Hinton 2002).

    A step draws all hidden units given ``v``, then all visible units given ``h``,
    from the tempered conditionals: a rejection-free update, so the info reports
    ``acceptance_rate = 1`` and ``is_accepted = True`` (the kernel contract of
    :mod:`statjax.samplers.base`). An update whose energy is not finite (NaN
    parameters) is refused: the chain stays put and reports 0 and ``False``.
    At ``beta = inf`` a step is the greedy limit (ties keep the current unit).

    The state's energy is the **joint** energy ``E(v, h)``, not the free energy:
    the tempered block-Gibbs chain leaves ``exp(-beta E(v, h))`` invariant, whose
    visible marginal is *not* ``exp(-beta F(v))`` for ``beta != 1``. With the joint
    energy, ``statjax.thermo.ais`` along ``beta`` and parallel tempering
    (swap ratio ``exp((beta_i - beta_j)(E_i - E_j))``) are exact. The visible
    marginal is recovered by observing ``state.position.visible``.

    ``params`` are pytree leaves: new weights never recompile.
    """

    params: Params

    def init(self, position: Any) -> BlockGibbsState:
        """Start at an :class:`RBMConfiguration`, or at a visible vector (``h = 0``).

        The starting ``h`` does not influence the chain (a step redraws it from
        ``v``), except for ties at ``beta = inf``.
        """
        if isinstance(position, RBMConfiguration):
            return BlockGibbsState(position, energy(self.params, position.visible, position.hidden))
        visible = jnp.asarray(position, self.params.weights.dtype)
        hidden = jnp.zeros(visible.shape[:-1] + self.params.hidden_bias.shape, visible.dtype)
        # E(v, 0) has no coupling term: no matrix product at the start of a chain.
        start = RBMConfiguration(visible, hidden)
        return BlockGibbsState(start, visible_energy(self.params, visible))

    def step(
        self, key: PRNGKey, state: BlockGibbsState, beta: jax.typing.ArrayLike
    ) -> tuple[BlockGibbsState, AcceptanceInfo]:
        """One sweep ``h | v`` then ``v | h`` at inverse temperature ``beta``."""
        visible, hidden, new_energy = _sweep(
            self.params, key, state.position.visible, state.position.hidden, beta
        )
        finite = jnp.isfinite(new_energy)
        new = _where(finite, BlockGibbsState(RBMConfiguration(visible, hidden), new_energy), state)
        return new, AcceptanceInfo(finite.astype(new_energy.dtype), finite)


def block_gibbs(params: Params) -> BlockGibbs:
    """Block-Gibbs kernel of an RBM (see :class:`BlockGibbs`).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.models.rbm import init_rbm
        >>> kernel = block_gibbs(init_rbm(jax.random.key(0), 6, 4, weight_scale=1.0))
        >>> final, visible = statjax.run_chains(kernel, jax.random.key(1), jnp.zeros((8, 6)), 20,
        ...                                     observe=lambda s: s.position.visible)
        >>> visible.shape
        (20, 8, 6)
    """
    return BlockGibbs(params)


__all__ = [
    "BlockGibbs",
    "BlockGibbsState",
    "RBMConfiguration",
    "bernoulli_from_uniforms",
    "block_gibbs",
    "gibbs_sweep",
    "sample_hidden",
    "sample_visible",
    "unit_uniforms",
]
