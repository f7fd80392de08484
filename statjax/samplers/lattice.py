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

**What a sweep reports** (the contract of :mod:`statjax.samplers.base`):
``SweepInfo.acceptance_rate`` is the mean over sites of the probability with
which the site's update changes it — ``min(1, exp(-beta Delta E_i))`` for
Metropolis (with the proposal drawn for a Potts spin), the probability of taking
another value for the heat bath — each site evaluated when it is updated; it is
read from the same integer thresholds the sweep compares with, so it costs one
reduction per half-sweep. ``is_accepted`` says whether at least one site changed,
``fraction_changed`` which fraction did (its expectation is ``acceptance_rate``).

**Zero temperature** (``beta = +inf``, the greedy limit; no NaN appears):

- Metropolis flips (or takes its proposed value) iff ``Delta E_i <= 0``: the limit
  ``beta -> inf`` of ``min(1, exp(-beta Delta E_i))``, which is 1 for ``Delta E_i
  = 0`` at every finite ``beta``; a zero-cost move stays allowed, so the dynamics
  can wander along plateaus.
- The heat bath takes the lowest-energy value; on a tie, a spin whose current
  value is among the lowest keeps it (for an Ising spin: flip iff ``Delta E_i <
  0``), otherwise it takes one of the lowest uniformly. (The limit of the finite
  rule would flip a tied Ising spin with probability 1/2; keeping it makes the
  zero-temperature heat bath the deterministic sign rule of Hopfield retrieval.)

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
times faster than ``jax.random.uniform``, which runs its rounds in a loop. The
hash is :func:`statjax.random.threefry2x32`, the one random-number path's; the
sweeps keep their own layout of it (counters are site indices, both words of a
hash used), which the sharded sweeps of :mod:`statjax.samplers.lattice_sharded`
reproduce site by site.
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
    check_lattice_sums,
    integer_sum_dtype,
    lattice_bond_sum,
    lattice_neighbour_sum,
)
from statjax.pytree import Pytree, static_field
from statjax.random import threefry2x32 as threefry2x32
from statjax.types import PRNGKey

RULES = ("metropolis", "heat_bath")

# ----------------------------------------------------------------- random numbers


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


_EXACT_FLOAT_ROW = 2**24 // 128
"""Rows up to this length of int8 values (``|x| <= 127``) sum exactly in float32."""


def integer_sums(*arrays: jax.Array) -> jax.Array:
    """Exact totals of small-integer arrays (int8 or bool), ``(len(arrays),)``.

    Each array is summed along its last axis in float32, exact while a row's total
    stays below ``2**24``, and the row totals are added in
    :func:`~statjax.energy.ising.integer_sum_dtype` (int32, or int64 under
    ``jax_enable_x64``; :func:`~statjax.energy.ising.check_lattice_sums` refuses
    lattices whose totals int32 could not hold). XLA vectorises float32
    reductions on the CPU and not integer ones: this is several times faster than
    ``jnp.sum(x.astype(jnp.int32))``. Rows too long to be exact are summed in the
    integer dtype directly.
    """
    dtype = integer_sum_dtype()
    totals = [
        jnp.sum(jnp.sum(a.astype(jnp.float32), axis=-1).astype(dtype))
        if a.shape[-1] <= _EXACT_FLOAT_ROW
        else jnp.sum(a, dtype=dtype)
        for a in arrays
    ]
    return jnp.stack(totals)


def float_total(values: jax.Array) -> jax.Array:
    """Sum of a float (or small-integer) array, one axis at a time in float32 or wider.

    Reducing the axes one after the other keeps the rounding error of a sum of
    ``N`` positive numbers near ``(sum of the sides) * eps`` rather than ``N * eps``;
    only the first reduction reads the whole array.
    """
    total = values.astype(jnp.promote_types(values.dtype, jnp.float32))
    for _ in range(values.ndim):
        total = jnp.sum(total, axis=-1)
    return total


MAX_COUNTER_SITES = 2**32
"""Sites a lattice sweep can number: its Threefry counters are uint32 site indices."""


