"""Thermodynamics: exact and estimated partition functions, observables, free energies."""

from statjax.thermo.grid import grid_density, grid_expectation, grid_log_z

__all__ = ["grid_density", "grid_expectation", "grid_log_z"]
