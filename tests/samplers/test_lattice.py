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


# ------------------------------------------------------------ acceptance (contract)


def numpy_parity(shape):
    return (sum(np.indices(shape)) % 2).astype(bool)


def numpy_flip_probability(rule, spins, coupling, field, beta):
    """Per-site flip probability of an Ising spin, ``Delta E = 2 s (J n + h)``."""
    neighbours = sum(np.roll(spins, shift, axis) for axis in range(spins.ndim) for shift in (1, -1))
    change = 2.0 * spins * (coupling * neighbours + field)
    if rule == "metropolis":
        return np.minimum(1.0, np.exp(-beta * change))
    return 1.0 / (1.0 + np.exp(beta * change))


@pytest.mark.parametrize("rule", RULES)
def test_acceptance_rate_is_the_mean_flip_probability_of_the_sweep(rule):
    # Sublattice 0 is updated first from the initial spins; sublattice 1 from the
    # spins after the first half-sweep, which are the final spins on sublattice 0.
    model = IsingLattice((6, 4, 4), jnp.asarray(1.0), jnp.asarray(0.3))
    kernel = checkerboard(model, rule)
    beta = 0.35
    spins = np.asarray(jax.random.rademacher(jax.random.key(2), model.shape, dtype=jnp.int8))
    for seed in range(3):
        state, info = jax.jit(kernel.step)(jax.random.key(seed), kernel.init(spins), beta)
        final = np.asarray(state.position).astype(np.float64)
        odd = numpy_parity(model.shape)
        halfway = np.where(odd, spins, final)
        first = numpy_flip_probability(rule, spins.astype(np.float64), 1.0, 0.3, beta)
        second = numpy_flip_probability(rule, halfway, 1.0, 0.3, beta)
        expected = np.where(odd, second, first).mean()
        # The sweep realises ceil(2^24 p) / 2^24: within 2^-24 of p.
        np.testing.assert_allclose(float(info.acceptance_rate), expected, atol=2e-7)
        changed = np.mean(final != spins)
        assert float(info.fraction_changed) == pytest.approx(changed)
        assert bool(info.is_accepted) == (changed > 0)
        spins = np.asarray(state.position)


@pytest.mark.parametrize(
    "make_kernel",
    [
        lambda rule: checkerboard(
            PottsLattice((4, 6), 3, jnp.asarray(1.0), jnp.asarray(0.2)), rule
        ),
        lambda rule: colored_sweep(edwards_anderson(jax.random.key(3), (4, 4)), rule),
        lambda rule: sequential_sweep(sherrington_kirkpatrick(jax.random.key(4), 12), rule),
    ],
    ids=["potts", "colored", "sequential"],
)
@pytest.mark.parametrize("rule", RULES)
def test_mean_acceptance_rate_matches_the_fraction_of_changed_sites(make_kernel, rule):
    # E[fraction changed | state] = acceptance_rate, so over 200 sweeps of 32 chains the
    # two means agree within NUM_SIGMA standard errors of their per-chain difference.
    kernel = make_kernel(rule)
    values = jnp.asarray(kernel.model.spin_values, jnp.int8)
    shape = (32, *kernel.model.spin_shape)
    positions = values[jax.random.randint(jax.random.key(1), shape, 0, len(values))]
    _, (rate, changed, accepted) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        positions,
        200,
        beta=0.6,
        observe=lambda s, i: (i.acceptance_rate, i.fraction_changed, i.is_accepted),
    )
    difference = np.asarray(rate - changed).mean(0)  # per chain
    error = difference.std(ddof=1) / np.sqrt(difference.size)
    assert abs(difference.mean()) < NUM_SIGMA * error
    assert 0.0 < float(rate.mean()) < 1.0
    np.testing.assert_array_equal(accepted, changed > 0)


