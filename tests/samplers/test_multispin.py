"""Multi-spin coded checkerboard sweeps (statjax/samplers/multispin.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import IsingLattice
from statjax.samplers.multispin import (
    multispin_checkerboard,
    pack_spins,
    packed_layout,
    unpack_spins,
)
from statjax.thermo.exact import exact_thermodynamics
from statjax.thermo.observables import energy_per_spin

NUM_SIGMA = 5.0
"""Tolerance in standard errors (jackknife over independent chains; fixed seeds)."""
BETAS = np.array([0.15, 0.3, 0.45], np.float32)
"""Up to ~2 beta_c of the 3-D lattice, below where local moves get trapped in one phase."""
NUM_CHAINS = 48


def _observe(state):
    return state.energy, state.magnetization


# Shapes: 2 and 3 bits per word; hi_bits=2 sends about a quarter of the spins
# through the refinement rounds, the default 8 one in 256.
@pytest.mark.parametrize(
    ("shape", "field", "rule", "hi_bits"),
    [
        ((4, 4), 0.1, "metropolis", 8),
        ((6, 2, 2), 0.0, "heat_bath", 2),
    ],
)
def test_multispin_matches_the_enumerated_law(shape, field, rule, hi_bits):
    model = IsingLattice(shape, jnp.asarray(1.0), jnp.asarray(field))
    num_spins = model.num_spins
    kernel = multispin_checkerboard(model, rule, hi_bits=hi_bits)
    spins = jax.random.rademacher(
        jax.random.key(1), (len(BETAS) * NUM_CHAINS, *shape), dtype=jnp.int8
    )
    final, (energies, magnetizations) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        spins,
        400,
        beta=np.repeat(BETAS, NUM_CHAINS),
        observe=_observe,
    )
    exact = exact_thermodynamics(model, BETAS, lambda s: jnp.sum(s.astype(jnp.float32)))

    def z_scores(trace, expected):
        trace = np.asarray(trace, np.float32)[100:]
        trace = trace.reshape(-1, len(BETAS), NUM_CHAINS).transpose(0, 2, 1)
        estimate = energy_per_spin(trace, 1)
        return (np.asarray(estimate.value) - np.asarray(expected)) / np.asarray(estimate.error)

    energy_z = z_scores(energies, exact.mean_energy)
    magnetization_z = z_scores(magnetizations, exact.observables)
    assert np.all(np.abs(energy_z) < NUM_SIGMA), f"<E> off by {energy_z} standard errors"
    assert np.all(np.abs(magnetization_z) < NUM_SIGMA), f"<M> off by {magnetization_z} s.e."
    # The kept sums are exact: they equal the energy of the unpacked spins.
    unpacked = jax.vmap(kernel.spins)(final.position)
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(unpacked))
    np.testing.assert_array_equal(
        final.magnetization, unpacked.reshape(len(unpacked), num_spins).sum(axis=1)
    )


def test_full_words_keep_exact_sums_and_are_bit_identical():
    # 64 sites along the packed axis: 32 spins per word, the production layout.
    shape = (64, 6)
    assert packed_layout(shape) == (2, 32)
    model = IsingLattice(shape, jnp.asarray(1.0), jnp.asarray(0.3))
    kernel = multispin_checkerboard(model)
    spins = jax.random.rademacher(jax.random.key(3), (3, *shape), dtype=jnp.int8)
    np.testing.assert_array_equal(
        jax.vmap(unpack_spins, (0, None))(jax.vmap(pack_spins)(spins), shape), spins
    )
    betas = jnp.array([0.3, 0.6, jnp.inf])
    runs = [
        statjax.run_chains(kernel, jax.random.key(0), spins, 6, beta=betas, observe=_observe)
        for _ in range(2)
    ]
    jax.tree_util.tree_map(np.testing.assert_array_equal, runs[0], runs[1])
    final, (energies, _) = runs[0]
    unpacked = jax.vmap(kernel.spins)(final.position)
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(unpacked))
    np.testing.assert_array_equal(final.magnetization, unpacked.sum(axis=(1, 2)))
    # Zero temperature never raises the energy; init takes the packed words too.
    assert np.all(np.diff(np.asarray(energies)[:, 2]) <= 0)
    again = kernel.init(final.position[0])
    assert again.energy == final.energy[0] and again.bond_sum == final.bond_sum[0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="even"):
        multispin_checkerboard(IsingLattice((6, 5)))
    with pytest.raises(ValueError, match="d >= 2"):
        multispin_checkerboard(IsingLattice((8,)))
    with pytest.raises(ValueError, match="hi_bits"):
        multispin_checkerboard(IsingLattice((8, 8)), hi_bits=3)
    with pytest.raises(ValueError, match="rule"):
        multispin_checkerboard(IsingLattice((8, 8)), rule="glauber")
    with pytest.raises(TypeError, match="IsingLattice"):
        multispin_checkerboard(lambda s: 0.0)
    with pytest.raises(ValueError, match="shape"):
        multispin_checkerboard(IsingLattice((8, 8))).init(jnp.ones((4, 4), jnp.int8))
