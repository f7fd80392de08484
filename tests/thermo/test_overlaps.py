"""Replica overlaps of the SK model above T_c against exact enumeration.

At N = 12 the finite-size correction to the thermodynamic-limit value
``N <q^2> = 1 / (1 - beta^2)`` is large and instance dependent, so the
reference is the exact ``<q^2> = N^-2 sum_ij <s_i s_j>^2`` of the instance,
by enumeration of its 2^12 configurations. Tolerance: ``K = 4`` jackknife
standard errors over 64 independent replica pairs; fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import sherrington_kirkpatrick
from statjax.samplers.lattice import sequential_sweep
from statjax.thermo.overlaps import (
    overlap_bin_edges,
    overlap_distribution,
    overlap_statistics,
    replica_overlap,
)

K = 4.0
NUM_SPINS = 12
BETA = 0.5
NUM_PAIRS = 64


@pytest.fixture(scope="module")
def sk_overlaps():
    model = sherrington_kirkpatrick(jax.random.key(0), NUM_SPINS)
    initial = jax.random.rademacher(jax.random.key(1), (2 * NUM_PAIRS, NUM_SPINS), jnp.int8)
    _, spins = statjax.run_chains(
        sequential_sweep(model, "heat_bath"),
        jax.random.key(2),
        initial,
        1000,
        beta=BETA,
        observe=lambda state: state.position,
    )
    overlaps = replica_overlap(spins[100:, 0::2], spins[100:, 1::2])  # (time, pairs)
    return model, np.asarray(overlaps).T  # pairs are the independent groups


def test_sk_overlap_above_tc_matches_enumeration(sk_overlaps):
    model, overlaps = sk_overlaps
    exact = statjax.thermo.exact_thermodynamics(
        model, BETA, observable=lambda s: jnp.outer(s, s).astype(jnp.float32)
    )
    exact_q2 = float(jnp.sum(exact.observables**2)) / NUM_SPINS**2
    stats = overlap_statistics(overlaps, NUM_SPINS)
    assert abs(float(stats.q_mean.value)) < K * float(stats.q_mean.error)
    chi = stats.spin_glass_susceptibility
    assert abs(float(chi.value) - NUM_SPINS * exact_q2) < K * float(chi.error)
    assert float(chi.error) < 0.1 * float(chi.value)
    # P(q) is one peak centred at q = 0.
    edges, density = overlap_distribution(overlaps, NUM_SPINS, num_bins=13)
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert abs(centres[np.argmax(density)]) < 1e-6
    assert np.allclose(density, density[::-1])


def test_potts_and_ising_overlaps():
    a = jnp.array([[0, 1, 2, 0]])
    assert float(replica_overlap(a, a, num_states=3)[0]) == 1.0
    assert float(replica_overlap(a, (a + 1) % 3, num_states=3)[0]) == pytest.approx(-0.5)
    lattice = jnp.ones((3, 4, 4))
    assert replica_overlap(lattice, -lattice, num_spin_axes=2).tolist() == [-1.0, -1.0, -1.0]
    assert overlap_bin_edges(12, 13).size == 14
    with pytest.raises(ValueError, match="shape"):
        replica_overlap(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="2 independent groups"):
        overlap_statistics(np.zeros((1, 5)), 10)
