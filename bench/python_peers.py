"""The Python peers on the side-by-side workloads, by the rules of bench/bench_common.hpp.

    python3 bench/python_peers.py mp_pool   key=value...   # multiprocessing.Pool(2)
    python3 bench/python_peers.py ppe       key=value...   # concurrent.futures.ProcessPoolExecutor(2)
    mpirun -n 3 python3 -m mpi4py.futures bench/python_peers.py mpi4py key=value...
    python3 bench/python_peers.py w5_<system> items=2000000  # W5: the master's peak RSS growth

Prints RESULT lines: RESULT <system> <workers> <workload> <variant> <metric> <value>.
scripts/bench.sh runs it; bench/RESULTS.md describes the workloads.
"""
import json
import os
import resource
import sys
import time

WORKERS = 2


# The tasks; module level, so that every pool can pickle them.
def square(x):
    return x * x


def spin(seconds):
    """Burns `seconds` of this thread's CPU time (the C++ side does the same)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return 1


def nap(seconds):
    time.sleep(seconds)
    return 1


def pid_after(seconds):
    time.sleep(seconds)
    return os.getpid()


def item_length(s):
    return len(s)


def process_cpu_s(pid):
    """CPU seconds of every thread of `pid`, from schedstat (nanoseconds)."""
    total = 0.0
    tasks = f"/proc/{pid}/task"
    try:
        for tid in os.listdir(tasks):
            try:
                with open(f"{tasks}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0]) * 1e-9
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total


def processes_cpu_s(pids):
    return sum(process_cpu_s(p) for p in pids)


def report(system, workers, workload, variant, metric, value):
    print(f"RESULT {system} {workers} {workload} {variant} {metric} {value:.6g}", flush=True)


def adaptive_rate(chunksize, workers, target_s, max_items, run_items):
    n = max(1000, 20 * chunksize * workers)
    while True:
        seconds = run_items(n)
        if seconds >= target_s or n >= max_items:
            return n / seconds
        grow = min(16.0, max(2.0, 1.3 * target_s / max(seconds, 1e-6)))
        n = min(max_items, int(n * grow))


def w4_durations(path, stride):
    with open(path) as f:
        return json.load(f)["durations_s"][::stride]


class Peer:
    """One system: its map (chunksize None = the system's default), apply and worker pids."""

    def __init__(self, name):
        self.name = name
        if name == "mp_pool":
            import multiprocessing
            self.pool = multiprocessing.Pool(WORKERS)
        elif name == "ppe":
            import concurrent.futures
            self.pool = concurrent.futures.ProcessPoolExecutor(WORKERS)
        elif name == "mpi4py":
            from mpi4py.futures import MPIPoolExecutor
            self.pool = MPIPoolExecutor()
        else:
            raise SystemExit(f"unknown system {name}")

    def map(self, f, items, chunksize=None):
        if self.name == "mp_pool":
            return self.pool.map(f, items) if chunksize is None else self.pool.map(f, items, chunksize)
        return list(self.pool.map(f, items) if chunksize is None else self.pool.map(f, items, chunksize=chunksize))

    def apply(self, f, x):
        if self.name == "mp_pool":
            return self.pool.apply(f, (x,))
        return self.pool.submit(f, x).result()

    def pids(self):
        """Every process of the system: this one, the workers and, under MPI, mpirun."""
        if self.name == "mp_pool":
            workers = {p.pid for p in self.pool._pool}
        elif self.name == "ppe":
            workers = set(self.pool._processes)
        else:  # the workers are other MPI ranks: ask them, with tasks long enough to reach both
            workers = set()
            while len(workers) < WORKERS:
                workers |= set(self.map(pid_after, [0.05] * (2 * WORKERS), 1))
        pids = [os.getpid(), *sorted(workers)]
        if self.name == "mpi4py":
            pids.append(os.getppid())
        return pids

    def close(self):
        if self.name == "mp_pool":
            self.pool.close()
            self.pool.join()
        else:
            self.pool.shutdown()


def workloads(system, settings):
    get = lambda k, d: type(d)(settings.get(k, d))
    chosen = get("workloads", "W1,W2,W3,W4,W6").split(",")
    target_s = get("target_s", 0.3)
    max_items = int(get("max_items", 4e6))
    peer = Peer(system)
    out = lambda w, v, m, x: report(system, WORKERS, w, v, m, x)
    # The executors' default chunksize is 1: W1's "default" is then the chunksize-1 figure.
    default_is_one = system in ("ppe", "mpi4py")

    def map_squares(n, chunksize):
        items = list(range(n))
        start = time.perf_counter()
        result = peer.map(square, items, chunksize)
        seconds = time.perf_counter() - start
        assert len(result) == n and result[-1] == (n - 1) ** 2
        return seconds

    if "W1" in chosen:
        for c in get("chunksizes", "1,10,100,1000,10000").split(","):
            rate = adaptive_rate(int(c), WORKERS, target_s, max_items, lambda n: map_squares(n, int(c)))
            out("W1", f"cs{c}", "items_per_s", rate)
            if default_is_one and c == "1":
                out("W1", "default", "items_per_s", rate)
        n = int(get("default_items", 1e6))
        if n > 0 and not default_is_one:
            map_squares(n // 10, None)
            out("W1", "default", "items_per_s", n / map_squares(n, None))
    if "W2" in chosen:
        for i in range(50):
            assert peer.apply(square, i) == i * i
        calls, start = 0, time.perf_counter()
        while True:
            for _ in range(50):
                assert peer.apply(square, calls) == calls * calls
                calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= target_s:
                break
        out("W2", "apply", "us_per_call", elapsed / calls * 1e6)
    if "W3" in chosen:
        tasks = [0.010] * int(get("w3_tasks", 200))
        start = time.perf_counter()
        assert sum(spin(d) for d in tasks) == len(tasks)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        assert sum(peer.map(spin, tasks)) == len(tasks)
        parallel = time.perf_counter() - start
        out("W3", "default", "efficiency", serial / (WORKERS * parallel))
    if "W4" in chosen:
        durations = w4_durations(get("w4_file", "bench/w4_durations.json"), int(get("w4_stride", 1)))
        start = time.perf_counter()
        for d in durations:
            spin(d)
        ideal = (time.perf_counter() - start) / WORKERS
        for variant, chunksize in (("default", None), ("cs1", 1)):
            if default_is_one and variant == "cs1":
                continue
            start = time.perf_counter()
            assert sum(peer.map(spin, durations, chunksize)) == len(durations)
            ratio = (time.perf_counter() - start) / ideal
            out("W4", variant, "makespan_over_ideal", ratio)
            if default_is_one:
                out("W4", "cs1", "makespan_over_ideal", ratio)
    if "W6" in chosen:
        pids = peer.pids()
        naps = [get("w6_sleep_s", 0.2)] * 20
        cpu, master, start = processes_cpu_s(pids), process_cpu_s(pids[0]), time.perf_counter()
        assert sum(peer.map(nap, naps, 1)) == 20
        wall = time.perf_counter() - start
        out("W6", "sleep", "cpu_s_per_s", (processes_cpu_s(pids) - cpu) / wall)
        out("W6", "sleep", "master_cpu_s_per_s", (process_cpu_s(pids[0]) - master) / wall)
    peer.close()


def w5(system, settings):
    """The master's peak RSS growth while 2M items of 1 KiB go through the lazy-most API."""
    n = int(settings.get("items", 2_000_000))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: the interpreter
    peer = Peer(system)
    items = ("abcdefghijklmnopqrstuvwxyz"[i % 26] * 1024 for i in range(n))
    start = time.perf_counter()
    if system == "mp_pool":
        results = peer.pool.imap(item_length, items, 1000)
    else:
        results = peer.pool.map(item_length, items, chunksize=1000)
    count = 0
    for length in results:
        assert length == 1024
        count += 1
    assert count == n
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peer.close()
    report(system, WORKERS, "W5", "stream", "growth_mib", (peak - baseline) / 1024)
    report(system, WORKERS, "W5", "stream", "seconds", seconds)


def main():
    system, settings = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
    if system.startswith("w5_"):
        w5(system[3:], settings)
    else:
        workloads(system, settings)


if __name__ == "__main__":
    main()
