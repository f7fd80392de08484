"""Spin models: Ising and Potts lattices, dense (SK) and sparse (EA) Ising models.

Every model is a :class:`statjax.pytree.Pytree` called on one configuration of
spins and returning its energy as a float scalar. Couplings and fields are
pytree leaves (a jitted sampler that takes the model as an argument does not
recompile when they change); lattice shapes and the number of Potts states are
static. Spins are stored as ``int8``: ``-1, +1`` for Ising models and
``0, ..., q - 1`` for the q-state Potts model. Energies are computed from
integer bond and spin sums, so with integer couplings they are exact integers
(float32 represents every integer below ``2**24``).

**Integer sums at large sizes.** A lattice's bond sum lies in ``[-d N, d N]``
(``d N`` bonds on ``N`` sites in ``d`` dimensions), its magnetization in
``[-N, N]``. They are carried in :func:`integer_sum_dtype`: int64 when
``jax_enable_x64`` is on, else int32, and then a lattice with more than
``2**31 - 1`` bonds (a square one from ``L = 32768``, a cubic one from ``L = 895``)
is refused with a ``ValueError`` naming the largest safe size
(:func:`check_lattice_sums`), before anything is allocated, instead of wrapping.

Every model also says what a configuration is, for exact enumeration
(:mod:`statjax.thermo.exact`) and for samplers: ``spin_shape`` (the shape of one
configuration) and ``spin_values`` (the values a spin takes).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.checks import check_count
from statjax.pytree import Pytree, static_field
from statjax.types import PRNGKey

ISING_VALUES = (-1, 1)
"""The values an Ising spin takes."""


def _check_shape(shape, model: str) -> tuple[int, ...]:
    if (
        not isinstance(shape, tuple)
        or not shape
        or not all(
            isinstance(side, int) and not isinstance(side, bool) and side >= 2 for side in shape
        )
    ):
        raise ValueError(
            f"{model}: shape must be a non-empty tuple of integers >= 2 (the lattice sides), "
            f"got shape={shape!r}."
        )
    return shape


def _check_spins(spins: ArrayLike, shape: tuple[int, ...], model: str) -> jax.Array:
    spins = jnp.asarray(spins)
    if spins.shape != shape:
        raise ValueError(
            f"{model} takes one configuration of shape {shape}, got shape {spins.shape}; "
            "use jax.vmap for a batch of configurations."
        )
    return spins


def _float_dtype(*values) -> jnp.dtype:
    return jnp.result_type(float, *values)


INT32_MAX = 2**31 - 1
"""The largest int32: the bound on a lattice's number of bonds without ``jax_enable_x64``."""


def integer_sum_dtype() -> jnp.dtype:
    """The dtype of exact lattice sums: int64 when ``jax_enable_x64`` is on, else int32.

    Read at trace time, so ``with jax.enable_x64(True):`` around a run is enough.
    """
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))


def _integer_root(value: int, degree: int) -> int:
    """The largest integer ``r`` with ``r ** degree <= value`` (exact, no float rounding)."""
    root = round(value ** (1.0 / degree))
    while root**degree > value:
        root -= 1
    while (root + 1) ** degree <= value:
        root += 1
    return root


def check_lattice_sums(shape: tuple[int, ...], model: str = "lattice") -> None:
    """Refuse a lattice whose exact integer sums could overflow the sum dtype.

    The bond sum of a periodic lattice of ``N`` sites in ``d`` dimensions lies in
    ``[-d N, d N]`` (``d N`` bonds; the magnetization, ``[-N, N]``, is smaller). In
    int32 (``jax_enable_x64`` off) that needs ``d N <= 2**31 - 1``; otherwise the
    sums would wrap silently (an all-up ``896^3`` lattice gave ``bond_sum =
    -2136997888``). The check reads only the shape, so it runs before anything of
    the lattice's size is allocated; under ``jax_enable_x64`` the sums are int64
    and any lattice passes.

    Raises:
        ValueError: naming the number of bonds, the largest number of sites and
            the largest hypercube side that fit, and how to enable 64-bit sums.
    """
    if integer_sum_dtype() == jnp.int64:
        return
    dim = len(shape)
    num_sites = int(np.prod(shape, dtype=object))
    num_bonds = dim * num_sites
    if num_bonds <= INT32_MAX:
        return
    max_sites = INT32_MAX // dim
    raise ValueError(
        f"{model} of shape {shape} has {num_bonds} bonds: its bond sum can reach "
        f"±{num_bonds}, beyond int32 ({INT32_MAX}). In {dim}-D at most {max_sites} sites "
        f"fit (a side of at most {_integer_root(max_sites, dim)} for an {dim}-D hypercube); "
        "for larger lattices enable 64-bit sums first: "
        "jax.config.update('jax_enable_x64', True)."
    )