def check_site_counters(shape: tuple[int, ...], model: str, numbers_per_site: int = 1) -> None:
    """Refuse a lattice whose uint32 random-number counters would wrap (repeated numbers).

    A sweep counts sites in uint32 (:func:`site_uniforms` uses
    ``numbers_per_site * N / 2`` counters, the inline path of the checkerboard
    sweep one per site), so at most ``2**32`` counters exist; beyond, two sites
    would draw the same numbers. Reads the shape only: nothing is allocated.
    """
    num_sites = int(np.prod(shape, dtype=object))
    if numbers_per_site == 1:
        max_sites = MAX_COUNTER_SITES
    else:
        max_sites = 2 * MAX_COUNTER_SITES // numbers_per_site
    if num_sites > max_sites:
        raise ValueError(
            f"{model} of shape {shape} has {num_sites} sites; its random numbers are "
            f"counted in uint32 (global site indices, sharded or not), which numbers at "
            f"most {max_sites} sites; use a smaller lattice."
        )


# --------------------------------------------------------------------- shared bits


class SweepInfo(NamedTuple):
    """What one sweep did (see the module docstring and :mod:`statjax.samplers.base`).

    Attributes:
        acceptance_rate: mean over sites of the probability that the site's update
            changes it (Metropolis: ``min(1, exp(-beta Delta E_i))``; heat bath:
            the probability of another value), each at the moment of its update.
        is_accepted: whether at least one site changed.
        fraction_changed: fraction of sites whose value changed (a draw whose
            expectation is ``acceptance_rate``).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    fraction_changed: jax.Array


def sweep_info(probability_sum: jax.Array, num_changed: jax.Array, num_sites: int) -> SweepInfo:
    """A :class:`SweepInfo` from the summed acceptance probabilities and the changed sites."""
    # Divisions, not products with 1 / N: XLA may contract a product with a consumer's
    # sum into an FMA in one program and not in another (plain vs. sharded chains),
    # which would change the last bit of e.g. an annealing run's mean acceptance.
    size = np.float32(num_sites)
    return SweepInfo(
        (probability_sum.astype(jnp.float32) / size),
        num_changed > 0,
        num_changed.astype(jnp.float32) / size,
    )


class IsingLatticeState(NamedTuple):
    """State of an Ising-lattice chain; the integer sums are kept exactly.

    Attributes:
        position: ``int8`` spins ±1, the lattice shape.
        energy: ``E = -J * bond_sum - h * magnetization`` (float).
        magnetization: ``M = sum_i s_i`` (int32; int64 under ``jax_enable_x64``).
        bond_sum: ``sum_<ij> s_i s_j`` (int32; int64 under ``jax_enable_x64``).
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
        num_satisfied: number of bonds joining equal spins (int32; int64 under x64).
        num_in_zero: number of spins in state 0 (int32; int64 under x64).
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
        magnetization: ``sum_i s_i`` (int32: a graph's int32 neighbour table
            bounds ``N`` below ``2**31`` anyway).
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


PROBABILITY_SCALE = 2**24
"""A flip probability ``p`` is the integer threshold ``ceil(2**24 p)`` for 24-bit draws."""


def flip_thresholds(rule: str, beta, coupling, field, dim: int) -> jax.Array:
    """Integer acceptance thresholds ``(2 dim + 1, 2)`` for ``k = s_i n_i`` and ``s_i = ∓1``.

    A flip costs ``Delta E = 2 (J k + h s)``; ``k`` takes the ``2 dim + 1`` values
    ``-2 dim, ..., 2 dim`` (step 2). The flip probability ``p`` is
    ``min(1, exp(-beta Delta E))`` (Metropolis) or ``1 / (1 + exp(beta Delta E))``
    (heat bath), and a 24-bit random integer ``n`` flips iff ``n < ceil(2**24 p)``,
    which is exactly ``u < p`` for the float uniform ``u = n 2**-24``; the flip
    probability the sweep realises is ``threshold / 2**24``. The table is computed
    once per step (10 numbers in 2-D), so a sweep does no floating-point work per
    site: a few integer selects and one compare.

    At ``beta = +inf`` a zero-cost flip would give ``inf * 0 = NaN``; it gets the
    limit instead (Metropolis: probability 1) or keeps the spin (heat bath:
    probability 0), as the module docstring says.
    """
    local = np.arange(-2 * dim, 2 * dim + 1, 2)[:, None]
    spin = np.array([-1, 1])[None, :]
    half_change = coupling * local + field * spin
    cost = 2.0 * beta * half_change
    if rule == "metropolis":
        probability = jnp.exp(-jnp.maximum(jnp.where(half_change == 0, 0.0, cost), 0.0))
    else:
        tie_at_zero_temperature = jnp.isinf(beta) & (half_change == 0)
        probability = jnp.where(tie_at_zero_temperature, 0.0, jax.nn.sigmoid(-cost))
    return jnp.ceil(probability * float(PROBABILITY_SCALE)).astype(jnp.int32)


