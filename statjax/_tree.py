"""Small pytree helpers used by the kernels (private)."""

import itertools
from typing import Literal, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from statjax.types import ArrayTree, PRNGKey


def as_pytree_fn(fn):
    """Make a callable a pytree so that it can be a traced kernel field.

    A plain function becomes a leafless ``Partial`` (its identity is static, so a
    new function recompiles); a callable that already is a pytree (a ``Partial``
    with parameters, a :class:`statjax.pytree.Pytree` with ``__call__``) is kept, so
    that its parameters stay traced leaves and changing them never recompiles.
    """
    if isinstance(fn, Partial):
        return fn
    if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(fn)):
        return Partial(fn)
    return fn


def normal_like(key: PRNGKey, tree: ArrayTree, *, at_least_float32: bool = False) -> ArrayTree:
    """Standard normal noise with the structure, shapes and dtypes of ``tree``.

    With ``at_least_float32``, leaves narrower than float32 get float32 noise
    (see :func:`normal_and_log_uniform_like`).
    """
    noise, _ = normal_and_log_uniform_like(
        key, tree, with_uniform=False, at_least_float32=at_least_float32
    )
    return noise


@overload
def normal_and_log_uniform_like(
    key: PRNGKey,
    tree: ArrayTree,
    with_uniform: Literal[True] = ...,
    *,
    at_least_float32: bool = ...,
) -> tuple[ArrayTree, jax.Array]: ...


@overload
def normal_and_log_uniform_like(
    key: PRNGKey, tree: ArrayTree, with_uniform: Literal[False], *, at_least_float32: bool = ...
) -> tuple[ArrayTree, None]: ...


@overload
def normal_and_log_uniform_like(
    key: PRNGKey, tree: ArrayTree, with_uniform: bool, *, at_least_float32: bool = ...
) -> tuple[ArrayTree, jax.Array | None]: ...


def normal_and_log_uniform_like(
    key: PRNGKey, tree: ArrayTree, with_uniform: bool = True, *, at_least_float32: bool = False
) -> tuple[ArrayTree, jax.Array | None]:
    """Normal noise shaped like ``tree`` and ``log u``, ``u ~ U(0, 1)``, from one generator call.

    On the CPU each call of the generator costs about as much as a small kernel
    step, so a proposal's noise and its accept/reject uniform come from one draw of
    ``size(tree) + 1`` uniforms ``v`` on ``(-1, 1)``: the noise is
    ``sqrt(2) erfinv(v)``, exactly what ``jax.random.normal`` computes, and the
    last one gives ``u = (1 + v) / 2``. Leaves of a dtype narrower than float32
    get float32 draws, so the accept test keeps float32 resolution; the noise is
    cast down to the leaf's dtype unless ``at_least_float32`` is set, in which
    case it stays float32 (kernels on bfloat16 positions compute their updates
    in float32 and round only the new position). Leaves of mixed dtypes fall
    back to one call per leaf. float32 and float64 draws do not depend on
    ``at_least_float32``.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    dtypes = {jnp.result_type(x) for x in leaves}

    def noise_dtype(dtype):
        return jnp.promote_types(dtype, jnp.float32) if at_least_float32 else dtype

    if len(dtypes) != 1:
        key, key_uniform = jax.random.split(key)
        keys = jax.random.split(key, len(leaves))
        noise = [
            jax.random.normal(k, jnp.shape(x), noise_dtype(jnp.result_type(x)))
            for k, x in zip(keys, leaves, strict=True)
        ]
        log_uniform = jnp.log(jax.random.uniform(key_uniform)) if with_uniform else None
        return jax.tree_util.tree_unflatten(treedef, noise), log_uniform
    dtype = dtypes.pop()
    draw_dtype = jnp.promote_types(dtype, jnp.float32)
    sizes = [int(jnp.size(x)) for x in leaves]
    total = sum(sizes)
    lowest = np.nextafter(np.array(-1.0, draw_dtype), np.array(0.0, draw_dtype))
    uniform = jax.random.uniform(key, (total + int(with_uniform),), draw_dtype, lowest, 1.0)
    normal = np.sqrt(2).astype(draw_dtype) * jax.lax.erf_inv(uniform[:total])
    normal = normal.astype(noise_dtype(dtype))
    pieces = (
        jnp.split(normal, list(itertools.accumulate(sizes))[:-1]) if len(leaves) > 1 else [normal]
    )
    noise = [piece.reshape(jnp.shape(x)) for piece, x in zip(pieces, leaves, strict=True)]
    log_uniform = jnp.log1p(uniform[total]) - np.log(2.0) if with_uniform else None
    return jax.tree_util.tree_unflatten(treedef, noise), log_uniform


def compute_dtype(dtype) -> jnp.dtype:
    """The dtype a kernel computes a leaf's update in: ``dtype``, at least float32.

    bfloat16 and float16 positions are stored as they are but their drift, noise
    and momenta are carried in float32, so that an update much smaller than the
    position is not lost to rounding before it is added.
    """
    return jnp.promote_types(dtype, jnp.float32)


def tree_upcast(tree: ArrayTree) -> ArrayTree:
    """Every leaf of ``tree`` in :func:`compute_dtype` of its own dtype."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, compute_dtype(jnp.result_type(x))), tree)


def tree_cast_like(tree: ArrayTree, like: ArrayTree) -> ArrayTree:
    """Every leaf of ``tree`` cast to the dtype of the matching leaf of ``like``."""
    return jax.tree_util.tree_map(lambda x, y: jnp.asarray(x, jnp.result_type(y)), tree, like)


def broadcast_like(value, tree: ArrayTree) -> ArrayTree:
    """``value`` as a pytree shaped like ``tree``: a scalar is repeated on every leaf."""
    value_structure = jax.tree_util.tree_structure(value)
    # jaxlib's PyTreeDef comes from a compiled module without stubs: mypy cannot see its __eq__.
    if value_structure == jax.tree_util.tree_structure(tree):  # type: ignore[operator]
        return value
    return jax.tree_util.tree_map(lambda _: value, tree)


def tree_vdot(a: ArrayTree, b: ArrayTree) -> jax.Array:
    """Sum over all leaves of the elementwise product ``a * b``."""
    products = jax.tree_util.tree_map(lambda x, y: jnp.sum(x * y), a, b)
    return jnp.asarray(sum(jax.tree_util.tree_leaves(products)))


def tree_axpy(scale, x: ArrayTree, y: ArrayTree) -> ArrayTree:
    """``scale * x + y`` leafwise; ``scale`` is a scalar or a pytree like ``x``."""
    scale = broadcast_like(scale, x)
    return jax.tree_util.tree_map(lambda s, a, b: s * a + b, scale, x, y)


def tree_mul(scale, x: ArrayTree) -> ArrayTree:
    """``scale * x`` leafwise; ``scale`` is a scalar or a pytree like ``x``."""
    scale = broadcast_like(scale, x)
    return jax.tree_util.tree_map(lambda s, a: s * a, scale, x)


def tree_where(condition: jax.Array, x: ArrayTree, y: ArrayTree) -> ArrayTree:
    """Leafwise ``jnp.where(condition, x, y)`` with a scalar condition."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), x, y)
