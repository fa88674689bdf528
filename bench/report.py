"""Turns scripts/bench.sh's RESULT lines into the table of medians, the targets' ratios, a plot,
and the generated section of bench/RESULTS.md (between the markers; the rest is kept)."""
import argparse
import json
import os
import re
import shutil
import statistics
from collections import defaultdict

SYSTEMS = [  # (system, workers, column heading)
    ("mpipool", 2, "mpipool, 2 workers"),
    ("mpipool", 1, "mpipool, 1 worker"),
    ("raw_mpi", 2, "raw MPI, 2 workers"),
    ("raw_mpi", 1, "raw MPI, 1 worker"),
    ("mp_pool", 2, "mp.Pool(2)"),
    ("ppe", 2, "ProcessPoolExecutor(2)"),
    ("mpi4py", 2, "mpi4py.futures, 3 ranks"),
]
CHUNKSIZES = [1, 10, 100, 1000, 10000]
ROWS = (  # (workload, variant, metric, label, format)
    [("W1", f"cs{c}", "items_per_s", f"W1 map x*x, chunksize {c} (items/s)", "rate") for c in CHUNKSIZES]
    + [
        ("W1", "default", "items_per_s", "W1 map x*x, default chunking (items/s)", "rate"),
        ("W1", "cs1-isolated", "items_per_s", "W1 map x*x, chunksize 1, isolated (items/s)", "rate"),
        ("W1", "default-isolated", "items_per_s", "W1 map x*x, default chunking, isolated (items/s)", "rate"),
        ("W2", "apply", "us_per_call", "W2 sequential apply round trip (µs)", "us"),
        ("W2", "apply-isolated", "us_per_call", "W2 apply round trip, isolated (µs)", "us"),
        ("W3", "default", "efficiency", "W3 200 × 10 ms CPU tasks, efficiency vs serial (paired)", "ratio"),
        ("W4", "default", "makespan_over_ideal", "W4 2000 Pareto tasks, makespan / ideal, default chunking", "times"),
        ("W4", "cs1", "makespan_over_ideal", "W4 makespan / ideal, chunksize 1", "times"),
        ("W4", "default-isolated", "makespan_over_ideal", "W4 makespan / ideal, default chunking, isolated", "times"),
        ("J1", "plain", "items_per_s", "W1 default chunking, beside the journaled runs (items/s)", "rate"),
        ("J1", "journal", "items_per_s", "W1 default chunking, journaled (items/s)", "rate"),
        ("J1", "resumed", "items_per_s", "W1 default chunking, every result from the journal (items/s)", "rate"),
        ("J4", "plain", "makespan_over_ideal", "W4 default chunking, beside the journaled run, makespan / ideal", "times"),
        ("J4", "journal", "makespan_over_ideal", "W4 default chunking, journaled, makespan / ideal", "times"),
        ("W5", "stream", "growth_mib", "W5 2M × 1 KiB items: master's peak RSS growth (MiB)", "mib"),
        ("W5", "stream", "seconds", "W5 time (s)", "s"),
        ("W6", "sleep", "cpu_s_per_s", "W6 20 tasks sleeping 0.2 s: CPU-s per wall-s, all processes", "cpu"),
        ("W6", "sleep", "master_cpu_s_per_s", "W6 CPU-s per wall-s, the master alone", "cpu"),
        ("idle", "pool", "cpu_s_per_s", "idle pool, 3 s: CPU-s per wall-s, all processes", "cpu"),
        ("idle", "pool", "master_cpu_s_per_s", "idle pool: CPU-s per wall-s, the master alone", "cpu"),
    ]
)
BEGIN, END = "<!-- scripts/bench.sh: begin -->", "<!-- scripts/bench.sh: end -->"


def fmt(value, kind):
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.1f} k"
    if kind == "us":
        return f"{value:.1f}" if value >= 1 else f"{value:.2f}"
    if kind == "times":
        return f"×{value:.2f}"
    if kind == "cpu":
        return f"{value:.3f}"
    return f"{value:.2f}"


def load(path):
    """{(system, workers, workload, variant, metric): {repetition: value}}"""
    data, rep = defaultdict(dict), 0
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[:1] == ["REPEAT"]:
                rep = int(parts[1])
            elif parts[:1] == ["RESULT"] and len(parts) == 7:
                _, system, workers, workload, variant, metric, value = parts
                data[(system, int(workers), workload, variant, metric)][rep] = float(value)
    return data


def median(data, key):
    values = list(data.get(key, {}).values())
    return statistics.median(values) if values else None


def ratio(data, numerator, denominator):
    """The median over repetitions of numerator / denominator within each repetition."""
    a, b = data.get(numerator, {}), data.get(denominator, {})
    values = [a[r] / b[r] for r in a if r in b and b[r]]
    return statistics.median(values) if values else None


