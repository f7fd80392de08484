r"""Multi-spin coded checkerboard sweeps of the Ising lattice: 32 spins per ``uint32`` word.

A periodic Ising lattice of shape ``(L_0, L_1, ..., L_{d-1})`` (even sides,
``d >= 2``) is stored as ``uint32`` words of shape ``(W, L_1, ..., L_{d-1})``:
site ``x_0 = k W + j`` along the first axis is bit ``k`` of word ``j`` (bit set
means ``s = +1``), with ``B = L_0 / W <= 32`` bits used per word. This *strided*
packing (the classic multi-spin coding of the lattice itself, e.g. Jacobs & Rebbi
1981, J. Comput. Phys. 41, 203) has two properties the sweep needs:

- the neighbour along the packed axis is the next word, except at the last word,
  where it is the first word rotated by one bit (``x_0 + 1 = (k + 1) W``);
- with ``W`` even every word holds spins of one checkerboard colour only
  (``x_0`` and ``j`` have the same parity), so a half-sweep updates whole words.

**The update is the checkerboard sweep's, bit for bit in law.** A spin with
``a`` agreeing neighbours (``k = s n = 2a - 2d``) flips iff a 24-bit random
integer ``n < T[a, s]``, with the integer thresholds ``T`` of
:func:`~statjax.samplers.lattice.flip_thresholds` (Metropolis or heat bath), so
every spin flips with exactly the probability ``T / 2**24`` that
:class:`~statjax.samplers.lattice.CheckerboardIsing` realises. Everything is
bitwise: the neighbour agreements are XORs, ``a`` is counted in bit-sliced
binary by a ripple of half adders, the class masks ``[a, s]`` are ANDs of those
bits, and ``n < T`` is compared bit-sliced, most significant bit first.

**Every spin has its own random bits, and most spins need only eight.** The top
``hi_bits`` (8) bits of each spin's ``n`` are bit planes: one random word per
plane serves the 32 spins of a word. The comparison is decided by those bits
unless they equal the top bits of the spin's threshold (probability
``2**-8``); only those spins draw the remaining 16 bits, one spin at a time per
word, two per Threefry call, in a ``lax.while_loop`` that runs until no
undecided spin is left (a few rounds, since a word rarely holds more than two).
A spin's 24-bit ``n`` is thus uniform and independent of every other spin's,
and the flip law is exactly the checkerboard's, at about ``(8 + 2) / 32`` of
its random words. (Classic multi-spin codes share one random number among the
packed spins; that couples spins of one chain updated together, which changes
the stationary law, so it is not done here.)

**Exact sums.** The magnetization ``M = 2 popcount(S) - N`` and the bond sum
``sum_<ij> s_i s_j = d N - 2 popcount(bonds with s_i != s_j)`` are integer
popcounts, kept exactly in every state; the energy is
``-J bond_sum - h M``.

Random numbers: the step's ``key`` gives two 32-bit words that key the fused
Threefry-2x32 of :mod:`statjax.samplers.lattice`, evaluated at counters
``(half-sweep word index, colour, plane or round)``: a function of the key
only, so runs are bit-identical and chunking or resuming the driver changes
nothing.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.energy.ising import IsingLattice, check_lattice_sums
from statjax.pytree import Pytree, static_field
from statjax.random import seed_words, threefry2x32
from statjax.samplers.lattice import (
    PROBABILITY_SCALE,
    SweepInfo,
    check_even_sides,
    check_rule,
    flip_thresholds,
    integer_sums,
    sweep_info,
)
from statjax.types import PRNGKey

WORD_BITS = 32
THRESHOLD_BITS = 24
"""Random integers ``n`` and thresholds ``T`` have 24 bits, as in the checkerboard sweep."""
HI_BITS = 8
"""Bits of every ``n`` drawn as bit planes; the rest only where these do not decide."""
MAX_HI_BITS = 12
"""More bit planes compile slowly (XLA) and run slower: each plane costs a full pass."""
_ROUND_CODE = 1024
"""Counter offset of the refinement rounds (the bit planes use codes below it)."""


def packed_layout(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(W, B)``: words along the packed first axis and bits used per word.

    ``W`` is the smallest even divisor of ``L_0`` with ``L_0 / W <= 32``, so that
    every word holds one checkerboard colour and as many spins as fit (32 when
    ``L_0`` is a multiple of 64).
    """
    side = shape[0]
    for num_words in range(2, side + 1, 2):
        if side % num_words == 0 and side // num_words <= WORD_BITS:
            return num_words, side // num_words
    raise ValueError(f"multi-spin coding needs an even first side, got shape {shape}.")


