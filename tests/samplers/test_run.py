"""run_chains: trace layout, thinning, chunking, schedules, streaming, recompiles, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import statjax
from statjax.samplers.run import _run_chunk


def energy(x):
    return 0.5 * jnp.sum(x**2)


def observe_position(state):
    return state.position


def observe_acceptance(state, info):
    return info.acceptance_rate


@pytest.fixture
def kernel():
    return statjax.mala(energy, 0.2)


def test_trace_is_time_first_then_chains(kernel):
    final, trace = statjax.run_chains(
        kernel, jax.random.key(0), jnp.zeros((5, 3)), 40, observe=observe_position, thin=4
    )
    assert trace.shape == (10, 5, 3)
    assert final.position.shape == (5, 3)
    np.testing.assert_array_equal(trace[-1], final.position)


def test_no_observe_keeps_no_trace(kernel):
    _, trace = statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((5, 3)), 10)
    assert trace is None


def test_thinning_keeps_every_kth_step(kernel):
    key, initial = jax.random.key(1), jnp.zeros((4, 2))
    _, full = statjax.run_chains(kernel, key, initial, 30, observe=observe_position)
    _, thinned = statjax.run_chains(kernel, key, initial, 30, observe=observe_position, thin=3)
    np.testing.assert_array_equal(thinned, full[2::3])


def test_n_steps_equal_two_chained_halves_and_any_chunking(kernel):
    key, initial = jax.random.key(2), jnp.zeros((4, 2))
    schedule = optax.linear_schedule(0.5, 2.0, 100)
    whole, trace = statjax.run_chains(
        kernel, key, initial, 100, beta=schedule, observe=observe_position
    )
    half, first = statjax.run_chains(
        kernel, key, initial, 50, beta=schedule, observe=observe_position
    )
    end, second = statjax.run_chains(
        kernel, key, half, 50, beta=schedule, observe=observe_position, start_step=50
    )
    np.testing.assert_array_equal(whole.position, end.position)
    np.testing.assert_array_equal(trace, jnp.concatenate([first, second]))
    chunked, chunked_trace = statjax.run_chains(
        kernel, key, initial, 100, beta=schedule, observe=observe_position, chunk_size=30
    )
    np.testing.assert_array_equal(chunked.position, whole.position)
    np.testing.assert_array_equal(chunked_trace, trace)


def test_same_key_is_bit_identical_and_other_key_differs(kernel):
    initial = jnp.zeros((8, 2))
    a, _ = statjax.run_chains(kernel, jax.random.key(3), initial, 20)
    b, _ = statjax.run_chains(kernel, jax.random.key(3), initial, 20)
    c, _ = statjax.run_chains(kernel, jax.random.key(4), initial, 20)
    np.testing.assert_array_equal(a.position, b.position)
    assert not np.array_equal(a.position, c.position)


def test_other_prng_implementations_work(kernel):
    key = jax.random.key(0, impl="rbg")
    final, _ = statjax.run_chains(kernel, key, jnp.zeros((4, 2)), 10)
    assert np.all(np.isfinite(final.position))


def test_streaming_moments_equal_the_moments_of_the_trace(kernel):
    key, initial = jax.random.key(5), jnp.zeros((6, 2))
    _, trace = statjax.run_chains(kernel, key, initial, 60, observe=observe_position, thin=2)
    _, moments = statjax.run_chains(
        kernel, key, initial, 60, observe=observe_position, thin=2, streaming=True, chunk_size=20
    )
    assert isinstance(moments, statjax.RunningMoments)
    assert float(moments.count) == 30
    np.testing.assert_allclose(moments.mean, trace.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moments.variance, trace.var(0, ddof=1), rtol=1e-4, atol=1e-6)


def test_observe_may_read_the_info(kernel):
    _, acceptance = statjax.run_chains(
        kernel, jax.random.key(0), jnp.zeros((3, 2)), 10, observe=observe_acceptance
    )
    assert acceptance.shape == (10, 3)
    assert np.all((acceptance >= 0) & (acceptance <= 1))


def test_callback_runs_between_chunks(kernel):
    calls = []
    statjax.run_chains(
        kernel,
        jax.random.key(0),
        jnp.zeros((3, 2)),
        100,
        chunk_size=25,
        callback=lambda done, total, states: calls.append((done, total)),
    )
    assert calls == [(25, 100), (50, 100), (75, 100), (100, 100)]


def test_progress_bar_counts_the_steps_between_chunks(kernel, capsys):
    calls = []
    statjax.run_chains(
        kernel,
        jax.random.key(0),
        jnp.zeros((3, 2)),
        100,
        chunk_size=25,
        progress=True,
        callback=lambda done, total, states: calls.append(done),
    )
    bar = capsys.readouterr().err  # tqdm.auto writes text to stderr outside a notebook
    assert "run_chains" in bar and "100/100" in bar and "step/s" in bar
    assert calls == [25, 50, 75, 100]


def test_repeated_calls_reuse_checks_but_never_stale_states(kernel):
    """The host caches (initial states by array identity, energies known finite)."""
    key = jax.random.key(0)
    start = jnp.zeros((3, 2))
    first, _ = statjax.run_chains(kernel, key, start, 10)
    again, _ = statjax.run_chains(kernel, key, start, 10)
    np.testing.assert_array_equal(first.position, again.position)
    # Other positions, a mutated numpy array: fresh states, not the cached ones.
    moved = np.ones((3, 2), np.float32)
    from_numpy, _ = statjax.run_chains(kernel, key, moved, 10)
    moved[:] = 0.0
    np.testing.assert_array_equal(
        statjax.run_chains(kernel, key, moved, 10)[0].position, first.position
    )
    assert not np.array_equal(from_numpy.position, first.position)
    # States with a NaN energy are still refused after valid calls.
    bad = first._replace(energy=first.energy.at[1].set(jnp.nan))
    with pytest.raises(ValueError, match=r"chains \[1\]"):
        statjax.run_chains(kernel, key, bad, 10)


def test_new_beta_step_size_or_energy_parameters_never_recompile():
    """The kernel, beta and a Partial energy's parameters are traced arguments."""

    def shifted(shift, x):
        return 0.5 * jnp.sum((x - shift) ** 2)

    initial = jnp.zeros((4, 2))
    _run_chunk.clear_cache()
    for step_size, beta, shift in [(0.1, 1.0, 0.0), (0.3, 2.5, 1.0), (0.05, 0.5, -2.0)]:
        kernel = statjax.mala(jax.tree_util.Partial(shifted, jnp.asarray(shift)), step_size)
        statjax.run_chains(kernel, jax.random.key(0), initial, 10, beta=beta)
    assert _run_chunk._cache_size() == 1
    for num_integration_steps in (3, 7):
        kernel = statjax.hmc(energy, 0.1, num_integration_steps)
        statjax.run_chains(kernel, jax.random.key(0), initial, 10, beta=1.0)
    assert _run_chunk._cache_size() == 2


