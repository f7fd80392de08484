"""Energy landscapes: pure energies ``E(x)`` whose density is ``exp(-beta E(x))``.

Each landscape is a :class:`statjax.pytree.Pytree` called on one position
``x: (dim,)``: its numeric parameters are pytree leaves (a jitted sampler that
takes the landscape as an argument does not recompile when they change) and its
structural settings (``dim``, ``num_modes``) are static. What is known exactly
about a landscape (``log_z``, moments, minima) is a method, tested against an
independent computation.
"""

from statjax.energy.combinators import (
    InterpolatedEnergy,
    TiltedEnergy,
    interpolated_energy,
    tilted_energy,
)
from statjax.energy.double_well import DoubleWell
from statjax.energy.funnel import NealFunnel
from statjax.energy.gaussian import AnisotropicGaussian
from statjax.energy.ising import (
    DenseIsing,
    IsingLattice,
    PottsLattice,
    SparseIsing,
    cubic_ising,
    edwards_anderson,
    lattice_edges,
    sherrington_kirkpatrick,
    sparse_ising,
    square_ising,
    square_potts,
)
from statjax.energy.muller_brown import MullerBrown
from statjax.energy.rastrigin import Rastrigin
from statjax.energy.ring import RingOfGaussians
from statjax.energy.rosenbrock import Rosenbrock

__all__ = [
    "AnisotropicGaussian",
    "DenseIsing",
    "DoubleWell",
    "InterpolatedEnergy",
    "IsingLattice",
    "MullerBrown",
    "NealFunnel",
    "PottsLattice",
    "Rastrigin",
    "RingOfGaussians",
    "Rosenbrock",
    "SparseIsing",
    "TiltedEnergy",
    "cubic_ising",
    "edwards_anderson",
    "interpolated_energy",
    "lattice_edges",
    "sherrington_kirkpatrick",
    "sparse_ising",
    "square_ising",
    "square_potts",
    "tilted_energy",
]
