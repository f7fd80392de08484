r"""Gradient-informed samplers for binary and categorical energies: GWG and DMALA.

Both kernels target ``p(x) ∝ exp(-beta E(x))`` over discrete ``x`` and read the
gradient of a differentiable extension of ``E`` to guess, from one gradient, the
energy change of every single-coordinate move (a first-order Taylor expansion):

- **binary** coordinates taking two values ``(low, high)`` (``(0, 1)`` for RBM
  visible units and binary EBMs, ``(-1, 1)`` for Ising spins): flipping
  coordinate ``i`` changes it by ``d_i = low + high - 2 x_i`` and the energy by
  about ``dE_i = d_i dE/dx_i``;
- **categorical** coordinates taking ``q`` values ``0, ..., q - 1`` (Potts
  spins): the energy is written on the one-hot encoding ``X: (..., q)`` and
  moving coordinate ``i`` from ``x_i`` to ``k`` changes it by about
  ``dE_ik = dE/dX_ik - dE/dX_{i x_i}``.

**Gibbs-with-Gradients** (Grathwohl, Swersky, Hashemi, Duvenaud & Maddison 2021,
"Oops I took a gradient", Alg. 1) proposes one move ``(i[, k])`` with
probability ``q(i | x) = softmax(-beta dE / 2)_i`` (the current value excluded
for categorical coordinates) and accepts it with the Metropolis–Hastings
probability ``min(1, exp(-beta (E(x') - E(x))) q(i | x') / q(i | x))``.

**DMALA** (Zhang, Liu, Liu & Lin 2022, "A Langevin-like sampler for discrete
distributions", Eq. 3–5) proposes every coordinate independently,
``q(x'_i | x) ∝ exp(-beta dE_i(x'_i) / 2 - |x'_i - x_i|^2 / (2 alpha))`` (the
norm in the encoding the gradient is taken in: ``d_i^2`` for binary values, 2
between two one-hot vectors), and accepts with the same Metropolis–Hastings
ratio, now over the whole product proposal. The paper's reference code flips a
``{0, 1}`` coordinate with probability ``sigmoid(-beta dE_i / 2 - 1 / (2 alpha))``;
this is that, with ``beta`` in front of the energy.

Both are exact for any extension of ``E``: the gradient only shapes the
proposal, the acceptance uses the exact energy difference ``beta (E(x') - E(x))``.
The state caches the untempered energy and its gradient, so a step costs one
energy-and-gradient evaluation at the proposal.

**Zero temperature** (``beta = +inf``): GWG proposes the move whose linearised
change is lowest (ties uniformly), DMALA moves every coordinate whose best
linearised change is negative; either is accepted iff the exact energy strictly
decreases, a greedy descent like Metropolis's at ``beta = inf``.

**Models.** ``energy_fn`` is the energy on the float encoding (the values
themselves for binary coordinates, the one-hot array for categorical ones) and
must be differentiable there. :func:`relaxed_energy` builds it for statjax's spin
models (whose own energies sum integers and have no gradient):
:class:`~statjax.energy.ising.IsingLattice`, :class:`~statjax.energy.ising.PottsLattice`,
:class:`~statjax.energy.ising.DenseIsing` and
:class:`~statjax.energy.ising.SparseIsing`; the factories call it for you when
given such a model. An RBM is sampled on its visible units through its free
energy, ``Partial(statjax.models.rbm.free_energy, params)`` with ``values=(0, 1)``
(``beta`` then tempers ``F(v)``, which at ``beta = 1`` gives the RBM's visible
marginal). A binary deep EBM is any ``E(x)`` written with float operations.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax import random as sjrandom
from statjax._tree import as_pytree_fn
from statjax.checks import check_positive, scalar_energy
from statjax.energy.ising import DenseIsing, IsingLattice, PottsLattice, SparseIsing
from statjax.pytree import Pytree, static_field
from statjax.samplers.base import accept_with_log_uniform
from statjax.types import ArrayTree, EnergyFn, PRNGKey

BINARY = (0, 1)
"""The default values of a binary coordinate."""


class DiscreteState(NamedTuple):
    """State of a GWG or DMALA chain.

    Attributes:
        position: the configuration (any integer or float dtype; kept as given).
        energy: the untempered energy ``E(position)``.
        energy_grad: ``dE/dx`` on the float encoding (binary: ``position``'s
            shape; categorical: ``position.shape + (q,)``).
    """

    position: jax.Array
    energy: jax.Array
    energy_grad: jax.Array


class DiscreteInfo(NamedTuple):
    """What a GWG or DMALA step reports.

    Attributes:
        acceptance_rate: ``min(1, exp(log_ratio))`` of the proposal.
        is_accepted: whether the proposal was taken.
        num_changed: how many coordinates the proposal changes (1 for GWG).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    num_changed: jax.Array