def check_rule(rule: str) -> str:
    """``rule`` if it is one of :data:`RULES`; ``ValueError`` otherwise."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got rule={rule!r}.")
    return rule


def checkerboard_parity(shape: tuple[int, ...]) -> jax.Array:
    """``(shape)`` bool, True on the odd sublattice (odd sum of indices), built on the device.

    Made of ``iota``s inside the compiled sweep, so no host array of the lattice's
    size exists (``np.indices`` of a ``896^3`` lattice took 16 GiB) and XLA fuses it
    with the update.
    """
    odd = jnp.zeros(shape, bool)
    for axis in range(len(shape)):
        odd = odd ^ ((jax.lax.broadcasted_iota(jnp.int32, shape, axis) & 1) == 1)
    return odd


def check_even_sides(shape: tuple[int, ...], model: str) -> None:
    """Refuse a lattice with an odd side (its checkerboard would not be bipartite)."""
    if any(side % 2 for side in shape):
        raise ValueError(
            f"checkerboard sweeps need even lattice sides (a bipartite periodic lattice); "
            f"the {model} has shape {shape}."
        )


def _flip_decision(rule: str, spins, local_field, uniform, beta):
    """``(flip, probability)`` of each Ising spin, given ``f_i`` (float) and one uniform per site.

    Metropolis flips with probability ``min(1, exp(-2 beta s_i f_i))``; the heat bath
    sets ``s_i = +1`` with probability ``1 / (1 + exp(-2 beta f_i))``, i.e. flips a
    spin with probability ``1 / (1 + exp(2 beta s_i f_i))``. Both accept a flip iff
    ``u < p``: ``exp`` overflows to ``inf`` for downhill flips, which ``u < inf``
    accepts and the heat bath maps to probability 0 for the reverse. At
    ``beta = inf`` a site with ``f_i = 0`` flips under Metropolis (the limit) and
    stays under the heat bath (``0 * inf = NaN`` fails the comparison).
    """
    cost = 2.0 * beta * spins.astype(local_field.dtype) * local_field
    # One exp per site serves the decision and the reported probability: a second
    # one made simulated annealing's sequential sweeps 1.4x slower (measured).
    if rule == "metropolis":
        ratio = jnp.exp(-jnp.where(local_field == 0, 0.0, cost))
        return uniform < ratio, jnp.minimum(ratio, 1.0)
    odds = jnp.exp(cost)  # NaN for 0 * inf (a tie at T = 0): no flip, probability 0
    return uniform * (1.0 + odds) < 1.0, jnp.where(jnp.isnan(odds), 0.0, 1.0 / (1.0 + odds))


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
    floating-point work per site. One step = two half-sweeps; ``beta = +inf``
    gives the greedy limit of the module docstring. Detailed balance holds for
    each half-sweep, so the sweep leaves ``exp(-beta E)`` invariant (it is not
    reversible as a whole, which does not matter). The bond and spin sums are
    updated in exact integer arithmetic (int32, or int64 under ``jax_enable_x64``;
    a lattice whose sums int32 cannot hold is refused when the kernel is built and
    when it is traced). The sublattice masks are computed on the device.

    Build it with :func:`checkerboard`.

    Attributes:
        model: the :class:`~statjax.energy.ising.IsingLattice` (a pytree: new ``J``
            or ``h`` never recompile).
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: IsingLattice
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> IsingLatticeState:
        """State at spins ``position`` (±1, the lattice shape), with its exact sums.

        A lattice whose sums the integer dtype cannot hold is refused here, at trace
        time, before anything is computed
        (:func:`~statjax.energy.ising.check_lattice_sums`).
        """
        check_lattice_sums(self.model.shape, "IsingLattice")
        spins = jnp.asarray(position).astype(jnp.int8)
        magnetization = jnp.sum(spins, dtype=integer_sum_dtype())
        bond_sum = lattice_bond_sum(spins)
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        return IsingLatticeState(spins, energy, magnetization, bond_sum)

    def step(
        self, key: PRNGKey, state: IsingLatticeState, beta: ArrayLike
    ) -> tuple[IsingLatticeState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta`` (``+inf`` allowed)."""
        shape = self.model.shape
        check_lattice_sums(shape, "IsingLattice")
        odd = checkerboard_parity(shape)
        masks = (~odd, odd)
        bits_of = _half_sweep_bits(key, shape)
        dim = len(shape)
        thresholds = flip_thresholds(self.rule, beta, self.model.coupling, self.model.field, dim)
        spins = state.position
        flipped, probability_sum = [], jnp.zeros((), jnp.float32)
        for colour in range(2):
            neighbours = lattice_neighbour_sum(spins)
            local = spins * neighbours
            spin_up = spins > 0
            threshold = jnp.zeros(shape, jnp.int32)
            for index, value in enumerate(range(-2 * dim, 2 * dim + 1, 2)):
                chosen = jnp.where(spin_up, thresholds[index, 1], thresholds[index, 0])
                threshold = jnp.where(local == value, chosen, threshold)
            flip = masks[colour] & (bits_of(colour) < threshold)
            # The realised flip probability of a site is its threshold / 2**24.
            probability_sum += float_total(jnp.where(masks[colour], threshold, 0))
            spins = jnp.where(flip, -spins, spins)
            flipped.append(flip)
        # Every bond has exactly one end on sublattice 1, whose neighbours have not moved
        # since `neighbours` was computed: the bond sum is sum_{i in 1} s_i n_i, exactly,
        # without another pass of rolls.
        bond_sum, magnetization, num_changed = integer_sums(
            jnp.where(masks[1], spins * neighbours, jnp.int8(0)), spins, flipped[0] | flipped[1]
        )
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = sweep_info(probability_sum / PROBABILITY_SCALE, num_changed, self.model.num_spins)
        return IsingLatticeState(spins, energy, magnetization, bond_sum), info


