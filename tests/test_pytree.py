"""statjax.pytree (classes JAX cannot confuse, the guard for everybody else's) and statjax.checks.

The regression of issue 14: in jax 0.10, classes registered with
``register_dataclass`` (``flax.struct``) with the same fields give *equal*
``PyTreeDef``\\ s, and one ``jax.jit`` cache then runs one class's program for
another (measured on this machine: 40-51 of 300 generated one-field classes
through one jitted ``f(m) = m.w * type(m).k`` returned another class's result).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import statjax
from statjax.pytree import Pytree, guarded_jit, static_field, structure_key

NUM_PYTREE_CLASSES = 300
NUM_FLAX_ENERGIES = 50


def _one_field_classes(base, count, prefix, **namespace):
    """``count`` classes deriving from ``base``, one field ``w``, class constant ``k = i + 1``."""
    return [
        type(
            f"{prefix}{index}",
            (base,),
            {"__annotations__": {"w": "jax.Array"}, "k": float(index + 1), **namespace},
        )
        for index in range(count)
    ]


def _times_k(m):
    return m.w * type(m).k


# ----------------------------------------------------------- the regression


def test_hundreds_of_generated_pytree_classes_through_one_jit_each_give_their_own_result():
    jitted = jax.jit(_times_k)
    classes = _one_field_classes(Pytree, NUM_PYTREE_CLASSES, "Weight")
    results = np.array([float(jitted(cls(jnp.float32(1.0)))) for cls in classes])
    wrong = np.flatnonzero(results != np.array([cls.k for cls in classes]))
    assert wrong.size == 0, f"{wrong.size} of {len(classes)} classes got another's result"


def test_user_flax_struct_classes_through_guarded_jit_each_give_their_own_result():
    guarded = guarded_jit(_times_k)
    classes = _one_field_classes(struct.PyTreeNode, 100, "FlaxWeight")
    results = np.array([float(guarded(cls(jnp.float32(1.0)))) for cls in classes])
    assert np.count_nonzero(results != np.array([cls.k for cls in classes])) == 0


def _flax_energy_call(self, x):
    return type(self).k * self.w * jnp.sum(x**2)


@pytest.mark.slow  # one compile per class: ~0.5 s of CPU each
def test_user_flax_struct_energies_through_run_chains_each_give_their_own_energy():
    """Same field name, different class constants: run_chains's guard keeps them apart.

    Without the guard about one class in eight would be given another's program.
    """
    classes = _one_field_classes(
        struct.PyTreeNode, NUM_FLAX_ENERGIES, "FlaxEnergy", __call__=_flax_energy_call
    )
    initial = jnp.ones((1, 2))
    wrong = []
    for cls in classes:
        kernel = statjax.metropolis(cls(jnp.float32(0.5)), 0.5)
        final, _ = statjax.run_chains(kernel, jax.random.key(0), initial, 1)
        position = np.asarray(final.position[0], np.float64)
        expected = cls.k * 0.5 * np.sum(position**2)
        if not np.isclose(float(final.energy[0]), expected, rtol=1e-5):
            wrong.append(cls.__name__)
    assert not wrong, f"{len(wrong)} of {len(classes)} energies were another's: {wrong[:5]}"


# ------------------------------------------------------------------- Pytree


class Scaled(Pytree):
    weight: jax.Array
    bias: jax.Array = 0.0
    name: str = static_field(default="scaled")

    def __call__(self, x):
        return self.weight * x + self.bias


class Checked(Pytree):
    value: jax.Array
    calls: ClassVar[list] = []

    def __post_init__(self):
        Checked.calls.append(self.value)
        if not isinstance(self.value, jax.Array | float):
            raise TypeError("value must be a number")


def test_fields_are_leaves_and_static_fields_are_in_the_structure():
    model = Scaled(jnp.float32(2.0), jnp.float32(1.0))
    assert len(jax.tree_util.tree_leaves(model)) == 2
    other_name = Scaled(jnp.float32(2.0), jnp.float32(1.0), name="other")
    assert jax.tree_util.tree_structure(model) != jax.tree_util.tree_structure(other_name)
    assert jax.tree_util.tree_structure(model) == jax.tree_util.tree_structure(
        Scaled(jnp.float32(5.0), jnp.float32(-1.0))
    )
    rebuilt = jax.tree_util.tree_map(lambda x: 3 * x, other_name)
    assert rebuilt.name == "other" and float(rebuilt.weight) == 6.0


def test_a_new_number_reuses_the_program_and_a_new_static_value_does_not():
    @jax.jit
    def apply(model, x):
        return model(x)

    apply(Scaled(jnp.float32(2.0)), 1.0)
    apply(Scaled(jnp.float32(3.0)), 1.0)
    assert apply._cache_size() == 1
    apply(Scaled(jnp.float32(3.0), name="other"), 1.0)
    assert apply._cache_size() == 2


def test_two_classes_with_the_same_fields_have_different_structures():
    class First(Pytree):
        w: jax.Array

    class Second(Pytree):
        w: jax.Array

    assert jax.tree_util.tree_structure(First(1.0)) != jax.tree_util.tree_structure(Second(1.0))


def test_replace_returns_a_copy_and_instances_are_frozen():
    model = Scaled(jnp.float32(2.0))
    changed = model.replace(weight=jnp.float32(4.0))
    assert float(changed.weight) == 4.0 and float(model.weight) == 2.0
    assert changed.name == model.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.weight = jnp.float32(1.0)


def test_unflatten_bypasses_post_init():
    """JAX rebuilds nodes with placeholder leaves (``object()``, tracers): no check runs."""
    Checked.calls.clear()
    node = Checked(1.0)
    assert len(Checked.calls) == 1
    placeholders = jax.tree_util.tree_map(lambda _: object(), node)
    assert isinstance(placeholders, Checked) and len(Checked.calls) == 1
    jax.jit(lambda n: n.value * 2)(node)
    jax.vmap(lambda n: n.value)(Checked(jnp.ones(3)))
    assert len(Checked.calls) == 2


def test_leaves_have_attribute_key_paths():
    model = Scaled(jnp.float32(2.0), jnp.float32(1.0))
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(model)]
    assert paths == [".weight", ".bias"]
    nested = {"model": model}
    assert jax.tree_util.keystr(jax.tree_util.tree_leaves_with_path(nested)[0][0]) == (
        "['model'].weight"
    )


# ------------------------------------------------------------ structure_key


def test_structure_key_tells_flax_classes_with_equal_fields_apart():
    first, second = _one_field_classes(struct.PyTreeNode, 2, "KeyWeight")
    a, b = first(jnp.float32(1.0)), second(jnp.float32(1.0))
    assert structure_key(a) != structure_key(b)
    assert structure_key(a) == structure_key(first(jnp.float32(7.0)))
    assert hash(structure_key(a)) == hash(structure_key(first(jnp.float32(7.0))))
    assert structure_key((a, [b])) != structure_key((b, [a]))


# -------------------------------------------------------------- guarded_jit


def test_guarded_jit_keeps_static_arguments_and_reuses_programs_for_new_numbers():
    @guarded_jit(static_argnames=("power",))
    def moment(energy_fn, x, power):
        return energy_fn(x) ** power

    model = Scaled(jnp.float32(2.0))
    assert float(moment(model, jnp.float32(1.0), 2)) == 4.0
    assert float(moment(model.replace(weight=jnp.float32(3.0)), jnp.float32(1.0), power=2)) == 9.0
    assert moment.jitted._cache_size() == 1
    assert float(moment(model, jnp.float32(1.0), 3)) == 8.0
    assert moment.jitted._cache_size() == 2


def test_guarded_jit_takes_plain_functions():
    @guarded_jit
    def apply(energy_fn, x):
        return energy_fn(x)

    assert float(apply(lambda x: 2 * x, 1.0)) == 2.0
    assert float(apply(lambda x: 3 * x, 1.0)) == 3.0
