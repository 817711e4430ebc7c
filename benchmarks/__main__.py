"""``python -m benchmarks``: run the whole suite and write ``benchmarks/results.md``.

    python -m benchmarks                 # full run (about 10 minutes on a quiet 2-core machine)
    python -m benchmarks --quick         # seconds: tiny sizes, writes to --out (default: a temp dir)
    python -m benchmarks --only charlm   # one part: charlm, ops, scaling

The protocol is issue 12's: every implementation in its own process (benchmarks/workers.py),
rounds interleaved, wall clock, median per step after warm-up, one BLAS thread with OpenBLAS's own
kernel choice (benchmarks/environment.py), the losses checked equal after the same number of
steps. This process only drives the workers, and profiles (cProfile) whatever misses a target.
"""
import os

from .environment import THREAD_VARIABLES

# The profiles of missed targets run here: one BLAS thread here too, before NumPy loads.
for _var in THREAD_VARIABLES:
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

import microtensor as mt  # noqa: E402

from . import charlm, op_overhead, scaling  # noqa: E402
from .workers import Worker  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent

#: Issue 12's time targets for the fused layer: max ratio to NumPy, by batch size.
FUSED_TARGET_LARGE_BATCH = 1.00     # B >= 16
FUSED_TARGET_BATCH_ONE = 1.20       # B = 1
#: The explicit cells must beat PyTorch's nn.LSTMCell loop: max ratio explicit / torch-cell.
EXPLICIT_TARGET = 1.00
#: Per-op overhead: microtensor's time per op at most this fraction of PyTorch eager's (8x8).
OPS_TARGET = 0.75
#: Fitted exponent k of time ~ T^k: 1 = linear, 2 = quadratic.
LINEARITY_TARGET = 1.15


def fused_target(config):
    """The fused layer's target at ``config`` (None where the issue sets none).

    Example:
        >>> fused_target(charlm.Config(1, 64, 25)), fused_target(charlm.Config(16, 256, 256))
        (1.2, 1.0)
    """
    if config.batch >= 16:
        return FUSED_TARGET_LARGE_BATCH
    return FUSED_TARGET_BATCH_ONE if config.batch == 1 else None


def _verdict(value, limit):
    if limit is None or value is None or math.isnan(value):
        return ""
    return f"<= {limit:.2f} **met**" if value <= limit else f"<= {limit:.2f} **MISSED**"


def explicit_vs_cell(timings):
    """Median over rounds of mt-explicit's time / torch-cell's (NaN without both).

    Example:
        >>> explicit_vs_cell({"mt-explicit": {"rounds": [2.0, 4.0]}, "torch-cell": {"rounds": [4.0, 4.0]}})
        0.75
    """
    if "mt-explicit" not in timings or "torch-cell" not in timings:
        return float("nan")
    pairs = zip(timings["mt-explicit"]["rounds"], timings["torch-cell"]["rounds"])
    return float(np.median([e / c for e, c in pairs]))


def targets_of(results):
    """Every time target as (label, value, limit) for the summary and the profiles."""
    rows = []
    for result in results:
        config, timings = result.config, result.timings
        cfg = f"{config.batch}x{config.hidden}x{config.steps}"
        if "mt-fused" in timings and fused_target(config) is not None:
            rows.append((f"fused / NumPy at {cfg}", timings["mt-fused"]["ratio"], fused_target(config),
                         "mt-fused", config))
        value = explicit_vs_cell(timings)
        if not math.isnan(value):
            rows.append((f"explicit / torch LSTMCell loop at {cfg}", value, EXPLICIT_TARGET,
                         "mt-explicit", config))
    return rows


def charlm_section(results, with_targets=True):
    """The issue's table (ratios to NumPy, one column per size) and the detailed rows."""
    names = []
    for result in results:
        names += [n for n in result.timings if n not in names]
    header = " | ".join(f"{r.config.batch}x{r.config.hidden}x{r.config.steps}" for r in results)
    lines = ["## 1. Char-LSTM training step (forward + backward + SGD)", "",
             "Embedding(65, 64) -> LSTM(64, H) -> Linear(H, 65) -> mean cross-entropy over B*T, "
             "state carried, float32. Each implementation in its own process, rounds interleaved, "
             "wall clock, median per step after warm-up; ratio = median over rounds of (time / NumPy "
             "time in the same round), lower is faster.", "",
             f"| B x H x T | {header} |", "|---|" + "---:|" * len(results)]
    for name in names:
        cells = [f"{r.timings[name]['ratio']:.2f}" if name in r.timings else "skipped" for r in results]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "| B, H, T | implementation | ms / step | tokens / s | ratio to NumPy |",
              "|---|---|---:|---:|---:|"]
    for r in results:
        cfg = f"{r.config.batch}, {r.config.hidden}, {r.config.steps}"
        for name, t in r.timings.items():
            tokens = r.config.batch * r.config.steps / t["seconds"]
            lines.append(f"| {cfg} | {name} | {t['seconds'] * 1e3:.2f} | {tokens:,.0f} | {t['ratio']:.2f} |")
        for name, why in r.skipped.items():
            lines.append(f"| {cfg} | {name} | skipped: {why} | | |")
    runs = []
    for r in results:
        rounds = len(next(iter(r.timings.values()))["rounds"])
        runs.append(f"{r.config.batch}x{r.config.hidden}x{r.config.steps}: {rounds} x {r.steps_per_round} "
                    f"steps, gap {r.loss_gap:.1e}")
    lines += ["", "Rounds x steps per round, and the largest relative gap between any implementation's "
              "loss and NumPy's over all timed steps (each implementation ran the same steps on the "
              "same data): " + "; ".join(runs) + "."]
    if with_targets:
        lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
        for label, value, limit, _, _ in targets_of(results):
            lines.append(f"| {label} | {value:.2f} | {_verdict(value, limit)} |")
    return lines


