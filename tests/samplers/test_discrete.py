"""Gibbs-with-Gradients and DMALA against enumerated Boltzmann laws.

Each kernel samples a small Ising lattice (3 x 3, 512 states, a field), a small
3-state Potts lattice (2 x 3, 729 states, a field) and a small RBM on its
visible units through the free energy (6 visible, 4 hidden: 64 states), and its
draws are compared with ``exp(-beta E) / Z`` computed by enumeration.

**Why the chi-square null holds.** ``NUM_CHAINS`` independent chains start from
independent exact draws of the enumerated law (numpy, a fixed seed) and take
``NUM_STEPS`` kernel steps; only the final state of each chain is kept. A kernel
that leaves the law invariant keeps every chain's state distributed exactly by
it, so the ``NUM_CHAINS`` final states are iid draws from the law and Pearson's
statistic is chi-square distributed (bins of expected count below 5 pooled into
one). The test refuses ``p < P_VALUE`` (fixed seeds). That the chains really
moved is asserted too (a lazy kernel would pass the invariance test), and the
same draws are refused against the law at a 25% different beta (the test has
power).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial
from scipy import stats

import statjax
from statjax.energy.ising import IsingLattice, PottsLattice
from statjax.models.rbm import free_energy, init_rbm
from statjax.samplers.discrete import dmala, gibbs_with_gradients, relaxed_energy

NUM_CHAINS = 6000
NUM_STEPS = 24
P_VALUE = 1e-3
"""Reject the sampler when Pearson's chi-square p-value falls below this."""
MIN_EXPECTED = 5.0


def _ising():
    model = IsingLattice((3, 3), jnp.float32(1.0), jnp.float32(0.2))
    states = np.array(list(itertools.product((-1, 1), repeat=9)), np.int8).reshape(-1, 3, 3)
    return model, states, 0.35


def _potts():
    model = PottsLattice((2, 3), 3, jnp.float32(1.0), jnp.float32(0.4))
    states = np.array(list(itertools.product(range(3), repeat=6)), np.int8).reshape(-1, 2, 3)
    return model, states, 0.6


def _rbm():
    params = init_rbm(jax.random.key(3), 6, 4, weight_scale=1.0)
    energy = Partial(free_energy, params)
    states = np.array(list(itertools.product((0, 1), repeat=6)), np.float32)
    return energy, states, 1.0


MODELS = {"ising": _ising, "potts": _potts, "rbm": _rbm}
KERNELS = {
    "gwg": lambda model, values: gibbs_with_gradients(model, values=values),
    "dmala": lambda model, values: dmala(model, 0.6, values=values),
}


def _energies(model, states):
    return np.asarray(jax.vmap(model)(jnp.asarray(states)), np.float64)


def _law(energies, beta):
    log_weights = -beta * energies
    weights = np.exp(log_weights - log_weights.max())
    return weights / weights.sum()


def _pearson_p_value(counts, probabilities):
    """Pearson's chi-square p-value, bins of expected count < MIN_EXPECTED pooled into one."""
    expected = probabilities * counts.sum()
    small = expected < MIN_EXPECTED
    observed = np.append(counts[~small], counts[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    return stats.chisquare(observed, expected).pvalue


@pytest.mark.parametrize("kernel_name", sorted(KERNELS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_reproduces_the_enumerated_law(kernel_name, model_name):
    model, states, beta = MODELS[model_name]()
    values = (0, 1) if model_name == "rbm" else None
    kernel = KERNELS[kernel_name](model, values)
    probabilities = _law(_energies(model, states), beta)

    rng = np.random.default_rng(7)
    start = rng.choice(len(states), NUM_CHAINS, p=probabilities)
    final, _ = statjax.run_chains(kernel, jax.random.key(8), states[start], NUM_STEPS, beta=beta)
    # Index of every final state in the enumeration (row-wise match on the host).
    flat = states.reshape(len(states), -1)
    lookup = {row.tobytes(): index for index, row in enumerate(flat)}
    positions = np.asarray(final.position).reshape(NUM_CHAINS, -1).astype(flat.dtype)
    index = np.array([lookup[row.tobytes()] for row in positions])
    counts = np.bincount(index, minlength=len(states))

    assert np.mean(index != start) > 0.5, "the chains hardly moved"
    assert _pearson_p_value(counts, probabilities) > P_VALUE
    assert _pearson_p_value(counts, _law(_energies(model, states), 1.25 * beta)) < P_VALUE
    # The cached energy is the model's own (integer sums for the spin models).
    np.testing.assert_allclose(np.asarray(final.energy), _energies(model, states)[index], atol=1e-4)


def test_relaxed_energies_equal_the_models():
    """The differentiable forms agree with the integer-sum energies on every configuration."""
    ising, ising_states, _ = _ising()
    relaxed = relaxed_energy(ising)
    np.testing.assert_allclose(
        _energies(relaxed, ising_states.astype(np.float32)), _energies(ising, ising_states)
    )
    potts, potts_states, _ = _potts()
    one_hot = np.eye(3, dtype=np.float32)[potts_states]
    np.testing.assert_allclose(
        _energies(relaxed_energy(potts), one_hot), _energies(potts, potts_states)
    )


def test_bad_arguments_are_refused():
    """(Zero temperature's greedy descent is checked by the contract table's ``descends``.)"""
    model, _, _ = _ising()
    with pytest.raises(ValueError, match="step_size"):
        dmala(model, -1.0)
    with pytest.raises(ValueError, match="not both"):
        gibbs_with_gradients(lambda x: jnp.sum(x), values=(0, 1), num_states=3)
    with pytest.raises(ValueError, match="two different"):
        gibbs_with_gradients(lambda x: jnp.sum(x), values=(1, 1))
    with pytest.raises(TypeError, match="no differentiable form"):
        relaxed_energy(object())
