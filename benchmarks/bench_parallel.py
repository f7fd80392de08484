"""Throughput against the number of devices: sharded ``run_chains`` and the row-split Ising sweep.

The device count is fixed when JAX starts, so the parent runs one subprocess per
count with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (on the CPU; on
a GPU or TPU machine pass ``--real`` to use the first N real devices instead).
Each child times, best of ``--repeats`` after a compile:

- MALA on a 100-D Gaussian, ``--chains`` chains sharded over the chain axis,
  ``--steps`` steps: chain-steps per second;
- the checkerboard sweep of one ``--side`` x ``--side`` Ising lattice split by
  rows (``sharded_checkerboard``; N = 1 is the same code on one device), and the
  plain single-device ``checkerboard`` for reference: spin updates per second.

Forced host devices share the machine's cores: on a 2-core machine, 4 "devices"
cannot be faster than 2, and the figures measure the overhead of partitioning
(and of the halo exchange), not a speed-up. On real accelerators each device
brings its own compute and memory.

    .venv/bin/python benchmarks/bench_parallel.py --devices 1 2 4
    .venv/bin/python benchmarks/bench_parallel.py --devices 1 2 4 8 --real   # GPUs / TPU cores
"""

import argparse
import json
import os
import subprocess
import sys


def child(args) -> dict:
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, os.path.dirname(__file__))
    import statjax
    from statjax import parallel
    from statjax.energy.ising import square_ising
    from statjax.samplers.lattice import checkerboard
    from statjax.samplers.lattice_sharded import row_mesh, sharded_checkerboard
    from timing import best_times

    n = args.num
    devices = jax.devices()[:n]
    scales = jnp.linspace(0.5, 2.0, 100)
    kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum((x / scales) ** 2), 0.05)
    mesh = parallel.make_mesh(devices=devices)
    x = parallel.shard_chains(jnp.zeros((args.chains, 100)), mesh)
    key = jax.random.key(0)

    def mala(x):
        return statjax.run_chains(kernel, key, x, args.steps)[0].position

    model = square_ising(args.side)
    split = sharded_checkerboard(model, row_mesh(devices=devices))
    spins = split.shard(jnp.ones((1, args.side, args.side), jnp.int8))
    plain = jax.device_put(spins, devices[0])
    single = checkerboard(model)

    def sweep_split(s):
        return statjax.run_chains(split, key, s, args.sweeps, beta=0.44)[0].position

    def sweep_single(s):
        return statjax.run_chains(single, key, s, args.sweeps, beta=0.44)[0].position

    (t_mala,) = best_times([mala], x, repeats=args.repeats)
    (t_split,) = best_times([sweep_split], spins, repeats=args.repeats)
    (t_single,) = best_times([sweep_single], plain, repeats=args.repeats)
    return {
        "devices": n,
        "device_kind": devices[0].device_kind,
        "mala_chain_steps_per_s": args.chains * args.steps / t_mala,
        "ising_split_updates_per_s": args.side**2 * args.sweeps / t_split,
        "ising_single_updates_per_s": args.side**2 * args.sweeps / t_single,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--real", action="store_true", help="use real devices, not forced CPU")
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.num is not None:
        print(json.dumps(child(args)))
        return
    rows = []
    for n in args.devices:
        env = dict(os.environ)
        if not args.real:
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
            env["JAX_PLATFORMS"] = "cpu"
        command = [sys.executable, __file__, "--num", str(n)] + [
            f"--{name}={getattr(args, name)}"
            for name in ("chains", "steps", "side", "sweeps", "repeats")
        ]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        "| devices | kind | MALA chain-steps/s | Ising split updates/s | Ising 1-device updates/s |"
    )
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['devices']} | {r['device_kind']} | {r['mala_chain_steps_per_s']:.3g} "
            f"| {r['ising_split_updates_per_s']:.3g} | {r['ising_single_updates_per_s']:.3g} |"
        )


if __name__ == "__main__":
    main()