def table(data):
    lines = ["| workload | " + " | ".join(h for _, _, h in SYSTEMS) + " |",
             "|---|" + "---:|" * len(SYSTEMS)]
    for workload, variant, metric, label, kind in ROWS:
        cells = [fmt(median(data, (s, w, workload, variant, metric)), kind) for s, w, _ in SYSTEMS]
        if all(c == "—" for c in cells):
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread_over_median(data, key):
    """The largest repetition over the median: how far one run strays from the typical one."""
    values = list(data.get(key, {}).values())
    return max(values) / statistics.median(values) if values else None


def targets(data):
    m = lambda w, wl, v, metric: ("mpipool", w, wl, v, metric)
    at_most = lambda limit: (f"≤ {limit}", lambda v: v <= limit)
    at_least = lambda limit: (f"≥ {limit}", lambda v: v >= limit)
    # (measure, value, kind, target): the targets of the performance issues, each met or not.
    rows = [
        ("W1 chunksize 1, mpipool / raw MPI, 1 worker",
         ratio(data, m(1, "W1", "cs1", "items_per_s"), ("raw_mpi", 1, "W1", "cs1", "items_per_s")), "ratio",
         at_least(0.8)),
        ("W1 chunksize 1, mpipool / raw MPI, 2 workers",
         ratio(data, m(2, "W1", "cs1", "items_per_s"), ("raw_mpi", 2, "W1", "cs1", "items_per_s")), "ratio",
         at_least(0.8)),
        ("W1 default chunking, mpipool / mp.Pool(2)",
         ratio(data, m(2, "W1", "default", "items_per_s"), ("mp_pool", 2, "W1", "default", "items_per_s")), "ratio",
         at_least(10)),
        ("W2 apply round trip, 1 worker (µs)", median(data, m(1, "W2", "apply", "us_per_call")), "us", at_most(3)),
        ("W2 apply round trip, 2 workers (µs)", median(data, m(2, "W2", "apply", "us_per_call")), "us", at_most(8)),
        ("W2 apply round trip, 2 workers: slowest run / median",
         spread_over_median(data, m(2, "W2", "apply", "us_per_call")), "ratio", at_most(2)),
        ("W3 efficiency", median(data, m(2, "W3", "default", "efficiency")), "ratio", at_least(0.98)),
        ("W4 makespan / ideal, default chunking", median(data, m(2, "W4", "default", "makespan_over_ideal")), "times",
         at_most(1.02)),
        ("W4 makespan / ideal, chunksize 1", median(data, m(2, "W4", "cs1", "makespan_over_ideal")), "times",
         at_most(1.05)),
        ("idle pool, CPU-s per wall-s (3 ranks)", median(data, m(2, "idle", "pool", "cpu_s_per_s")), "cpu",
         at_most(0.005)),
        ("W6, CPU-s per wall-s (3 ranks and mpirun)", median(data, m(2, "W6", "sleep", "cpu_s_per_s")), "cpu",
         at_most(0.005)),
        ("W5, master's peak RSS growth (MiB)", median(data, m(2, "W5", "stream", "growth_mib")), "mib", at_most(16)),
    ]
    lines = ["| target's measure | mpipool | target | met |", "|---|---:|---|---|"]
    for label, value, kind, (target, met) in rows:
        verdict = "—" if value is None else ("yes" if met(value) else "no")
        lines.append(f"| {label} | {fmt(value, kind)} | {target} | {verdict} |")
    return "\n".join(lines)


def micro(path):
    if not path or not os.path.exists(path):
        return "(not run)"
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    lines = ["| benchmark | N | time per chunk | items/s | bytes per item |", "|---|---:|---:|---:|---:|"]
    for b in runs:
        name, n = b["name"].split("/")
        per_item = b.get("bytes_per_item")
        lines.append(f"| {name} | {n} | {b['real_time']:.0f} {b['time_unit']} | "
                     f"{b.get('items_per_second', 0) / 1e6:.1f} M | {per_item:.1f} |" if per_item else
                     f"| {name} | {n} | {b['real_time']:.0f} {b['time_unit']} | "
                     f"{b.get('items_per_second', 0) / 1e6:.1f} M | |")
    return "\n".join(lines)