def packed_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the ``uint32`` words that store a lattice of ``shape``."""
    return (packed_layout(shape)[0], *shape[1:])


def pack_spins(spins: ArrayLike) -> jax.Array:
    """``uint32`` words ``(W, L_1, ...)`` of ±1 spins ``(L_0, L_1, ...)``; see the module doc."""
    spins = jnp.asarray(spins)
    num_words, lanes = packed_layout(spins.shape)
    bits = (spins > 0).reshape(lanes, num_words, *spins.shape[1:]).astype(jnp.uint32)
    shifts = jax.lax.broadcasted_iota(jnp.uint32, bits.shape, 0)
    # Disjoint bits: their sum is their OR.
    return jnp.sum(bits << shifts, axis=0, dtype=jnp.uint32)


def unpack_spins(words: ArrayLike, shape: tuple[int, ...]) -> jax.Array:
    """``int8`` spins ±1 of ``shape`` from their words (the inverse of :func:`pack_spins`)."""
    words = jnp.asarray(words, jnp.uint32)
    lanes = packed_layout(shape)[1]
    shifts = jax.lax.iota(jnp.uint32, lanes).reshape((lanes,) + (1,) * words.ndim)
    bits = (words[None] >> shifts) & jnp.uint32(1)
    return (2 * bits.astype(jnp.int8) - 1).reshape(shape)


class MultispinState(NamedTuple):
    """State of a multi-spin coded Ising chain; the integer sums are kept exactly.

    Attributes:
        position: ``uint32`` words ``(W, L_1, ..., L_{d-1})``
            (:func:`unpack_spins` gives the ±1 spins).
        energy: ``E = -J * bond_sum - h * magnetization`` (float).
        magnetization: ``M = sum_i s_i`` (int32; int64 under ``jax_enable_x64``).
        bond_sum: ``sum_<ij> s_i s_j`` (int32; int64 under ``jax_enable_x64``).
    """

    position: jax.Array
    energy: jax.Array
    magnetization: jax.Array
    bond_sum: jax.Array


def _lane_mask(lanes: int) -> jax.Array:
    return jnp.uint32((1 << lanes) - 1)


def _shifted(words: jax.Array, lanes: int, axis: int, direction: int) -> jax.Array:
    """Words of the neighbours at ``x + direction`` along ``axis`` (periodic)."""
    if axis > 0:
        return jnp.roll(words, -direction, axis)
    top = jnp.uint32(lanes - 1)
    mask = _lane_mask(lanes)
    if direction > 0:
        # Beyond the last word: the first word, bit k + 1 -> bit k (rotate right).
        first = words[:1]
        wrapped = (first >> jnp.uint32(1)) | ((first & jnp.uint32(1)) << top)
        return jnp.concatenate([words[1:], wrapped], axis=0)
    last = words[-1:]
    wrapped = ((last << jnp.uint32(1)) & mask) | (last >> top)
    return jnp.concatenate([wrapped, words[:-1]], axis=0)


def _popcount_total(*arrays: jax.Array) -> jax.Array:
    """Exact totals of the set bits of each ``uint32`` array, ``(len(arrays),)``."""
    return integer_sums(*(jax.lax.population_count(a).astype(jnp.int8) for a in arrays))


def _lattice_sums(words: jax.Array, lanes: int, num_sites: int) -> tuple[jax.Array, jax.Array]:
    """``(bond_sum, magnetization)`` of packed spins, exactly (popcounts)."""
    dim = words.ndim
    unequal = [words ^ _shifted(words, lanes, axis, 1) for axis in range(dim)]
    totals = _popcount_total(words, *unequal)
    magnetization = 2 * totals[0] - num_sites
    bond_sum = dim * num_sites - 2 * jnp.sum(totals[1:])
    return bond_sum, magnetization


def _colour_words(words_shape: tuple[int, ...]) -> list[jax.Array]:
    """All-ones masks of the words of colour 0 and 1 (the parity of ``j + x_1 + ...``)."""
    odd = jnp.zeros(words_shape, jnp.uint32)
    for axis in range(len(words_shape)):
        odd = odd ^ (jax.lax.broadcasted_iota(jnp.uint32, words_shape, axis) & jnp.uint32(1))
    odd_mask = jnp.uint32(0) - odd
    return [~odd_mask, odd_mask]


def _agreement_count(spins: jax.Array, neighbours: list[jax.Array], num_bits: int):
    """Bit-sliced count of the neighbours equal to each spin: ``num_bits`` words, LSB first."""
    count = [jnp.zeros_like(spins) for _ in range(num_bits)]
    for neighbour in neighbours:
        carry = ~(spins ^ neighbour)
        for bit in range(num_bits):
            count[bit], carry = count[bit] ^ carry, count[bit] & carry
    return count


def _random_words(seeds, half_shape, words_shape, colour: int, code: int):
    """Two random ``uint32`` arrays of ``words_shape``, distinct for every word of ``colour``.

    Generated on half the words (the last axis halved) and repeated along it: of the
    two words ``2m, 2m + 1`` exactly one has each colour, so every word of a colour
    gets its own counter.
    """
    size = int(np.prod(half_shape))
    counters = jax.lax.iota(jnp.uint32, size).reshape(half_shape)
    stream = jnp.full(half_shape, (colour << 16) | code, jnp.uint32)
    # Materialised before the repeat: fused into it, XLA would hash every word twice.
    pair = jax.lax.optimization_barrier(threefry2x32(seeds[0], seeds[1], counters, stream))
    return [jnp.repeat(bits, 2, axis=-1).reshape(words_shape) for bits in pair]


class MultispinIsing(Pytree):
    r"""Multi-spin coded checkerboard sweep of the periodic Ising lattice (Metropolis or heat bath).

    The same Markov chain, in law, as :class:`~statjax.samplers.lattice.CheckerboardIsing`
    (each spin of a sublattice flips independently with probability
    ``T[a, s] / 2**24``, the checkerboard's integer thresholds), computed on 32
    spins per ``uint32`` word with bitwise operations; see the module docstring for
    the layout and for how each spin gets its own random bits. ``state.position``
    holds the packed words; :meth:`spins` unpacks them. ``beta = +inf`` gives the
    greedy limit of :mod:`statjax.samplers.lattice`.

    Build it with :func:`multispin_checkerboard` (or ``checkerboard(model,
    multispin=True)``).

    Attributes:
        model: the :class:`~statjax.energy.ising.IsingLattice` (``d >= 2``, even sides).
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
        hi_bits: bits of each random integer drawn as bit planes (static, even,
            ``2..12``); the law does not depend on it, only the speed.
    """

    model: IsingLattice
    rule: str = static_field(default="metropolis")
    hi_bits: int = static_field(default=HI_BITS)

    def spins(self, position: ArrayLike) -> jax.Array:
        """The ``int8`` ±1 spins (the lattice shape) of packed ``position``."""
        return unpack_spins(position, self.model.shape)

    def init(self, position: ArrayLike) -> MultispinState:
        """State at ``position``: ±1 spins of the lattice shape, or their ``uint32`` words."""
        check_lattice_sums(self.model.shape, "IsingLattice")
        position = jnp.asarray(position)
        if position.dtype == jnp.uint32:
            if position.shape != packed_shape(self.model.shape):
                raise ValueError(
                    f"packed spins must have shape {packed_shape(self.model.shape)} for a "
                    f"lattice of shape {self.model.shape}, got {position.shape}."
                )
            words = position & _lane_mask(packed_layout(self.model.shape)[1])
        else:
            if position.shape != self.model.shape:
                raise ValueError(
                    f"spins must have the lattice shape {self.model.shape}, got {position.shape}."
                )
            words = pack_spins(position)
        lanes = packed_layout(self.model.shape)[1]
        bond_sum, magnetization = _lattice_sums(words, lanes, self.model.num_spins)
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        return MultispinState(words, energy, magnetization, bond_sum)

    def _half_sweep(self, seeds, words, colour_mask, colour, thresholds):
        """``(new words, flipped bits, summed flip probability)`` of one half-sweep."""
        shape = self.model.shape
        dim = len(shape)
        lanes = packed_layout(shape)[1]
        lo_bits = THRESHOLD_BITS - self.hi_bits
        half_shape = (*words.shape[:-1], words.shape[-1] // 2)
        active = colour_mask & _lane_mask(lanes)
        neighbours = [
            _shifted(words, lanes, axis, direction) for axis in range(dim) for direction in (1, -1)
        ]
        count = _agreement_count(words, neighbours, int(2 * dim).bit_length())
        # classes[a][s]: the spins with `a` agreeing neighbours and spin index s (0: -1, 1: +1).
        classes = []
        for agreeing in range(2 * dim + 1):
            equal = active
            for bit, word in enumerate(count):
                equal = equal & (word if (agreeing >> bit) & 1 else ~word)
            classes.append((equal & ~words, equal & words))
        # Materialised once: otherwise XLA's fusion recomputes the masks in every consumer
        # (each bit plane and round), which made the sweep several times slower.
        classes = jax.lax.optimization_barrier(classes)
        hi = thresholds >> lo_bits  # in [0, 2**hi_bits]; 2**hi_bits: always flip
        lo = (thresholds & ((1 << lo_bits) - 1)).astype(jnp.uint32)

        def lanes_where(condition):
            """OR of the class masks whose scalar ``condition[a, s]`` holds."""
            all_ones = jnp.where(condition, jnp.uint32(0xFFFFFFFF), jnp.uint32(0))
            total = jnp.zeros_like(words)
            for agreeing, pair in enumerate(classes):
                for spin in range(2):
                    total = total | (pair[spin] & all_ones[agreeing, spin])
            return total

        always = lanes_where(hi == (1 << self.hi_bits))
        flip, undecided = always, active & ~always
        # n_hi < T_hi, bit-sliced, most significant bit first.
        for plane in range(self.hi_bits // 2):
            pair = _random_words(seeds, half_shape, words.shape, colour, plane)
            for offset, random_bits in enumerate(pair):
                bit = self.hi_bits - 1 - 2 * plane - offset
                threshold_bits = lanes_where(((hi >> bit) & 1) == 1)
                flip = flip | (undecided & ~random_bits & threshold_bits)
                undecided = undecided & ~(random_bits ^ threshold_bits)

        flip, undecided = jax.lax.optimization_barrier((flip, undecided))

        def resolve(lowest, random_word, flip_bits):
            """Flip the lane ``lowest`` iff its low random bits fall below its ``T_lo``."""
            lane_lo = jnp.zeros_like(words)
            for agreeing, pair in enumerate(classes):
                for spin in range(2):
                    lane_lo = jnp.where((pair[spin] & lowest) != 0, lo[agreeing, spin], lane_lo)
            below = (random_word >> jnp.uint32(WORD_BITS - lo_bits)) < lane_lo
            return flip_bits | jnp.where(below, lowest, jnp.uint32(0))

        def refine(carry):
            flip_bits, pending, round_index = carry
            pair = _random_words(seeds, half_shape, words.shape, colour, _ROUND_CODE + round_index)
            for random_word in pair:
                lowest = pending & (jnp.uint32(0) - pending)
                flip_bits = resolve(lowest, random_word, flip_bits)
                pending = pending & ~lowest
            return flip_bits, pending, round_index + 1

        flip, _, _ = jax.lax.while_loop(
            lambda carry: jnp.any(carry[1] != 0), refine, (flip, undecided, jnp.int32(0))
        )
        # Summed flip probability: sum over classes of T[a, s] * (number of such spins).
        counts = _popcount_total(*(mask for pair in classes for mask in pair))
        probability_sum = jnp.sum(
            counts.astype(jnp.float32).reshape(2 * dim + 1, 2)
            * (thresholds.astype(jnp.float32) / np.float32(PROBABILITY_SCALE))
        )
        return words ^ flip, flip, probability_sum

    def step(
        self, key: PRNGKey, state: MultispinState, beta: ArrayLike
    ) -> tuple[MultispinState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta`` (``+inf`` allowed)."""
        shape = self.model.shape
        check_lattice_sums(shape, "IsingLattice")
        lanes = packed_layout(shape)[1]
        thresholds = flip_thresholds(
            self.rule, beta, self.model.coupling, self.model.field, len(shape)
        )
        seeds = seed_words(key)
        words = state.position
        colour_masks = _colour_words(words.shape)
        flipped, probability_sum = [], jnp.zeros((), jnp.float32)
        for colour in range(2):
            words, flip, probability = self._half_sweep(
                seeds, words, colour_masks[colour], colour, thresholds
            )
            flipped.append(flip)
            probability_sum = probability_sum + probability
        bond_sum, magnetization = _lattice_sums(words, lanes, self.model.num_spins)
        num_changed = jnp.sum(_popcount_total(flipped[0] | flipped[1]))
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = sweep_info(probability_sum, num_changed, self.model.num_spins)
        return MultispinState(words, energy, magnetization, bond_sum), info


def multispin_checkerboard(
    model: IsingLattice, rule: str = "metropolis", hi_bits: int = HI_BITS
) -> MultispinIsing:
    """Multi-spin coded checkerboard kernel for a periodic Ising lattice (2-D, 3-D, ...).

    The same law as ``checkerboard(model, rule)``, with 32 spins per ``uint32``
    word when the first side is a multiple of 64 (fewer bits per word otherwise;
    any even sides work). ``state.position`` holds the packed words
    (:func:`unpack_spins`, or ``kernel.spins(position)``, gives ±1 spins);
    ``init`` takes either.

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice`, ``d >= 2``, even sides.
        rule: ``"metropolis"`` or ``"heat_bath"`` (Glauber 1963).
        hi_bits: random bits per spin drawn as bit planes (even, 2 to 12); a
            speed setting only, the law is the same for every value.

    Raises:
        ValueError: for odd sides, ``d < 2``, an unknown rule, a bad ``hi_bits``,
            or a lattice whose integer sums (without ``jax_enable_x64``) overflow.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = multispin_checkerboard(square_ising(64))
        >>> final, energies = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((2, 64, 64), jnp.int8), 10,
        ...     beta=0.3, observe=lambda s: s.energy)
        >>> final.position.shape, kernel.spins(final.position[0]).shape
        ((2, 2, 64), (64, 64))
    """
    rule = check_rule(rule)
    if not isinstance(model, IsingLattice):
        raise TypeError(
            f"multispin_checkerboard takes an IsingLattice, got {type(model).__name__}."
        )
    if len(model.shape) < 2:
        raise ValueError(f"multispin_checkerboard needs d >= 2, got shape {model.shape}.")
    check_even_sides(model.shape, "IsingLattice")
    check_lattice_sums(model.shape, "IsingLattice")
    if hi_bits % 2 or not 2 <= hi_bits <= MAX_HI_BITS:
        raise ValueError(f"hi_bits must be even, 2 to {MAX_HI_BITS}; got {hi_bits}.")
    if int(np.prod(packed_shape(model.shape))) // 2 > 2**32:
        raise ValueError(f"lattice of shape {model.shape} has too many words for uint32 counters.")
    return MultispinIsing(model, rule, hi_bits)


__all__ = [
    "MultispinIsing",
    "MultispinState",
    "multispin_checkerboard",
    "pack_spins",
    "packed_layout",
    "packed_shape",
    "unpack_spins",
]