# ---------------------------------------------------------- checkerboard Potts


def _potts_neighbours(spins: jax.Array) -> list[jax.Array]:
    return [jnp.roll(spins, shift, axis) for axis in range(spins.ndim) for shift in (1, -1)]


def _count_equal(neighbours: list[jax.Array], value: jax.Array) -> jax.Array:
    return jnp.asarray(sum((n == value).astype(jnp.int8) for n in neighbours))


class CheckerboardPotts(Pytree):
    r"""Checkerboard sweep of the periodic q-state Potts lattice (Metropolis or heat bath).

    Metropolis proposes ``s_i' = s_i + 1 + floor((q - 1) u) mod q`` (uniform among
    the other ``q - 1`` states) and accepts with ``min(1, exp(-beta Delta E))``,
    ``Delta E = -J (n_i(s') - n_i(s)) - h (delta_{s'0} - delta_{s0})`` with ``n_i(a)``
    the number of neighbours in state ``a``; the fractional part of ``(q - 1) u`` is
    the acceptance uniform (independent of its integer part). The heat bath draws
    ``s_i = a`` with probability ``∝ exp(beta (J n_i(a) + h delta_{a0}))`` by
    inverting the cumulative weights. Sublattices as in :class:`CheckerboardIsing`;
    ``beta = +inf`` as in the module docstring (Metropolis takes a proposal iff
    ``Delta E <= 0``; the heat bath a lowest-energy value, keeping a tied current
    one).

    Build it with :func:`checkerboard`.

    Attributes:
        model: the :class:`~statjax.energy.ising.PottsLattice`.
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: PottsLattice
    rule: str = static_field(default="metropolis")

    def init(self, position: ArrayLike) -> PottsState:
        """State at spins ``position`` (``0..q-1``, the lattice shape)."""
        check_lattice_sums(self.model.shape, "PottsLattice")
        spins = jnp.asarray(position).astype(jnp.int8)
        satisfied = jnp.asarray(
            sum(spins == jnp.roll(spins, -1, axis) for axis in range(spins.ndim))
        )
        num_satisfied, num_in_zero = integer_sums(satisfied, spins == 0)
        energy = self.model.energy_from_sums(num_satisfied, num_in_zero)
        return PottsState(spins, energy, num_satisfied, num_in_zero)

    def _new_values(self, spins, neighbours, uniform, beta):
        """``(new values, probability that each site changes)`` for every site."""
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
            # beta = inf: a zero-cost proposal takes the limit exp(0) = 1, not exp(NaN).
            log_ratio = jnp.where(energy_change == 0, 0.0, -beta * energy_change)
            accept = (scaled - offset) < jnp.exp(log_ratio)
            return jnp.where(accept, proposal, spins), jnp.exp(jnp.minimum(log_ratio, 0.0))
        # Heat bath: log-weights beta (J n(a) + h delta_a0), shifted by their maximum.
        gains = [coupling * _count_equal(neighbours, jnp.int8(a)).astype(dtype) for a in range(q)]
        log_weights = jnp.stack(
            [beta * gains[a] + (beta * field if a == 0 else 0.0) for a in range(q)]
        )
        weights = jnp.exp(log_weights - jnp.max(log_weights, axis=0))
        # beta = inf: the lowest-energy values, uniformly (the finite weights are NaN there).
        levels = jnp.stack([gains[a] + (field if a == 0 else 0.0) for a in range(q)])
        lowest = levels == jnp.max(levels, axis=0)
        zero_temperature = jnp.isinf(beta)
        weights = jnp.where(zero_temperature, lowest.astype(weights.dtype), weights)
        cumulative = jnp.cumsum(weights, axis=0)
        threshold = uniform * cumulative[-1]
        drawn = jnp.sum(cumulative[:-1] <= threshold, axis=0, dtype=jnp.int8)
        is_current = [spins == a for a in range(q)]
        current_weight = sum(jnp.where(is_current[a], weights[a], 0.0) for a in range(q))
        current_is_lowest = sum(is_current[a] & lowest[a] for a in range(q)).astype(bool)
        # ... and a tie keeps the current value.
        keep = zero_temperature & current_is_lowest
        change = jnp.where(
            zero_temperature,
            (~current_is_lowest).astype(weights.dtype),
            1.0 - current_weight / cumulative[-1],
        )
        return jnp.where(keep, spins, drawn), change

    def step(
        self, key: PRNGKey, state: PottsState, beta: ArrayLike
    ) -> tuple[PottsState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta`` (``+inf`` allowed)."""
        shape = self.model.shape
        check_lattice_sums(shape, "PottsLattice")
        odd = checkerboard_parity(shape)
        masks = (~odd, odd)
        uniform_of = _half_sweep_uniforms(key, shape)
        spins = state.position
        probability_sum = jnp.zeros((), jnp.float32)
        for colour in range(2):
            new, change = self._new_values(
                spins, _potts_neighbours(spins), uniform_of(colour), beta
            )
            probability_sum += float_total(jnp.where(masks[colour], change, 0.0))
            spins = jnp.where(masks[colour], new, spins)
        satisfied = jnp.asarray(
            sum(spins == jnp.roll(spins, -1, axis) for axis in range(spins.ndim))
        )
        num_satisfied, num_in_zero, num_changed = integer_sums(
            satisfied, spins == 0, spins != state.position
        )
        energy = self.model.energy_from_sums(num_satisfied, num_in_zero)
        info = sweep_info(probability_sum, num_changed, self.model.num_spins)
        return PottsState(spins, energy, num_satisfied, num_in_zero), info