def plot(data, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for system, workers, heading in SYSTEMS:
        xs, ys = [], []
        for c in CHUNKSIZES:
            v = median(data, (system, workers, "W1", f"cs{c}", "items_per_s"))
            if v is not None:
                xs.append(c)
                ys.append(v)
        if xs:
            left.plot(xs, ys, marker="o", label=heading)
    left.set(xscale="log", yscale="log", xlabel="chunksize", ylabel="items/s",
             title="W1: map x*x, throughput against chunksize")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    names, default, one = [], [], []
    for system, workers, heading in SYSTEMS:
        d = median(data, (system, workers, "W4", "default", "makespan_over_ideal"))
        c = median(data, (system, workers, "W4", "cs1", "makespan_over_ideal"))
        if d is not None or c is not None:
            names.append(heading.replace(", ", "\n"))
            default.append(d or 0)
            one.append(c or 0)
    x = range(len(names))
    right.bar([i - 0.2 for i in x], default, width=0.4, label="default chunking")
    right.bar([i + 0.2 for i in x], one, width=0.4, label="chunksize 1")
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_xticks(list(x), names, fontsize=8)
    right.set(ylabel="makespan / ideal", title="W4: 2000 Pareto(1.5) tasks, 4 s of work, 2 workers")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def section(args, data):
    quick_note = ("\n\n**A quick run**: smaller sizes than the labels below say (see the settings), for a smoke test "
                  "only." if "--quick" in args.command else "")
    return f"""{BEGIN}
## Side by side: mpipool, its Python peers and raw MPI (`scripts/bench.sh`)

Generated by `{args.command}` ({args.repeats} repetition(s), {args.seconds} s in all, load average
{args.load} before and {args.load_after} after; the machine is shared, so compare ratios within
this run rather than absolute figures across runs). Settings: `{args.settings}`.{quick_note}

**Workloads**, the same for every system (tasks in `bench/workloads.cpp`, `bench/raw_mpi.cpp`,
`bench/python_peers.py`):

- **W1** `map(x*x)` over 0..n-1 at chunksizes 1, 10, 100, 1000, 10000: n grows from
  max(1000, 20 × chunksize × workers) until one map takes at least `target_s`; and at the
  system's default chunking over 10⁶ items (the executors' default is chunksize 1).
- **W2** sequential `apply` (the executors: `submit(...).result()`) round trips, for `target_s`.
- **W3** 200 tasks burning 10 ms of CPU each (thread CPU time, so the work is the same in every
  language), default chunking; efficiency = serial time / (workers × parallel time), the serial
  run done by the master of the same process just before.
- **W4** the 2000 durations of `bench/w4_durations.json` (Pareto α = 1.5, seed 20240601, 4 s in
  all) as CPU-burning tasks, default chunking and chunksize 1; makespan / (serial time / workers),
  one serial run in the same process.
- **W5** 2M items of 1 KiB through `imap` (mpipool: `bench_imap_memory`, chunksize 1000, fast
  consumer, growth over an idle MPI rank; mp.Pool: `imap`, chunksize 1000, growth over the
  interpreter's peak before the pool; the executors: `map`, chunksize 1000, once per run).
- **W6** 20 tasks sleeping 0.2 s, chunksize 1: the CPU time (`/proc/<pid>/task/*/schedstat`) of
  every process of the system (master, workers, and mpirun under MPI) per wall second; and the
  same for an idle mpipool pool over 3 s.

mpipool and raw MPI run 3 ranks (master + 2 workers, oversubscribed on 2 cores, as mp.Pool(2)),
and 2 ranks (1 worker) for W1 at chunksize 1 and W2. The rows marked "isolated" are mpipool
with `pool_options::isolated` (each worker's tasks in a helper process), 3 ranks, a session of
its own in the same round-robin. Systems are interleaved round-robin in every repetition; each
cell is the median over the repetitions.

### Medians

{table(data)}

### The performance targets' measures (medians of per-repetition ratios)

{targets(data)}

![W1 throughput against chunksize; W4 makespan ratio per system](results.png)

### Chunk encoding and decoding (`bench_micro_chunks`, Google Benchmark)

A chunk of N `std::tuple<int>` arguments through `detail::argument_writer` / `argument_reader`,
and N `int` outcomes through `detail::outcome_writer` / `decode_outcomes`.

{micro(args.micro)}
{END}"""


def main():
    p = argparse.ArgumentParser()
    for flag in ("--results", "--micro", "--command", "--repeats", "--seconds", "--load", "--load-after",
                 "--settings", "--table", "--png", "--results-md", "--copy-png"):
        p.add_argument(flag)
    args = p.parse_args()
    data = load(args.results)
    text = section(args, data)
    with open(args.table, "w") as f:
        f.write(text + "\n")
    plot(data, args.png)
    print(table(data) + "\n\n" + targets(data))
    if args.results_md:
        old = open(args.results_md).read() if os.path.exists(args.results_md) else "# Benchmark results\n"
        if BEGIN in old:
            new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: text, old, flags=re.S)
        else:  # first run: after the title, before the existing sections
            title, _, rest = old.partition("\n")
            new = f"{title}\n\n{text}\n{rest}"
        with open(args.results_md, "w") as f:
            f.write(new)
    if args.copy_png:
        shutil.copyfile(args.png, args.copy_png)


if __name__ == "__main__":
    main()
