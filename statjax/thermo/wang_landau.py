r"""The density of states ``g(E)`` of a discrete-energy spin model by Wang–Landau sampling.

Wang & Landau (2001, "Efficient, multiple-range random walk algorithm to
calculate the density of states", Phys. Rev. Lett. 86, 2050) walk the
configurations with single-spin proposals accepted with probability
``min(1, g(E) / g(E'))``, so that every energy level is visited equally often,
and learn ``g`` on the way: after every proposal ``log g(E) += log f`` and
``H(E) += 1`` at the current level ``E``. The modification factor is refined
with the **1/t rule** of Belardinelli & Pereyra (2007, "Fast algorithm to
calculate density of states", Phys. Rev. E 75, 046701), which removes the
saturation of the error of the original ``f -> sqrt f`` schedule:

1. ``log f = 1``; whenever the histogram is *flat* (every level visited so far
   has ``H(E) >= flatness * mean H``; ``flatness = 0`` asks only ``H(E) > 0``, the
   criterion of Belardinelli & Pereyra) ``log f <- log f / 2`` and ``H <- 0``;
2. once ``log f < 1 / t`` with ``t = j / N_E`` (``j`` trial moves so far, ``N_E``
   levels visited), ``log f = 1 / t`` at every move from then on.

The error of ``log g`` then decays as ``t^{-1/2}``. **Errors** come from
independent walkers: every chain of the driver is a walker with its own
``g``, and the mean and standard error of the normalised ``log g(E)`` (and of
every thermodynamic quantity computed from each walker's ``g``) are taken over
walkers.

**On the one driver.** A walker is advanced by :func:`statjax.samplers.loop.sample_chains`
like every chain: one step of :class:`WangLandauWalk` is one sweep of ``N``
single-spin proposals at random sites; the step takes ``beta`` like every
kernel and ignores it (a flat-histogram walk has no temperature), and its state
carries ``g``, ``H`` and ``f``. ``g`` is normalised so that
``sum_E g(E) = q^N``, the number of configurations.

From ``g``, at every ``beta`` at once (:func:`thermodynamics_from_density_of_states`):
``log Z = log sum_E g(E) e^{-beta E}``, ``F = -log Z / beta``,
``U = <E>``, ``C = beta^2 Var E``, ``S = beta (U - F)``.

Energies must lie on a grid ``E_min + k * spacing``: Ising lattices and
Edwards–Anderson ``±J`` glasses (spacing ``4 |J|``), Potts lattices (``|J|``).
"""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_count
from statjax.energy.ising import DenseIsing, IsingLattice, PottsLattice, SparseIsing
from statjax.pytree import Pytree, static_field, structure_key
from statjax.samplers.loop import init_chains, sample_chains
from statjax.types import PRNGKey


class WangLandauState(NamedTuple):
    """One walker.

    Attributes:
        position: spins (the model's ``spin_shape``).
        energy: the current energy.
        log_density: ``(num_levels,)`` the running ``log g(E)`` (not normalised).
        histogram: ``(num_levels,)`` int32 visits since the last refinement.
        visited: ``(num_levels,)`` bool, levels visited since the start.
        log_f: the modification factor ``log f``.
        num_moves: trial moves so far (float, ``j`` of the 1/t rule).
        one_over_t: whether the walk has switched to ``log f = 1/t``.
    """

    position: jax.Array
    energy: jax.Array
    log_density: jax.Array
    histogram: jax.Array
    visited: jax.Array
    log_f: jax.Array
    num_moves: jax.Array
    one_over_t: jax.Array


class WangLandauInfo(NamedTuple):
    """What one sweep did: the contract's two fields and the walker's ``log f``."""

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    log_f: jax.Array


def _energy_change(model, spins: jax.Array, site: jax.Array, new_value: jax.Array):
    """``E(spins with spins[site] = new_value) - E(spins)``; spins flat ``(N,)``."""
    if isinstance(model, IsingLattice):
        shape = model.shape
        index = jnp.unravel_index(site, shape)
        neighbour_sum = jnp.zeros((), jnp.float32)
        for axis, side in enumerate(shape):
            for shift in (-1, 1):
                moved = list(index)
                moved[axis] = (index[axis] + shift) % side
                neighbour_sum = (
                    neighbour_sum + spins[jnp.ravel_multi_index(moved, shape, mode="wrap")]
                )
        local_field = model.coupling * neighbour_sum + model.field
    elif isinstance(model, SparseIsing):
        neighbours = spins[model.neighbors[site]].astype(model.neighbor_couplings.dtype)
        local_field = jnp.sum(model.neighbor_couplings[site] * neighbours) + model.fields[site]
    elif isinstance(model, DenseIsing):
        local_field = (
            model.couplings[site] @ spins.astype(model.couplings.dtype) + model.fields[site]
        )
    else:
        shape = model.spin_shape
        old = model(spins.reshape(shape))
        return model(spins.at[site].set(new_value).reshape(shape)) - old
    # An Ising spin s -> -s changes E = -s (J-sum + h) by 2 s f.
    return 2.0 * spins[site].astype(jnp.float32) * local_field


