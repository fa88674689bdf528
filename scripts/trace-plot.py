#!/usr/bin/python3
"""Draws a trace written by mpipool (MPIPOOL_TRACE=run.json) as a timeline PNG.

    scripts/trace-plot.py run.json run.png

One row per worker with a bar per chunk, coloured by call (task and call number), and the
master's row with its dispatch work; the title gives the run's length, each worker's busy share
and the master's. Needs matplotlib (Debian: python3-matplotlib; MPIPOOL_WITH_PLOTS=1
scripts/install-deps.sh installs it).
"""
import json
import sys


def main(trace_path, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    with open(trace_path) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
    chunks = [e for e in events if e.get("ph") == "X" and e.get("cat") == "chunk"]
    dispatch = [e for e in events if e.get("ph") == "X" and e.get("cat") == "master" and e["name"] == "dispatch"]
    duration_s = trace.get("otherData", {}).get("duration_s") or max(
        [(e["ts"] + e["dur"]) / 1e6 for e in chunks + dispatch] or [1.0])

    # The window drawn: from the first chunk (the body may have worked alone before) to the end.
    begin_s = min([e["ts"] / 1e6 for e in chunks] or [0.0])
    window_s = max(duration_s - begin_s, 1e-9)

    tracks = sorted(names)  # the master (0) first, then the workers by rank
    row = {tid: len(tracks) - 1 - i for i, tid in enumerate(tracks)}  # the master on top
    calls = sorted({(e["args"]["job"], e["args"]["task"], e["args"]["method"]) for e in chunks})
    colours = plt.get_cmap("tab10")
    colour_of = {job: colours(i % 10) for i, (job, _, _) in enumerate(calls)}

    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.6 * len(tracks)))
    busy = {}
    for tid in tracks:
        mine = [e for e in chunks if e["tid"] == tid]
        # Wide chunks get a white edge to tell neighbours apart; on narrow ones it would hide them.
        for wide in (True, False):
            some = [e for e in mine if (e["dur"] / 1e6 > window_s / 400) == wide]
            if some:
                ax.broken_barh([(e["ts"] / 1e6, e["dur"] / 1e6) for e in some], (row[tid] - 0.4, 0.8),
                               facecolors=[colour_of[e["args"]["job"]] for e in some],
                               edgecolor="white" if wide else "none", linewidth=0.4 if wide else 0)
        busy[tid] = sum(e["dur"] for e in mine) / 1e6
    if dispatch:
        ax.broken_barh([(e["ts"] / 1e6, e["dur"] / 1e6) for e in dispatch], (row[0] - 0.4, 0.8), facecolors="0.3")
    master_busy = sum(max(0.0, e["ts"] + e["dur"] - max(e["ts"], begin_s * 1e6)) for e in dispatch) / 1e6

    ax.set_yticks([row[t] for t in tracks])
    ax.set_yticklabels([names[t] for t in tracks])
    ax.set_xlabel("seconds since the pool started (master's clock)")
    ax.set_xlim(begin_s, duration_s)
    shares = ", ".join(f"{names[t].split(' (')[0]} {100 * busy[t] / window_s:.0f}%" for t in tracks if t != 0)
    slowest = max(chunks, key=lambda e: e["dur"], default=None)
    title = (f"{len(chunks)} chunks in {window_s:.2f} s from the first; busy: {shares}; "
             f"master {100 * master_busy / window_s:.1f}%")
    if slowest:
        title += (f"\nslowest chunk: '{slowest['args']['task']}' from item {slowest['args']['first']}, "
                  f"{slowest['dur'] / 1e6:.3f} s on {names[slowest['tid']]}")
    ax.set_title(title, fontsize=9)
    ax.legend(handles=[Patch(color=colour_of[job], label=f"{method} '{task}' (call {job})")
                       for job, task, method in calls][:10], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: trace-plot.py TRACE.json OUT.png")
    main(sys.argv[1], sys.argv[2])