def lattice_bond_sum(spins: jax.Array) -> jax.Array:
    """``sum_<ij> s_i s_j`` over the nearest-neighbour bonds of a periodic lattice.

    Each site is bonded to its ``+1`` neighbour along every axis (``jnp.roll``), so
    every bond is counted once; on a side of length 2 the two neighbours along that
    axis are the same site and the pair is bonded twice. Summed in
    :func:`integer_sum_dtype` (a lattice too large for it is refused).
    """
    check_lattice_sums(spins.shape)
    dtype = integer_sum_dtype()
    spins = spins.astype(jnp.int32)
    return jnp.asarray(
        sum(jnp.sum(spins * jnp.roll(spins, -1, axis), dtype=dtype) for axis in range(spins.ndim))
    )


def lattice_neighbour_sum(spins: jax.Array) -> jax.Array:
    """``sum_{j ~ i} s_j`` at every site of a periodic lattice, in the spins' dtype."""
    total = jnp.zeros_like(spins)
    for axis in range(spins.ndim):
        total = total + jnp.roll(spins, 1, axis) + jnp.roll(spins, -1, axis)
    return total


class IsingLattice(Pytree):
    r"""Ising model on a periodic hypercubic lattice (square in 2-D, cubic in 3-D).

    .. math::

        E(s) = -J \sum_{\langle ij \rangle} s_i s_j - h \sum_i s_i, \qquad s_i \in \{-1, +1\}

    the first sum over nearest-neighbour bonds, each once (``d N`` bonds on ``N``
    sites in ``d`` dimensions, periodic boundaries). For ``J = 1, h = 0`` on the
    infinite square lattice the model orders below ``T_c = 2 / ln(1 + sqrt 2) =
    2.2692`` (Onsager 1944, Phys. Rev. 65, 117; :mod:`statjax.thermo.onsager`); on
    the cubic lattice ``beta_c ≈ 0.2216544`` (simulation; Talapov & Blöte 1996).

    Attributes:
        shape: lattice sides (static), e.g. ``(L, L)`` or ``(L, L, L)``; each >= 2.
        coupling: ``J`` (ferromagnetic for ``J > 0``).
        field: ``h``.

    Examples:
        >>> import jax.numpy as jnp
        >>> model = IsingLattice(shape=(4, 4))
        >>> print(float(model(jnp.ones((4, 4), jnp.int8))))  # 32 bonds, all satisfied
        -32.0
    """

    shape: tuple[int, ...] = static_field()
    coupling: ArrayLike = 1.0
    field: ArrayLike = 0.0

    # Hash by identity so that jax.jit(model) works: array leaves are unhashable.
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        _check_shape(self.shape, "IsingLattice")

    @property
    def spin_shape(self) -> tuple[int, ...]:
        """Shape of one configuration: the lattice shape."""
        return self.shape

    @property
    def spin_values(self) -> tuple[int, ...]:
        """The values a spin takes: ``(-1, 1)``."""
        return ISING_VALUES

    @property
    def num_spins(self) -> int:
        """Number of sites ``N``."""
        return int(np.prod(self.shape))

    def energy_from_sums(self, bond_sum: ArrayLike, magnetization: ArrayLike) -> jax.Array:
        """``E = -J * bond_sum - h * magnetization`` from the two integer sums."""
        dtype = _float_dtype(self.coupling, self.field)
        coupling, field = jnp.asarray(self.coupling), jnp.asarray(self.field)
        return -coupling * jnp.asarray(bond_sum, dtype) - field * jnp.asarray(magnetization, dtype)

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy of one configuration ``spins: shape`` (values ±1); a float scalar."""
        spins = _check_spins(spins, self.shape, "IsingLattice")
        check_lattice_sums(self.shape, "IsingLattice")
        magnetization = jnp.sum(spins, dtype=integer_sum_dtype())
        return self.energy_from_sums(lattice_bond_sum(spins), magnetization)


class PottsLattice(Pytree):
    r"""q-state Potts model on a periodic hypercubic lattice (square by default).

    .. math::

        E(s) = -J \sum_{\langle ij \rangle} \delta_{s_i s_j} - h \sum_i \delta_{s_i 0},
        \qquad s_i \in \{0, \dots, q - 1\}

    (Potts 1952; Wu 1982, Rev. Mod. Phys. 54, 235). On the infinite square lattice
    with ``J = 1, h = 0`` the transition is at ``beta_c = ln(1 + sqrt q)``,
    continuous for ``q <= 4`` and first-order for ``q > 4``; ``q = 2`` is the Ising
    model with ``J_Ising = J / 2`` (and an energy shift).

    Attributes:
        shape: lattice sides (static), e.g. ``(L, L)``; each >= 2.
        num_states: ``q >= 2`` (static).
        coupling: ``J``.
        field: ``h``, favouring state 0.

    Examples:
        >>> import jax.numpy as jnp
        >>> model = PottsLattice(shape=(4, 4), num_states=3)
        >>> print(float(model(jnp.zeros((4, 4), jnp.int8))))
        -32.0
    """

    shape: tuple[int, ...] = static_field()
    num_states: int = static_field(default=3)
    coupling: ArrayLike = 1.0
    field: ArrayLike = 0.0

    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        _check_shape(self.shape, "PottsLattice")
        q = self.num_states
        if isinstance(q, bool) or not isinstance(q, int) or not 2 <= q <= 64:
            raise ValueError(
                f"PottsLattice: num_states must be an integer in [2, 64] (int8 spins), got {q!r}."
            )

    @property
    def spin_shape(self) -> tuple[int, ...]:
        """Shape of one configuration: the lattice shape."""
        return self.shape

    @property
    def spin_values(self) -> tuple[int, ...]:
        """The values a spin takes: ``(0, ..., q - 1)``."""
        return tuple(range(self.num_states))

    @property
    def num_spins(self) -> int:
        """Number of sites ``N``."""
        return int(np.prod(self.shape))

    def energy_from_sums(self, num_satisfied: ArrayLike, num_in_zero: ArrayLike) -> jax.Array:
        """``E = -J * num_satisfied - h * num_in_zero`` from the two integer counts."""
        dtype = _float_dtype(self.coupling, self.field)
        coupling, field = jnp.asarray(self.coupling), jnp.asarray(self.field)
        return -coupling * jnp.asarray(num_satisfied, dtype) - field * jnp.asarray(
            num_in_zero, dtype
        )

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy of one configuration ``spins: shape`` (values ``0..q-1``); a float scalar."""
        spins = _check_spins(spins, self.shape, "PottsLattice")
        check_lattice_sums(self.shape, "PottsLattice")
        dtype = integer_sum_dtype()
        num_satisfied = sum(
            jnp.sum(spins == jnp.roll(spins, -1, axis), dtype=dtype) for axis in range(spins.ndim)
        )
        num_in_zero = jnp.sum(spins == 0, dtype=dtype)
        return self.energy_from_sums(num_satisfied, num_in_zero)


