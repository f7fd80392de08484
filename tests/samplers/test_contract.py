"""Every kernel in statjax against the one contract of ``statjax/samplers/base.py``.

One table of kernel factories, each built on a tiny model, run through the same
properties (BlackJAX's ``tests/mcmc/test_sampling.py`` does the same for its
algorithms):

- ``contract``: the kernel, its state and its info satisfy the runtime-checkable
  Protocols ``Kernel``, ``ChainState`` and ``StepInfo``; ``acceptance_rate`` lies
  in [0, 1], ``is_accepted`` is boolean, one of each per chain and step.
- ``jit_vmap``: ``jit(vmap(step))`` with the driver's keys (``chain_keys``)
  gives the driver's states.
- ``per_chain_beta``: a beta per chain (one of them ``+inf``, zero temperature)
  gives, chain by chain, the run at that scalar beta; at ``+inf`` every state
  stays finite, and a kernel whose greedy limit descends never raises the energy.
- ``per_chain_step_size``: ``per_chain=("step_size",)`` equals, chain by chain,
  runs with scalar step sizes.
- ``non_finite_refused``: an energy that is NaN, ``+inf`` or ``-inf`` next to the
  start: no chain ever holds a non-finite energy (continuous kernels).
- ``no_retrace``: a new step size, beta or energy parameter reuses the compiled
  program of ``run_chains``.
- ``keys``: legacy ``PRNGKey`` and typed ``key`` give bit-identical runs.
- ``vector_energy``: an energy returning a vector is refused with ``ValueError``
  (continuous kernels).
- ``pytree``: the kernel, state and info are built from statjax ``Pytree``
  classes, NamedTuples and ``Partial`` only (never ``flax.struct``).

The table is the closing note's "kernels x properties" table: a failure names
the kernel and the property.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

import statjax
from statjax.energy import tilted_energy
from statjax.energy.ising import (
    edwards_anderson,
    sherrington_kirkpatrick,
    square_ising,
    square_potts,
)
from statjax.models.hopfield import (
    asynchronous_sweep,
    dense_asynchronous_sweep,
    dense_memory,
    hebbian,
    random_patterns,
    synchronous_update,
)
from statjax.models.rbm import block_gibbs, init_rbm
from statjax.pytree import Pytree
from statjax.samplers import run as run_module
from statjax.samplers.base import ChainState, Kernel, StepInfo
from statjax.samplers.cluster import swendsen_wang, wolff
from statjax.samplers.discrete import dmala, gibbs_with_gradients
from statjax.samplers.du_mordatch import du_mordatch_langevin
from statjax.samplers.lattice import checkerboard, colored_sweep, sequential_sweep
from statjax.samplers.lattice_sharded import row_mesh, sharded_checkerboard
from statjax.samplers.loop import chain_keys, step_chains
from statjax.samplers.mclmc import mclmc
from statjax.samplers.multispin import multispin_checkerboard
from statjax.samplers.nuts import nuts
from statjax.samplers.run import initial_states
from statjax.samplers.tempering import replica_exchange
from statjax.samplers.thermostats import baoab, nose_hoover_chain, obabo
from statjax.thermo.large_deviations import TILT_LADDER_FIELDS, tilt_ladder

NUM_CHAINS = 4
NUM_STEPS = 3
BETAS = np.array([0.5, 1.0, 2.0, np.inf], np.float32)
STEP_SIZES = np.array([0.05, 0.1, 0.2, 0.3], np.float32)
STEP_SIZE = np.float32(0.1)
# Floating-point agreement of two programs that compute the same thing
# (jit(vmap(step)) against the driver's scan): rounding only.
RTOL, ATOL = 1e-5, 1e-6


# ------------------------------------------------------------------- energies


class Quadratic(Pytree):
    """``E(x) = stiffness |x|^2 / 2``: the stiffness is a leaf (a new one never recompiles)."""

    stiffness: jax.Array

    def __call__(self, x):
        return 0.5 * self.stiffness * jnp.sum(x**2)


class Holed(Pytree):
    """``E(x) = |x|^2 / 2`` for ``x_0 <= 0.3`` and ``bad`` (NaN, +inf or -inf) beyond.

    ``bad`` is a leaf, so the three energies share one compiled program.
    """

    bad: jax.Array

    def __call__(self, x):
        return jnp.where(x[0] > 0.3, self.bad, 0.5 * jnp.sum(x**2))


class UniformProposal(Pytree):
    """The symmetric proposal ``x' = x + U(-width, width)``; ``width`` is a leaf."""

    width: jax.Array

    def __call__(self, key, x):
        return x + jax.random.uniform(key, x.shape, x.dtype, -self.width, self.width)