def profile_section(results, seconds=1.0, top=16):
    """cProfile, in this process, of each implementation that missed a target: where time goes."""
    import cProfile
    import io
    import pstats
    lines = []
    done = set()
    for label, value, limit, name, config in targets_of(results):
        if value <= limit or (name, config) in done:
            continue
        done.add((name, config))
        impl = charlm.build(name, config)
        impl.step()
        per_step = next(r for r in results if r.config == config).timings[name]["seconds"]
        steps = min(100, max(2, int(seconds / per_step)))
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(steps):
            impl.step()
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
        root = str(HERE.parent) + os.sep
        body = [ln.replace(root, "") for ln in text.getvalue().splitlines() if ln.strip()]
        lines += [f"### {label}: {value:.2f} (target <= {limit:.2f})", "",
                  f"cProfile of {steps} training steps of {name}, by own time (the profiler "
                  f"inflates Python-heavy rows):", "", "```", *body[-top - 1:], "```", ""]
    if lines:
        lines = ["## Profiles of the missed time targets", "",
                 "What each one would need is in docs/performance.md.", ""] + lines
    return lines


def ops_section(rows, with_targets=True):
    names = list(op_overhead.IMPLEMENTATIONS)
    lines = ["## 2. Per-op engine overhead", "",
             "A chain `a = tanh(a * w + b)` repeated 100 times, summed, forward + backward "
             "(`microtensor-no-grad`: forward only, under `no_grad`), against the same arithmetic in "
             "hand-written NumPy and in PyTorch eager mode, each in its own process, interleaved "
             "(benchmarks/op_overhead.py). Microseconds per op.", "",
             "| array | ops | " + " | ".join(names) + " | microtensor / torch | target |",
             "|---|---:|" + "---:|" * len(names) + "---:|---|"]
    for r in rows:
        per_op = [f"{r['us_per_op'][n]:.2f}" if n in r["us_per_op"] else "skipped" for n in names]
        ratio = r.get("ratio_to_torch", float("nan"))
        target = _verdict(ratio, OPS_TARGET) if r["size"] == 8 and with_targets else ""
        lines.append(f"| {r['size']}x{r['size']} | {r['ops']} | {' | '.join(per_op)} | {ratio:.2f} | "
                     f"{target} |")
    return lines


