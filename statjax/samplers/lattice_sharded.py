"""Checkerboard sweep of one large 2-D Ising lattice split across devices by rows.

Domain decomposition: device ``d`` of a 1-D mesh holds rows
``[d L / n, (d + 1) L / n)`` of the periodic ``L x W`` lattice. A half-sweep needs
each site's four neighbours; the left and right ones are local (``jnp.roll``
along the row), the row above the first local row and the row below the last one
live on the neighbouring devices and arrive by one ``jax.lax.ppermute`` each (the
*halo exchange*, two rows per device per half-sweep, whatever ``L``). Everything
runs inside :func:`jax.shard_map`, so no device ever holds more than its block
plus two rows: a lattice larger than one device's memory can be swept.

The sweep is *bit-identical* to :class:`~statjax.samplers.lattice.CheckerboardIsing`
with the same keys (``beta = +inf`` included): the sublattice of a site is the
parity of its *global* indices (computed from ``iota``s on each device, never as
a host array), and the random integer of a site is the Threefry-2x32 word of its
*global* index exactly as the single-device sweep computes it (both of its
layouts, below and above :data:`~statjax.samplers.lattice.INLINE_RANDOM_MIN_SITES`
sites). The exact integer sums (bond sum, magnetization, flips; int64 under
``jax_enable_x64``, else refused beyond int32 as for the single-device sweep) and
the summed acceptance probabilities are local sums followed by one ``psum``
(so ``acceptance_rate`` agrees with the single-device sweep to float rounding,
~1e-7, summed in another order; states and integer sums are bit-identical).
Tested against the single-device sweep with 4 forced host devices.

The kernel follows the statjax kernel API, so ``run_chains`` runs it (a few
chains of one huge lattice each: the chain axis is vmapped, the rows are split).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from statjax.energy.ising import IsingLattice, check_lattice_sums
from statjax.pytree import Pytree, static_field
from statjax.samplers.lattice import (
    INLINE_RANDOM_MIN_SITES,
    PROBABILITY_SCALE,
    CheckerboardIsing,
    IsingLatticeState,
    SweepInfo,
    check_even_sides,
    check_rule,
    check_site_counters,
    flip_thresholds,
    float_total,
    integer_sums,
    sweep_info,
    threefry2x32,
)
from statjax.types import PRNGKey

ROW_AXIS = "rows"
"""Default name of the mesh axis the lattice rows are split over."""


def row_mesh(num_devices: int | None = None, devices=None) -> Mesh:
    """A 1-D mesh named :data:`ROW_AXIS` over the first ``num_devices`` devices."""
    devices = list(jax.devices() if devices is None else devices)
    if num_devices is not None:
        devices = devices[:num_devices]
    return Mesh(np.array(devices, dtype=object), (ROW_AXIS,))


def _site_bits(seeds, global_sites, size: int, colour: int) -> jax.Array:
    """The 24-bit random integers of ``_half_sweep_bits`` at the given global sites."""
    if size >= INLINE_RANDOM_MIN_SITES:
        counter = jnp.full(global_sites.shape, colour, jnp.uint32)
        bits = threefry2x32(seeds[0], seeds[1], global_sites, counter)[0]
    else:
        # Single device: words = concat(x0(0..half-1), x1(0..half-1)), site g takes
        # words[g], i.e. x0 at counter g below half, x1 at counter g - half above.
        half = jnp.uint32((size + 1) // 2)
        low = global_sites < half
        counter = jnp.where(low, global_sites, global_sites - half)
        x0, x1 = threefry2x32(seeds[0], seeds[1], counter, jnp.zeros_like(counter))
        bits = jnp.where(low, x0, x1)
    return (bits >> jnp.uint32(8)).astype(jnp.int32)


class ShardedCheckerboardIsing(Pytree):
    """Checkerboard Ising sweep with the lattice rows split over ``mesh[axis]``.

    Same model, rule, keys and results as :class:`CheckerboardIsing`; positions
    should be placed with :meth:`shard` (rows split), and stay split. Build it
    with :func:`sharded_checkerboard`.

    Attributes:
        model: a 2-D :class:`~statjax.energy.ising.IsingLattice`, rows divisible
            by the number of devices on ``axis``.
        mesh: the device mesh (static).
        axis: mesh axis name the rows are split over (static).
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    model: IsingLattice
    mesh: Mesh = static_field()
    axis: str = static_field(default=ROW_AXIS)
    rule: str = static_field(default="metropolis")

    @property
    def sharding(self) -> NamedSharding:
        """Sharding of one lattice (rows split); prepend ``None`` for a chain axis."""
        return NamedSharding(self.mesh, P(self.axis, None))

    def shard(self, spins: ArrayLike) -> jax.Array:
        """Place ``spins`` (``(L, W)`` or ``(num_chains, L, W)``) with the rows split."""
        spins = jnp.asarray(spins)
        spec = P(self.axis, None) if spins.ndim == 2 else P(None, self.axis, None)
        return jax.device_put(spins, NamedSharding(self.mesh, spec))

    def init(self, position: ArrayLike) -> IsingLatticeState:
        """State at spins ``position``, with its exact sums.

        The sums come from jitted rolls, which XLA partitions with the same halo
        exchange.
        """
        return CheckerboardIsing(self.model, self.rule).init(position)

    def step(
        self, key: PRNGKey, state: IsingLatticeState, beta: ArrayLike
    ) -> tuple[IsingLatticeState, SweepInfo]:
        """One sweep (both sublattices) at inverse temperature ``beta`` (``+inf`` allowed)."""
        check_lattice_sums(self.model.shape, "IsingLattice")
        rows, cols = self.model.shape
        size = rows * cols
        num_shards = self.mesh.shape[self.axis]
        local_rows = rows // num_shards
        axis = self.axis
        seeds = jax.random.bits(key, (2,), jnp.uint32)
        thresholds = flip_thresholds(self.rule, beta, self.model.coupling, self.model.field, 2)
        to_next = [(i, (i + 1) % num_shards) for i in range(num_shards)]
        to_previous = [(i, (i - 1) % num_shards) for i in range(num_shards)]

        def neighbour_sum(spins):
            above = jax.lax.ppermute(spins[-1:], axis, to_next)  # last row of the shard above
            below = jax.lax.ppermute(spins[:1], axis, to_previous)  # first row of the one below
            vertical = jnp.concatenate([above, spins[:-1]]) + jnp.concatenate([spins[1:], below])
            return vertical + jnp.roll(spins, 1, 1) + jnp.roll(spins, -1, 1)

        def local_sweep(spins, seeds, thresholds):
            first_row = jax.lax.axis_index(axis).astype(jnp.uint32) * jnp.uint32(local_rows)
            # uint32: the first site index exceeds int32 from 2**31 sites (x64 runs).
            first_site = first_row * jnp.uint32(cols)
            sites = first_site + jax.lax.iota(jnp.uint32, spins.size).reshape(spins.shape)
            # The sublattice is the parity of the global indices, from iotas on the device.
            global_row = first_row + jax.lax.broadcasted_iota(jnp.uint32, spins.shape, 0)
            column = jax.lax.broadcasted_iota(jnp.uint32, spins.shape, 1)
            odd = ((global_row ^ column) & jnp.uint32(1)) == 1
            parity_is = [~odd, odd]
            flipped, probability_sum = [], jnp.zeros((), jnp.float32)
            for colour in range(2):
                neighbours = neighbour_sum(spins)
                local = spins * neighbours
                spin_up = spins > 0
                threshold = jnp.zeros(spins.shape, jnp.int32)
                for index, value in enumerate(range(-4, 5, 2)):
                    chosen = jnp.where(spin_up, thresholds[index, 1], thresholds[index, 0])
                    threshold = jnp.where(local == value, chosen, threshold)
                bits = _site_bits(seeds, sites, size, colour)
                flip = parity_is[colour] & (bits < threshold)
                probability_sum += float_total(jnp.where(parity_is[colour], threshold, 0))
                spins = jnp.where(flip, -spins, spins)
                flipped.append(flip)
            # As in CheckerboardIsing: each bond has one end on sublattice 1, whose
            # neighbours have not moved since the last `neighbours`.
            sums = integer_sums(
                jnp.where(parity_is[1], spins * neighbours, jnp.int8(0)),
                spins,
                flipped[0] | flipped[1],
            )
            return spins, jax.lax.psum(sums, axis), jax.lax.psum(probability_sum, axis)

        sweep = jax.shard_map(
            local_sweep,
            mesh=self.mesh,
            in_specs=(P(axis, None), P(), P()),
            out_specs=(P(axis, None), P(), P()),
        )
        spins, sums, probability_sum = sweep(state.position, seeds, thresholds)
        bond_sum, magnetization, num_changed = sums
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = sweep_info(probability_sum / PROBABILITY_SCALE, num_changed, size)
        return IsingLatticeState(spins, energy, magnetization, bond_sum), info