# ------------------------------------------------------------ relaxations


class RelaxedIsingLattice(Pytree):
    """:class:`~statjax.energy.ising.IsingLattice`'s energy on float spins, differentiable.

    ``E(s) = -J sum_<ij> s_i s_j - h sum_i s_i`` with the same bonds (``+1``
    neighbour along every axis, periodic); equal to the lattice's energy at ±1.
    """

    shape: tuple[int, ...] = static_field()
    coupling: jax.Array
    field: jax.Array

    def __call__(self, spins: jax.Array) -> jax.Array:
        """Energy of float spins ``(*shape)``."""
        spins = jnp.asarray(spins, jnp.result_type(float, self.coupling))
        bonds = sum(jnp.sum(spins * jnp.roll(spins, -1, axis)) for axis in range(spins.ndim))
        return -self.coupling * bonds - self.field * jnp.sum(spins)


class RelaxedPottsLattice(Pytree):
    r""":class:`~statjax.energy.ising.PottsLattice`'s energy on the one-hot encoding.

    ``E(X) = -J sum_<ij> X_i . X_j - h sum_i X_{i0}``, ``X: (*shape, q)``; at one-hot
    ``X`` it is ``-J sum_<ij> delta(s_i, s_j) - h sum_i delta(s_i, 0)``.
    """

    shape: tuple[int, ...] = static_field()
    coupling: jax.Array
    field: jax.Array

    def __call__(self, one_hot: jax.Array) -> jax.Array:
        """Energy of a one-hot (or relaxed) configuration ``(*shape, q)``."""
        one_hot = jnp.asarray(one_hot, jnp.result_type(float, self.coupling))
        satisfied = sum(
            jnp.sum(one_hot * jnp.roll(one_hot, -1, axis)) for axis in range(len(self.shape))
        )
        return -self.coupling * satisfied - self.field * jnp.sum(one_hot[..., 0])


def relaxed_energy(model: Any) -> Any:
    """The differentiable energy a gradient sampler needs for a statjax spin model.

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice` (→ float spins),
            :class:`~statjax.energy.ising.PottsLattice` (→ one-hot), or a
            :class:`~statjax.energy.ising.DenseIsing` / ``SparseIsing`` (already
            float arithmetic: returned as is).

    Returns:
        An energy on the float encoding, equal to ``model`` on its configurations.

    Raises:
        TypeError: for anything else (write the energy with float operations).
    """
    if isinstance(model, IsingLattice):
        return RelaxedIsingLattice(
            model.shape, jnp.asarray(model.coupling), jnp.asarray(model.field)
        )
    if isinstance(model, PottsLattice):
        return RelaxedPottsLattice(
            model.shape, jnp.asarray(model.coupling), jnp.asarray(model.field)
        )
    if isinstance(model, DenseIsing | SparseIsing):
        return model
    raise TypeError(
        f"relaxed_energy: no differentiable form known for {type(model).__name__}; "
        "pass an energy written with float operations (one-hot for categorical values)."
    )


# -------------------------------------------------------------- encodings


class _Encoding(Pytree):
    """How positions map to the float array the energy is differentiated on.

    ``num_states`` set: categorical, values ``0..q-1``, one-hot encoding.
    Otherwise binary with values ``(low, high)``.
    """

    low: float = static_field()
    high: float = static_field()
    num_states: int | None = static_field()

    def encode(self, position: jax.Array) -> jax.Array:
        if self.num_states is None:
            return position.astype(jnp.promote_types(position.dtype, jnp.float32))
        return jax.nn.one_hot(position, self.num_states, dtype=jnp.float32)

    def changes(self, encoded: jax.Array, grad: jax.Array) -> jax.Array:
        """Linearised energy change of every single-coordinate move.

        Binary: ``(*shape)``, the flip of each coordinate. Categorical:
        ``(*shape, q)``, zero at the current value.
        """
        if self.num_states is None:
            return grad * (self.low + self.high - 2 * encoded)
        return grad - jnp.sum(grad * encoded, axis=-1, keepdims=True)

    def flip(self, position: jax.Array, mask: jax.Array) -> jax.Array:
        """Binary: flip the coordinates where ``mask`` holds."""
        flipped = (self.low + self.high - position).astype(position.dtype)
        return jnp.where(mask, flipped, position)