class WangLandauWalk(Pytree):
    """Wang–Landau walker with the 1/t refinement for a discrete-energy spin model.

    Build it with :func:`wang_landau_walk`; one ``step`` is one sweep of ``N``
    single-spin proposals (module docstring). ``beta`` is accepted and ignored.
    """

    model: Any
    energy_min: jax.Array
    energy_spacing: jax.Array
    flatness: jax.Array
    num_levels: int = static_field()

    def _level(self, energy):
        return jnp.round((energy - self.energy_min) / self.energy_spacing).astype(jnp.int32)

    def init(self, position: jax.typing.ArrayLike) -> WangLandauState:
        """A walker at ``position`` with ``log g = 0``, ``H = 0``, ``log f = 1``."""
        position = jnp.asarray(position)
        energy = jnp.asarray(self.model(position), jnp.float32)
        zeros = jnp.zeros(self.num_levels, jnp.float32)
        return WangLandauState(
            position=position,
            energy=energy,
            log_density=zeros,
            histogram=jnp.zeros(self.num_levels, jnp.int32),
            visited=jnp.zeros(self.num_levels, bool).at[self._level(energy)].set(True),
            log_f=jnp.ones((), jnp.float32),
            num_moves=jnp.zeros((), jnp.float32),
            one_over_t=jnp.zeros((), bool),
        )

    def step(
        self, key: PRNGKey, state: WangLandauState, beta: jax.typing.ArrayLike
    ) -> tuple[WangLandauState, WangLandauInfo]:
        """One sweep of ``N`` proposals, then the refinement check (``beta`` is ignored)."""
        del beta  # a flat-histogram walk has no temperature
        shape = state.position.shape
        num_sites = int(np.prod(shape))
        values = jnp.asarray(self.model.spin_values, state.position.dtype)
        num_values = values.shape[0]
        site_key, value_key, accept_key = jax.random.split(as_key(key), 3)
        sites = jax.random.randint(site_key, (num_sites,), 0, num_sites)
        # A new value uniformly among the q - 1 others: the current index plus 1..q-1.
        offsets = jax.random.randint(value_key, (num_sites,), 1, num_values)
        log_uniforms = jnp.log(jax.random.uniform(accept_key, (num_sites,)))

        def propose(i, carry):
            spins, energy, log_density, histogram, visited, log_f, num_moves, accepted = carry
            site = sites[i]
            current = jnp.argmax(values == spins[site])
            new_value = values[(current + offsets[i]) % num_values]
            new_energy = energy + _energy_change(self.model, spins, site, new_value)
            old_level, new_level = self._level(energy), self._level(new_energy)
            inside = (new_level >= 0) & (new_level < self.num_levels)
            safe_level = jnp.clip(new_level, 0, self.num_levels - 1)
            accept = inside & (log_uniforms[i] < log_density[old_level] - log_density[safe_level])
            spins = jnp.where(accept, spins.at[site].set(new_value), spins)
            energy = jnp.where(accept, new_energy, energy)
            level = jnp.where(accept, safe_level, old_level)
            num_moves = num_moves + 1.0
            num_visited = jnp.sum(visited | (jnp.arange(self.num_levels) == level))
            log_f = jnp.where(state.one_over_t, num_visited / num_moves, log_f)
            return (
                spins,
                energy,
                log_density.at[level].add(log_f),
                histogram.at[level].add(1),
                visited.at[level].set(True),
                log_f,
                num_moves,
                accepted + accept,
            )

        carry = (
            state.position.reshape(-1),
            state.energy,
            state.log_density,
            state.histogram,
            state.visited,
            state.log_f,
            state.num_moves,
            jnp.zeros((), jnp.int32),
        )
        spins, energy, log_density, histogram, visited, log_f, num_moves, accepted = (
            jax.lax.fori_loop(0, num_sites, propose, carry)
        )
        counts = jnp.where(visited, histogram, 0).astype(jnp.float32)
        mean_count = jnp.sum(counts) / jnp.sum(visited)
        flat = jnp.all(~visited | ((histogram > 0) & (counts >= self.flatness * mean_count)))
        refine = flat & ~state.one_over_t
        log_f = jnp.where(refine, 0.5 * log_f, log_f)
        histogram = jnp.where(refine, 0, histogram)
        inverse_time = jnp.sum(visited) / num_moves
        one_over_t = state.one_over_t | (log_f < inverse_time)
        log_f = jnp.where(one_over_t & ~state.one_over_t, inverse_time, log_f)
        new_state = WangLandauState(
            spins.reshape(shape),
            energy,
            log_density,
            histogram,
            visited,
            log_f,
            num_moves,
            one_over_t,
        )
        info = WangLandauInfo(accepted.astype(jnp.float32) / num_sites, accepted > 0, log_f)
        return new_state, info