def scaling_section(rows, with_targets=True):
    first = rows[0]
    lines = ["## 3. Time and memory against T", "",
             f"One training step's forward and backward at B = {first['batch']}, H = {first['hidden']}, "
             "each (implementation, T) in a fresh process. Memory is traced (tracemalloc) above what "
             "was allocated before the step: *held* = still allocated when the forward is done (the "
             "graph); *forward peak* = the unroll's peak; *peak* = forward + backward. Ratios are to "
             "the yardstick, the NumPy reference's held bytes at the same T (what a hand-written "
             "program keeps for its backward; its arrays' own size is the last column).", "",
             "| T | implementation | forward ms | backward ms | backward us / step | held MiB | "
             "held / yardstick | forward peak / yardstick | peak / yardstick | NumPy kept-array MiB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        kept = "" if r["kept_bytes"] is None else f"{r['kept_bytes'] / 2**20:.1f}"
        lines.append(f"| {r['steps']} | {r['name']} | {r['forward_s'] * 1e3:.1f} | "
                     f"{r['backward_s'] * 1e3:.1f} | {r['backward_us_per_step']:.0f} | "
                     f"{r['held_bytes'] / 2**20:.1f} | {r['held_ratio']:.2f} | "
                     f"{r['forward_peak_ratio']:.2f} | {r['peak_ratio']:.2f} | {kept} |")
    names = list(dict.fromkeys(r["name"] for r in rows))
    at_target = [r for r in rows if r["steps"] == scaling.MEMORY_TARGET_STEPS and r.get("graph")]
    if at_target:
        lines += ["", f"What the graph holds after the forward at T = {scaling.MEMORY_TARGET_STEPS:,} "
                  "(arrays counted once, views with their base): arrays some backward saved, op "
                  "outputs still alive that no backward saved (the ones the caller holds, such as the "
                  "loss: the graph holds none), and the rest of the held bytes per node (Python "
                  "objects: nodes, output records, tuples, array headers):", "",
                  "| implementation | nodes | saved by a backward MiB | "
                  "alive, unsaved MiB | other bytes / node |", "|---|---:|---:|---:|---:|"]
        for r in at_target:
            g = r["graph"]
            other = (r["held_bytes"] - g["saved_bytes"] - g["unsaved_bytes"]) / max(g["nodes"], 1)
            lines.append(f"| {r['name']} | {g['nodes']:,} | {g['saved_bytes'] / 2**20:.1f} | "
                         f"{g['unsaved_bytes'] / 2**20:.1f} | {other:,.0f} |")
    at_steps = f"{scaling.MEMORY_TARGET_STEPS:,}"
    lines += ["", "Growth exponents k (quantity ~ T^k fitted over all T; 1 = linear, 2 = quadratic) and "
              f"the memory targets (forward peak of a {at_steps}-step unroll / yardstick):",
              "", "| implementation | forward time k | backward time k | peak memory k | "
              f"forward peak / yardstick at T = {at_steps} |", "|---|---:|---:|---:|---|"]
    for name in names:
        ks = [scaling.growth_exponent(rows, name, key) for key in
              ("forward_us_per_step", "backward_us_per_step", "peak_bytes_per_step")]
        texts = [f"{k:.2f} {_verdict(k, LINEARITY_TARGET) if with_targets else ''}" for k in ks]
        at = [r["forward_peak_ratio"] for r in rows
              if r["name"] == name and r["steps"] == scaling.MEMORY_TARGET_STEPS]
        limit = scaling.MEMORY_TARGETS.get(name) if with_targets else None
        memory = f"{at[0]:.2f} {_verdict(at[0], limit)}" if at else "(not run)"
        lines.append(f"| {name} | {' | '.join(texts)} | {memory} |")
    return lines


def header(args, blas):
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return ["# Benchmark results", "",
            f"Written by `python -m benchmarks{' --quick' if args.quick else ''}` on "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. "
            f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch_version}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs. Every implementation in its own process "
            f"with one BLAS thread and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset; threadpoolctl "
            f"inside a benchmark process sees: {blas}. Wall clock. How to read this: "
            f"docs/performance.md.", ""]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--out", default=None,
                        help="directory for results.md (default: benchmarks/, or a temp dir with --quick)")
    parser.add_argument("--only", choices=("charlm", "ops", "scaling"), action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default: 7 training step, 5 op chain; quick: 1)")
    parser.add_argument("--impl", action="append", choices=sorted(charlm.IMPLEMENTATIONS),
                        help="char-LSTM implementations to run (repeatable; default: the issue's five)")
    args = parser.parse_args(argv)
    parts = set(args.only or ("charlm", "ops", "scaling"))
    out_dir = pathlib.Path(args.out) if args.out else (
        pathlib.Path(tempfile.mkdtemp(prefix="benchmarks-")) if args.quick else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    with Worker("ops", "numpy", 2, 1) as probe:
        lines = header(args, probe.blas)
    print(lines[2])

    names = tuple(args.impl or charlm.DEFAULT_NAMES)
    if "numpy" not in names:
        names = ("numpy",) + names
    profiles = []
    if "charlm" in parts:
        print("char-LSTM training step:")
        if args.quick:
            results = charlm.run([charlm.Config(2, 16, 8)], rounds=args.rounds or 1, names=names,
                                 seconds_per_round=0.0)
        else:
            results = charlm.run([charlm.Config(*c) for c in charlm.CONFIGS], rounds=args.rounds or 7,
                                 names=names, seconds_per_round=1.5, max_steps=40)
        lines += charlm_section(results, with_targets=not args.quick) + [""]
        if not args.quick:
            profiles = profile_section(results)
    if "ops" in parts:
        print("per-op overhead:")
        rows = op_overhead.run(sizes=(8,) if args.quick else (8, 128), repeats=20 if args.quick else 100,
                               rounds=args.rounds or (1 if args.quick else 5), steps=2 if args.quick else 30)
        lines += ops_section(rows, with_targets=not args.quick) + [""]
    if "scaling" in parts:
        print("time and memory against T:")
        if args.quick:
            rows = scaling.run(steps_list=(10, 20), batch=2, hidden=8, repeats=1)
        else:
            rows = scaling.run()
        lines += scaling_section(rows, with_targets=not args.quick) + [""]
    lines += profiles
    path = out_dir / "results.md"
    mt.atomic_write(path, "\n".join(lines) + "\n")     # a reader never sees half a file
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
