"""One random-number path for every kernel: ``jax.random``'s streams, computed fused.

Every kernel, transform and estimator in statjax draws its uniforms, normals,
Bernoulli variables and integers here, from the key it is given (typed, of any
implementation, or a legacy ``uint32[2]``; see :func:`statjax.checks.as_key`).

**The generator** is Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror & Shaw
2011, "Parallel random numbers: as easy as 1, 2, 3", SC'11), the hash of
``jax.random``'s default implementation, in ``jax.random``'s own layout: word
``i`` of a key's stream is the xor of the two words of ``threefry(key, (0, i))``.
The rounds are written out as plain ``uint32`` arithmetic, so XLA fuses them
with the arithmetic that consumes the numbers (``erfinv``, the proposal, the
accept test) and vectorises them over chains. On the CPU ``jax.random`` lowers
the same hash to a rolled loop that cannot fuse: its draws were 81 % of a MALA
step (``benchmarks/rng_share.py``). For a ``threefry2x32`` key (and a legacy key,
which is one) every function here returns **the very numbers of
``jax.random``** (``bits``, ``uniform``, ``normal``, ``bernoulli``, int32
``randint``), under JAX's default ``jax_threefry_partitionable``; only faster.
Keys of other implementations (``rbg``, ``unsafe_rbg``) give two words through
``jax.random.bits(key, (2,))`` that key the same hash (numbers then differ from
``jax.random``'s for that key, with the same law).

**Streams** are a function of the key alone, so a kernel's numbers stay a
function of (key, global step, chain) through the driver's key rule
(:mod:`statjax.samplers.loop`): chunking, resume and sharding give identical
bits.

**Transforms.** Uniform float32 on ``[0, 1)``: the top 23 bits as a mantissa
(float64: 52 bits of a 64-bit word); normal: ``sqrt(2) erfinv(v)`` with ``v``
uniform on ``(-1, 1)`` (the inverse CDF, exact in distribution up to the
resolution of ``v``): measured against Box–Muller (Box & Muller 1958), whose
sine and cosine cost more on the CPU than ``erfinv`` (``benchmarks/README.md``,
issue 16); Bernoulli: ``u < p``; integers on ``[minval, maxval)``: two words
``(a, b)`` and ``(a 2**32 + b) mod span``, as JAX.

**The switch to ``jax.random``.** ``backend="jax"`` (an argument of every
function here) or :func:`use_backend` / :func:`set_backend` (the default every
kernel reads) calls ``jax.random`` itself: for keys of other implementations,
whose ``jax.random`` streams the fused path does not reproduce, and as the
reference the fused path is tested against. The default is read when a
function is *traced* (a plain Python setting, like a dtype): a jitted function
keeps the backend it was traced with, and nothing is read at run time, so every
function stays pure. :func:`statjax.run_chains` puts the backend in its
compile-cache key, so switching it recompiles there; code that jits a kernel
itself should switch before tracing (or pass ``backend=``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key
from statjax.types import ArrayTree, PRNGKey

BACKENDS = ("fused", "jax")
"""``"fused"``: the unrolled Threefry of this module; ``"jax"``: ``jax.random`` itself."""

_default_backend = "fused"


def get_backend() -> str:
    """The backend kernels draw with when none is passed: ``"fused"`` or ``"jax"``."""
    return _default_backend


def set_backend(name: str) -> None:
    """Set the default backend (read at trace time; see the module docstring).

    Args:
        name: ``"fused"`` (statjax's fused Threefry, the default) or ``"jax"``
            (``jax.random``'s own streams).

    Examples:
        >>> import statjax
        >>> statjax.random.set_backend("jax")
        >>> statjax.random.get_backend()
        'jax'
        >>> statjax.random.set_backend("fused")
    """
    global _default_backend
    _default_backend = _check_backend(name)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Draw with ``name`` (``"fused"`` or ``"jax"``) inside the ``with`` block.

    Functions traced inside the block keep the backend; :func:`statjax.run_chains`
    compiles once per backend.

    Examples:
        >>> import jax, statjax
        >>> key = jax.random.key(0, impl="rbg")
        >>> with statjax.random.use_backend("jax"):
        ...     draws = statjax.random.normal(key, (3,))  # jax.random.normal(key, (3,))
    """
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def _check_backend(name: str | None) -> str:
    if name is None:
        return _default_backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}.")
    return name


# ------------------------------------------------------------------ the generator

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(
    key0: jax.Array, key1: jax.Array, count0: jax.Array, count1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), unrolled; returns two uint32 arrays.

    Bit-identical to the hash under ``jax.random``'s default implementation; written
    out so that XLA fuses it with its consumers. All arguments are ``uint32`` and
    broadcast together.
    """
    keys = (key0, key1, key0 ^ key1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = count0 + keys[0], count1 + keys[1]
    for block in range(5):
        for rotation in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = (x1 << jnp.uint32(rotation)) | (x1 >> jnp.uint32(32 - rotation))
            x1 = x0 ^ x1
        x0 = x0 + keys[(block + 1) % 3]
        x1 = x1 + keys[(block + 2) % 3] + jnp.uint32(block + 1)
    return x0, x1


def seed_words(key: PRNGKey) -> tuple[jax.Array, jax.Array]:
    """The two uint32 words that key the fused Threefry for ``key``.

    A ``threefry2x32`` key (and a legacy key, which is one) *is* a Threefry key:
    its own two words, as ``jax.random`` uses them. Keys of other
    implementations (``rbg``, ``unsafe_rbg``) are asked for two words by
    ``jax.random.bits(key, (2,))``, which then key the same generator.
    """
    key = as_key(key)
    if _is_threefry(key):
        data = jax.random.key_data(key)
    else:
        flat = key.reshape(-1)
        data = jax.vmap(lambda k: jax.random.bits(k, (2,), jnp.uint32))(flat)
        data = data.reshape((*key.shape, 2))
    return data[..., 0], data[..., 1]


def _is_threefry(key) -> bool:
    return str(jax.random.key_impl(key)) == "threefry2x32"


def is_jax_identical(key: PRNGKey) -> bool:
    """Whether the fused path gives ``jax.random``'s own bits for ``key``.

    True for ``threefry2x32`` (and legacy) keys under JAX's default
    ``jax_threefry_partitionable``; a trace-time (static) property of the key.
    """
    return _is_threefry(as_key(key)) and _partitionable()


def _partitionable() -> bool:
    # The flag is read as an attribute; jax.config's stub does not declare it.
    return bool(jax.config.jax_threefry_partitionable)  # type: ignore[attr-defined]


def bits(key: PRNGKey, shape: int | Sequence[int] = (), *, backend: str | None = None) -> jax.Array:
    """Random uint32 words: word ``i`` is the xor of the two words of ``threefry(seed, (0, i))``.

    The layout of ``jax.random.bits`` (JAX's default, partitionable Threefry): for a
    ``threefry2x32`` key the result equals ``jax.random.bits(key, shape)`` bit for
    bit. At most ``2**32`` words per key.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> key = jax.random.key(0)
        >>> bool(jnp.all(statjax.random.bits(key, (5,)) == jax.random.bits(key, (5,))))
        True
    """
    key, shape = as_key(key), _shape(shape)
    if _check_backend(backend) == "jax":
        return jax.random.bits(key, shape, jnp.uint32)
    size = _size(shape)
    if size > 2**32:
        raise ValueError(f"at most 2**32 words per key, asked for {size}.")
    seed0, seed1 = seed_words(key)
    counters = jax.lax.iota(jnp.uint32, size)
    # The seeds broadcast explicitly: XLA on the CPU vectorises the hash over the
    # whole (chains, numbers) block then (measured 2.8x faster than an implicit
    # broadcast inside the fusion; see benchmarks/README.md).
    x0, x1 = threefry2x32(
        jnp.broadcast_to(seed0, (size,)),
        jnp.broadcast_to(seed1, (size,)),
        jnp.zeros_like(counters),
        counters,
    )
    return (x0 ^ x1).reshape(shape)


def words(key: PRNGKey, num: int) -> jax.Array:
    """``num`` uint32 words of ``key``'s stream (``bits(key, (num,))``)."""
    return bits(key, (num,))


# ------------------------------------------------------------------ transforms

_TWO_POW_M23 = np.float32(2.0**-23)
_TWO_POW_M24 = np.float32(2.0**-24)


def unit_float32(word: jax.Array) -> jax.Array:
    """uint32 -> float32 on ``[0, 1)`` from the top 23 bits, as ``jax.random``.

    The bits become the mantissa of a number in ``[1, 2)``, minus 1: JAX's own
    operations, so that what XLA fuses after them rounds as it does for JAX.
    """
    mantissa = (word >> jnp.uint32(9)) | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - np.float32(1.0)


def unit_float32_open_left(word: jax.Array) -> jax.Array:
    """uint32 -> float32 on ``(0, 1]``: ``(top 24 bits + 1) * 2**-24`` (its log is finite)."""
    return ((word >> jnp.uint32(8)).astype(jnp.float32) + 1.0) * _TWO_POW_M24


def _unit(key, shape: tuple[int, ...], dtype) -> jax.Array:
    """Uniforms on ``[0, 1)`` of float32 or float64, ``jax.random``'s values."""
    if jnp.dtype(dtype) == jnp.float32:
        return unit_float32(bits(key, shape))
    # float64 (x64 mode): 64-bit words (x0 << 32) | x1, the top 52 bits as mantissa.
    seed0, seed1 = seed_words(key)
    size = _size(shape)
    counters = jax.lax.iota(jnp.uint32, size)
    x0, x1 = threefry2x32(
        jnp.broadcast_to(seed0, (size,)),
        jnp.broadcast_to(seed1, (size,)),
        jnp.zeros_like(counters),
        counters,
    )
    word = (x0.astype(jnp.uint64) << jnp.uint64(32)) | x1.astype(jnp.uint64)
    mantissa = (word >> jnp.uint64(12)) | jnp.uint64(0x3FF0000000000000)
    return (jax.lax.bitcast_convert_type(mantissa, jnp.float64) - 1.0).reshape(shape)


def _fused_dtype(dtype) -> bool:
    """Whether the fused path draws ``dtype`` itself (float32, float64); else ``jax.random``."""
    return jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _float_dtype(dtype) -> Any:
    dtype = jnp.dtype(float if dtype is None else dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}.")
    return jax.dtypes.canonicalize_dtype(dtype)


def uniform(
    key: PRNGKey,
    shape: int | Sequence[int] = (),
    dtype: Any = None,
    minval: jax.typing.ArrayLike = 0.0,
    maxval: jax.typing.ArrayLike = 1.0,
    *,
    backend: str | None = None,
) -> jax.Array:
    """Uniform numbers on ``[minval, maxval)``; ``jax.random.uniform``'s values, fused.

    For a ``threefry2x32`` key the result equals ``jax.random.uniform(key, shape,
    dtype, minval, maxval)`` bit for bit (float16/bfloat16 are drawn by
    ``jax.random`` itself).

    Args:
        key: a PRNG key of any implementation, or a legacy ``uint32[2]`` key.
        shape: the output's shape.
        dtype: a float dtype (default: JAX's default float).
        minval: lower bound (included).
        maxval: upper bound (excluded).
        backend: ``"fused"``, ``"jax"`` or ``None`` for :func:`get_backend`.

    Examples:
        >>> import jax, statjax
        >>> statjax.random.uniform(jax.random.key(0), (3,)).shape
        (3,)
    """
    key, shape, dtype = as_key(key), _shape(shape), _float_dtype(dtype)
    if _check_backend(backend) == "jax" or not _fused_dtype(dtype):
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    return _fused_uniform(key, minval, maxval, shape, dtype)


# Jitted like jax.random's own functions, so that a call outside jit rounds the
# affine map as XLA fuses it (as jax.random does): equal bits, jitted or not.
@partial(jax.jit, static_argnums=(3, 4))
def _fused_uniform(key, minval, maxval, shape, dtype):
    minval = jax.lax.broadcast_to_rank(jnp.asarray(minval, dtype), len(shape))
    maxval = jax.lax.broadcast_to_rank(jnp.asarray(maxval, dtype), len(shape))
    # jax.random's affine map and clamp, so that the values agree bit for bit.
    return jnp.maximum(minval, _unit(key, shape, dtype) * (maxval - minval) + minval)


def normal(
    key: PRNGKey,
    shape: int | Sequence[int] = (),
    dtype: Any = None,
    *,
    backend: str | None = None,
) -> jax.Array:
    """Standard normal numbers, ``sqrt(2) erfinv(v)``, ``v ~ U(-1, 1)``: ``jax.random.normal``'s.

    The inverse-CDF transform: measured faster on the CPU than Box–Muller, whose
    sine and cosine cost more than ``erfinv`` (module docstring). For a
    ``threefry2x32`` key the result equals ``jax.random.normal`` bit for bit.

    Args:
        key: a PRNG key of any implementation, or a legacy ``uint32[2]`` key.
        shape: the output's shape.
        dtype: a float dtype (default: JAX's default float).
        backend: ``"fused"``, ``"jax"`` or ``None`` for :func:`get_backend`.

    Examples:
        >>> import jax, statjax
        >>> statjax.random.normal(jax.random.key(0), (2, 3)).shape
        (2, 3)
    """
    key, shape, dtype = as_key(key), _shape(shape), _float_dtype(dtype)
    if _check_backend(backend) == "jax" or not _fused_dtype(dtype):
        return jax.random.normal(key, shape, dtype)
    return _fused_normal(key, shape, dtype)


@partial(jax.jit, static_argnums=(1, 2))
def _fused_normal(key, shape, dtype):
    lowest = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    v = _fused_uniform(key, lowest, 1.0, shape, dtype)
    return np.sqrt(2.0).astype(dtype) * jax.lax.erf_inv(v)


def bernoulli(
    key: PRNGKey,
    p: jax.typing.ArrayLike = 0.5,
    shape: int | Sequence[int] | None = None,
    *,
    backend: str | None = None,
) -> jax.Array:
    """Booleans, ``True`` with probability ``p``: ``u < p`` (``jax.random.bernoulli``'s).

    Args:
        key: a PRNG key of any implementation, or a legacy ``uint32[2]`` key.
        p: the probability (broadcast against ``shape``).
        shape: the output's shape (default: ``p``'s).
        backend: ``"fused"``, ``"jax"`` or ``None`` for :func:`get_backend`.

    Examples:
        >>> import jax, statjax
        >>> statjax.random.bernoulli(jax.random.key(0), 0.3, (4,)).dtype
        dtype('bool')
    """
    key, p = as_key(key), jnp.asarray(p)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jax.dtypes.canonicalize_dtype(float))
    shape = jnp.shape(p) if shape is None else _shape(shape)
    if _check_backend(backend) == "jax" or not _fused_dtype(p.dtype):
        return jax.random.bernoulli(key, p, shape)
    return uniform(key, shape, p.dtype, backend="fused") < p


def randint(
    key: PRNGKey,
    shape: int | Sequence[int],
    minval: jax.typing.ArrayLike,
    maxval: jax.typing.ArrayLike,
    dtype: Any = jnp.int32,
    *,
    backend: str | None = None,
) -> jax.Array:
    """Integers on ``[minval, maxval)``: ``jax.random.randint``'s values for int32.

    JAX's rule: two words ``(a, b)`` from the two halves of ``split(key)`` give
    ``(a * 2**32 + b) mod span`` (each count's probability off by less than
    ``span / 2**64``). Other integer dtypes are drawn by ``jax.random``.

    Args:
        key: a PRNG key of any implementation, or a legacy ``uint32[2]`` key.
        shape: the output's shape.
        minval: the smallest value.
        maxval: one past the largest value (``maxval <= minval`` gives ``minval``).
        dtype: an integer dtype.
        backend: ``"fused"``, ``"jax"`` or ``None`` for :func:`get_backend`.

    Examples:
        >>> import jax, statjax
        >>> statjax.random.randint(jax.random.key(0), (5,), 0, 3).shape
        (5,)
    """
    key, shape = as_key(key), _shape(shape)
    if _check_backend(backend) == "jax" or jnp.dtype(dtype) != jnp.dtype(jnp.int32):
        return jax.random.randint(key, shape, minval, maxval, dtype)
    minval = jax.lax.broadcast_to_rank(jnp.asarray(minval, jnp.int32), len(shape))
    maxval = jax.lax.broadcast_to_rank(jnp.asarray(maxval, jnp.int32), len(shape))
    key_high, key_low = jax.random.split(key)
    high, low = bits(key_high, shape), bits(key_low, shape)
    span = (maxval - minval).astype(jnp.uint32)
    span = jnp.where(maxval <= minval, jnp.uint32(1), span)
    multiplier = jnp.uint32(2**16) % span
    multiplier = (multiplier * multiplier) % span
    offset = ((high % span) * multiplier + low % span) % span
    return minval + offset.astype(jnp.int32)


# ------------------------------------------------------------------ pytree noise


def normal_like(key: PRNGKey, tree: ArrayTree, *, at_least_float32: bool = False) -> ArrayTree:
    """Standard normal noise with the structure, shapes and dtypes of ``tree``.

    With ``at_least_float32``, leaves narrower than float32 get float32 noise
    (see :func:`normal_and_log_uniform_like`).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> noise = statjax.random.normal_like(jax.random.key(0), {"w": jnp.zeros((2, 3))})
        >>> noise["w"].shape
        (2, 3)
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
    backend: str | None = ...,
) -> tuple[ArrayTree, jax.Array]: ...


@overload
def normal_and_log_uniform_like(
    key: PRNGKey,
    tree: ArrayTree,
    with_uniform: Literal[False],
    *,
    at_least_float32: bool = ...,
    backend: str | None = ...,
) -> tuple[ArrayTree, None]: ...


@overload
def normal_and_log_uniform_like(
    key: PRNGKey,
    tree: ArrayTree,
    with_uniform: bool,
    *,
    at_least_float32: bool = ...,
    backend: str | None = ...,
) -> tuple[ArrayTree, jax.Array | None]: ...


def normal_and_log_uniform_like(
    key: PRNGKey,
    tree: ArrayTree,
    with_uniform: bool = True,
    *,
    at_least_float32: bool = False,
    backend: str | None = None,
) -> tuple[ArrayTree, jax.Array | None]:
    """Normal noise shaped like ``tree`` and ``log u``, ``u ~ U(0, 1)``, from one draw.

    A proposal's noise and its accept/reject uniform come from one draw of
    ``size(tree) + 1`` uniforms ``v`` on ``(-1, 1)``: the noise is
    ``sqrt(2) erfinv(v)``, exactly what ``jax.random.normal`` computes, and the
    last one gives ``u = (1 + v) / 2``. Leaves of a dtype narrower than float32
    get float32 draws, so the accept test keeps float32 resolution; the noise is
    cast down to the leaf's dtype unless ``at_least_float32`` is set, in which
    case it stays float32 (kernels on bfloat16 positions compute their updates
    in float32 and round only the new position). Leaves of mixed dtypes get
    one draw per leaf from ``split`` keys. float32 and float64 draws do not
    depend on ``at_least_float32``. Both backends give the same numbers for a
    ``threefry2x32`` key (the ``"fused"`` one faster).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> noise, log_u = statjax.random.normal_and_log_uniform_like(
        ...     jax.random.key(0), jnp.zeros(3))
        >>> bool(log_u <= 0.0)
        True
    """
    key, backend = as_key(key), _check_backend(backend)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    dtypes = {jnp.result_type(x) for x in leaves}

    def noise_dtype(dtype):
        return jnp.promote_types(dtype, jnp.float32) if at_least_float32 else dtype

    if len(dtypes) != 1:
        key, key_uniform = jax.random.split(key)
        keys = jax.random.split(key, len(leaves))
        noise = [
            normal(k, jnp.shape(x), noise_dtype(jnp.result_type(x)), backend=backend)
            for k, x in zip(keys, leaves, strict=True)
        ]
        log_uniform = jnp.log(uniform(key_uniform, backend=backend)) if with_uniform else None
        return jax.tree_util.tree_unflatten(treedef, noise), log_uniform
    dtype = dtypes.pop()
    draw_dtype = jnp.promote_types(dtype, jnp.float32)
    sizes = [int(np.prod(jnp.shape(x), dtype=np.int64)) for x in leaves]
    total = sum(sizes)
    lowest = np.nextafter(np.array(-1.0, draw_dtype), np.array(0.0, draw_dtype))
    draws = uniform(key, (total + int(with_uniform),), draw_dtype, lowest, 1.0, backend=backend)
    normal_draws = np.sqrt(2).astype(draw_dtype) * jax.lax.erf_inv(draws[:total])
    normal_draws = normal_draws.astype(noise_dtype(dtype))
    pieces = (
        jnp.split(normal_draws, list(itertools.accumulate(sizes))[:-1])
        if len(leaves) > 1
        else [normal_draws]
    )
    noise = [piece.reshape(jnp.shape(x)) for piece, x in zip(pieces, leaves, strict=True)]
    log_uniform = jnp.log1p(draws[total]) - np.log(2.0) if with_uniform else None
    return jax.tree_util.tree_unflatten(treedef, noise), log_uniform


def log_uniform(key: PRNGKey, dtype: Any = None, *, backend: str | None = None) -> jax.Array:
    """``log u`` for one ``u ~ U[0, 1)``: the Metropolis–Hastings accept test's draw.

    ``jnp.log(jax.random.uniform(key, dtype=dtype))``'s value. ``u = 0`` gives
    ``-inf``, which accepts no proposal whose ratio is ``-inf`` (``-inf < -inf``
    is false), so refused energies stay refused.

    Examples:
        >>> import jax, statjax
        >>> bool(statjax.random.log_uniform(jax.random.key(0)) <= 0.0)
        True
    """
    return jnp.log(uniform(key, (), dtype, backend=backend))


__all__ = [
    "BACKENDS",
    "bernoulli",
    "bits",
    "get_backend",
    "is_jax_identical",
    "log_uniform",
    "normal",
    "normal_and_log_uniform_like",
    "normal_like",
    "randint",
    "seed_words",
    "set_backend",
    "threefry2x32",
    "uniform",
    "unit_float32",
    "unit_float32_open_left",
    "use_backend",
    "words",
]