def _vector_energy(x):
    return 0.5 * x**2


# ---------------------------------------------------------------- the table


class Case(NamedTuple):
    """One kernel factory on a tiny model.

    Attributes:
        make: ``make(variant, step_size) -> kernel``; ``variant`` 0 or 1 picks
            one of two energies of the same class that differ only in numbers.
        positions: ``() -> (NUM_CHAINS, ...)`` starting positions.
        on_energy: for continuous kernels, ``on_energy(energy_fn, step_size)``
            builds the kernel on any energy; ``None`` for discrete ones.
        step_size_field: the kernel field holding the step size, or ``None``.
        energy_shape: shape of one chain's ``state.energy``.
        descends: at ``beta = inf`` the energy never rises (greedy limit).
    """

    make: Callable[[int, Any], Any]
    positions: Callable[[], Any]
    on_energy: Callable[[Any, Any], Any] | None = None
    step_size_field: str | None = None
    energy_shape: tuple[int, ...] = ()
    descends: bool = False


def _continuous(on_energy, field="step_size", energy_shape=(), descends=False, replicas=None):
    def positions():
        shape = (NUM_CHAINS, 2) if replicas is None else (NUM_CHAINS, replicas, 2)
        return 0.5 * np.random.default_rng(11).standard_normal(shape, np.float32)

    return Case(
        make=lambda variant, step_size: on_energy(Quadratic(jnp.float32(1.0 + variant)), step_size),
        positions=positions,
        on_energy=on_energy,
        step_size_field=field,
        energy_shape=energy_shape,
        descends=descends,
    )


def _spins(shape, key=12):
    return np.random.default_rng(key).choice(np.array([-1, 1], np.int8), (NUM_CHAINS, *shape))


def _ising(variant):
    return square_ising(4, coupling=1.0 + 0.5 * variant)


def _mala_replicas(energy_fn, step_size):
    return replica_exchange(statjax.mala(energy_fn, step_size), jnp.array([0.5, 1.0]))


def _tilted_mala(energy_fn, step_size, tilt=0.5):
    return statjax.mala(tilted_energy(energy_fn, jnp.sum, tilt), step_size)


def _proposal_metropolis(energy_fn, width):
    return statjax.metropolis(energy_fn, proposal=UniformProposal(jnp.asarray(width, jnp.float32)))


def _hopfield(variant):
    return hebbian(random_patterns(jax.random.key(20 + variant), 2, 16))


