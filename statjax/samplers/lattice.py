"""Single-spin-flip sweeps for spin models: checkerboard, graph-coloured and sequential.

Every kernel follows the statjax kernel API: ``init(spins)`` and
``step(key, state, beta) -> (state, info)``, with ``beta`` a traced argument, so
:func:`statjax.run_chains` runs many chains at many temperatures in one compiled
program. One step is one sweep: every spin is offered one update.

Two update rules are offered for every kernel, both satisfying detailed balance
for ``exp(-beta E)``:

- ``"metropolis"``: flip ``s_i`` with probability ``min(1, exp(-beta Delta E_i))``
  (Metropolis et al. 1953);
- ``"heat_bath"``: draw ``s_i`` from its conditional law given its neighbours,
  ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))`` for an Ising spin with local field
  ``f_i`` (Glauber 1963, J. Math. Phys. 4, 294), ``P(s_i = a) ∝ exp(-beta E(a))``
  for a Potts spin.

Spins that do not interact can be updated at once: the two sublattices of a
bipartite (checkerboard) lattice, or the colour classes of a proper colouring of
a sparse coupling graph. A dense coupling matrix couples everything, so its
sweep is sequential, maintaining the local fields ``f = J s + h``.

Random numbers: every sweep draws one pair of 32-bit words from the step's
``key`` (any ``jax.random`` implementation) and uses them as the key of a
counter-based Threefry-2x32 generator (20 rounds, as ``jax.random``'s default;
Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2,
3", SC'11) evaluated on the site indices. Written out as plain ``uint32``
arithmetic it fuses with the sweep and vectorises; on the CPU it is about eight
times faster than ``jax.random.uniform``, which runs its rounds in a loop.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.energy.ising import (
    DenseIsing,
    IsingLattice,
    PottsLattice,
    SparseIsing,
    lattice_bond_sum,
    lattice_neighbour_sum,
)
from statjax.pytree import Pytree, static_field
from statjax.types import PRNGKey

RULES = ("metropolis", "heat_bath")

# ----------------------------------------------------------------- random numbers

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(key0: jax.Array, key1: jax.Array, count0: jax.Array, count1: jax.Array):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), unrolled; returns two uint32 arrays.

    Bit-identical to the hash under ``jax.random``'s default implementation; written
    out so that XLA fuses it with its consumers.
    """
    keys = (key0, key1, key0 ^ key1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = count0 + keys[0], count1 + keys[1]
    for block in range(5):
        for rotation in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = (x1 << jnp.uint32(rotation)) | (x1 >> jnp.uint32(32 - rotation))
            x1 = x0 ^ x1
        x0 = x0 + keys[(block + 1) % 3]
        x1 = x1 + keys[(block + 2) % 3] + jnp.uint32(block + 1)
    return x0, x1


def _to_unit(bits: jax.Array) -> jax.Array:
    """uint32 -> float32 uniform on [0, 1) from the top 24 bits (exact in float32)."""
    return (bits >> jnp.uint32(8)).astype(jnp.float32) * jnp.float32(2.0**-24)


def site_uniforms(key: PRNGKey, shape: tuple[int, ...], num: int = 1) -> jax.Array:
    """``num`` independent U[0, 1) float32 numbers per site: ``(num, *shape)``.

    One call of the step key's generator (a pair of 32-bit words) keys a fused
    Threefry-2x32 evaluated at counters ``0, ..., ceil(num * size / 2) - 1``; each
    evaluation gives two numbers.
    """
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    total = num * int(np.prod(shape))
    half = (total + 1) // 2
    counters = jax.lax.iota(jnp.uint32, half)
    words = threefry2x32(seeds[0], seeds[1], counters, jnp.zeros_like(counters))
    bits = jnp.concatenate(words)[:total]
    return _to_unit(bits).reshape((num, *shape))


def _sum_int32(*arrays: jax.Array) -> jax.Array:
    """Exact int32 totals of small-integer arrays (values of a few units), ``(len(arrays),)``.

    Each array is summed along its last axis in float32, exact while a row's total
    stays below ``2**24``, and the row totals are added in int32. XLA vectorises
    float32 reductions on the CPU and not int32 ones: this is several times faster
    than ``jnp.sum(x.astype(jnp.int32))``.
    """
    totals = [jnp.sum(jnp.sum(a.astype(jnp.float32), axis=-1).astype(jnp.int32)) for a in arrays]
    return jnp.stack(totals)


# --------------------------------------------------------------------- shared bits


class SweepInfo(NamedTuple):
    """What one sweep did.

    Attributes:
        acceptance_rate: fraction of spins whose value changed in the sweep.
    """

    acceptance_rate: jax.Array


class IsingLatticeState(NamedTuple):
    """State of an Ising-lattice chain; the integer sums are kept exactly.

    Attributes:
        position: ``int8`` spins ±1, the lattice shape.
        energy: ``E = -J * bond_sum - h * magnetization`` (float).
        magnetization: ``M = sum_i s_i`` (int32).
        bond_sum: ``sum_<ij> s_i s_j`` (int32).
    """

    position: jax.Array
    energy: jax.Array
    magnetization: jax.Array
    bond_sum: jax.Array


class PottsState(NamedTuple):
    """State of a Potts-lattice chain.

    Attributes:
        position: ``int8`` spins in ``0..q-1``, the lattice shape.
        energy: ``E = -J * num_satisfied - h * num_in_zero`` (float).
        num_satisfied: number of bonds joining equal spins (int32).
        num_in_zero: number of spins in state 0 (int32).
    """

    position: jax.Array
    energy: jax.Array
    num_satisfied: jax.Array
    num_in_zero: jax.Array


class SpinState(NamedTuple):
    """State of an Ising chain on a graph (dense or sparse couplings).

    Attributes:
        position: ``int8`` spins ±1, ``(N,)``.
        energy: the energy ``E(s)`` (float), recomputed at the end of every sweep.
        magnetization: ``sum_i s_i`` (int32).
    """

    position: jax.Array
    energy: jax.Array
    magnetization: jax.Array


INLINE_RANDOM_MIN_SITES = 2**19
"""Lattices with at least this many sites generate their random numbers inside each
half-sweep (fused with the update, twice the generator work, no array in memory);
smaller ones draw one array per sweep (half the work, and it stays in cache).
Measured on a 2-core CPU: the cross-over lies between L = 512 and L = 1024."""


def _half_sweep_bits(key: PRNGKey, shape: tuple[int, ...]):
    """``colour -> (shape)`` int32 random integers in ``[0, 2**24)``, one per site.

    Every site uses the number of its own colour only. ``n * 2**-24`` is the
    uniform of :func:`site_uniforms`.
    """
    size = int(np.prod(shape))
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    if size >= INLINE_RANDOM_MIN_SITES:
        sites = jax.lax.iota(jnp.uint32, size).reshape(shape)

        def inline(colour: int) -> jax.Array:
            counter = jnp.full(shape, colour, jnp.uint32)
            bits = threefry2x32(seeds[0], seeds[1], sites, counter)[0]
            return (bits >> jnp.uint32(8)).astype(jnp.int32)

        return inline
    # One number per site (each site is updated in one half-sweep only): size / 2
    # generator evaluations, two words each.
    counters = jax.lax.iota(jnp.uint32, (size + 1) // 2)
    words = jnp.concatenate(threefry2x32(seeds[0], seeds[1], counters, jnp.zeros_like(counters)))
    bits = (words[:size] >> jnp.uint32(8)).astype(jnp.int32).reshape(shape)
    return lambda colour: bits


def _half_sweep_uniforms(key: PRNGKey, shape: tuple[int, ...]):
    """``colour -> (shape)`` float32 uniforms on ``[0, 1)`` (24 bits), one per site."""
    bits_of = _half_sweep_bits(key, shape)
    return lambda colour: bits_of(colour).astype(jnp.float32) * jnp.float32(2.0**-24)


def _flip_thresholds(rule: str, beta, coupling, field, dim: int) -> jax.Array:
    """Integer acceptance thresholds ``(2 dim + 1, 2)`` for ``k = s_i n_i`` and ``s_i = ∓1``.

    A flip costs ``Delta E = 2 (J k + h s)``; ``k`` takes the ``2 dim + 1`` values
    ``-2 dim, ..., 2 dim`` (step 2). The flip probability ``p`` is
    ``min(1, exp(-beta Delta E))`` (Metropolis) or ``1 / (1 + exp(beta Delta E))``
    (heat bath), and a 24-bit random integer ``n`` flips iff ``n < ceil(2**24 p)``,
    which is exactly ``u < p`` for the float uniform ``u = n 2**-24``. The table is
    computed once per step (10 numbers in 2-D), so a sweep does no floating-point
    work per site: a few integer selects and one compare.
    """
    local = np.arange(-2 * dim, 2 * dim + 1, 2)[:, None]
    spin = np.array([-1, 1])[None, :]
    cost = 2.0 * beta * (coupling * local + field * spin)
    if rule == "metropolis":
        probability = jnp.exp(-jnp.maximum(cost, 0.0))
    else:
        probability = jax.nn.sigmoid(-cost)
    return jnp.ceil(probability * 2.0**24).astype(jnp.int32)


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got rule={rule!r}.")
    return rule


def _checkerboard_masks(shape: tuple[int, ...]) -> np.ndarray:
    """``(2, *shape)`` boolean masks of the even and odd sublattices (sum of indices)."""
    parity = sum(np.indices(shape)) % 2
    return np.stack([parity == 0, parity == 1])


def _check_even_sides(shape: tuple[int, ...], model: str) -> None:
    if any(side % 2 for side in shape):
        raise ValueError(
            f"checkerboard sweeps need even lattice sides (a bipartite periodic lattice); "
            f"the {model} has shape {shape}."
        )


def _flip_decision(rule: str, spins, local_field, uniform, beta):
    """Whether each Ising spin changes, given ``f_i`` (float) and one uniform per site.

    Metropolis flips with probability ``min(1, exp(-2 beta s_i f_i))``; the heat bath
    sets ``s_i = +1`` with probability ``1 / (1 + exp(-2 beta f_i))``, i.e. flips a
    spin with probability ``1 / (1 + exp(2 beta s_i f_i))``. Both accept a flip iff
    ``u < p``: ``exp`` overflows to ``inf`` for downhill flips, which ``u < inf``
    accepts and the heat bath maps to probability 0 for the reverse.
    """
    cost = 2.0 * beta * spins.astype(local_field.dtype) * local_field
    if rule == "metropolis":
        return uniform < jnp.exp(-cost)
    return uniform * (1.0 + jnp.exp(cost)) < 1.0


# ---------------------------------------------------------- checkerboard Ising


class CheckerboardIsing(Pytree):
    r"""Checkerboard sweep of the periodic Ising lattice (Metropolis or heat bath).

    A periodic lattice with even sides is bipartite: the spins of one sublattice
    (sites whose index sum is even, say) interact only with the other's, so a
    half-sweep updates one sublattice at once, exactly as a sequential sweep in that
    order would. The flip cost is ``Delta E_i = 2 s_i (J n_i + h)`` with ``n_i`` the
    neighbour sum (``jnp.roll`` along every axis); ``k = s_i n_i`` takes ``2 d + 1``
    values, so the flip probabilities of all ``(k, s_i)`` pairs are tabulated once per
    step as integer thresholds for 24-bit random integers, and a sweep does no
    floating-point work per site. One step = two half-sweeps.
    Detailed balance holds for each half-sweep, so the sweep leaves
    ``exp(-beta E)`` invariant (it is not reversible as a whole, which does not
    matter). The bond and spin sums are updated in exact integer arithmetic.

    Build it with :func:`checkerboard`.

    Attributes:
        model: the :class:`~statjax.energy.ising.IsingLattice` (a pytree: new ``J``
            or ``h`` never recompile).
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: IsingLattice
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> IsingLatticeState:
        """State at spins ``position`` (±1, the lattice shape), with its exact sums."""
        spins = jnp.asarray(position).astype(jnp.int8)
        magnetization = jnp.sum(spins.astype(jnp.int32))
        bond_sum = lattice_bond_sum(spins)
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        return IsingLatticeState(spins, energy, magnetization, bond_sum)

    def step(
        self, key: PRNGKey, state: IsingLatticeState, beta: ArrayLike
    ) -> tuple[IsingLatticeState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta``."""
        shape = self.model.shape
        masks = _checkerboard_masks(shape)
        bits_of = _half_sweep_bits(key, shape)
        dim = len(shape)
        thresholds = _flip_thresholds(self.rule, beta, self.model.coupling, self.model.field, dim)
        spins = state.position
        flipped = []
        for colour in range(2):
            neighbours = lattice_neighbour_sum(spins)
            local = spins * neighbours
            spin_up = spins > 0
            threshold = jnp.zeros(shape, jnp.int32)
            for index, value in enumerate(range(-2 * dim, 2 * dim + 1, 2)):
                chosen = jnp.where(spin_up, thresholds[index, 1], thresholds[index, 0])
                threshold = jnp.where(local == value, chosen, threshold)
            flip = masks[colour] & (bits_of(colour) < threshold)
            spins = jnp.where(flip, -spins, spins)
            flipped.append(flip)
        # Every bond has exactly one end on sublattice 1, whose neighbours have not moved
        # since `neighbours` was computed: the bond sum is sum_{i in 1} s_i n_i, exactly,
        # without another pass of rolls.
        bond_sum, magnetization, num_changed = _sum_int32(
            jnp.where(masks[1], spins * neighbours, jnp.int8(0)), spins, flipped[0] | flipped[1]
        )
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = SweepInfo(num_changed / np.float32(self.model.num_spins))
        return IsingLatticeState(spins, energy, magnetization, bond_sum), info


# ---------------------------------------------------------- checkerboard Potts


def _potts_neighbours(spins: jax.Array) -> list[jax.Array]:
    return [jnp.roll(spins, shift, axis) for axis in range(spins.ndim) for shift in (1, -1)]


def _count_equal(neighbours: list[jax.Array], value: jax.Array) -> jax.Array:
    return sum((n == value).astype(jnp.int8) for n in neighbours)


class CheckerboardPotts(Pytree):
    r"""Checkerboard sweep of the periodic q-state Potts lattice (Metropolis or heat bath).

    Metropolis proposes ``s_i' = s_i + 1 + floor((q - 1) u) mod q`` (uniform among
    the other ``q - 1`` states) and accepts with ``min(1, exp(-beta Delta E))``,
    ``Delta E = -J (n_i(s') - n_i(s)) - h (delta_{s'0} - delta_{s0})`` with ``n_i(a)``
    the number of neighbours in state ``a``; the fractional part of ``(q - 1) u`` is
    the acceptance uniform (independent of its integer part). The heat bath draws
    ``s_i = a`` with probability ``∝ exp(beta (J n_i(a) + h delta_{a0}))`` by
    inverting the cumulative weights. Sublattices as in :class:`CheckerboardIsing`.

    Build it with :func:`checkerboard`.

    Attributes:
        model: the :class:`~statjax.energy.ising.PottsLattice`.
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: PottsLattice
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> PottsState:
        """State at spins ``position`` (``0..q-1``, the lattice shape)."""
        spins = jnp.asarray(position).astype(jnp.int8)
        satisfied = sum(spins == jnp.roll(spins, -1, axis) for axis in range(spins.ndim))
        num_satisfied, num_in_zero = _sum_int32(satisfied, spins == 0)
        energy = self.model.energy_from_sums(num_satisfied, num_in_zero)
        return PottsState(spins, energy, num_satisfied, num_in_zero)

    def _new_values(self, spins, neighbours, uniform, beta):
        q = self.model.num_states
        dtype = jnp.result_type(float, self.model.coupling, self.model.field)
        coupling, field = self.model.coupling, self.model.field
        if self.rule == "metropolis":
            scaled = uniform * (q - 1)
            offset = jnp.floor(scaled)
            proposal = ((spins + 1 + offset.astype(jnp.int8)) % q).astype(jnp.int8)
            gained = _count_equal(neighbours, proposal) - _count_equal(neighbours, spins)
            zero_change = (proposal == 0).astype(dtype) - (spins == 0).astype(dtype)
            energy_change = -coupling * gained.astype(dtype) - field * zero_change
            accept = (scaled - offset) < jnp.exp(-beta * energy_change)
            return jnp.where(accept, proposal, spins)
        # Heat bath: log-weights beta (J n(a) + h delta_a0), shifted by their maximum.
        log_weights = jnp.stack(
            [
                beta * (coupling * _count_equal(neighbours, jnp.int8(a)).astype(dtype))
                + (beta * field if a == 0 else 0.0)
                for a in range(q)
            ]
        )
        weights = jnp.exp(log_weights - jnp.max(log_weights, axis=0))
        cumulative = jnp.cumsum(weights, axis=0)
        threshold = uniform * cumulative[-1]
        return jnp.sum(cumulative[:-1] <= threshold, axis=0, dtype=jnp.int8)

    def step(
        self, key: PRNGKey, state: PottsState, beta: ArrayLike
    ) -> tuple[PottsState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta``."""
        shape = self.model.shape
        masks = _checkerboard_masks(shape)
        uniform_of = _half_sweep_uniforms(key, shape)
        spins = state.position
        for colour in range(2):
            new = self._new_values(spins, _potts_neighbours(spins), uniform_of(colour), beta)
            spins = jnp.where(masks[colour], new, spins)
        satisfied = sum(spins == jnp.roll(spins, -1, axis) for axis in range(spins.ndim))
        num_satisfied, num_in_zero, num_changed = _sum_int32(
            satisfied, spins == 0, spins != state.position
        )
        energy = self.model.energy_from_sums(num_satisfied, num_in_zero)
        info = SweepInfo(num_changed / np.float32(self.model.num_spins))
        return PottsState(spins, energy, num_satisfied, num_in_zero), info


def checkerboard(
    model: IsingLattice | PottsLattice, rule: str = "metropolis"
) -> CheckerboardIsing | CheckerboardPotts:
    """Checkerboard (two-sublattice) sweep kernel for a periodic Ising or Potts lattice.

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice` (2-D, 3-D, ...) or a
            :class:`~statjax.energy.ising.PottsLattice`, with even sides.
        rule: ``"metropolis"`` or ``"heat_bath"`` (Glauber 1963).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = checkerboard(square_ising(8), rule="heat_bath")
        >>> final, energies = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((4, 8, 8), jnp.int8), 100,
        ...     beta=jnp.array([0.2, 0.4, 0.6, 0.8]), observe=lambda s: s.energy)
        >>> energies.shape
        (100, 4)
    """
    rule = _check_rule(rule)
    if isinstance(model, IsingLattice):
        _check_even_sides(model.shape, "IsingLattice")
        return CheckerboardIsing(model, rule)
    if isinstance(model, PottsLattice):
        _check_even_sides(model.shape, "PottsLattice")
        return CheckerboardPotts(model, rule)
    raise TypeError(
        f"checkerboard takes an IsingLattice or a PottsLattice, got {type(model).__name__}; "
        "use colored_sweep for a SparseIsing and sequential_sweep for a DenseIsing."
    )


# ------------------------------------------------------- graph-coloured sweeps


def greedy_coloring(neighbors: np.ndarray, neighbor_couplings: np.ndarray) -> np.ndarray:
    """A proper colouring ``(N,)`` of the coupling graph, greedy in index order.

    Spins joined by a nonzero coupling get different colours (Welsh & Powell 1967
    without the degree ordering, which on a periodic lattice with even sides gives
    the two checkerboard colours).
    """
    neighbors = np.asarray(neighbors)
    coupled = np.asarray(neighbor_couplings) != 0
    colors = np.full(neighbors.shape[0], -1, np.int64)
    for site in range(neighbors.shape[0]):
        taken = {int(colors[j]) for j, c in zip(neighbors[site], coupled[site], strict=True) if c}
        color = 0
        while color in taken:
            color += 1
        colors[site] = color
    return colors


class ColoredSweep(Pytree):
    r"""Graph-coloured parallel sweep of a sparse Ising model (Metropolis or heat bath).

    Spins of one colour class of a proper colouring share no coupling, so their
    updates are independent given the rest and can be made at once: a sweep visits
    the ``num_colors`` classes in turn, each with local fields
    ``f_i = sum_k J_ik s_{n(i,k)} + h_i`` from one gather, and the flip cost
    ``Delta E_i = 2 s_i f_i``. The energy is recomputed at the end of each sweep.

    Build it with :func:`colored_sweep`.

    Attributes:
        model: the :class:`~statjax.energy.ising.SparseIsing`.
        colors: ``(N,)`` int32 colour of every spin.
        num_colors: number of colours (static).
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: SparseIsing
    colors: jax.Array
    num_colors: int = static_field()
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        spins = jnp.asarray(position).astype(jnp.int8)
        return SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One sweep (every colour class once) at inverse temperature ``beta``."""
        uniform = site_uniforms(key, self.model.spin_shape, num=1)[0]
        spins = state.position
        num_flipped = jnp.zeros((), jnp.int32)
        for color in range(self.num_colors):
            local_field = self.model.local_fields(spins)
            flip = (self.colors == color) & _flip_decision(
                self.rule, spins, local_field, uniform, beta
            )
            num_flipped += jnp.sum(flip.astype(jnp.int32))
            spins = jnp.where(flip, -spins, spins)
        new_state = SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))
        return new_state, SweepInfo(num_flipped / np.float32(self.model.num_spins))