def _value_and_grad(energy_fn, encoding, position):
    encoded = encoding.encode(position)
    energy, grad = jax.value_and_grad(lambda x: scalar_energy(energy_fn, x))(encoded)
    return encoded, energy, grad


def _init(energy_fn, encoding, position) -> DiscreteState:
    position = jnp.asarray(position)
    _, energy, grad = _value_and_grad(energy_fn, encoding, position)
    return DiscreteState(position, energy, grad)


def _is_zero_temperature(beta) -> jax.Array:
    return jnp.isposinf(beta)


def _log_ratio(beta, energy_change, log_q_reverse, log_q_forward):
    """``-beta dE + log q(x | x') - log q(x' | x)``; at ``beta = inf``: 0 iff ``dE < 0``."""
    finite = -beta * energy_change + log_q_reverse - log_q_forward
    greedy = jnp.where(energy_change < 0, 0.0, -jnp.inf)
    return jnp.where(_is_zero_temperature(beta), greedy, finite)


def _gumbel_and_log_uniform(key, shape, dtype=jnp.float32):
    """Gumbel noise of ``shape`` and one ``log u``, from one generator call (statjax.random)."""
    size = int(np.prod(shape))
    tiny = jnp.finfo(dtype).tiny
    uniform = sjrandom.uniform(key, (size + 1,), dtype, minval=tiny, maxval=1.0)
    gumbel = -jnp.log(-jnp.log(uniform[:size])).reshape(shape)
    return gumbel, jnp.log(uniform[size])


def _uniform_and_log_uniform(key, shape, dtype=jnp.float32):
    size = int(np.prod(shape))
    tiny = jnp.finfo(dtype).tiny
    uniform = sjrandom.uniform(key, (size + 1,), dtype, minval=tiny, maxval=1.0)
    return uniform[:size].reshape(shape), jnp.log(uniform[size])


# ------------------------------------------------------------------- GWG


def _gwg_log_probs(changes, encoded, num_states, beta):
    """``log q(move | x)`` over the flattened moves: ``log_softmax(-beta dE / 2)``.

    Categorical: the current value of every coordinate is no move and is excluded.
    At ``beta = inf``: uniform over the moves of lowest linearised change.
    """
    changes = changes.reshape(-1)
    if num_states is None:
        allowed = jnp.ones(changes.shape, bool)
    else:
        allowed = encoded.reshape(-1) == 0
    finite = jax.nn.log_softmax(jnp.where(allowed, -0.5 * beta * changes, -jnp.inf))
    lowest = allowed & (changes == jnp.min(jnp.where(allowed, changes, jnp.inf)))
    greedy = jnp.where(lowest, -jnp.log(jnp.sum(lowest).astype(changes.dtype)), -jnp.inf)
    return jnp.where(_is_zero_temperature(beta), greedy, finite)


class GibbsWithGradients(Pytree):
    """Gibbs-with-Gradients (Grathwohl et al. 2021) for ``exp(-beta E(x))``, binary or categorical.

    See the module docstring for the update. Build it with
    :func:`gibbs_with_gradients`; ``energy_fn``'s numbers are leaves, so new
    couplings or weights never recompile.
    """

    energy_fn: EnergyFn
    encoding: _Encoding

    def init(self, position: ArrayTree) -> DiscreteState:
        """Start a chain at ``position``, caching its energy and gradient."""
        return _init(self.energy_fn, self.encoding, position)

    def step(
        self, key: PRNGKey, state: DiscreteState, beta: jax.typing.ArrayLike
    ) -> tuple[DiscreteState, DiscreteInfo]:
        """One proposed single-coordinate move, accepted by Metropolis–Hastings."""
        encoding = self.encoding
        position = state.position
        encoded = encoding.encode(position)
        log_q = _gwg_log_probs(
            encoding.changes(encoded, state.energy_grad), encoded, encoding.num_states, beta
        )
        gumbel, log_uniform = _gumbel_and_log_uniform(key, log_q.shape)
        move = jnp.argmax(log_q + gumbel)
        if encoding.num_states is None:
            mask = jnp.arange(position.size) == move
            proposed = encoding.flip(position, mask.reshape(position.shape))
        else:
            site, value = jnp.divmod(move, encoding.num_states)
            proposed = position.reshape(-1).at[site].set(value.astype(position.dtype))
            proposed = proposed.reshape(position.shape)
        new_encoded, new_energy, new_grad = _value_and_grad(self.energy_fn, encoding, proposed)
        log_q_new = _gwg_log_probs(
            encoding.changes(new_encoded, new_grad), new_encoded, encoding.num_states, beta
        )
        # The reverse move: the same coordinate, back to its old value.
        if encoding.num_states is None:
            reverse = move
        else:
            reverse = site * encoding.num_states + position.reshape(-1)[site].astype(move.dtype)
        log_ratio = _log_ratio(beta, new_energy - state.energy, log_q_new[reverse], log_q[move])
        new_state, accept = accept_with_log_uniform(
            log_uniform, log_ratio, DiscreteState(proposed, new_energy, new_grad), state
        )
        return new_state, DiscreteInfo(accept.acceptance_rate, accept.is_accepted, jnp.int32(1))