CASES = {
    "metropolis": _continuous(lambda e, s: statjax.metropolis(e, s), descends=True),
    "metropolis_proposal": _continuous(_proposal_metropolis, field="proposal.width", descends=True),
    "ula": _continuous(lambda e, s: statjax.ula(e, s)),
    "mala": _continuous(lambda e, s: statjax.mala(e, s)),
    "hmc": _continuous(lambda e, s: statjax.hmc(e, s, 3)),
    "nuts": _continuous(lambda e, s: nuts(e, s, max_tree_depth=3), descends=True),
    "mclmc": _continuous(lambda e, s: mclmc(e, s, 1.0)),
    "baoab": _continuous(lambda e, s: baoab(e, s, 1.0)),
    "obabo": _continuous(lambda e, s: obabo(e, s, 1.0)),
    "nose_hoover_chain": _continuous(lambda e, s: nose_hoover_chain(e, s)),
    "du_mordatch_langevin": _continuous(lambda e, s: du_mordatch_langevin(e, s, 0.3)),
    "tilted_mala": _continuous(_tilted_mala),
    "replica_exchange_mala": _continuous(
        _mala_replicas, field="kernel.step_size", energy_shape=(2,), replicas=2
    ),
    "checkerboard_ising_metropolis": Case(
        make=lambda variant, _: checkerboard(_ising(variant), "metropolis"),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "checkerboard_ising_heat_bath": Case(
        make=lambda variant, _: checkerboard(_ising(variant), "heat_bath"),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "sharded_checkerboard": Case(
        make=lambda variant, _: sharded_checkerboard(_ising(variant), row_mesh(1)),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "checkerboard_potts": Case(
        make=lambda variant, _: checkerboard(square_potts(4, 3, coupling=1.0 + 0.5 * variant)),
        positions=lambda: np.random.default_rng(13).integers(0, 3, (NUM_CHAINS, 4, 4), np.int8),
        descends=True,
    ),
    "colored_sweep": Case(
        make=lambda variant, _: colored_sweep(edwards_anderson(jax.random.key(variant), (4, 4))),
        positions=lambda: _spins((16,)),
        descends=True,
    ),
    "sequential_sweep": Case(
        make=lambda variant, _: sequential_sweep(
            sherrington_kirkpatrick(jax.random.key(variant), 8)
        ),
        positions=lambda: _spins((8,)),
        descends=True,
    ),
    "swendsen_wang": Case(
        make=lambda variant, _: swendsen_wang(_ising(variant)),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "wolff": Case(
        make=lambda variant, _: wolff(_ising(variant)),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "multispin_checkerboard": Case(
        make=lambda variant, _: multispin_checkerboard(_ising(variant)),
        positions=lambda: _spins((4, 4)),
        descends=True,
    ),
    "replica_exchange_lattice": Case(
        make=lambda variant, _: replica_exchange(
            checkerboard(_ising(variant)), jnp.array([0.3, 0.6])
        ),
        positions=lambda: _spins((2, 4, 4)),
        energy_shape=(2,),
        descends=True,
    ),
    "rbm_block_gibbs": Case(
        make=lambda variant, _: block_gibbs(
            init_rbm(jax.random.key(variant), 6, 4, weight_scale=1.0)
        ),
        positions=lambda: (
            np.random.default_rng(14).integers(0, 2, (NUM_CHAINS, 6)).astype(np.float32)
        ),
        descends=True,
    ),
    "hopfield_asynchronous": Case(
        make=lambda variant, _: asynchronous_sweep(_hopfield(variant)),
        positions=lambda: _spins((16,)),
        descends=True,
    ),
    "hopfield_synchronous": Case(
        make=lambda variant, _: synchronous_update(_hopfield(variant)),
        positions=lambda: _spins((16,)),
    ),
    "gibbs_with_gradients_potts": Case(
        make=lambda variant, _: gibbs_with_gradients(square_potts(4, 3, 1.0 + 0.5 * variant)),
        positions=lambda: np.random.default_rng(13).integers(0, 3, (NUM_CHAINS, 4, 4), np.int8),
        descends=True,
    ),
    "dmala_ising": Case(
        make=lambda variant, step_size: dmala(_ising(variant), step_size),
        positions=lambda: _spins((4, 4)),
        step_size_field="step_size",
        descends=True,
    ),
    "dense_hopfield_sweep": Case(
        make=lambda variant, _: dense_asynchronous_sweep(
            dense_memory(random_patterns(jax.random.key(30 + variant), 3, 16), degree=3)
        ),
        positions=lambda: _spins((16,)),
        descends=True,
    ),
}

ALL = sorted(CASES)
CONTINUOUS = sorted(name for name, case in CASES.items() if case.on_energy is not None)
WITH_STEP_SIZE = sorted(name for name, case in CASES.items() if case.step_size_field)


# ------------------------------------------------------------------ helpers


def _kernel(name, variant=0, step_size=STEP_SIZE):
    return CASES[name].make(variant, step_size)


# Compiled once per kernel structure and shared by every test below, as is
# run_chains's program (every run uses NUM_STEPS and observe=_energy_of): the
# table runs in seconds, not minutes.
_step_all = jax.jit(step_chains)


def _init_all(kernel, positions):
    """run_chains's own (compiled, cached) initial states."""
    return initial_states(kernel, positions)


def _run(kernel, key, positions, **kwargs):
    return statjax.run_chains(kernel, key, positions, NUM_STEPS, observe=_energy_of, **kwargs)


def _energy_of(state):
    return state.energy


def _chain(tree, index):
    """Chain ``index`` of every leaf, on the host (eager device ops would each compile)."""
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[index], tree)


def _assert_trees_close(actual, expected):
    """Integer and boolean leaves exactly, floating leaves to rounding."""
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    for a, b in zip(
        jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        if np.issubdtype(a.dtype, np.inexact):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(a, b)


def _assert_trees_equal(actual, expected):
    for a, b in zip(
        jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _node_classes(tree) -> set[type]:
    """The class of every internal node of ``tree``'s structure."""
    classes: set[type] = set()

    def walk(treedef):
        data = treedef.node_data()
        if data is not None:
            classes.add(data[0])
        for child in treedef.children():
            walk(child)

    walk(jax.tree_util.tree_structure(tree))
    return classes


def _is_allowed_node(cls: type) -> bool:
    if getattr(cls, "_flax_dataclass", False):
        return False
    is_named_tuple = issubclass(cls, tuple) and hasattr(cls, "_fields")
    return (
        issubclass(cls, Pytree) or is_named_tuple or cls in (Partial, tuple, list, dict, type(None))
    )


# --------------------------------------------------------------- properties


@pytest.mark.parametrize("name", ALL)
def test_contract(name):
    """(a) Protocols, acceptance_rate in [0, 1], boolean is_accepted, shapes per chain."""
    case = CASES[name]
    kernel = _kernel(name)
    assert isinstance(kernel, Kernel)
    # One chain, unbatched (traced only: the compiled programs below are batched).
    state = jax.eval_shape(kernel.init, _chain(case.positions(), 0))
    state, info = jax.eval_shape(kernel.step, jax.random.key(0), state, 1.0)
    assert isinstance(state, ChainState) and isinstance(info, StepInfo)
    assert state.energy.shape == case.energy_shape
    assert info.acceptance_rate.shape == () and info.is_accepted.shape == ()

    states = _init_all(kernel, case.positions())
    assert isinstance(states, ChainState)
    assert states.energy.shape == (NUM_CHAINS, *case.energy_shape)
    betas = jnp.ones(NUM_CHAINS, jnp.float32)
    for step in range(NUM_STEPS):
        states, info = _step_all(
            kernel, chain_keys(jax.random.key(1), step, NUM_CHAINS), states, betas
        )
        assert isinstance(states, ChainState) and isinstance(info, StepInfo)
        assert states.energy.shape == (NUM_CHAINS, *case.energy_shape)
        rate, accepted = info.acceptance_rate, info.is_accepted
        assert rate.shape == (NUM_CHAINS,) and accepted.shape == (NUM_CHAINS,)
        assert jnp.issubdtype(rate.dtype, jnp.floating) and accepted.dtype == jnp.bool_
        rate, accepted = np.asarray(rate), np.asarray(accepted)
        assert np.all((rate >= 0) & (rate <= 1)), rate
        # A move has a positive probability; a probability of 0 never moves.
        assert np.all(~accepted | (rate > 0)), (rate, accepted)


@pytest.mark.parametrize("name", ALL)
def test_jit_and_vmap_of_step_give_the_driver(name):
    """(b) The driver is the kernel's step vmapped over chains with ``chain_keys``."""
    kernel = _kernel(name)
    positions = CASES[name].positions()
    key = jax.random.key(2)
    final, _ = _run(kernel, key, positions)

    states = _init_all(kernel, positions)
    betas = jnp.ones(NUM_CHAINS, jnp.float32)
    for step in range(NUM_STEPS):
        keys = chain_keys(key, step, NUM_CHAINS)
        states, _ = _step_all(kernel, keys, states, betas)
    _assert_trees_close(states, final)


@pytest.mark.parametrize("name", ALL)
def test_per_chain_beta_and_zero_temperature(name):
    """(c) A beta per chain is the run at each scalar beta; beta = inf keeps states finite."""
    case = CASES[name]
    kernel = _kernel(name)
    positions = case.positions()
    key = jax.random.key(3)
    final, energies = _run(kernel, key, positions, beta=BETAS)
    for chain, beta in enumerate(BETAS):
        alone, _ = _run(kernel, key, positions, beta=float(beta))
        _assert_trees_close(_chain(final, chain), _chain(alone, chain))

    zero_temperature = BETAS == np.inf
    for leaf in jax.tree_util.tree_leaves(_chain(final, zero_temperature)):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert np.all(np.isfinite(leaf)), leaf
    cold = np.asarray(energies)[:, zero_temperature]
    assert np.all(np.isfinite(cold)), cold
    if case.descends:
        initial = np.asarray(_init_all(kernel, positions).energy)[zero_temperature]
        path = np.concatenate([initial[None], cold])
        assert np.all(np.diff(path, axis=0) <= 1e-5 * (1 + np.abs(path[:-1]))), path


@pytest.mark.parametrize("name", WITH_STEP_SIZE)
def test_per_chain_step_size_equals_separate_runs(name):
    """(d) ``per_chain=(step_size,)``: chain c runs as if the step size were STEP_SIZES[c]."""
    field = CASES[name].step_size_field
    positions = CASES[name].positions()
    key = jax.random.key(4)
    final, _ = _run(_kernel(name, step_size=STEP_SIZES), key, positions, per_chain=(field,))
    for chain, step_size in enumerate(STEP_SIZES):
        alone, _ = _run(_kernel(name, step_size=step_size), key, positions)
        _assert_trees_close(_chain(final, chain), _chain(alone, chain))


def test_tilt_ladder_equals_separate_tilted_runs():
    """(d) for the tilt: ``tilt_ladder`` (tilt and step size per chain) is one run per rung."""
    tilts = np.array([0.0, 0.5, 1.0, 2.0], np.float32)
    positions = CASES["tilted_mala"].positions()
    key = jax.random.key(4)
    ladder = tilt_ladder(_tilted_mala(Quadratic(np.float32(1.0)), STEP_SIZE), tilts, 1, STEP_SIZES)
    final, _ = _run(ladder, key, positions, per_chain=TILT_LADDER_FIELDS)
    for chain, (tilt, step_size) in enumerate(zip(tilts, STEP_SIZES, strict=True)):
        kernel = _tilted_mala(Quadratic(np.float32(1.0)), step_size, tilt)
        alone, _ = _run(kernel, key, positions)
        _assert_trees_close(_chain(final, chain), _chain(alone, chain))


@pytest.mark.parametrize("name", CONTINUOUS)
def test_non_finite_proposals_are_refused(name):
    """(e) E is NaN, +inf or -inf for x_0 > 0.3, the chains start at x_0 = 0.25."""
    case = CASES[name]
    positions = np.zeros_like(case.positions())
    positions[..., 0] = 0.25
    for bad in (np.nan, np.inf, -np.inf):
        kernel = case.on_energy(Holed(np.float32(bad)), np.float32(0.3))
        final, energies = statjax.run_chains(
            kernel, jax.random.key(5), positions, 4 * NUM_STEPS, observe=_energy_of
        )
        assert np.all(np.isfinite(np.asarray(energies))), (bad, energies)
        assert np.all(np.asarray(final.position)[..., 0] <= 0.3), (bad, final.position)


@pytest.mark.parametrize("name", ALL)
def test_new_numbers_reuse_the_compiled_program(name):
    """(f) A new step size, beta or energy parameter of the same class never recompiles.

    Counted as the growth of ``run_chains``'s jit cache after a first run (the
    same count as after ``clear_cache()``, without discarding the programs the
    other tests share).
    """
    positions = CASES[name].positions()
    key = jax.random.key(6)
    _run(_kernel(name), key, positions)
    compiled = run_module._run_chunk._cache_size()
    _run(_kernel(name, step_size=np.float32(0.2)), key, positions)
    _run(_kernel(name), key, positions, beta=0.5)
    _run(_kernel(name, variant=1), key, positions)
    assert run_module._run_chunk._cache_size() == compiled


@pytest.mark.parametrize("name", ALL)
def test_legacy_and_typed_keys_are_bit_identical(name):
    """(g) ``PRNGKey(0)`` and ``key(0)`` wrap the same bits: the same run."""
    kernel = _kernel(name)
    positions = CASES[name].positions()
    legacy = _run(kernel, jax.random.PRNGKey(0), positions)
    typed = _run(kernel, jax.random.key(0), positions)
    _assert_trees_equal(legacy, typed)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_vector_energy_is_refused(name):
    """(h) An energy returning one value per coordinate is an error, not per-coordinate MH."""
    case = CASES[name]
    with pytest.raises(ValueError, match="scalar"):
        kernel = case.on_energy(_vector_energy, STEP_SIZE)
        _run(kernel, jax.random.key(7), case.positions())


@pytest.mark.parametrize("name", ALL)
def test_pytree_has_no_flax_struct_classes(name):
    """(i) Kernel, state and info: statjax Pytree classes, NamedTuples and Partial only."""
    kernel = _kernel(name)
    states = _init_all(kernel, CASES[name].positions())
    keys = chain_keys(jax.random.key(0), 0, NUM_CHAINS)
    _, info = _step_all(kernel, keys, states, jnp.ones(NUM_CHAINS, jnp.float32))
    for what, tree in (("kernel", kernel), ("state", states), ("info", info)):
        bad = sorted(
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in _node_classes(tree)
            if not _is_allowed_node(cls)
        )
        assert not bad, f"{name}: {what} has pytree nodes that are not statjax Pytrees: {bad}"