def checkerboard(
    model: IsingLattice | PottsLattice, rule: str = "metropolis"
) -> CheckerboardIsing | CheckerboardPotts:
    """Checkerboard (two-sublattice) sweep kernel for a periodic Ising or Potts lattice.

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice` (2-D, 3-D, ...) or a
            :class:`~statjax.energy.ising.PottsLattice`, with even sides.
        rule: ``"metropolis"`` or ``"heat_bath"`` (Glauber 1963).

    Raises:
        ValueError: for odd sides, an unknown rule, or a lattice whose integer sums
            (without ``jax_enable_x64``) or random-number counters would overflow;
            the message names the largest size that fits.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = checkerboard(square_ising(8), rule="heat_bath")
        >>> final, energies = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((4, 8, 8), jnp.int8), 100,
        ...     beta=jnp.array([0.2, 0.4, 0.6, 0.8]), observe=lambda s: s.energy)
        >>> energies.shape
        (100, 4)
    """
    rule = check_rule(rule)
    if isinstance(model, IsingLattice | PottsLattice):
        name = type(model).__name__
        check_even_sides(model.shape, name)
        # Shapes only: a lattice too large is refused before anything is allocated.
        check_lattice_sums(model.shape, name)
        check_site_counters(model.shape, name)
        if isinstance(model, IsingLattice):
            return CheckerboardIsing(model, rule)
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
    ``beta = +inf`` as in the module docstring.

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
        probability_sum = jnp.zeros((), jnp.float32)
        for color in range(self.num_colors):
            local_field = self.model.local_fields(spins)
            in_class = self.colors == color
            decision, probability = _flip_decision(self.rule, spins, local_field, uniform, beta)
            flip = in_class & decision
            probability_sum += jnp.sum(jnp.where(in_class, probability, 0.0))
            num_flipped += jnp.sum(flip.astype(jnp.int32))
            spins = jnp.where(flip, -spins, spins)
        new_state = SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))
        return new_state, sweep_info(probability_sum, num_flipped, self.model.num_spins)


