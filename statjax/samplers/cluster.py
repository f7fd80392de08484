"""Swendsen–Wang cluster updates for the Ising ferromagnet on a periodic lattice.

Near the critical point local moves decorrelate in ``tau ~ L^z`` sweeps with
``z ≈ 2.17`` for the 2-D Ising model; flipping whole Fortuin–Kasteleyn clusters
brings the dynamic exponent down to ``z ≈ 0.2–0.35`` (Swendsen & Wang 1987,
Phys. Rev. Lett. 58, 86). Wolff's single-cluster variant (Wolff 1989, Phys. Rev.
Lett. 62, 361) grows one cluster from a random seed; here it grows breadth-first
with whole-lattice array operations (:func:`wolff`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax import random as statjax_random
from statjax.energy.ising import INT32_MAX, IsingLattice, check_lattice_sums
from statjax.pytree import Pytree
from statjax.samplers.lattice import (
    IsingLatticeState,
    check_site_counters,
    integer_sums,
    site_uniforms,
)
from statjax.types import PRNGKey


class ClusterInfo(NamedTuple):
    """What one Swendsen–Wang update did (see :mod:`statjax.samplers.base`).

    Attributes:
        acceptance_rate: 1: the update is rejection-free (a blocked Gibbs draw).
        is_accepted: whether at least one spin changed.
        num_clusters: number of Fortuin–Kasteleyn clusters (isolated sites included).
        num_iterations: label-propagation rounds until the labels stopped changing.
        fraction_changed: fraction of spins whose value changed.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    num_clusters: jax.Array
    num_iterations: jax.Array
    fraction_changed: jax.Array