def energy_grid(model) -> tuple[float, float, int]:
    """``(energy_min, energy_spacing, num_levels)`` covering every energy of ``model``.

    Ising lattices and ``±J`` sparse/dense Ising models (zero fields): spacing
    ``4 |J|``, range ``±(number of bonds) |J|`` (with ``±J`` couplings every level
    is offset by the bond count's parity; use :func:`wang_landau`, which anchors
    the grid at the first walker's energy). Potts lattices: spacing ``|J|``,
    range ``[-d N |J|, 0]``.

    Example:
        >>> from statjax.energy.ising import square_ising
        >>> energy_grid(square_ising(4))
        (-32.0, 4.0, 17)
    """
    if isinstance(model, IsingLattice):
        if float(np.asarray(model.field)) != 0.0:
            raise ValueError("energy_grid: a field breaks the 4|J| spacing; pass a grid.")
        coupling = abs(float(np.asarray(model.coupling)))
        bonds = len(model.shape) * model.num_spins
        return -bonds * coupling, 4.0 * coupling, bonds // 2 + 1
    if isinstance(model, PottsLattice):
        if float(np.asarray(model.field)) != 0.0:
            raise ValueError("energy_grid: a field breaks the |J| spacing; pass a grid.")
        coupling = abs(float(np.asarray(model.coupling)))
        bonds = len(model.shape) * model.num_spins
        return -bonds * coupling, coupling, bonds + 1
    if isinstance(model, SparseIsing | DenseIsing):
        couplings = np.abs(
            np.asarray(
                model.neighbor_couplings if isinstance(model, SparseIsing) else model.couplings
            )
        )
        nonzero = couplings[couplings > 0]
        if nonzero.size == 0 or not np.allclose(nonzero, nonzero[0]) or np.any(model.fields != 0):
            raise ValueError(
                "energy_grid: only ±J couplings of one magnitude and zero fields lie on a grid; "
                "pass energy_min, energy_spacing and num_levels yourself."
            )
        total = float(couplings.sum()) / 2.0
        return -total, 4.0 * float(nonzero[0]), round(total / (2.0 * float(nonzero[0]))) + 1
    raise TypeError(f"energy_grid does not know {type(model).__name__}; pass the grid yourself.")


def wang_landau_walk(
    model,
    energy_min: float,
    energy_spacing: float,
    num_levels: int,
    flatness: float = 0.0,
) -> WangLandauWalk:
    """A :class:`WangLandauWalk` on the grid ``energy_min + k * energy_spacing`` (``num_levels``).

    Example:
        >>> from statjax.energy.ising import square_ising
        >>> walk = wang_landau_walk(square_ising(4), *energy_grid(square_ising(4)))
        >>> walk.num_levels
        17
    """
    if not (np.isfinite(energy_spacing) and energy_spacing > 0):
        raise ValueError(f"energy_spacing must be finite and > 0, got {energy_spacing!r}.")
    if not 0.0 <= flatness < 1.0:
        raise ValueError(f"flatness must lie in [0, 1), got {flatness!r}.")
    return WangLandauWalk(
        model,
        jnp.asarray(energy_min, jnp.float32),
        jnp.asarray(energy_spacing, jnp.float32),
        jnp.asarray(flatness, jnp.float32),
        check_count("num_levels", num_levels, minimum=2),
    )