def colored_sweep(model: SparseIsing, rule: str = "metropolis") -> ColoredSweep:
    """Graph-coloured sweep kernel for a sparse Ising model; the colouring is built here.

    Args:
        model: a :class:`~statjax.energy.ising.SparseIsing` with concrete arrays.
        rule: ``"metropolis"`` or ``"heat_bath"``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.energy.ising import edwards_anderson
        >>> kernel = colored_sweep(edwards_anderson(jax.random.key(0), (4, 4)))
        >>> kernel.num_colors
        2
    """
    rule = check_rule(rule)
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
    ``beta = +inf`` as in the module docstring (the heat bath then is the sign
    rule ``s_i <- sign(f_i)``, a zero field keeping ``s_i``).

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
            spins, local_field, num_flipped, probability_sum = carry
            spin = spins[i]
            flip, probability = _flip_decision(self.rule, spin, local_field[i], uniform[i], beta)
            change = jnp.where(flip, -2 * spin, 0).astype(local_field.dtype)
            local_field = local_field + change * couplings[i]
            spins = spins.at[i].set(jnp.where(flip, -spin, spin))
            return (
                spins,
                local_field,
                num_flipped + flip.astype(jnp.int32),
                probability_sum + probability,
            )

        initial_field = self.model.local_fields(state.position)
        spins, _, num_flipped, probability_sum = jax.lax.fori_loop(
            0,
            self.model.num_spins,
            update,
            (
                state.position,
                initial_field,
                jnp.zeros((), jnp.int32),
                jnp.zeros((), initial_field.dtype),
            ),
        )
        new_state = SpinState(spins, self.model(spins), jnp.sum(spins.astype(jnp.int32)))
        return new_state, sweep_info(probability_sum, num_flipped, self.model.num_spins)


def sequential_sweep(model: DenseIsing, rule: str = "metropolis") -> SequentialSweep:
    """Sequential sweep kernel for a dense Ising model (e.g. Sherrington–Kirkpatrick).

    Examples:
        >>> import jax
        >>> from statjax.energy.ising import sherrington_kirkpatrick
        >>> kernel = sequential_sweep(sherrington_kirkpatrick(jax.random.key(0), 8))
        >>> state = kernel.init(jax.numpy.ones(8, jax.numpy.int8))
        >>> state.position.shape
        (8,)
    """
    rule = check_rule(rule)
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