def test_checkerboard_parity_is_built_on_the_device():
    for shape in [(4, 6), (2, 4, 6), (6, 2, 2, 4)]:
        np.testing.assert_array_equal(lattice.checkerboard_parity(shape), numpy_parity(shape))
    # A lattice of 896^3 sites: traced only, no host array of its size.
    parity = jax.eval_shape(lambda: lattice.checkerboard_parity((896, 896, 896)))
    assert parity.shape == (896, 896, 896) and parity.dtype == jnp.bool_


# ------------------------------------------------------------ zero temperature


def numpy_greedy_sweep(rule, spins, coupling, field):
    """Two half-sweeps at beta = inf: Metropolis flips iff dE <= 0, heat bath iff dE < 0."""
    spins = spins.astype(np.int64)
    odd = numpy_parity(spins.shape)
    for sublattice in (~odd, odd):
        neighbours = sum(
            np.roll(spins, shift, axis) for axis in range(spins.ndim) for shift in (1, -1)
        )
        change = 2 * spins * (coupling * neighbours + field)
        flip = (change <= 0) if rule == "metropolis" else (change < 0)
        spins = np.where(sublattice & flip, -spins, spins)
    return spins


@pytest.mark.parametrize("field", [0.0, 2.0])
@pytest.mark.parametrize("rule", RULES)
def test_zero_temperature_checkerboard_is_the_greedy_rule(rule, field):
    # h = 0 leaves many ties (Delta E = 0): Metropolis takes them, the heat bath keeps
    # the spin; h = 2 makes Delta E = 0 the cost of some flips against the field too.
    model = IsingLattice((6, 8), jnp.asarray(1.0), jnp.asarray(field))
    kernel = checkerboard(model, rule)
    spins = np.asarray(jax.random.rademacher(jax.random.key(7), (6, 8), dtype=jnp.int8))
    state = kernel.init(spins)
    step = jax.jit(kernel.step)
    for seed in range(4):
        expected = numpy_greedy_sweep(rule, np.asarray(state.position), 1.0, field)
        previous = state
        state, info = step(jax.random.key(seed), state, jnp.inf)
        np.testing.assert_array_equal(state.position, expected)
        assert float(state.energy) == float(model(state.position))
        assert float(state.energy) <= float(previous.energy)
        changed = np.mean(np.asarray(state.position) != np.asarray(previous.position))
        # Deterministic sweeps: every site's probability is 0 or 1.
        assert float(info.acceptance_rate) == pytest.approx(changed)
        assert bool(info.is_accepted) == (changed > 0)


@pytest.mark.parametrize(
    "make_kernel",
    [
        lambda rule: checkerboard(
            PottsLattice((4, 6), 3, jnp.asarray(1.0), jnp.asarray(0.5)), rule
        ),
        lambda rule: colored_sweep(edwards_anderson(jax.random.key(3), (4, 4)), rule),
        lambda rule: sequential_sweep(sherrington_kirkpatrick(jax.random.key(4), 12), rule),
    ],
    ids=["potts", "colored", "sequential"],
)
@pytest.mark.parametrize("rule", RULES)
def test_zero_temperature_never_raises_the_energy(make_kernel, rule):
    kernel = make_kernel(rule)
    values = jnp.asarray(kernel.model.spin_values, jnp.int8)
    positions = values[jax.random.randint(jax.random.key(5), (4, *kernel.model.spin_shape), 0, 2)]
    _, (energy, rate) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        positions,
        12,
        beta=jnp.inf,
        observe=lambda s, i: (s.energy, i.acceptance_rate),
    )
    assert np.all(np.isfinite(energy)) and np.all(np.isfinite(rate))
    assert np.all(np.diff(np.asarray(energy), axis=0) <= 1e-5)
    assert np.all((np.asarray(rate) >= 0) & (np.asarray(rate) <= 1))


