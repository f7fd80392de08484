"""Timing shared by the benchmarks: compile first, interleave repeats, keep the best."""

import time

import jax


def best_times(runs, *args, repeats: int) -> list[float]:
    """Best wall time of each ``run(*args)``, blocking on its result.

    Each runner is called once first (compilation); the timed repeats then
    interleave the runners, so that a change in the machine's load hits all of
    them alike.
    """
    for run in runs:
        jax.block_until_ready(run(*args))
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(run(*args))
            record.append(time.perf_counter() - start)
    return [min(record) for record in times]