def colored_sweep(model: SparseIsing, rule: str = "metropolis") -> ColoredSweep:
    """Graph-coloured sweep kernel for a sparse Ising model; the colouring is built here.

    Args:
        model: a :class:`~statjax.energy.ising.SparseIsing` with concrete arrays.
        rule: ``"metropolis"`` or ``"heat_bath"``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.energy.ising import edwards_anderson
        >>> kernel = colored_sweep(edwards_anderson(jax.random.key(0), (4, 4)))
        >>> kernel.num_colors
        2
    """
    rule = _check_rule(rule)
    if not isinstance(model, SparseIsing):
        raise TypeError(f"colored_sweep takes a SparseIsing, got {type(model).__name__}.")
    colors = greedy_coloring(np.asarray(model.neighbors), np.asarray(model.neighbor_couplings))
    num_colors = int(colors.max()) + 1 if colors.size else 1
    return ColoredSweep(model, jnp.asarray(colors, jnp.int32), num_colors, rule)


# ------------------------------------------------------------ sequential sweep


class SequentialSweep(Pytree):
    r"""Sequential single-spin sweep of a dense Ising model, maintaining local fields.

    Spins ``i = 0, ..., N - 1`` are updated in order (a ``lax.fori_loop``) with the
    local fields ``f = J s + h`` kept current: a flip of ``s_i`` adds
    ``-2 s_i J[:, i]`` to ``f``, so a sweep costs ``O(N^2)``, the price of one
    energy evaluation. ``f`` is computed afresh at the start of each sweep and the
    energy at its end, so rounding errors never accumulate across sweeps.

    Build it with :func:`sequential_sweep`.

    Attributes:
        model: the :class:`~statjax.energy.ising.DenseIsing`.
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: DenseIsing
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        spins = jnp.asarray(position).astype(jnp.int8)
        return SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One sequential sweep at inverse temperature ``beta``."""
        uniform = site_uniforms(key, self.model.spin_shape, num=1)[0]
        couplings = self.model.couplings

        def update(i, carry):
            spins, local_field, num_flipped = carry
            spin = spins[i]
            flip = _flip_decision(self.rule, spin, local_field[i], uniform[i], beta)
            change = jnp.where(flip, -2 * spin, 0).astype(local_field.dtype)
            local_field = local_field + change * couplings[i]
            spins = spins.at[i].set(jnp.where(flip, -spin, spin))
            return spins, local_field, num_flipped + flip.astype(jnp.int32)

        spins, _, num_flipped = jax.lax.fori_loop(
            0,
            self.model.num_spins,
            update,
            (state.position, self.model.local_fields(state.position), jnp.zeros((), jnp.int32)),
        )
        new_state = SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))
        return new_state, SweepInfo(num_flipped / np.float32(self.model.num_spins))


def sequential_sweep(model: DenseIsing, rule: str = "metropolis") -> SequentialSweep:
    """Sequential sweep kernel for a dense Ising model (e.g. Sherrington–Kirkpatrick).

    Example:
        >>> import jax
        >>> from statjax.energy.ising import sherrington_kirkpatrick
        >>> kernel = sequential_sweep(sherrington_kirkpatrick(jax.random.key(0), 8))
        >>> state = kernel.init(jax.numpy.ones(8, jax.numpy.int8))
        >>> state.position.shape
        (8,)
    """
    rule = _check_rule(rule)
    if not isinstance(model, DenseIsing):
        raise TypeError(f"sequential_sweep takes a DenseIsing, got {type(model).__name__}.")
    return SequentialSweep(model, rule)


__all__ = [
    "CheckerboardIsing",
    "CheckerboardPotts",
    "ColoredSweep",
    "IsingLatticeState",
    "PottsState",
    "SequentialSweep",
    "SpinState",
    "SweepInfo",
    "checkerboard",
    "colored_sweep",
    "sequential_sweep",
]