class DensityOfStates(NamedTuple):
    """``log g(E)`` from independent Wang–Landau walkers.

    Attributes:
        energies: ``(num_levels,)`` the grid.
        log_density: ``(num_walkers, num_levels)`` each walker's ``log g``,
            normalised to ``sum_E g(E) = q^N``; ``-inf`` where never visited.
        mean: ``(num_levels,)`` mean over walkers of ``log g``.
        standard_error: ``(num_levels,)`` standard deviation over walkers / sqrt(walkers).
        visited: ``(num_levels,)`` levels every walker visited.
        log_f: ``(num_walkers,)`` final modification factors.
        final_states: the walkers' states.
    """

    energies: np.ndarray
    log_density: np.ndarray
    mean: np.ndarray
    standard_error: np.ndarray
    visited: np.ndarray
    log_f: np.ndarray
    final_states: WangLandauState


_CHUNK = 1000
"""Sweeps per compiled call: runs of any length share (at most) two programs."""


@partial(jax.jit, static_argnames=("num_sweeps", "structure"))
def _walk(walk, key, states, start_step, *, num_sweeps, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    return sample_chains(walk, key, states, num_sweeps, start_step=start_step)[0]


def wang_landau(
    model: IsingLattice | PottsLattice | DenseIsing | SparseIsing,
    key: PRNGKey,
    initial: jax.typing.ArrayLike,
    num_sweeps: int,
    *,
    grid: tuple[float, float, int] | None = None,
    flatness: float = 0.0,
) -> DensityOfStates:
    """``g(E)`` of ``model`` from independent Wang–Landau walkers with the 1/t rule.

    Args:
        model: an Ising, Potts or ``±J`` spin model (:mod:`statjax.energy.ising`).
        key: PRNG key (typed or legacy); walkers follow the driver's key rule.
        initial: ``(num_walkers, *spin_shape)`` starting spins (at least 2 walkers).
        num_sweeps: sweeps (``N`` proposals each) per walker.
        grid: ``(energy_min, energy_spacing, num_levels)``; default
            :func:`energy_grid`, anchored at the first walker's energy.
        flatness: 0 (Belardinelli & Pereyra's "every level seen") or e.g. 0.8
            (Wang & Landau's flat histogram) for the first phase.

    Returns:
        A :class:`DensityOfStates`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.energy.ising import square_ising
        >>> spins = jnp.ones((8, 4, 4), jnp.int8)
        >>> dos = wang_landau(square_ising(4), jax.random.key(0), spins, 2000)
        >>> print(round(float(dos.mean[0]), 1))  # two ground states: log 2 = 0.69
        0.6
    """
    key = as_key(key)
    num_sweeps = check_count("num_sweeps", num_sweeps)
    initial = jnp.asarray(initial)
    if initial.ndim < 1 or initial.shape[0] < 2:
        raise ValueError(f"initial must hold >= 2 walkers (leading axis), got {initial.shape}.")
    energy_min, spacing, num_levels = energy_grid(model) if grid is None else grid
    if grid is None:
        # Anchor the grid at a reachable energy (±J glasses sit on an offset grid).
        first = float(model(initial[0]))
        energy_min = first - spacing * np.floor((first - energy_min) / spacing + 1e-6)
    walk = wang_landau_walk(model, energy_min, spacing, num_levels, flatness)
    states = init_chains(walk, initial)
    done = 0
    while done < num_sweeps:
        size = min(_CHUNK, num_sweeps - done)
        states = _walk(walk, key, states, done, num_sweeps=size, structure=structure_key(walk))
        done += size
    visited = np.asarray(np.asarray(states.visited).all(axis=0))
    log_density = np.where(visited, np.asarray(states.log_density, np.float64), -np.inf)
    num_states = len(model.spin_values) ** int(np.prod(initial.shape[1:]))
    log_density = log_density - _logsumexp(log_density, axis=1)[:, None] + np.log(num_states)
    mean = np.where(visited, np.mean(np.where(visited, log_density, 0.0), axis=0), -np.inf)
    spread = np.std(np.where(visited, log_density, 0.0), axis=0, ddof=1)
    energies = energy_min + spacing * np.arange(num_levels)
    return DensityOfStates(
        energies,
        log_density,
        mean,
        spread / np.sqrt(initial.shape[0]),
        visited,
        np.asarray(states.log_f),
        states,
    )


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(values - top), axis=axis))