def test_zero_temperature_metropolis_takes_zero_cost_flips_and_heat_bath_keeps_them():
    # One SK spin pair with J = 0 between them and no field: every flip costs 0.
    model = DenseIsing(jnp.zeros((2, 2)), jnp.zeros(2))
    spins = jnp.array([1, -1], jnp.int8)
    metropolis = sequential_sweep(model, "metropolis")
    state, info = metropolis.step(jax.random.key(0), metropolis.init(spins), jnp.inf)
    np.testing.assert_array_equal(state.position, [-1, 1])
    assert float(info.acceptance_rate) == 1.0
    heat_bath = sequential_sweep(model, "heat_bath")
    state, info = heat_bath.step(jax.random.key(0), heat_bath.init(spins), jnp.inf)
    np.testing.assert_array_equal(state.position, spins)
    assert float(info.acceptance_rate) == 0.0 and not bool(info.is_accepted)


def test_zero_temperature_potts_heat_bath_takes_a_lowest_value_and_keeps_ties():
    model = PottsLattice((4, 6), 3, jnp.asarray(1.0), jnp.asarray(0.0))
    kernel = checkerboard(model, "heat_bath")
    spins = np.asarray(jax.random.randint(jax.random.key(2), (4, 6), 0, 3), np.int8)
    state, _ = jax.jit(kernel.step)(jax.random.key(0), kernel.init(spins), jnp.inf)
    final = np.asarray(state.position)
    odd = numpy_parity((4, 6))
    # Sublattice 1 was updated last, given the final spins of sublattice 0.
    halfway = np.where(odd, spins, final)
    neighbours = [np.roll(final, shift, axis) for axis in range(2) for shift in (1, -1)]
    counts = np.stack([sum(n == a for n in neighbours) for a in range(3)])
    best = counts == counts.max(0)
    chosen = np.take_along_axis(best, final[None].astype(int), 0)[0]
    was_best = np.take_along_axis(best, halfway[None].astype(int), 0)[0]
    assert np.all(chosen[odd])
    np.testing.assert_array_equal(final[odd & was_best], halfway[odd & was_best])


# ------------------------------------------------------------ integer sums


def test_checkerboard_refuses_a_lattice_whose_sums_overflow_without_allocating_it():
    # 3 * 896^3 bonds > 2^31 - 1: refused when the kernel is built (shapes only) and
    # when its init or step is traced (eval_shape allocates nothing).
    model = IsingLattice((896, 896, 896))
    with pytest.raises(ValueError, match="side of at most 894"):
        checkerboard(model)
    kernel = lattice.CheckerboardIsing(model)  # bypasses the factory's check
    spins = jax.ShapeDtypeStruct(model.shape, jnp.int8)
    with pytest.raises(ValueError, match="beyond int32"):
        jax.eval_shape(kernel.init, spins)
    with pytest.raises(ValueError, match="at most 1073741823 sites"):
        checkerboard(PottsLattice((32768, 32768), 3))


def test_checkerboard_carries_int64_sums_under_x64():
    with jax.enable_x64(True):
        big = jax.eval_shape(
            checkerboard(IsingLattice((896, 896, 896))).init,
            jax.ShapeDtypeStruct((896, 896, 896), jnp.int8),
        )
        assert big.bond_sum.dtype == jnp.int64 and big.magnetization.dtype == jnp.int64
        with pytest.raises(ValueError, match="uint32"):
            checkerboard(IsingLattice((65538, 65536)))  # more than 2^32 sites
        for model, rule in [
            (IsingLattice((4, 6), jnp.asarray(1.0), jnp.asarray(0.3)), "metropolis"),
            (PottsLattice((4, 6), 3, jnp.asarray(1.0), jnp.asarray(0.2)), "heat_bath"),
        ]:
            final, _ = statjax.run_chains(
                checkerboard(model, rule),
                jax.random.key(0),
                jnp.ones((3, 4, 6), jnp.int8),
                5,
                beta=0.5,
            )
            for leaf in final[2:]:
                assert leaf.dtype == jnp.int64
            np.testing.assert_allclose(final.energy, jax.vmap(model)(final.position))
