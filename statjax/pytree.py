r"""The one way statjax declares a pytree class, and the guard for everybody else's.

JAX 0.10 gives two classes registered through its dataclass registration (what
Flax's struct dataclasses and nodes use) *equal* ``PyTreeDef``\ s when their
field names match, although their hashes differ. A
``jax.jit`` cache that meets both can then run one class's compiled program for
the other, silently (measured: 40-53 of 300 generated one-field classes through
one jitted function returned another class's result; docs/design-decisions.md,
"Pytrees JAX cannot confuse", names the APIs). Classes registered with
``register_pytree_node``/``register_pytree_with_keys`` carry their type in the
tree structure and are never confused (0 of 300).

So every statjax kernel, energy and schedule derives from :class:`Pytree`,
which makes the subclass a frozen dataclass and registers it with
``register_pytree_with_keys``: fields are leaves (traced, so a new number never
recompiles) unless declared with :func:`static_field`, whose values go into the
tree structure (hashable, compared on every cache lookup).

A user's own Flax struct energy still meets the fault. Every statjax entry
point that jits a user pytree therefore adds :func:`structure_key` (the tree
structure *and* the identity of every node's class) as a static argument;
:func:`guarded_jit` does that for any function.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

import jax

from statjax._tree import as_pytree_fn

_STATIC = "statjax_static"

T = TypeVar("T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is part of the tree structure, not a leaf.

    Use it for settings that change the compiled program (a shape, a scheme name,
    a number of sweeps unrolled at trace time). The value must be hashable.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_STATIC] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def field(*, static: bool = False, **kwargs: Any) -> Any:
    """A dataclass field: a leaf, or with ``static=True`` part of the structure."""
    if static:
        return static_field(**kwargs)
    return dataclasses.field(**kwargs)


def _register(cls: type) -> None:
    fields = dataclasses.fields(cls)
    leaf_names = tuple(f.name for f in fields if not f.metadata.get(_STATIC, False))
    static_names = tuple(f.name for f in fields if f.metadata.get(_STATIC, False))
    leaf_keys = tuple(jax.tree_util.GetAttrKey(name) for name in leaf_names)

    def flatten_with_keys(node):
        children = [(k, getattr(node, n)) for k, n in zip(leaf_keys, leaf_names, strict=True)]
        return children, tuple(getattr(node, name) for name in static_names)

    def flatten(node):
        return (
            [getattr(node, name) for name in leaf_names],
            tuple(getattr(node, name) for name in static_names),
        )

    def unflatten(static_values, children):
        # Bypass __init__/__post_init__: JAX rebuilds nodes with placeholder leaves.
        node = object.__new__(cls)
        for name, value in zip(leaf_names, children, strict=True):
            object.__setattr__(node, name, value)
        for name, value in zip(static_names, static_values, strict=True):
            object.__setattr__(node, name, value)
        return node

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)


@dataclass_transform(field_specifiers=(static_field, field, dataclasses.field), frozen_default=True)
class Pytree:
    """Base class of statjax's pytree classes (kernels, energies, schedules).

    A subclass is a frozen dataclass registered as a pytree node whose class is
    part of the tree structure (see the module docstring for why). Fields are
    leaves unless declared with :func:`static_field`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.pytree import Pytree, static_field
        >>> class Quadratic(Pytree):
        ...     stiffness: jax.Array
        ...     name: str = static_field(default="quadratic")
        ...     def __call__(self, x):
        ...         return 0.5 * self.stiffness * jnp.sum(x**2)
        >>> energy = Quadratic(jnp.asarray(2.0))
        >>> jax.tree_util.tree_leaves(energy)
        [Array(2., dtype=float32, weak_type=True)]
        >>> float(energy.replace(stiffness=4.0)(jnp.ones(2)))
        4.0
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)
        _register(cls)

    def replace(self: T, **changes: Any) -> T:
        """A copy with the named fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _node_types(treedef: Any, out: list) -> None:
    data = treedef.node_data()
    if data is not None:
        out.append(data[0])
    for child in treedef.children():
        _node_types(child, out)


def structure_key(tree: Any) -> tuple:
    r"""A hashable key naming ``tree``'s structure *and the identity of its classes*.

    Two trees get equal keys only when their ``PyTreeDef``\ s are equal and every
    node is of the same class object, so a static jit argument built from it
    keeps classes that JAX's ``PyTreeDef`` equality confuses (Flax struct
    dataclasses with the same fields) apart.
    """
    treedef = jax.tree_util.tree_structure(tree)
    types: list = []
    _node_types(treedef, types)
    return (treedef, tuple(types))


def _is_plain_callable(value: Any) -> bool:
    return callable(value) and jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(value))


def guarded_jit(
    fun: Callable | None = None,
    *,
    static_argnames: tuple[str, ...] | str = (),
) -> Any:
    """``jax.jit`` whose cache is also keyed on :func:`structure_key` of the traced arguments.

    Use it for every statjax entry point that jits a user's pytree (an energy, a
    kernel over a user's energy, a schedule). It costs one tree traversal per call
    on the host. A plain function argument becomes a leafless ``Partial`` (a new
    function recompiles; a pytree energy's numbers stay traced). Static arguments
    may be passed by position or keyword; ``fun`` must not take ``*args``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from statjax.pytree import guarded_jit
        >>> @guarded_jit(static_argnames="power")
        ... def moment(energy_fn, x, power):
        ...     return energy_fn(x) ** power
        >>> float(moment(lambda x: jnp.sum(x), jnp.ones(3), 2))
        9.0
    """
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    if fun is None:
        return functools.partial(guarded_jit, static_argnames=static_argnames)
    static = tuple(static_argnames)
    signature = inspect.signature(fun)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        raise TypeError(f"guarded_jit: {fun.__name__} must not take *args or **kwargs.")

    @functools.partial(jax.jit, static_argnames=("_structure", *static))
    def jitted(_structure, **arguments):
        del _structure  # a cache key only
        return fun(**arguments)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        # A plain function travels as a leafless Partial: its identity is the cache key.
        arguments = {
            k: as_pytree_fn(v) if k not in static and _is_plain_callable(v) else v
            for k, v in bound.arguments.items()
        }
        dynamic = {k: v for k, v in arguments.items() if k not in static}
        return jitted(_structure=structure_key(dynamic), **arguments)

    # The compile counters of jax.jit, so tests count programs the same way everywhere.
    wrapper.jitted = jitted  # type: ignore[attr-defined]
    wrapper._cache_size = jitted._cache_size  # type: ignore[attr-defined]
    wrapper.clear_cache = jitted.clear_cache  # type: ignore[attr-defined]
    return wrapper


__all__ = ["Pytree", "field", "guarded_jit", "static_field", "structure_key"]
