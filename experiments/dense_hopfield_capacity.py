r"""Capacity of dense associative memories against the number of stored patterns.

For every size ``N`` in ``sizes`` and interaction in ``interactions`` —
``classical`` (polynomial of degree 2: the Hopfield network), ``cubic`` (degree 3,
Krotov & Hopfield 2016) and ``exponential`` (Demircigil et al. 2017) — and every
load ``alpha = P / N`` in ``loads``: ``num_networks`` memories of ``P`` random
patterns (:func:`statjax.models.hopfield.dense_capacity`), the first ``num_cues``
patterns of each cued with ``flip_fraction`` of their spins flipped, and
``num_sweeps`` zero-temperature sweeps of
:func:`statjax.models.hopfield.dense_asynchronous_sweep` through the one driver.

Reported per ``(N, interaction)``: the share of cues that end exactly on their
pattern and the mean final overlap (standard error over the networks) per load,
and the load where the mean overlap first falls below ``threshold``
(:func:`statjax.models.hopfield.critical_load`), beside the classical
``alpha_c ≈ 0.138`` (Amit, Gutfreund & Sompolinsky 1985) and the proven capacity
of the cubic memory, ``N^2 / (2 * 3 * ln N)`` patterns (Demircigil et al. 2017).

Polynomial memories are measured up to the largest number of patterns whose
energy changes are exact in int32 (:func:`statjax.models.hopfield.dense.max_exact_patterns`;
cubic at ``N = 400``: 2236 patterns, load 5.6); larger loads are ``NaN``.

Writes ``capacity.png``, ``metrics.jsonl`` (one line per ``(N, interaction)``) and
``summary.json``; checkpointed after every curve.

Example:
    $ statjax run configs/dense_hopfield_capacity.yaml
"""

import dataclasses
import math

import jax
import numpy as np
from matplotlib.figure import Figure

from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import hopfield
from statjax.models.hopfield.dense import max_exact_patterns
from statjax.runs import Run

INTERACTIONS = {"classical": ("polynomial", 2), "cubic": ("polynomial", 3),
                "exponential": ("exponential", 3)}  # fmt: skip
ALPHA_C = 0.138
"""The classical network's critical load (Amit, Gutfreund & Sompolinsky 1985)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the dense-memory capacity experiment; a checkpoint per curve."""

    sizes: tuple[int, ...] = setting((100, 200, 400), ge=8, min_length=1, help="N")
    interactions: tuple[str, ...] = setting(
        ("classical", "cubic", "exponential"), min_length=1, help="interaction functions"
    )
    loads: tuple[float, ...] = setting(
        (0.05, 0.1, 0.138, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
        gt=0,
        min_length=2,
        help="P / N",
    )
    flip_fraction: float = setting(0.1, ge=0, lt=0.5, help="share of a cue's spins flipped")
    num_networks: int = setting(4, ge=2, help="independent pattern sets per load")
    num_cues: int = setting(16, ge=1, help="cued patterns per network")
    num_sweeps: int = setting(5, ge=1, help="zero-temperature sweeps")
    threshold: float = setting(0.9, gt=0, lt=1, help="overlap that counts as retrieval")

    def validate(self) -> None:
        """Known interactions, increasing loads."""
        for name in self.interactions:
            if name not in INTERACTIONS:
                raise ConfigError("interactions", name, f"one of {sorted(INTERACTIONS)}")
        if list(self.loads) != sorted(self.loads):
            raise ConfigError("loads", self.loads, "increasing loads")


def _blocks(config: Config) -> list[tuple[int, str]]:
    return [(size, name) for size in config.sizes for name in config.interactions]


def _num_patterns(config: Config, size: int) -> np.ndarray:
    return np.maximum(1, np.round(np.asarray(config.loads) * size)).astype(int)


def run(config: Config, run: Run) -> dict:
    """One capacity curve per ``(N, interaction)``, checkpointed; then the summary and plot."""
    blocks = _blocks(config)
    key = jax.random.key(config.seed)
    num_loads = len(config.loads)
    initial = {
        "retrieved": np.full((len(blocks), num_loads), np.nan),
        "overlap": np.full((len(blocks), num_loads), np.nan),
        "error": np.full((len(blocks), num_loads), np.nan),
    }

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        index = chunk.start  # one curve per chunk (log_every=1)
        size, name = blocks[index]
        interaction, degree = INTERACTIONS[name]
        counts = _num_patterns(config, size)
        if interaction == "polynomial":
            # Exact int32 energy changes bound P (dense.max_exact_patterns): larger loads stay NaN.
            counts = counts[counts <= max_exact_patterns(size, degree)]
        curve = hopfield.dense_capacity(
            jax.random.fold_in(key, index), size, counts,
            interaction=interaction, degree=degree, flip_fraction=config.flip_fraction,
            num_networks=config.num_networks, num_cues=config.num_cues,
            num_sweeps=config.num_sweeps,
        )  # fmt: skip
        measured = len(counts)
        state["retrieved"][index, :measured] = curve.retrieved_fraction
        state["overlap"][index, :measured] = curve.mean_overlap
        state["error"][index, :measured] = curve.overlap_standard_error
        critical = _critical(config, curve.loads, curve.mean_overlap)
        return state, {"num_spins": size, "interaction": name, "critical_load": critical}

    state = run.loop(initial, advance, len(blocks), log_every=1, desc="capacity curves")
    curves = []
    for index, (size, name) in enumerate(blocks):
        loads = _num_patterns(config, size) / size
        measured = np.isfinite(state["overlap"][index])
        curves.append({
            "num_spins": size, "interaction": name, "loads": loads[measured].tolist(),
            "retrieved_fraction": state["retrieved"][index][measured].tolist(),
            "mean_overlap": state["overlap"][index][measured].tolist(),
            "overlap_standard_error": state["error"][index][measured].tolist(),
            "critical_load": _critical(
                config, loads[measured], state["overlap"][index][measured]
            ),
        })  # fmt: skip
    run.save_figure(_figure(config, curves), "capacity.png")
    return {
        "experiment": "Dense associative memories: retrieval against the number of patterns",
        "classical_alpha_c": ALPHA_C,
        "cubic_proven_capacity_load": {
            str(size): size / (6 * math.log(size)) for size in config.sizes
        },
        "curves": curves,
    }


def _critical(config: Config, loads, overlap) -> float | None:
    if len(loads) < 2:
        return None
    value = float(hopfield.critical_load(loads, overlap, config.threshold))
    return None if math.isnan(value) else value


def _figure(config: Config, curves: list[dict]) -> Figure:
    figure = Figure(figsize=(4.0 * len(config.interactions), 3.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(config.interactions), sharey=True))
    for ax, name in zip(axes, config.interactions, strict=True):
        for curve in (c for c in curves if c["interaction"] == name):
            ax.errorbar(curve["loads"], curve["mean_overlap"], curve["overlap_standard_error"],
                        marker="o", ms=3, label=f"N = {curve['num_spins']}")  # fmt: skip
        ax.axvline(ALPHA_C, color="gray", ls="--", lw=0.8, label="alpha_c = 0.138")
        ax.set_xscale("log")
        ax.set_xlabel("load P / N")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("final overlap with the cued pattern")
    return figure
