"""Small pytree helpers used by the kernels (private)."""

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

# The kernels' noise is drawn by the one random-number path (statjax.random);
# re-exported here for the modules that import it from this one.
from statjax.random import normal_and_log_uniform_like as normal_and_log_uniform_like
from statjax.random import normal_like as normal_like
from statjax.types import ArrayTree


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