def connected_components(bonds: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Cluster labels of a periodic lattice whose bonds are ``bonds: (d, *shape)`` booleans.

    ``bonds[a][x]`` joins site ``x`` to its ``+1`` neighbour along axis ``a``. Labels
    are site indices (row-major), each site starting with its own. A round of the
    ``lax.while_loop``: (1) every site finds ``m``, the smallest label across its
    active bonds and its own; (2) *hooking*: the site its label points to takes the
    minimum of its label and ``m`` (a scatter-min), so whole trees merge at once;
    (3) *pointer jumping*, ``label <- label[label]`` twice. Labels only decrease and
    always point into the same cluster, so at the fixed point every site is labelled
    by the smallest index in its cluster. Hooking plus jumping is the scheme of
    Shiloach & Vishkin (1982, J. Algorithms 3, 57); it needs a few rounds where
    plain min-label propagation needs as many as a cluster's diameter.

    Returns:
        ``(labels, num_iterations)``: int32 ``labels`` with the lattice shape.
    """
    shape = bonds.shape[1:]
    size = int(np.prod(shape))
    backward_bonds = [jnp.roll(bonds[axis], 1, axis) for axis in range(len(shape))]

    def one_round(labels):
        grid = labels.reshape(shape)
        smallest = grid
        for axis in range(len(shape)):
            smallest = jnp.where(
                bonds[axis], jnp.minimum(smallest, jnp.roll(grid, -1, axis)), smallest
            )
            smallest = jnp.where(
                backward_bonds[axis], jnp.minimum(smallest, jnp.roll(grid, 1, axis)), smallest
            )
        smallest = smallest.reshape(-1)
        hooked = jnp.minimum(labels.at[labels].min(smallest), smallest)
        jumped = hooked[hooked]
        return jumped[jumped]

    def body(carry):
        labels, _, iterations = carry
        new = one_round(labels)
        return new, jnp.any(new != labels), iterations + 1

    initial = (jax.lax.iota(jnp.int32, size), jnp.array(True), jnp.zeros((), jnp.int32))
    labels, _, iterations = jax.lax.while_loop(lambda carry: carry[1], body, initial)
    return labels.reshape(shape), iterations


class SwendsenWang(Pytree):
    r"""Swendsen–Wang cluster update of the periodic Ising ferromagnet (``J > 0``), any field.

    One step: (1) put a bond on every satisfied nearest-neighbour pair
    (``s_i = s_j``) with probability ``p = 1 - exp(-2 beta J)``; (2) find the
    connected clusters (:func:`connected_components`); (3) give every cluster a new
    common spin ``sigma``, drawn from its conditional law given the bonds,
    ``P(sigma = +1) = 1 / (1 + exp(-2 beta h |C|))`` for a cluster of ``|C|`` sites
    (a fair coin at ``h = 0``). This is the Fortuin–Kasteleyn representation
    sampled by blocked Gibbs, which leaves ``exp(-beta E)`` invariant (Swendsen &
    Wang 1987; Edwards & Sokal 1988, Phys. Rev. D 38, 2009).

    At ``beta = +inf`` (the limit of the rule, no NaN) every satisfied pair is
    bonded, so the clusters are the domains; in zero field each domain takes a
    fair coin, which never raises the energy (a boundary between two domains can
    only become satisfied), and in a field every cluster takes the field's sign.

    Build it with :func:`swendsen_wang`. The state is an
    :class:`~statjax.samplers.lattice.IsingLatticeState`, so chains can alternate
    between this kernel and :func:`~statjax.samplers.lattice.checkerboard`.

    Attributes:
        model: the :class:`~statjax.energy.ising.IsingLattice` (``J > 0``).
    """

    model: IsingLattice

    def init(self, position: ArrayLike) -> IsingLatticeState:
        """State at spins ``position`` (±1, the lattice shape)."""
        check_lattice_sums(self.model.shape, "IsingLattice")
        spins = jnp.asarray(position).astype(jnp.int8)
        forward = sum(jnp.roll(spins, -1, axis) for axis in range(spins.ndim))
        bond_sum, magnetization = integer_sums(spins * forward, spins)
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        return IsingLatticeState(spins, energy, magnetization, bond_sum)

    def step(
        self, key: PRNGKey, state: IsingLatticeState, beta: ArrayLike
    ) -> tuple[IsingLatticeState, ClusterInfo]:
        """One Swendsen–Wang update at inverse temperature ``beta`` (``+inf`` allowed)."""
        check_lattice_sums(self.model.shape, "IsingLattice")
        shape = self.model.shape
        dim, size = len(shape), self.model.num_spins
        spins = state.position
        uniforms = site_uniforms(key, shape, num=dim + 1)
        bond_probability = -jnp.expm1(-2.0 * beta * self.model.coupling)
        bonds = jnp.stack(
            [
                (spins == jnp.roll(spins, -1, axis)) & (uniforms[axis] < bond_probability)
                for axis in range(dim)
            ]
        )
        labels, iterations = connected_components(bonds)
        flat_labels = labels.reshape(-1)
        # The uniform of a cluster is the one drawn at its root site.
        cluster_uniform = uniforms[dim].reshape(-1)[flat_labels]

        def with_field():
            sizes = jnp.zeros(size, jnp.int32).at[flat_labels].add(1)
            log_odds_up = 2.0 * beta * self.model.field * sizes[flat_labels]
            return cluster_uniform * (1.0 + jnp.exp(-log_odds_up)) < 1.0

        # A fair coin in zero field: no cluster sizes (a scatter) needed. The field is
        # shared by all chains, so under vmap this stays a branch, not a select.
        spin_up = jax.lax.cond(
            jnp.all(self.model.field == 0), lambda: cluster_uniform < 0.5, with_field
        )
        new_spins = jnp.where(spin_up, jnp.int8(1), jnp.int8(-1)).reshape(shape)
        forward = sum(jnp.roll(new_spins, -1, axis) for axis in range(dim))
        bond_sum, magnetization, num_changed, num_roots = integer_sums(
            new_spins * forward,
            new_spins,
            new_spins != spins,
            labels == jax.lax.iota(jnp.int32, size).reshape(shape),
        )
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = ClusterInfo(
            acceptance_rate=jnp.ones((), jnp.float32),
            is_accepted=num_changed > 0,
            num_clusters=num_roots,
            num_iterations=iterations,
            fraction_changed=num_changed.astype(jnp.float32) / np.float32(size),
        )
        return IsingLatticeState(new_spins, energy, magnetization, bond_sum), info


def swendsen_wang(model: IsingLattice) -> SwendsenWang:
    """Swendsen–Wang cluster kernel for a ferromagnetic Ising lattice (2-D, 3-D, ...).

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice` with ``J > 0`` (checked
            when concrete); any field ``h``.

    Raises:
        ValueError: for ``J <= 0``, or a lattice too large for the cluster labels
            (int32 site indices), the random-number counters or (without
            ``jax_enable_x64``) the int32 sums; the message names the largest size.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = swendsen_wang(square_ising(16))
        >>> final, magnetization = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((2, 16, 16), jnp.int8), 50,
        ...     beta=0.44, observe=lambda s: s.magnetization)
        >>> magnetization.shape
        (50, 2)
    """
    if not isinstance(model, IsingLattice):
        raise TypeError(f"swendsen_wang takes an IsingLattice, got {type(model).__name__}.")
    # Shapes only: a lattice too large is refused before anything is allocated.
    check_lattice_sums(model.shape, "IsingLattice")
    if model.num_spins > INT32_MAX:
        raise ValueError(
            f"swendsen_wang labels clusters by int32 site indices: at most {INT32_MAX} "
            f"sites, got {model.num_spins} for shape {model.shape}."
        )
    check_site_counters(model.shape, "IsingLattice", numbers_per_site=len(model.shape) + 1)
    coupling = model.coupling
    if not isinstance(coupling, jax.core.Tracer) and not np.all(np.asarray(coupling) > 0):
        raise ValueError(
            f"swendsen_wang needs a ferromagnet, J > 0; got coupling={coupling}. "
            "For J < 0 on a bipartite lattice, flip every other spin to map it to J > 0."
        )
    return SwendsenWang(model)


class WolffInfo(NamedTuple):
    """What one Wolff update did (see :mod:`statjax.samplers.base`).

    Attributes:
        acceptance_rate: ``min(1, exp(-2 beta h s |C|))``, the probability that the
            grown cluster is flipped (1 in zero field).
        is_accepted: whether the cluster was flipped.
        cluster_size: ``|C|``, sites in the grown cluster.
        num_iterations: growth rounds (the cluster's radius, in lattice steps, plus one).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    cluster_size: jax.Array
    num_iterations: jax.Array


class Wolff(Pytree):
    r"""Wolff single-cluster update of the periodic Ising ferromagnet (``J > 0``), any field.

    One step (Wolff 1989, Phys. Rev. Lett. 62, 361): pick a seed site uniformly;
    grow the cluster ``C`` by adding each neighbour ``j`` of a cluster site ``i``
    with ``s_j = s_i`` through its bond with probability ``p = 1 - exp(-2 beta J)``
    (each bond tested at most once), until no site is added; flip ``C``. The growth
    is breadth-first and whole-lattice: every bond carries one uniform for the
    step, a round adds all sites reached from the last round's sites, so ``C`` is
    exactly the seed's component of the Fortuin–Kasteleyn bond percolation on
    satisfied bonds (Swendsen & Wang 1987), as in the sequential algorithm. In a
    field ``h`` the flip, which changes the field energy by ``2 h s |C|`` (``s``
    the cluster's spin), is accepted with ``min(1, exp(-2 beta h s |C|))``: the
    cluster construction balances the coupling part, this Metropolis test the
    rest, so ``exp(-beta E)`` is invariant.

    At ``beta = +inf`` ``p = 1``: the cluster is the seed's whole domain, whose
    flip can only satisfy its boundary; it is accepted in zero field or when it
    aligns with the field. The state is an
    :class:`~statjax.samplers.lattice.IsingLatticeState`; build it with :func:`wolff`.

    Attributes:
        model: the :class:`~statjax.energy.ising.IsingLattice` (``J > 0``).
    """

    model: IsingLattice

    def init(self, position: ArrayLike) -> IsingLatticeState:
        """State at spins ``position`` (±1, the lattice shape)."""
        return SwendsenWang(self.model).init(position)

    def step(
        self, key: PRNGKey, state: IsingLatticeState, beta: ArrayLike
    ) -> tuple[IsingLatticeState, WolffInfo]:
        """One Wolff cluster flip at inverse temperature ``beta`` (``+inf`` allowed)."""
        check_lattice_sums(self.model.shape, "IsingLattice")
        shape = self.model.shape
        dim, size = len(shape), self.model.num_spins
        spins = state.position
        key_bonds, key_seed, key_accept = jax.random.split(key, 3)
        # uniforms[a][x]: the bond between x and x + e_a.
        uniforms = site_uniforms(key_bonds, shape, num=dim)
        bond_open = uniforms < -jnp.expm1(-2.0 * beta * self.model.coupling)
        seed = statjax_random.randint(key_seed, (), 0, size)
        seed_spin = spins.reshape(-1)[seed]
        aligned = spins == seed_spin
        start = (jax.lax.iota(jnp.int32, size) == seed).reshape(shape)

        def grow(carry):
            cluster, frontier, rounds = carry
            reached = jnp.zeros(shape, bool)
            for axis in range(dim):
                forward = jnp.roll(frontier & bond_open[axis], 1, axis)
                backward = jnp.roll(frontier, -1, axis) & bond_open[axis]
                reached = reached | forward | backward
            new = reached & aligned & ~cluster
            return cluster | new, new, rounds + 1

        cluster, _, rounds = jax.lax.while_loop(
            lambda carry: jnp.any(carry[1]), grow, (start, start, jnp.int32(1))
        )
        (cluster_size,) = integer_sums(cluster)
        field_change = 2.0 * self.model.field * seed_spin * cluster_size
        # beta = inf with no field change: the limit exp(0) = 1, not exp(NaN).
        log_ratio = jnp.where(field_change == 0, 0.0, -jnp.asarray(beta) * field_change)
        is_accepted = statjax_random.uniform(key_accept) < jnp.exp(log_ratio)
        new_spins = jnp.where(cluster & is_accepted, jnp.negative(spins), spins)
        forward = sum(jnp.roll(new_spins, -1, axis) for axis in range(dim))
        bond_sum, magnetization = integer_sums(new_spins * forward, new_spins)
        energy = self.model.energy_from_sums(bond_sum, magnetization)
        info = WolffInfo(
            acceptance_rate=jnp.exp(jnp.minimum(log_ratio, 0.0)).astype(jnp.float32),
            is_accepted=is_accepted,
            cluster_size=cluster_size,
            num_iterations=rounds,
        )
        return IsingLatticeState(new_spins, energy, magnetization, bond_sum), info


def wolff(model: IsingLattice) -> Wolff:
    """Wolff single-cluster kernel for a ferromagnetic Ising lattice (2-D, 3-D, ...).

    One step flips one cluster (about ``<|C|> / N`` of a sweep); compare kernels
    per unit of work, not per step.

    Args:
        model: an :class:`~statjax.energy.ising.IsingLattice` with ``J > 0`` (checked
            when concrete); any field ``h``.

    Raises:
        ValueError: for ``J <= 0`` or a lattice too large (as :func:`swendsen_wang`).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> kernel = wolff(square_ising(16))
        >>> final, sizes = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.ones((2, 16, 16), jnp.int8), 50,
        ...     beta=0.44, observe=lambda s, i: i.cluster_size)
        >>> sizes.shape
        (50, 2)
    """
    if not isinstance(model, IsingLattice):
        raise TypeError(f"wolff takes an IsingLattice, got {type(model).__name__}.")
    return Wolff(swendsen_wang(model).model)


__all__ = [
    "ClusterInfo",
    "SwendsenWang",
    "Wolff",
    "WolffInfo",
    "connected_components",
    "swendsen_wang",
    "wolff",
]
