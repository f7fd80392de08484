"""Welford moments and Chan's merge against numpy on the same numbers."""

import jax
import jax.numpy as jnp
import numpy as np

import statjax


def _moments_of(stream):
    moments = statjax.running_moments_init({"x": stream[0], "n": stream[0][:, 0]})
    for row in stream:
        moments = statjax.running_moments_update(moments, {"x": row, "n": row[:, 0]})
    return moments


def test_streaming_moments_equal_numpy_and_merge_equals_concatenation():
    stream = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (50, 4, 2))
    whole = _moments_of(stream)
    np.testing.assert_allclose(whole.mean["x"], stream.mean(0), rtol=1e-5)
    np.testing.assert_allclose(whole.variance["x"], stream.var(0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(whole.variance["n"], stream[..., 0].var(0, ddof=1), rtol=1e-4)
    merged = statjax.running_moments_merge(_moments_of(stream[:17]), _moments_of(stream[17:]))
    assert float(merged.count) == 50
    np.testing.assert_allclose(merged.mean["x"], whole.mean["x"], rtol=1e-5)
    np.testing.assert_allclose(merged.m2["x"], whole.m2["x"], rtol=1e-4)


def test_integer_observations_get_float_moments():
    moments = statjax.running_moments_init(jnp.zeros(2, jnp.int8))
    moments = statjax.running_moments_update(moments, jnp.array([1, -1], jnp.int8))
    moments = statjax.running_moments_update(moments, jnp.array([1, 1], jnp.int8))
    np.testing.assert_allclose(moments.mean, [1.0, 0.0])
    np.testing.assert_allclose(moments.variance, [0.0, 2.0])


def test_merging_with_an_empty_stream_changes_nothing():
    stream = jax.random.normal(jax.random.key(1), (10, 3))
    moments = _moments_of(stream[:, :, None])
    empty = statjax.running_moments_init(moments.mean)
    merged = statjax.running_moments_merge(empty, moments)
    np.testing.assert_allclose(merged.mean["x"], moments.mean["x"])
    np.testing.assert_allclose(merged.m2["x"], moments.m2["x"])
