"""Checkerboard, graph-coloured and sequential sweeps (statjax/samplers/lattice.py).

Statistical checks against exact enumeration: for every kernel and rule, 64
independent chains at each of three temperatures (one ``run_chains`` call, beta
per chain); the mean energy and the heat capacity must agree with the exact
values within ``NUM_SIGMA`` standard errors, the errors from the jackknife over
independent chains (``statjax.thermo.observables``). Seeds are fixed.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src.random.threefry2x32 import threefry_2x32

import statjax
from statjax.energy.ising import (
    DenseIsing,
    IsingLattice,
    PottsLattice,
    edwards_anderson,
    sherrington_kirkpatrick,
    square_ising,
)
from statjax.samplers import lattice
from statjax.samplers.lattice import (
    checkerboard,
    colored_sweep,
    greedy_coloring,
    sequential_sweep,
    site_uniforms,
    threefry2x32,
)
from statjax.thermo.exact import exact_thermodynamics
from statjax.thermo.observables import energy_per_spin, heat_capacity_per_spin

NUM_SIGMA = 5.0
"""Tolerance in standard errors (two-sided p ~ 6e-7 per comparison, fixed seeds)."""

NUM_CHAINS, NUM_SWEEPS, BURN_IN = 64, 1000, 200


def assert_matches_exact(kernel, model, betas, seed=0):
    """``NUM_CHAINS`` chains per beta from random spins; <E> and C against enumeration."""
    betas = np.asarray(betas, np.float32)
    beta_per_chain = np.repeat(betas, NUM_CHAINS)
    values = jnp.asarray(model.spin_values, jnp.int8)
    shape = (beta_per_chain.size, *model.spin_shape)
    positions = values[jax.random.randint(jax.random.key(seed + 100), shape, 0, len(values))]
    final, energies = statjax.run_chains(
        kernel,
        jax.random.key(seed),
        positions,
        NUM_SWEEPS,
        beta=beta_per_chain,
        observe=lambda state: state.energy,
    )
    # (draws, chains per beta, betas): chain axis second, one batch element per beta.
    trace = energies[BURN_IN:].reshape(-1, betas.size, NUM_CHAINS).transpose(0, 2, 1)
    num_spins = int(np.prod(model.spin_shape))
    exact = exact_thermodynamics(model, betas)
    energy = energy_per_spin(trace, num_spins)
    heat_capacity = heat_capacity_per_spin(trace, betas, num_spins)
    energy_z = (energy.value - exact.mean_energy / num_spins) / energy.error
    heat_capacity_z = (heat_capacity.value - exact.heat_capacity / num_spins) / heat_capacity.error
    assert np.all(np.abs(energy_z) < NUM_SIGMA), f"<E> off by {energy_z} standard errors"
    assert np.all(np.abs(heat_capacity_z) < NUM_SIGMA), f"C off by {heat_capacity_z} std. errors"
    # The cached energy is the model's energy of the final spins (to float32 rounding).
    np.testing.assert_allclose(final.energy, jax.vmap(model)(final.position), atol=1e-5)
    return final


RULES = ["metropolis", "heat_bath"]


@pytest.mark.parametrize("rule", RULES)
def test_checkerboard_ising_4x4_matches_exact(rule):
    model = square_ising(4)
    final = assert_matches_exact(checkerboard(model, rule), model, [0.25, 0.4406868, 0.7])
    magnetization = jnp.sum(final.position.astype(jnp.int32), axis=(1, 2))
    np.testing.assert_array_equal(final.magnetization, magnetization)
    np.testing.assert_array_equal(final.energy, jax.vmap(model)(final.position))  # integers


def test_checkerboard_with_random_numbers_inside_the_half_sweeps(monkeypatch):
    # Large lattices draw their uniforms inside each half-sweep; force that path here.
    monkeypatch.setattr(lattice, "INLINE_RANDOM_MIN_SITES", 1)
    model = square_ising(4)
    assert_matches_exact(checkerboard(model), model, [0.3, 0.6], seed=5)


@pytest.mark.parametrize("rule", RULES)
def test_checkerboard_cubic_ising_with_field_matches_exact(rule):
    # 16 spins on a periodic 2 x 2 x 4 cubic lattice, J = 1, h = 0.3.
    model = IsingLattice((2, 2, 4), jnp.asarray(1.0), jnp.asarray(0.3))
    assert_matches_exact(checkerboard(model, rule), model, [0.1, 0.2, 0.35], seed=1)


@pytest.mark.parametrize("rule", RULES)
def test_checkerboard_potts_matches_exact(rule):
    # 12 three-state spins (3^12 = 531441 configurations), field favouring state 0.
    model = PottsLattice((2, 6), 3, jnp.asarray(1.0), jnp.asarray(0.2))
    assert_matches_exact(checkerboard(model, rule), model, [0.5, 1.0, 1.6], seed=2)


@pytest.mark.parametrize("rule", RULES)
def test_colored_sweep_edwards_anderson_matches_exact(rule):
    fields = 0.2 * np.asarray(jax.random.normal(jax.random.key(5), (16,)))
    model = edwards_anderson(jax.random.key(3), (4, 4), fields=fields)
    kernel = colored_sweep(model, rule)
    assert kernel.num_colors == 2
    assert_matches_exact(kernel, model, [0.3, 0.6, 1.0], seed=3)


@pytest.mark.parametrize("rule", RULES)
def test_sequential_sweep_sherrington_kirkpatrick_matches_exact(rule):
    sk = sherrington_kirkpatrick(jax.random.key(4), 12)
    model = DenseIsing(sk.couplings, 0.3 * jax.random.normal(jax.random.key(6), (12,)))
    assert_matches_exact(sequential_sweep(model, rule), model, [0.5, 1.0, 2.0], seed=4)


def test_threefry_matches_jax():
    seeds = jnp.array([123, 456], jnp.uint32)
    counters = jnp.arange(10, dtype=jnp.uint32)
    first, second = threefry2x32(seeds[0], seeds[1], counters[:5], counters[5:])
    np.testing.assert_array_equal(jnp.concatenate([first, second]), threefry_2x32(seeds, counters))


def test_site_uniforms_are_uniform():
    uniforms = site_uniforms(jax.random.key(0), (64, 64), num=3)
    assert uniforms.shape == (3, 64, 64) and uniforms.dtype == jnp.float32
    assert float(uniforms.min()) >= 0.0 and float(uniforms.max()) < 1.0
    # Mean and variance of 12288 uniforms: 1/2 ± 0.0026 and 1/12 ± 0.0007 (1 sigma).
    assert abs(float(uniforms.mean()) - 0.5) < 0.013
    assert abs(float(uniforms.var()) - 1 / 12) < 0.004
    other = site_uniforms(jax.random.key(1), (64, 64), num=3)
    assert abs(float(jnp.corrcoef(uniforms.ravel(), other.ravel())[0, 1])) < 0.05


def test_greedy_coloring_is_proper():
    model = edwards_anderson(jax.random.key(0), (3, 5))  # odd sides: not bipartite
    colors = greedy_coloring(np.asarray(model.neighbors), np.asarray(model.neighbor_couplings))
    neighbors = np.asarray(model.neighbors)
    assert all(colors[i] != colors[j] for i in range(15) for j in neighbors[i])
    assert colors.max() + 1 <= 5


def test_zero_temperature_limit_descends_to_the_ground_state():
    model = square_ising(8)
    kernel = checkerboard(model)
    final, _ = statjax.run_chains(
        kernel, jax.random.key(0), jnp.ones((2, 8, 8), jnp.int8), 20, beta=50.0
    )
    np.testing.assert_array_equal(final.energy, -128.0)


def test_new_beta_and_coupling_do_not_recompile():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def sweep(kernel, key, state, beta):
        return kernel.step(key, state, beta)

    spins = jnp.ones((4, 4), jnp.int8)
    for coupling, beta in [(1.0, 0.3), (0.5, 0.9), (-1.0, 0.2)]:
        kernel = checkerboard(square_ising(4, coupling, 0.1))
        state, info = sweep(kernel, jax.random.key(0), kernel.init(spins), beta)
        assert float(state.energy) == float(kernel.model(state.position))
        assert 0.0 <= float(info.acceptance_rate) <= 1.0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="even lattice sides"):
        checkerboard(square_ising(5))
    with pytest.raises(ValueError, match="rule"):
        checkerboard(square_ising(4), rule="glauber")
    with pytest.raises(TypeError, match="SparseIsing"):
        checkerboard(edwards_anderson(jax.random.key(0), (4, 4)))
    with pytest.raises(TypeError, match="DenseIsing"):
        sequential_sweep(square_ising(4))
    with pytest.raises(TypeError, match="SparseIsing"):
        colored_sweep(square_ising(4))