class IsingSpinVector:
    """What models over a vector of ``N`` Ising spins with fields ``h: (N,)`` share."""

    fields: jax.Array  # declared by the subclasses' dataclass fields

    @property
    def num_spins(self) -> int:
        """Number of spins ``N``."""
        return jnp.shape(self.fields)[0]

    @property
    def spin_shape(self) -> tuple[int, ...]:
        """Shape of one configuration: ``(N,)``."""
        return (self.num_spins,)

    @property
    def spin_values(self) -> tuple[int, ...]:
        """The values a spin takes: ``(-1, 1)``."""
        return ISING_VALUES


class DenseIsing(IsingSpinVector, Pytree):
    r"""Ising model with an arbitrary symmetric coupling matrix (e.g. Sherrington–Kirkpatrick).

    .. math::

        E(s) = -\sum_{i<j} J_{ij} s_i s_j - \sum_i h_i s_i
             = -\tfrac{1}{2} s^\top J s - h^\top s

    with ``J`` symmetric and a zero diagonal (the constructor checks a concrete
    ``J``). The local field ``f_i = sum_j J_ij s_j + h_i`` gives the cost of a flip,
    ``Delta E_i = 2 s_i f_i``.

    Attributes:
        couplings: ``(N, N)`` symmetric, zero diagonal.
        fields: ``(N,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> model = DenseIsing(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.zeros(2))
        >>> print(float(model(jnp.array([1, 1], jnp.int8))))
        -1.0
    """

    couplings: jax.Array
    fields: jax.Array

    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        couplings, fields = self.couplings, self.fields
        if jnp.ndim(couplings) != 2 or jnp.shape(couplings)[0] != jnp.shape(couplings)[1]:
            raise ValueError(f"DenseIsing: couplings must be (N, N), got {jnp.shape(couplings)}.")
        if jnp.shape(fields) != jnp.shape(couplings)[:1]:
            raise ValueError(
                f"DenseIsing: fields must be (N,) = {jnp.shape(couplings)[:1]}, "
                f"got {jnp.shape(fields)}."
            )
        if not isinstance(couplings, jax.core.Tracer):
            matrix = np.asarray(couplings)
            if matrix.dtype != object and (
                not np.allclose(matrix, matrix.T) or np.any(np.diag(matrix) != 0)
            ):
                raise ValueError(
                    "DenseIsing: couplings must be symmetric with a zero diagonal; "
                    "use (J + J.T) / 2 with the diagonal set to 0."
                )

    def local_fields(self, spins: ArrayLike) -> jax.Array:
        """``f = J s + h``, ``(N,)``."""
        spins = jnp.asarray(spins, _float_dtype(self.couplings))
        return self.couplings @ spins + self.fields

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy of one configuration ``spins: (N,)`` (values ±1); a float scalar."""
        spins = _check_spins(spins, self.spin_shape, "DenseIsing")
        spins = spins.astype(_float_dtype(self.couplings, self.fields))
        return -0.5 * spins @ (self.couplings @ spins) - self.fields @ spins


class SparseIsing(IsingSpinVector, Pytree):
    r"""Ising model on a sparse coupling graph (e.g. Edwards–Anderson ±J), with fields.

    .. math::

        E(s) = -\sum_{(i, j) \in \text{edges}} J_{ij} s_i s_j - \sum_i h_i s_i

    Stored as a padded neighbour table: ``neighbors[i, k]`` is the ``k``-th
    neighbour of ``i`` and ``neighbor_couplings[i, k]`` its coupling (every edge
    appears in the rows of both ends; padding points at ``i`` itself with coupling
    0), so that local fields ``f_i = sum_k J_ik s_{n(i,k)} + h_i`` are one gather.
    Build it with :func:`sparse_ising` from an edge list.

    Attributes:
        neighbors: ``(N, max_degree)`` int32.
        neighbor_couplings: ``(N, max_degree)``.
        fields: ``(N,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> model = sparse_ising([[0, 1], [1, 2]], [1.0, -1.0], num_spins=3)
        >>> print(float(model(jnp.array([1, 1, 1], jnp.int8))))
        0.0
    """

    neighbors: jax.Array
    neighbor_couplings: jax.Array
    fields: jax.Array

    __hash__ = object.__hash__

    def coupling_fields(self, spins: ArrayLike) -> jax.Array:
        """``sum_k J_ik s_{n(i,k)}``, ``(N,)``: the local fields without ``h``."""
        spins = jnp.asarray(spins)
        dtype = _float_dtype(self.neighbor_couplings)
        return jnp.sum(self.neighbor_couplings * spins[self.neighbors].astype(dtype), axis=-1)

    def local_fields(self, spins: ArrayLike) -> jax.Array:
        """``f_i = sum_k J_ik s_{n(i,k)} + h_i``, ``(N,)``."""
        return self.coupling_fields(spins) + self.fields

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy of one configuration ``spins: (N,)`` (values ±1); a float scalar."""
        spins = _check_spins(spins, self.spin_shape, "SparseIsing")
        values = spins.astype(_float_dtype(self.neighbor_couplings, self.fields))
        # Each edge appears twice in the neighbour table, hence the 1/2.
        return -0.5 * values @ self.coupling_fields(spins) - self.fields @ values


def square_ising(size: int, coupling: ArrayLike = 1.0, field: ArrayLike = 0.0) -> IsingLattice:
    """The periodic ``size x size`` square-lattice Ising model (see :class:`IsingLattice`).

    Examples:
        >>> square_ising(16).num_spins
        256
    """
    return IsingLattice((size, size), jnp.asarray(coupling, float), jnp.asarray(field, float))


def cubic_ising(size: int, coupling: ArrayLike = 1.0, field: ArrayLike = 0.0) -> IsingLattice:
    """The periodic ``size^3`` cubic-lattice Ising model (see :class:`IsingLattice`).

    Examples:
        >>> cubic_ising(4).num_spins
        64
    """
    return IsingLattice((size, size, size), jnp.asarray(coupling, float), jnp.asarray(field, float))


def square_potts(
    size: int, num_states: int, coupling: ArrayLike = 1.0, field: ArrayLike = 0.0
) -> PottsLattice:
    """The periodic ``size x size`` q-state Potts model (see :class:`PottsLattice`).

    Examples:
        >>> square_potts(8, num_states=3).spin_values
        (0, 1, 2)
    """
    return PottsLattice(
        (size, size), num_states, jnp.asarray(coupling, float), jnp.asarray(field, float)
    )


def sparse_ising(
    edges: ArrayLike,
    couplings: ArrayLike,
    num_spins: int,
    fields: ArrayLike | None = None,
) -> SparseIsing:
    """A :class:`SparseIsing` from an edge list; the neighbour table is built on the host.

    Args:
        edges: ``(M, 2)`` integer pairs ``(i, j)``, ``i != j``, each bond once.
        couplings: ``(M,)`` couplings ``J_ij``.
        num_spins: ``N``.
        fields: ``(N,)`` fields, zero by default.

    Examples:
        >>> model = sparse_ising([[0, 1], [1, 2], [2, 0]], [1.0, 1.0, 1.0], num_spins=3)
        >>> model.neighbors.shape
        (3, 2)
    """
    num_spins = check_count("num_spins", num_spins)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    couplings = np.asarray(couplings, dtype=np.float32).reshape(-1)
    if couplings.shape[0] != edges.shape[0]:
        raise ValueError(
            f"sparse_ising: one coupling per edge expected, got {couplings.shape[0]} couplings "
            f"for {edges.shape[0]} edges."
        )
    if edges.size and (edges.min() < 0 or edges.max() >= num_spins):
        raise ValueError(f"sparse_ising: edge endpoints must lie in [0, {num_spins}).")
    if np.any(edges[:, 0] == edges[:, 1]):
        raise ValueError("sparse_ising: an edge (i, i) is a self-coupling; remove it.")
    degree = np.bincount(edges.ravel(), minlength=num_spins)
    max_degree = max(int(degree.max(initial=0)), 1)
    neighbors = np.tile(np.arange(num_spins)[:, None], (1, max_degree))
    neighbor_couplings = np.zeros((num_spins, max_degree), np.float32)
    filled = np.zeros(num_spins, np.int64)
    for (i, j), coupling in zip(edges, couplings, strict=True):
        for a, b in ((i, j), (j, i)):
            neighbors[a, filled[a]] = b
            neighbor_couplings[a, filled[a]] = coupling
            filled[a] += 1
    fields = np.zeros(num_spins, np.float32) if fields is None else np.asarray(fields, np.float32)
    if fields.shape != (num_spins,):
        raise ValueError(f"sparse_ising: fields must be ({num_spins},), got {fields.shape}.")
    return SparseIsing(
        jnp.asarray(neighbors, jnp.int32), jnp.asarray(neighbor_couplings), jnp.asarray(fields)
    )


def _random_couplings(key: PRNGKey, shape, distribution: str) -> jax.Array:
    if distribution == "gaussian":
        return jax.random.normal(key, shape)
    if distribution == "binary":
        return jax.random.rademacher(key, shape, dtype=jnp.float32)
    raise ValueError(f"distribution must be 'gaussian' or 'binary', got {distribution!r}.")


def sherrington_kirkpatrick(
    key: PRNGKey, num_spins: int, distribution: str = "gaussian"
) -> DenseIsing:
    r"""A random Sherrington–Kirkpatrick instance (Sherrington & Kirkpatrick 1975).

    .. math::

        E(s) = -\frac{1}{\sqrt N} \sum_{i<j} J_{ij} s_i s_j, \qquad
        J_{ij} \sim N(0, 1) \text{ or } \pm 1

    Zero fields. The spin-glass transition is at ``T_c = 1``; the ground-state
    energy per spin tends to ``-0.7633`` (Parisi) with ``O(N^{-2/3})`` corrections.

    Examples:
        >>> import jax
        >>> sherrington_kirkpatrick(jax.random.key(0), 16).couplings.shape
        (16, 16)
    """
    num_spins = check_count("num_spins", num_spins, minimum=2)
    upper = jnp.triu(_random_couplings(key, (num_spins, num_spins), distribution), k=1)
    couplings = (upper + upper.T) / np.sqrt(num_spins)
    return DenseIsing(couplings, jnp.zeros(num_spins))


def lattice_edges(shape: tuple[int, ...]) -> np.ndarray:
    """``(d N, 2)`` nearest-neighbour bonds of a periodic lattice, in the order of rolls.

    Site indices are row-major (``np.ravel_multi_index``); bond ``a * N + i`` joins
    site ``i`` to its ``+1`` neighbour along axis ``a``.
    """
    shape = _check_shape(tuple(shape), "lattice_edges")
    sites = np.arange(int(np.prod(shape))).reshape(shape)
    pairs = [
        np.stack([sites.ravel(), np.roll(sites, -1, axis).ravel()], axis=1)
        for axis in range(len(shape))
    ]
    return np.concatenate(pairs)


def edwards_anderson(
    key: PRNGKey,
    shape: tuple[int, ...],
    distribution: str = "binary",
    fields: ArrayLike | None = None,
) -> SparseIsing:
    r"""A random Edwards–Anderson spin glass on a periodic lattice (Edwards & Anderson 1975).

    .. math::

        E(s) = -\sum_{\langle ij \rangle} J_{ij} s_i s_j - \sum_i h_i s_i, \qquad
        J_{ij} = \pm 1 \text{ (binary) or } N(0, 1) \text{ (gaussian)}

    on the nearest-neighbour bonds of a periodic lattice of sides ``shape``
    (:func:`lattice_edges`); spins are indexed row-major.

    Examples:
        >>> import jax
        >>> model = edwards_anderson(jax.random.key(0), (4, 4))
        >>> model.neighbors.shape
        (16, 4)
    """
    edges = lattice_edges(tuple(shape))
    couplings = np.asarray(_random_couplings(key, (edges.shape[0],), distribution))
    return sparse_ising(edges, couplings, int(np.prod(shape)), fields)


__all__ = [
    "INT32_MAX",
    "DenseIsing",
    "IsingLattice",
    "PottsLattice",
    "SparseIsing",
    "check_lattice_sums",
    "cubic_ising",
    "edwards_anderson",
    "integer_sum_dtype",
    "lattice_bond_sum",
    "lattice_edges",
    "lattice_neighbour_sum",
    "sherrington_kirkpatrick",
    "sparse_ising",
    "square_ising",
    "square_potts",
]
