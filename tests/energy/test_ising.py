"""Spin models (statjax/energy/ising.py): energies against plain-numpy loops."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax.energy.ising import (
    DenseIsing,
    IsingLattice,
    PottsLattice,
    check_lattice_sums,
    cubic_ising,
    edwards_anderson,
    integer_sum_dtype,
    lattice_bond_sum,
    lattice_edges,
    sherrington_kirkpatrick,
    sparse_ising,
    square_ising,
    square_potts,
)


def loop_lattice_energy(spins, coupling, field, potts=False):
    """Nearest-neighbour energy by explicit loops over sites and the +1 neighbour per axis."""
    spins = np.asarray(spins, dtype=np.int64)
    energy = 0.0
    for site in itertools.product(*[range(side) for side in spins.shape]):
        for axis in range(spins.ndim):
            neighbour = list(site)
            neighbour[axis] = (neighbour[axis] + 1) % spins.shape[axis]
            a, b = spins[site], spins[tuple(neighbour)]
            energy -= coupling * ((a == b) if potts else a * b)
        energy -= field * ((spins[site] == 0) if potts else spins[site])
    return energy


def loop_graph_energy(spins, couplings, fields):
    spins = np.asarray(spins, dtype=np.float64)
    energy = 0.0
    for i in range(len(spins)):
        for j in range(i + 1, len(spins)):
            energy -= couplings[i, j] * spins[i] * spins[j]
        energy -= fields[i] * spins[i]
    return energy


def random_ising(key, shape):
    return jax.random.rademacher(key, shape, dtype=jnp.int8)


@pytest.mark.parametrize("shape", [(4, 4), (6, 4), (2, 4), (4, 4, 4), (2, 4, 6)])
def test_ising_lattice_energy_matches_loops(shape):
    model = IsingLattice(shape, jnp.asarray(0.7), jnp.asarray(-0.3))
    for seed in range(3):
        spins = random_ising(jax.random.key(seed), shape)
        expected = loop_lattice_energy(spins, 0.7, -0.3)
        np.testing.assert_allclose(float(model(spins)), expected, rtol=1e-6, atol=1e-5)


def test_integer_energies_are_exact_and_ground_states():
    model = square_ising(8)
    spins = random_ising(jax.random.key(0), (8, 8))
    assert float(model(spins)) == loop_lattice_energy(spins, 1.0, 0.0)
    assert float(model(jnp.ones((8, 8), jnp.int8))) == -128.0  # 2 N bonds
    assert float(cubic_ising(4)(jnp.ones((4, 4, 4), jnp.int8))) == -192.0  # 3 N bonds
    assert model.spin_values == (-1, 1) and model.spin_shape == (8, 8) and model.num_spins == 64


@pytest.mark.parametrize("shape", [(4, 4), (2, 6)])
def test_potts_energy_matches_loops(shape):
    model = PottsLattice(shape, 3, jnp.asarray(1.3), jnp.asarray(0.4))
    for seed in range(3):
        spins = jax.random.randint(jax.random.key(seed), shape, 0, 3).astype(jnp.int8)
        expected = loop_lattice_energy(spins, 1.3, 0.4, potts=True)
        np.testing.assert_allclose(float(model(spins)), expected, rtol=1e-6)
    assert square_potts(4, 5).spin_values == (0, 1, 2, 3, 4)


def test_dense_ising_energy_matches_loops():
    key_j, key_h, key_s = jax.random.split(jax.random.key(1), 3)
    sk = sherrington_kirkpatrick(key_j, 10)
    fields = jax.random.normal(key_h, (10,))
    model = DenseIsing(sk.couplings, fields)
    for seed in range(3):
        spins = random_ising(jax.random.fold_in(key_s, seed), (10,))
        expected = loop_graph_energy(spins, np.asarray(sk.couplings), np.asarray(fields))
        np.testing.assert_allclose(float(model(spins)), expected, rtol=1e-5, atol=1e-5)


def test_sparse_ising_matches_dense_with_the_same_couplings():
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [4, 1]])
    couplings = np.array([1.0, -0.5, 2.0, 0.3, -1.0, 0.7], np.float32)
    fields = np.array([0.1, -0.2, 0.3, 0.0, 0.5], np.float32)
    sparse = sparse_ising(edges, couplings, 5, fields)
    matrix = np.zeros((5, 5), np.float32)
    matrix[edges[:, 0], edges[:, 1]] = couplings
    matrix = matrix + matrix.T
    dense = DenseIsing(jnp.asarray(matrix), jnp.asarray(fields))
    for spins in itertools.product([-1, 1], repeat=5):
        spins = jnp.asarray(spins, jnp.int8)
        expected = loop_graph_energy(spins, matrix, fields)
        np.testing.assert_allclose(float(sparse(spins)), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(float(dense(spins)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.local_fields(jnp.ones(5)), matrix.sum(1) + fields, rtol=1e-6)


def test_edwards_anderson_instance():
    model = edwards_anderson(jax.random.key(0), (4, 6), fields=np.full(24, 0.25))
    assert model.neighbors.shape == (24, 4)
    assert set(np.unique(np.asarray(model.neighbor_couplings))) <= {-1.0, 1.0}
    edges = lattice_edges((4, 6))
    assert edges.shape == (48, 2)
    # The neighbour table is symmetric: j in row i with J_ij iff i in row j with J_ji.
    table = {
        (i, int(j)): float(c)
        for i in range(24)
        for j, c in zip(model.neighbors[i], model.neighbor_couplings[i], strict=True)
    }
    assert all(table[(j, i)] == c for (i, j), c in table.items())
    spins = random_ising(jax.random.key(1), (24,))
    matrix = np.zeros((24, 24))
    for i in range(24):
        for j, c in zip(model.neighbors[i], model.neighbor_couplings[i], strict=True):
            matrix[i, int(j)] = float(c)
    expected = loop_graph_energy(spins, matrix, np.full(24, 0.25))
    np.testing.assert_allclose(float(model(spins)), expected, rtol=1e-6)


def test_sherrington_kirkpatrick_instance():
    model = sherrington_kirkpatrick(jax.random.key(0), 200)
    couplings = np.asarray(model.couplings)
    np.testing.assert_array_equal(couplings, couplings.T)
    assert np.all(np.diag(couplings) == 0)
    off_diagonal = couplings[np.triu_indices(200, 1)] * np.sqrt(200)
    assert abs(off_diagonal.var() - 1.0) < 0.05
    binary = sherrington_kirkpatrick(jax.random.key(0), 20, "binary")
    values = np.abs(np.asarray(binary.couplings)[np.triu_indices(20, 1)] * np.sqrt(20))
    np.testing.assert_allclose(values, 1.0, rtol=1e-6)


def test_new_couplings_do_not_recompile():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def energy(model, spins):
        return model(spins)

    spins = jnp.ones((4, 4), jnp.int8)
    assert float(energy(square_ising(4, 1.0), spins)) == -32.0
    assert float(energy(square_ising(4, 2.0, 0.5), spins)) == -72.0


def test_batches_with_vmap():
    model = square_ising(4)
    spins = random_ising(jax.random.key(0), (5, 4, 4))
    batch = jax.vmap(model)(spins)
    np.testing.assert_allclose(batch, [float(model(s)) for s in spins])


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        IsingLattice((4, 1))
    with pytest.raises(ValueError, match="shape"):
        square_ising(4)(jnp.ones((4, 5), jnp.int8))
    with pytest.raises(ValueError, match="num_states"):
        PottsLattice((4, 4), 1)
    with pytest.raises(ValueError, match="symmetric"):
        DenseIsing(jnp.array([[0.0, 1.0], [0.0, 0.0]]), jnp.zeros(2))
    with pytest.raises(ValueError, match="distribution"):
        sherrington_kirkpatrick(jax.random.key(0), 4, "uniform")
    with pytest.raises(ValueError, match="self-coupling"):
        sparse_ising([[0, 0]], [1.0], 2)
    with pytest.raises(ValueError, match="one coupling per edge"):
        sparse_ising([[0, 1]], [1.0, 2.0], 2)


def test_counts_must_be_whole_numbers():
    with pytest.raises(ValueError, match="num_spins"):
        sherrington_kirkpatrick(jax.random.key(0), 2.5)
    with pytest.raises(ValueError, match="num_spins"):
        sparse_ising([[0, 1]], [1.0], 2.5)
    assert sherrington_kirkpatrick(jax.random.key(0), 4.0).num_spins == 4


# ----------------------------------------------------- integer sums at large sizes


@pytest.mark.parametrize(
    "shape, largest_side",
    [((32768, 32768), 32767), ((896, 896, 896), 894), ((895, 895, 895), 894)],
)
def test_lattices_whose_sums_overflow_int32_are_refused_before_allocation(shape, largest_side):
    # 2 L^2 and 3 L^3 bonds exceed 2^31 - 1 here; nothing of the lattice's size is
    # allocated: the check reads the shape, and eval_shape only traces.
    model = IsingLattice(shape)
    dim = len(shape)
    with pytest.raises(ValueError, match=rf"at most {(2**31 - 1) // dim} sites") as error:
        check_lattice_sums(shape, "IsingLattice")
    assert f"side of at most {largest_side}" in str(error.value)
    assert "jax_enable_x64" in str(error.value)
    spins = jax.ShapeDtypeStruct(shape, jnp.int8)
    with pytest.raises(ValueError, match="beyond int32"):
        jax.eval_shape(model, spins)
    with pytest.raises(ValueError, match="beyond int32"):
        jax.eval_shape(PottsLattice(shape, 3), spins)
    # The largest safe sides pass.
    check_lattice_sums((largest_side,) * dim, "IsingLattice")


def test_sums_are_int64_under_x64_at_any_size():
    with jax.enable_x64(True):
        assert integer_sum_dtype() == jnp.int64
        check_lattice_sums((896, 896, 896), "IsingLattice")  # no error
        # Traced only: the energy of a 896^3 lattice needs no int32 bound now.
        energy = jax.eval_shape(cubic_ising(896), jax.ShapeDtypeStruct((896,) * 3, jnp.int8))
        assert energy.shape == ()
        spins = random_ising(jax.random.key(0), (4, 6))
        assert lattice_bond_sum(spins).dtype == jnp.int64
        model = IsingLattice((4, 6), jnp.asarray(0.7), jnp.asarray(-0.3))
        np.testing.assert_allclose(
            float(model(spins)), loop_lattice_energy(spins, 0.7, -0.3), rtol=1e-12
        )
    assert integer_sum_dtype() == jnp.int32
    assert lattice_bond_sum(jnp.ones((4, 4), jnp.int8)).dtype == jnp.int32
