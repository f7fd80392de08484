"""Host time of one ``run_chains`` call, with and without its caches (issue 16, item 5).

A loop of short calls (continuing chains call after call, or restarting from the
same positions) on a tiny problem, so the time is the host's: argument checks,
the initial-energy check (a device-to-host wait) and the dispatch. "uncached"
disables the caches of :mod:`statjax.samplers.run` in the same process, so the
two are interleaved under the same load.

    python benchmarks/host_overhead.py --calls 300 --repeats 7
"""

import argparse
import time
from contextlib import contextmanager

import jax
import jax.numpy as jnp

import statjax
from statjax.samplers import run


@contextmanager
def uncached():
    saved = run._known_finite, run._cached_initial_states, run.prepare_beta, run.with_info
    run._known_finite = lambda energy: False
    run._cached_initial_states = run.initial_states
    run.prepare_beta = run._prepare_beta
    run.with_info = lambda observe: observe if run._takes_info(observe) else run._StateOnly(observe)
    try:
        yield
    finally:
        run._known_finite, run._cached_initial_states, run.prepare_beta, run.with_info = saved


def per_call(kernel, key, start, calls: int, from_states: bool) -> float:
    states = statjax.run_chains(kernel, key, start, 1)[0]
    jax.block_until_ready(states.position)
    begin = time.perf_counter()
    for step in range(calls):
        initial = states if from_states else start
        states, _ = statjax.run_chains(kernel, key, initial, 1, start_step=step)
    jax.block_until_ready(states.position)
    return (time.perf_counter() - begin) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
    key, start = jax.random.key(0), jnp.zeros((4, 2))
    print(f"# 4 chains x 2 dims, 1 MALA step per call, best of {args.repeats}, us per call")
    for from_states in (True, False):
        best = {"cached": float("inf"), "uncached": float("inf")}
        for _ in range(args.repeats):
            best["cached"] = min(
                best["cached"], per_call(kernel, key, start, args.calls, from_states)
            )
            with uncached():
                seconds = per_call(kernel, key, start, args.calls, from_states)
            best["uncached"] = min(best["uncached"], seconds)
        what = "continuing states" if from_states else "same positions   "
        print(
            f"{what}  uncached {best['uncached'] * 1e6:7.1f}  cached {best['cached'] * 1e6:7.1f}"
            f"  saved {(best['uncached'] - best['cached']) * 1e6:6.1f}"
        )


if __name__ == "__main__":
    main()