# ------------------------------------------------------------------ DMALA


def _dmala_log_probs(changes, encoded, encoding, beta, step_size):
    """Per-coordinate log proposal probabilities.

    Binary: ``(log p_flip, log p_stay)`` each ``(*shape)``. Categorical:
    ``(*shape, q)`` log probabilities of every value.
    """
    zero_temperature = _is_zero_temperature(beta)
    if encoding.num_states is None:
        squared = (encoding.high - encoding.low) ** 2
        logit = -0.5 * beta * changes - squared / (2 * step_size)
        logit = jnp.where(zero_temperature, jnp.where(changes < 0, jnp.inf, -jnp.inf), logit)
        return jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit)
    # |e_k - e_{x_i}|^2 = 2 for k != x_i: the penalty 2 / (2 alpha).
    logits = -0.5 * beta * changes - (1.0 - encoded) / step_size
    best = jnp.min(changes, axis=-1, keepdims=True)
    greedy_target = jnp.where(best < 0, changes == best, encoded > 0)
    # Ties among improving values: the first one (argmax), one value per site.
    greedy_target = jax.nn.one_hot(jnp.argmax(greedy_target, -1), changes.shape[-1]) > 0
    logits = jnp.where(zero_temperature, jnp.where(greedy_target, 0.0, -jnp.inf), logits)
    return jax.nn.log_softmax(logits, axis=-1)