class ThermodynamicsFromDensity(NamedTuple):
    """Per-spin ``F, U, S, C`` at every ``beta``: means and standard errors over walkers.

    Every field is ``(2, num_betas)``: row 0 the mean over walkers, row 1 the
    standard error (standard deviation / sqrt(walkers)); ``log_z`` is total.
    """

    betas: np.ndarray
    log_z: np.ndarray
    free_energy: np.ndarray
    internal_energy: np.ndarray
    entropy: np.ndarray
    heat_capacity: np.ndarray


def thermodynamics_from_density_of_states(
    dos: DensityOfStates, betas: jax.typing.ArrayLike, num_spins: int
) -> ThermodynamicsFromDensity:
    """``log Z``, and per spin ``f, u, s, c``, at every ``beta`` from each walker's ``g(E)``.

    ``log Z = logsumexp_E(log g(E) - beta E)``; ``f = -log Z / (beta N)``;
    ``u = <E> / N``; ``c = beta^2 Var(E) / N``; ``s = beta (u - f)``. Means and
    standard errors over the independent walkers.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.energy.ising import square_ising
        >>> spins = jnp.ones((8, 4, 4), jnp.int8)
        >>> dos = wang_landau(square_ising(4), jax.random.key(0), spins, 2000)
        >>> thermo = thermodynamics_from_density_of_states(dos, [0.0], 16)
        >>> print(round(float(thermo.log_z[0, 0]), 3))  # 16 log 2
        11.09
    """
    num_spins = check_count("num_spins", num_spins)
    betas = np.atleast_1d(np.asarray(betas, np.float64))
    energies = dos.energies[None, None, :]
    log_weights = dos.log_density[:, None, :] - betas[None, :, None] * energies  # (W, B, E)
    log_z = _logsumexp(log_weights, axis=2)
    probabilities = np.exp(log_weights - log_z[..., None])
    mean_energy = np.sum(probabilities * energies, axis=2)
    variance = np.sum(probabilities * (energies - mean_energy[..., None]) ** 2, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        free_energy = -log_z / (betas * num_spins)
    internal = mean_energy / num_spins
    entropy = (log_z + betas * mean_energy) / num_spins
    capacity = betas**2 * variance / num_spins
    root = np.sqrt(dos.log_density.shape[0])

    def summary(values):
        with np.errstate(invalid="ignore"):  # f = inf at beta = 0
            return np.stack([values.mean(axis=0), values.std(axis=0, ddof=1) / root])

    return ThermodynamicsFromDensity(
        betas,
        summary(log_z),
        summary(free_energy),
        summary(internal),
        summary(entropy),
        summary(capacity),
    )


def exact_density_of_states(model, grid: tuple[float, float, int] | None = None) -> np.ndarray:
    """``log g(E)`` on the grid by enumerating every configuration (``-inf``: no state).

    The reference Wang–Landau is tested against; for small periodic Ising lattices
    it is Beale's (1996, Phys. Rev. Lett. 76, 78) exact density of states.

    Example:
        >>> from statjax.energy.ising import square_ising
        >>> log_g = exact_density_of_states(square_ising(2))
        >>> [int(round(float(x))) for x in np.exp(log_g)]  # 2x2 periodic: E = -8, 0, 8
        [2, 0, 12, 0, 2]
    """
    from statjax.thermo.exact import MAX_CONFIGURATIONS

    energy_min, spacing, num_levels = energy_grid(model) if grid is None else grid
    shape, values = tuple(model.spin_shape), np.asarray(model.spin_values)
    num_spins = int(np.prod(shape))
    total = len(values) ** num_spins
    if total > MAX_CONFIGURATIONS:
        raise ValueError(f"{total} configurations are too many to enumerate.")
    counts = np.zeros(num_levels, np.int64)
    energy = jax.jit(jax.vmap(model))
    chunk = min(total, 2**16)
    for first in range(0, total, chunk):
        index = np.arange(first, min(first + chunk, total))
        digits = (index[:, None] // len(values) ** np.arange(num_spins)) % len(values)
        spins = jnp.asarray(values[digits].reshape((-1, *shape)), jnp.int8)
        levels = np.round((np.asarray(energy(spins)) - energy_min) / spacing).astype(np.int64)
        counts += np.bincount(levels, minlength=num_levels)[:num_levels]
    with np.errstate(divide="ignore"):
        return np.log(counts.astype(np.float64))


__all__ = [
    "DensityOfStates",
    "ThermodynamicsFromDensity",
    "WangLandauInfo",
    "WangLandauState",
    "WangLandauWalk",
    "energy_grid",
    "exact_density_of_states",
    "thermodynamics_from_density_of_states",
    "wang_landau",
    "wang_landau_walk",
]