def sharded_checkerboard(
    model: IsingLattice, mesh: Mesh, axis: str = ROW_AXIS, rule: str = "metropolis"
) -> ShardedCheckerboardIsing:
    """Row-decomposed checkerboard sweep of a 2-D Ising lattice over ``mesh[axis]``.

    Args:
        model: a 2-D :class:`~statjax.energy.ising.IsingLattice` with even sides and
            a number of rows divisible by the number of devices on ``axis``.
        mesh: e.g. :func:`row_mesh`.
        axis: the mesh axis to split the rows over.
        rule: ``"metropolis"`` or ``"heat_bath"``.
    """
    rule = check_rule(rule)
    if not isinstance(model, IsingLattice) or len(model.shape) != 2:
        raise TypeError("sharded_checkerboard takes a 2-D IsingLattice.")
    check_even_sides(model.shape, "IsingLattice")
    check_lattice_sums(model.shape, "IsingLattice")
    check_site_counters(model.shape, "IsingLattice")
    if axis not in mesh.shape:
        raise ValueError(f"mesh has no axis {axis!r}; its axes are {tuple(mesh.shape)}.")
    if model.shape[0] % mesh.shape[axis]:
        raise ValueError(
            f"the number of rows ({model.shape[0]}) must be divisible by the number of "
            f"devices on axis {axis!r} ({mesh.shape[axis]})."
        )
    return ShardedCheckerboardIsing(model, mesh, axis, rule)


__all__ = ["ROW_AXIS", "ShardedCheckerboardIsing", "row_mesh", "sharded_checkerboard"]