class DiscreteLangevin(Pytree):
    """DMALA (Zhang et al. 2022): a discrete Langevin proposal of all coordinates, MH-corrected.

    See the module docstring for the update. ``step_size`` is ``alpha`` (a leaf:
    a new one, or one per chain, never recompiles). Build it with :func:`dmala`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    encoding: _Encoding

    def init(self, position: ArrayTree) -> DiscreteState:
        """Start a chain at ``position``, caching its energy and gradient."""
        return _init(self.energy_fn, self.encoding, position)

    def step(
        self, key: PRNGKey, state: DiscreteState, beta: jax.typing.ArrayLike
    ) -> tuple[DiscreteState, DiscreteInfo]:
        """One proposal of every coordinate at once, accepted by Metropolis–Hastings."""
        encoding = self.encoding
        position = state.position
        encoded = encoding.encode(position)
        changes = encoding.changes(encoded, state.energy_grad)
        if encoding.num_states is None:
            log_flip, log_stay = _dmala_log_probs(changes, encoded, encoding, beta, self.step_size)
            uniform, log_uniform = _uniform_and_log_uniform(key, position.shape)
            mask = jnp.log(uniform) < log_flip
            proposed = encoding.flip(position, mask)
            log_q_forward = jnp.sum(jnp.where(mask, log_flip, log_stay))
        else:
            log_probs = _dmala_log_probs(changes, encoded, encoding, beta, self.step_size)
            gumbel, log_uniform = _gumbel_and_log_uniform(key, log_probs.shape)
            proposed = jnp.argmax(log_probs + gumbel, axis=-1).astype(position.dtype)
            mask = proposed != position
            log_q_forward = jnp.sum(
                jnp.where(jax.nn.one_hot(proposed, encoding.num_states) > 0, log_probs, 0.0)
            )
        new_encoded, new_energy, new_grad = _value_and_grad(self.energy_fn, encoding, proposed)
        new_changes = encoding.changes(new_encoded, new_grad)
        if encoding.num_states is None:
            log_flip, log_stay = _dmala_log_probs(
                new_changes, new_encoded, encoding, beta, self.step_size
            )
            log_q_reverse = jnp.sum(jnp.where(mask, log_flip, log_stay))
        else:
            log_probs = _dmala_log_probs(new_changes, new_encoded, encoding, beta, self.step_size)
            log_q_reverse = jnp.sum(jnp.where(encoded > 0, log_probs, 0.0))
        # Unselected -inf entries would give 0 * -inf in a product: where keeps them out.
        log_ratio = _log_ratio(beta, new_energy - state.energy, log_q_reverse, log_q_forward)
        new_state, accept = accept_with_log_uniform(
            log_uniform, log_ratio, DiscreteState(proposed, new_energy, new_grad), state
        )
        num_changed = jnp.sum(mask, dtype=jnp.int32)
        return new_state, DiscreteInfo(accept.acceptance_rate, accept.is_accepted, num_changed)


# -------------------------------------------------------------- factories


def _encoding_for(energy_fn, values, num_states):
    """(energy on the float encoding, encoding) from the arguments or the model."""
    if isinstance(energy_fn, IsingLattice | PottsLattice | DenseIsing | SparseIsing):
        model = energy_fn
        if isinstance(model, PottsLattice):
            num_states = model.num_states if num_states is None else num_states
        elif values is None:
            values = tuple(model.spin_values)
        energy_fn = relaxed_energy(model)
    if num_states is not None:
        if values is not None:
            raise ValueError("give `values` (binary) or `num_states` (categorical), not both.")
        if isinstance(num_states, bool) or not isinstance(num_states, int) or num_states < 2:
            raise ValueError(f"num_states must be an integer >= 2, got {num_states!r}.")
        return as_pytree_fn(energy_fn), _Encoding(0.0, 1.0, num_states)
    low, high = BINARY if values is None else tuple(values)
    if low == high:
        raise ValueError(f"values must be two different numbers, got {values!r}.")
    return as_pytree_fn(energy_fn), _Encoding(float(low), float(high), None)


def gibbs_with_gradients(
    energy_fn: EnergyFn | Any,
    *,
    values: tuple[float, float] | None = None,
    num_states: int | None = None,
) -> GibbsWithGradients:
    """Gibbs-with-Gradients kernel (Grathwohl et al. 2021) for ``exp(-beta E(x))``.

    Args:
        energy_fn: the energy on the float encoding, differentiable there (binary:
            ``E(x)`` on the values; categorical: ``E(X)`` on the one-hot
            ``X: (*shape, q)``); or a statjax spin model
            (:class:`~statjax.energy.ising.IsingLattice`, ``PottsLattice``,
            ``DenseIsing``, ``SparseIsing``), relaxed by :func:`relaxed_energy`.
        values: the two values of a binary coordinate; ``(0, 1)`` by default,
            the model's ``spin_values`` for a spin model.
        num_states: ``q`` for categorical coordinates ``0..q-1`` (a Potts model's
            own by default).

    Returns:
        A :class:`GibbsWithGradients` kernel.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = statjax.samplers.gibbs_with_gradients(square_ising(4))
        >>> state = jax.jit(kernel.init)(jnp.ones((4, 4), jnp.int8))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state, 0.44)
        >>> int(info.num_changed)
        1
    """
    energy_fn, encoding = _encoding_for(energy_fn, values, num_states)
    return GibbsWithGradients(energy_fn, encoding)


def dmala(
    energy_fn: EnergyFn | Any,
    step_size: jax.typing.ArrayLike = 0.5,
    *,
    values: tuple[float, float] | None = None,
    num_states: int | None = None,
) -> DiscreteLangevin:
    """Discrete Metropolis-adjusted Langevin kernel (Zhang et al. 2022) for ``exp(-beta E(x))``.

    Args:
        energy_fn: as for :func:`gibbs_with_gradients`.
        step_size: ``alpha > 0``; larger moves more coordinates at once (a binary
            ``{0, 1}`` coordinate flips with probability about
            ``sigmoid(-beta dE_i / 2 - 1 / (2 alpha))``).
        values: the two values of a binary coordinate (see
            :func:`gibbs_with_gradients`).
        num_states: ``q`` for categorical coordinates.

    Returns:
        A :class:`DiscreteLangevin` kernel.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_potts
        >>> kernel = statjax.samplers.dmala(square_potts(4, 3), step_size=0.5)
        >>> state = jax.jit(kernel.init)(jnp.zeros((4, 4), jnp.int8))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state, 1.0)
        >>> state.position.shape
        (4, 4)
    """
    check_positive("step_size", step_size)
    energy_fn, encoding = _encoding_for(energy_fn, values, num_states)
    return DiscreteLangevin(energy_fn, jnp.asarray(step_size), encoding)


__all__ = [
    "DiscreteInfo",
    "DiscreteLangevin",
    "DiscreteState",
    "GibbsWithGradients",
    "RelaxedIsingLattice",
    "RelaxedPottsLattice",
    "dmala",
    "gibbs_with_gradients",
    "relaxed_energy",
]