@pytest.mark.parametrize(
    "beta, message",
    [
        (0.0, "beta must be > 0"),
        (-1.0, "beta must be > 0"),
        (jnp.nan, "beta must be > 0"),
        (jnp.ones(3), r"shape \(4,\)"),
        (optax.linear_schedule(1.0, -1.0, 10), "the beta schedule must be > 0"),
    ],
)
def test_bad_beta_is_rejected_with_a_clear_error(kernel, beta, message):
    with pytest.raises(ValueError, match=message):
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((4, 2)), 10, beta=beta)


def test_bad_counts_and_shapes_are_rejected(kernel):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_steps"):
        statjax.run_chains(kernel, key, jnp.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="multiple of thin"):
        statjax.run_chains(kernel, key, jnp.zeros((4, 2)), 10, thin=3)
    with pytest.raises(ValueError, match="leading chain axis"):
        statjax.run_chains(kernel, key, jnp.asarray(0.0), 10)
    with pytest.raises(ValueError, match="disagree on the number of chains"):
        statjax.run_chains(kernel, key, {"a": jnp.zeros((4, 2)), "b": jnp.zeros((3,))}, 10)
    with pytest.raises(ValueError, match="streaming"):
        statjax.run_chains(kernel, key, jnp.zeros((4, 2)), 10, streaming=True)


def test_non_finite_initial_energy_names_the_chains():
    kernel = statjax.mala(lambda x: jnp.log(x[0]) + 0.5 * jnp.sum(x**2), 0.1)
    initial = jnp.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match=r"chains \[1\]"):
        statjax.run_chains(kernel, jax.random.key(0), initial, 10)


def test_energies_of_different_classes_never_share_a_compiled_program():
    """DoubleWell(dim=3) and NealFunnel(dim=3) have PyTreeDefs that compare equal in
    this JAX version; run_chains keys its cache on the class names too."""
    from statjax.energy import DoubleWell, NealFunnel

    _run_chunk.clear_cache()
    initial = jnp.full((2, 3), 0.5)
    for landscape in (DoubleWell(dim=3, barrier=2.0), NealFunnel(dim=3)):
        final, _ = statjax.run_chains(statjax.mala(landscape, 1e-3), jax.random.key(0), initial, 1)
        np.testing.assert_allclose(final.energy, jax.vmap(landscape)(final.position), rtol=1e-5)
    assert _run_chunk._cache_size() == 2
