"""statjax.checks: keys, counts, energies, betas and positions at the boundary."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax.checks import (
    as_key,
    check_beta_values,
    check_count,
    check_floating_position,
    check_initial_energy,
    num_chains,
    scalar_energy,
)


def test_as_key_wraps_legacy_keys_and_keeps_typed_keys_of_any_implementation():
    legacy = jax.random.PRNGKey(0)
    wrapped = as_key(legacy)
    assert jax.dtypes.issubdtype(wrapped.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(wrapped), legacy)
    typed = jax.random.key(0)
    assert as_key(typed) is typed
    np.testing.assert_array_equal(
        jax.random.normal(as_key(legacy), (3,)), jax.random.normal(typed, (3,))
    )
    rbg = jax.random.key(0, impl="rbg")
    assert as_key(rbg) is rbg
    batch = as_key(jax.random.split(legacy, 3))
    assert batch.shape == (3,)
    assert jax.jit(lambda k: jax.random.key_data(as_key(k)))(legacy).shape == (2,)


@pytest.mark.parametrize("bad", [0, jnp.zeros(2), jnp.zeros(3, jnp.uint32)])
def test_as_key_refuses_what_is_not_a_key(bad):
    with pytest.raises(TypeError, match="PRNG key"):
        as_key(bad)


def test_check_count_takes_whole_numbers_only():
    assert check_count("n", 3) == 3
    assert check_count("n", 3.0) == 3
    assert check_count("n", np.int64(2)) == 2
    assert check_count("n", 0, minimum=0) == 0
    for bad in (2.5, True, False, 0, -1, np.ones(2), "3"):
        with pytest.raises(ValueError, match="integer"):
            check_count("n", bad)
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda n: check_count("n", n))(3)


def test_scalar_energy_refuses_vectors_and_casts_integers():
    assert scalar_energy(lambda x: jnp.sum(x**2), jnp.ones(3)).shape == ()
    assert jnp.issubdtype(scalar_energy(lambda x: jnp.sum(x), jnp.ones(3, int)).dtype, jnp.floating)
    with pytest.raises(ValueError, match="one scalar"):
        scalar_energy(lambda x: x**2, jnp.ones(3))
    with pytest.raises(ValueError, match="one scalar"):
        jax.jit(lambda x: scalar_energy(lambda y: y, x))(jnp.ones(2))


def test_check_initial_energy_names_chains_and_replicas():
    check_initial_energy(jnp.zeros(4))
    with pytest.raises(ValueError, match=r"chains \[1, 3\]"):
        check_initial_energy(jnp.array([0.0, jnp.nan, 1.0, jnp.inf]))
    energy = jnp.zeros((3, 2)).at[2, 1].set(-jnp.inf)
    with pytest.raises(ValueError, match=r"\(chain, replica\) \[\(2, 1\)\]"):
        check_initial_energy(energy, "(chain, replica)")


def test_check_beta_values_allow_zero_temperature_only():
    check_beta_values(np.array([0.5, 1.0, np.inf]))
    for bad in (0.0, -1.0, np.nan, -np.inf):
        with pytest.raises(ValueError, match="beta"):
            check_beta_values(np.array([1.0, bad]))


def test_positions_need_a_chain_axis_and_gradient_kernels_floats():
    assert num_chains({"a": jnp.zeros((4, 2)), "b": jnp.zeros(4)}) == 4
    with pytest.raises(ValueError, match="chain"):
        num_chains(jnp.zeros(()))
    with pytest.raises(ValueError, match="disagree"):
        num_chains({"a": jnp.zeros((4, 2)), "b": jnp.zeros(3)})
    check_floating_position(jnp.zeros(2, jnp.bfloat16), "mala")
    with pytest.raises(TypeError, match="int32"):
        check_floating_position(jnp.zeros(2, jnp.int32), "mala")
