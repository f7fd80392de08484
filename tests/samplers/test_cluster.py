"""Swendsen–Wang cluster updates (statjax/samplers/cluster.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph

import statjax
from statjax.diagnostics import integrated_autocorrelation_time
from statjax.energy.ising import IsingLattice, lattice_edges, square_ising
from statjax.samplers.cluster import connected_components, swendsen_wang, wolff
from statjax.samplers.lattice import checkerboard
from statjax.thermo.exact import exact_thermodynamics
from statjax.thermo.observables import energy_per_spin, heat_capacity_per_spin
from statjax.thermo.onsager import CRITICAL_BETA

NUM_SIGMA = 5.0
"""Tolerance in standard errors (fixed seeds)."""


@pytest.mark.parametrize("field", [0.0, 0.2])
def test_swendsen_wang_4x4_matches_exact(field):
    model = IsingLattice((4, 4), jnp.asarray(1.0), jnp.asarray(field))
    betas = np.array([0.25, CRITICAL_BETA, 0.7], np.float32)
    num_chains = 64
    spins = jax.random.rademacher(jax.random.key(1), (3 * num_chains, 4, 4), dtype=jnp.int8)
    final, energies = statjax.run_chains(
        swendsen_wang(model),
        jax.random.key(0),
        spins,
        600,
        beta=np.repeat(betas, num_chains),
        observe=lambda state: state.energy,
    )
    trace = energies[100:].reshape(-1, 3, num_chains).transpose(0, 2, 1)
    exact = exact_thermodynamics(model, betas)
    energy = energy_per_spin(trace, 16)
    heat_capacity = heat_capacity_per_spin(trace, betas, 16)
    energy_z = (energy.value - exact.mean_energy / 16) / energy.error
    heat_capacity_z = (heat_capacity.value - exact.heat_capacity / 16) / heat_capacity.error
    assert np.all(np.abs(energy_z) < NUM_SIGMA), f"<E> off by {energy_z} standard errors"
    assert np.all(np.abs(heat_capacity_z) < NUM_SIGMA), f"C off by {heat_capacity_z} std. errors"
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(final.position))
    np.testing.assert_array_equal(final.magnetization, final.position.sum(axis=(1, 2)))


@pytest.mark.parametrize("shape", [(8, 8), (4, 6, 4)])
def test_connected_components_match_scipy(shape):
    key_bonds, _ = jax.random.split(jax.random.key(0))
    bonds = jax.random.uniform(key_bonds, (len(shape), *shape)) < 0.45
    labels, iterations = connected_components(bonds)
    edges = lattice_edges(shape)
    active = np.asarray(bonds).reshape(-1)  # bond a * N + i, as lattice_edges orders them
    size = int(np.prod(shape))
    graph = scipy.sparse.coo_matrix(
        (np.ones(active.sum()), (edges[active, 0], edges[active, 1])), shape=(size, size)
    )
    num_components, reference = scipy.sparse.csgraph.connected_components(graph, directed=False)
    labels = np.asarray(labels).reshape(-1)
    # Same partition: labels <-> reference is a bijection; every label is its cluster's minimum.
    pairs = set(zip(labels.tolist(), reference.tolist(), strict=True))
    assert len(pairs) == num_components == len(set(labels.tolist()))
    for label in set(labels.tolist()):
        assert label == np.flatnonzero(labels == label).min()
    assert int(iterations) >= 1


def abs_magnetization(state):
    return jnp.abs(state.magnetization)


def test_cluster_moves_decorrelate_much_faster_at_the_critical_point():
    # L = 16 at beta_c, tau = 1 + 2 sum rho (twice Sokal's tau_int). Measured with
    # 16 x 6000 sweeps: Swendsen-Wang ~6, checkerboard Metropolis ~20, heat bath ~67;
    # at L = 32: ~7, ~70, ~160 (local moves: tau ~ L^2.17, clusters: ~L^0.3).
    model = square_ising(16)
    spins = jnp.ones((16, 16, 16), jnp.int8)
    kernels = {
        "metropolis": checkerboard(model),
        "heat_bath": checkerboard(model, "heat_bath"),
        "swendsen_wang": swendsen_wang(model),
    }
    taus = {}
    for name, kernel in kernels.items():
        _, trace = statjax.run_chains(
            kernel, jax.random.key(2), spins, 2000, beta=CRITICAL_BETA, observe=abs_magnetization
        )
        taus[name] = float(integrated_autocorrelation_time(trace[400:]))
    assert taus["swendsen_wang"] < 10.0, taus
    assert taus["metropolis"] > 2.5 * taus["swendsen_wang"], taus
    assert taus["heat_bath"] > 6.0 * taus["swendsen_wang"], taus


def test_antiferromagnet_is_rejected():
    with pytest.raises(ValueError, match="ferromagnet"):
        swendsen_wang(square_ising(4, coupling=-1.0))
    with pytest.raises(TypeError, match="IsingLattice"):
        swendsen_wang(lambda spins: 0.0)


def test_cluster_info_follows_the_contract():
    kernel = swendsen_wang(IsingLattice((8, 8), jnp.asarray(1.0), jnp.asarray(0.1)))
    spins = jax.random.rademacher(jax.random.key(1), (4, 8, 8), dtype=jnp.int8)
    _, (rate, accepted, changed) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        spins,
        20,
        beta=0.3,
        observe=lambda s, i: (i.acceptance_rate, i.is_accepted, i.fraction_changed),
    )
    np.testing.assert_array_equal(rate, 1.0)  # rejection-free
    np.testing.assert_array_equal(accepted, changed > 0)
    assert 0.0 < float(changed.mean()) < 1.0


@pytest.mark.parametrize("field", [0.0, 0.5])
def test_zero_temperature_never_raises_the_energy(field):
    # beta = inf bonds every satisfied pair: domains flip as wholes, which can only
    # satisfy boundaries (h = 0) or align with the field.
    model = IsingLattice((8, 8), jnp.asarray(1.0), jnp.asarray(field))
    spins = jax.random.rademacher(jax.random.key(3), (4, 8, 8), dtype=jnp.int8)
    final, energy = statjax.run_chains(
        swendsen_wang(model), jax.random.key(0), spins, 10, beta=jnp.inf, observe=lambda s: s.energy
    )
    energy = np.asarray(energy)
    assert np.all(np.isfinite(energy)) and np.all(np.diff(energy, axis=0) <= 0)
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(final.position))
    if field > 0:
        np.testing.assert_array_equal(final.position, 1)  # every cluster takes the field


def test_too_large_lattices_are_refused_without_allocation():
    with pytest.raises(ValueError, match="side of at most 894"):
        swendsen_wang(IsingLattice((896, 896, 896)))
    with jax.enable_x64(True):
        with pytest.raises(ValueError, match="int32 site indices"):
            swendsen_wang(IsingLattice((65536, 65536)))
        state = jax.eval_shape(
            swendsen_wang(IsingLattice((896, 896, 896))).init,
            jax.ShapeDtypeStruct((896, 896, 896), jnp.int8),
        )
        assert state.bond_sum.dtype == jnp.int64
        model = IsingLattice((4, 6), jnp.asarray(1.0), jnp.asarray(0.2))
        final, _ = statjax.run_chains(
            swendsen_wang(model), jax.random.key(0), jnp.ones((2, 4, 6), jnp.int8), 5, beta=0.4
        )
        assert final.magnetization.dtype == jnp.int64
        np.testing.assert_allclose(final.energy, jax.vmap(model)(final.position))


def test_wolff_4x4_matches_exact():
    # Jackknife over 64 independent chains per beta; one cluster flip per step.
    model = IsingLattice((4, 4), jnp.asarray(1.0), jnp.asarray(0.1))
    betas = np.array([0.3, CRITICAL_BETA, 0.7], np.float32)
    num_chains = 64
    spins = jax.random.rademacher(jax.random.key(1), (3 * num_chains, 4, 4), dtype=jnp.int8)
    final, (energies, magnetizations) = statjax.run_chains(
        wolff(model),
        jax.random.key(0),
        spins,
        800,
        beta=np.repeat(betas, num_chains),
        observe=lambda state: (state.energy, state.magnetization),
    )
    exact = exact_thermodynamics(model, betas, lambda s: jnp.sum(s.astype(jnp.float32)))
    for trace, expected in ((energies, exact.mean_energy), (magnetizations, exact.observables)):
        trace = np.asarray(trace, np.float32)[200:].reshape(-1, 3, num_chains).transpose(0, 2, 1)
        estimate = energy_per_spin(trace, 1)
        z = (np.asarray(estimate.value) - np.asarray(expected)) / np.asarray(estimate.error)
        assert np.all(np.abs(z) < NUM_SIGMA), f"off by {z} standard errors"
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(final.position))
    np.testing.assert_array_equal(final.magnetization, final.position.sum(axis=(1, 2)))
    with pytest.raises(ValueError, match="ferromagnet"):
        wolff(square_ising(4, coupling=-1.0))
