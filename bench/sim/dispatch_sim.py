#!/usr/bin/env python3
"""A discrete-event simulator of mpipool's dispatch: one master (or a root with sub-masters)
handing chunks to workers, checked against measurements and used to predict large runs.

    dispatch_sim.py --check RESULTS        # simulated vs measured: the dispatch-rate table
                                           # (RESULT lines of scripts/dispatch-rate.sh) and,
                                           # with --workloads FILE, W3 and W4 of bench_workloads
    dispatch_sim.py --predict [--png FILE] # efficiency at 10^3..10^5 workers, one master
                                           # against sub-masters, on dedicated cores
    dispatch_sim.py --quick                # a few seconds: the engines against known answers

What is modelled (docs/scaling.md gives the measured inputs and the results):

- The master is one serial server. Each chunk of k items costs it c_m + c_i*k of CPU (encoding
  the items, decoding the results; scripts/dispatch-rate.sh measures both). A worker spends
  w_m + w_i*k on a chunk besides its tasks. A message takes `latency` seconds.
- The chunk plans are mpipool's (include/mpipool/detail/scheduler.hpp): a fixed chunksize, or
  the adaptive plan (batches of one chunk per worker, each half the remaining items over the
  workers, capped at Python's default and at 16 384 items, shrinking to 1). The dispatch rules
  are src/master/policy.cpp's: an idle worker gets a chunk at once; a second chunk is committed
  to a busy worker (prefetch depth 2) only once the job's chunks are known to take under 1 ms
  (a moving average) and while more than 2 chunks per worker are left.
- Shared cores (the measuring machine runs up to 17 ranks on 2 cores): processor sharing. Every
  rank with CPU work runs at min(1, cores / demand), where demand counts the ranks with work and,
  at weight `spin_weight`, the ranks spinning in their 200 us wait after a message (they yield
  the core, but not for free). Task times are CPU times (the benchmarks' tasks spin on the
  thread's CPU clock), so they stretch when the core is shared.
- Dedicated cores (the predictions): no sharing; identical workers may be simulated in lanes of
  g workers that take g chunks at once (event aggregation, --lanes), which keeps 10^5 workers
  to a few thousand simulated entities.
- Sub-masters: one per node of R ranks (R - 1 workers). The root hands each sub-master large
  node-chunks from an adaptive plan over the sub-masters, ahead of need (a sub-master asks for
  the next one when its stock falls to half of the last); the sub-master cuts its stock into
  chunks for its workers (the same guided rule over its stock) and returns their results. Root
  and sub-master pay c_m + c_i*K per node-chunk of K items; the sub-master also pays
  c_m + c_i*k per worker chunk, on its own core.

Standard library only (matplotlib for --png).
"""
import argparse
import collections
import heapq
import json
import math
import os
import statistics
import sys

LARGEST_ADAPTIVE_CHUNK = 16384  # chunk_plan::largest_adaptive_chunk
PREFETCH_BELOW_S = 1e-3  # dispatch_policy::prefetch_below_seconds
PREFETCH_CHUNKS_PER_WORKER = 2  # dispatch_policy::prefetch_chunks_per_worker
EAGER_LIMIT_BYTES = 4096  # Open MPI's shared-memory eager limit: larger messages take a handshake
HEADER_BYTES = 64  # a chunk message besides its items (about)
SPIN_S = 200e-6  # backoff::spin_for: how long a rank spins (yielding) after its last message


# ---------------------------------------------------------------------------- chunk plans

class ChunkPlan:
    """chunk_plan of scheduler.hpp: fixed `chunksize`, or adaptive (chunksize None)."""

    def __init__(self, items, workers, chunksize=None, cap=LARGEST_ADAPTIVE_CHUNK):
        self.items, self.next = items, 0
        self.adaptive = chunksize is None
        self.workers = max(workers, 1)
        if self.adaptive:
            python_default = max(1, -(-items // (4 * self.workers)))
            self.chunksize = min(python_default, cap)
        else:
            self.chunksize = chunksize
        self.batch_size = self.batch_left = 0

    def exhausted(self):
        return self.next >= self.items

    def take(self):
        remaining = self.items - self.next
        size = self.chunksize
        if self.adaptive:
            if self.batch_left == 0:
                half_each = -(-remaining // (2 * self.workers))
                self.batch_size = min(max(half_each, 1), self.chunksize)
                self.batch_left = self.workers
            self.batch_left -= 1
            size = self.batch_size
        count = min(size, remaining)
        first = self.next
        self.next += count
        return first, count

    def chunks_left(self, up_to):
        remaining = self.items - self.next
        if not self.adaptive:
            return min(-(-remaining // self.chunksize), up_to)
        # As the C++ counts, by taking from a copy, but a batch at a time (up_to is 2N + 1 in
        # the policy: a few batches).
        chunks, batch_left, batch_size = 0, self.batch_left, self.batch_size
        while remaining > 0 and chunks < up_to:
            if batch_left == 0:
                batch_size = min(max(-(-remaining // (2 * self.workers)), 1), self.chunksize)
                batch_left = self.workers
            taken = min(batch_left, -(-remaining // batch_size))
            chunks += taken
            remaining -= min(remaining, taken * batch_size)
            batch_left = 0
        return min(chunks, up_to)


def master_cost(p, count):
    """The master's CPU for a chunk of `count` items: c_m + c_i * count, or, when the
    parameters carry one, a measured table {chunksize: seconds} interpolated linearly (the cost
    is not quite linear: cache effects, Open MPI's protocol switch at 4 KiB)."""
    table = p.get("master_cost_table")
    if not table:
        return p["c_m"] + p["c_i"] * count
    sizes = sorted(table)
    if count <= sizes[0]:
        return table[sizes[0]]
    for lo, hi in zip(sizes, sizes[1:]):
        if count <= hi:
            return table[lo] + (table[hi] - table[lo]) * (count - lo) / (hi - lo)
    lo, hi = sizes[-2], sizes[-1]
    return table[hi] + (table[hi] - table[lo]) / (hi - lo) * (count - hi)


# ---------------------------------------------------------------------------- shared cores

class SharedCoreSim:
    """One master and `workers` workers on `cores` cores, processor sharing.

    Returns the makespan of one map over `durations` (CPU seconds per item, a list) or over
    `items` no-op items, with a fixed chunksize or the adaptive plan."""

    def __init__(self, p, workers, cores):
        self.p, self.n, self.cores = p, workers, cores

    def run(self, items, chunksize=None, durations=None, task_s=0.0):
        p, n = self.p, self.n
        ranks = n + 1
        plan = ChunkPlan(items, n, chunksize)
        work = [collections.deque() for _ in range(ranks)]  # CPU jobs: [remaining s, action]
        spin_until = [0.0] * ranks
        events = []  # (time, seq, action) message arrivals
        seq = [0]
        now = [0.0]
        in_flight = [0] * ranks
        queued = [collections.deque() for _ in range(ranks)]  # chunks arrived at a worker
        typical = [None]
        started_at = {}
        sent_at = [collections.deque() for _ in range(ranks)]  # the master's clock, per chunk
        last_returned = [0.0] * ranks
        done_items = [0]

        def post(delay, action):
            seq[0] += 1
            heapq.heappush(events, (now[0] + delay, seq[0], action))

        def cpu(rank, seconds, action):
            work[rank].append([seconds, action])

        # A worker that shares a core is switched in and out for each chunk; the switch costs
        # more with more ranks queueing for the cores (their caches evict each other's).
        switch = p["switch"] + p["switch_per_rank"] * (ranks - self.cores) if ranks > self.cores else 0.0

        def rendezvous(count):
            """Messages above Open MPI's eager limit (4 KiB over shared memory) take a handshake
            (in the measured cost table already, when the master's costs come from one)."""
            if "master_cost_table" in p:
                return 0.0
            return p["rendezvous"] if count * p["item_bytes"] + HEADER_BYTES > EAGER_LIMIT_BYTES else 0.0

        def worker_rendezvous(count):
            """On shared cores a handshake waits for the other side to get a core, and both
            sides poll meanwhile: CPU that grows with the ranks queueing for the cores."""
            if count * p["item_bytes"] + HEADER_BYTES <= EAGER_LIMIT_BYTES:
                return 0.0
            if ranks <= self.cores:
                return p["rendezvous"]
            return p["rendezvous"] + p["rdv_shared"] + p["rdv_per_rank"] * (ranks - self.cores)

        def chunk_cost(count, first):
            if durations is not None:
                return sum(durations[first:first + count])
            return task_s * count

        def send_chunk(worker):
            first, count = plan.take()
            in_flight[worker] += 1
            sent_at[worker].append(now[0])
            # The master's CPU for this chunk (encode now; the results' decoding is in c_i too).
            cpu(0, master_cost(p, count) + rendezvous(count),
                lambda: post(p["latency"], lambda: arrive(worker, first, count)))

        def arrive(worker, first, count):
            spin_until[worker] = now[0] + SPIN_S  # its progress thread spins after each message
            queued[worker].append((first, count))
            if len(queued[worker]) == 1:
                start_chunk(worker)

        def start_chunk(worker):
            first, count = queued[worker][0]
            started_at[worker] = now[0]
            cost = p["w_m"] + p["w_i"] * count + switch + worker_rendezvous(count) + chunk_cost(count, first)
            cpu(worker, cost, lambda: finish_chunk(worker, count))

        def finish_chunk(worker, count):
            queued[worker].popleft()
            spin_until[worker] = now[0] + SPIN_S
            post(p["latency"], lambda: result_at_master(worker, count))
            if queued[worker]:
                start_chunk(worker)

        def result_at_master(worker, count):
            in_flight[worker] -= 1
            # worker_slot::returned: the time since it was sent or the previous result came.
            elapsed = now[0] - max(sent_at[worker].popleft(), last_returned[worker])
            last_returned[worker] = now[0]
            done_items[0] += count
            typical[0] = elapsed if typical[0] is None else 0.75 * typical[0] + 0.25 * elapsed
            if plan.exhausted():
                return
            if in_flight[worker] == 0:
                send_chunk(worker)
            # It has just started its queued chunk (or was sent one from idle): prefetch.
            if (not plan.exhausted() and in_flight[worker] < 2 and typical[0] is not None
                    and typical[0] < PREFETCH_BELOW_S
                    and plan.chunks_left(PREFETCH_CHUNKS_PER_WORKER * n + 1) > PREFETCH_CHUNKS_PER_WORKER * n):
                send_chunk(worker)

        for worker in range(1, ranks):
            if not plan.exhausted():
                send_chunk(worker)

        while done_items[0] < items:
            runnable = [r for r in range(ranks) if work[r]]
            # The master's progress thread does its work, so it spins only when it has none; a
            # worker's progress thread spins beside the thread that runs its tasks.
            spinning = sum(1 for r in range(ranks) if (r > 0 or not work[r]) and spin_until[r] > now[0])
            # With a core for every rank, spinning takes nothing from anyone.
            demand = len(runnable) + (p["spin_weight"] * spinning if ranks > self.cores else 0.0)
            rate = min(1.0, self.cores / demand) if demand else 1.0
            t_cpu = min((work[r][0][0] / rate for r in runnable), default=math.inf)
            t_evt = events[0][0] - now[0] if events else math.inf
            # A spinner that stops spinning changes the rate: step there too.
            t_spin = min((spin_until[r] - now[0] for r in range(ranks) if spin_until[r] > now[0]),
                         default=math.inf)
            dt = min(t_cpu, t_evt, t_spin)
            if dt == math.inf:
                raise RuntimeError("simulation stalled")
            for r in runnable:
                work[r][0][0] -= dt * rate
            now[0] += dt
            if dt == t_evt:
                _, _, action = heapq.heappop(events)
                action()
            for r in runnable:
                if work[r] and work[r][0][0] <= 1e-15:
                    _, action = work[r].popleft()
                    action()
                    if r == 0 and not work[r]:
                        spin_until[r] = now[0] + SPIN_S
        return now[0]


# ---------------------------------------------------------------------------- dedicated cores

class ClusterSim:
    """Dedicated cores, heap-driven. One master, or a root with one sub-master per node.

    Workers are simulated in lanes of `lane` identical workers that take `lane` chunks at once
    and finish them together; lane 1 is exact."""

    def __init__(self, p, workers, task_s, items, ranks_per_node=None, lane=1):
        self.p, self.n, self.task_s, self.items = p, workers, task_s, items
        self.R, self.lane = ranks_per_node, lane

    def run(self):
        return self._one_master() if self.R is None else self._sub_masters()

    # A server (the master, or a sub-master): serial CPU, returns when a job is done.
    @staticmethod
    def _serve(free_at, now, seconds):
        start = max(free_at, now)
        return start + seconds

    def _one_master(self):
        p, t = self.p, self.task_s
        lanes = -(-self.n // self.lane)
        plan = ChunkPlan(self.items, self.n)
        events, seq = [], 0
        master_free = 0.0
        in_flight = [0] * lanes
        typical = None
        done = 0
        # Lane queue of chunk batches: (items per worker in the batch)
        queue = [collections.deque() for _ in range(lanes)]
        busy_until = [0.0] * lanes
        makespan = 0.0

        def take_batch(width):
            counts = []
            for _ in range(width):
                if plan.exhausted():
                    break
                counts.append(plan.take()[1])
            return counts

        def lane_width(lane):
            return min(self.lane, self.n - lane * self.lane)

        def dispatch(lane, now):
            nonlocal master_free, seq
            counts = take_batch(lane_width(lane))
            if not counts:
                return
            master_free = self._serve(master_free, now, sum(p["c_m"] + p["c_i"] * k for k in counts))
            in_flight[lane] += 1
            seq += 1
            heapq.heappush(events, (master_free + p["latency"], seq, "arrive", lane, counts))

        for lane in range(lanes):
            dispatch(lane, 0.0)
        while events:
            now, _, kind, lane, counts = heapq.heappop(events)
            if kind == "arrive":
                # The batch runs after what the lane has queued; its chunks run side by side.
                start = max(now, busy_until[lane])
                chunk_s = max(p["w_m"] + (p["w_i"] + t) * k for k in counts)
                busy_until[lane] = start + chunk_s
                seq += 1
                heapq.heappush(events, (busy_until[lane] + p["latency"], seq, "result", lane, (counts, chunk_s)))
            else:
                counts, chunk_s = counts
                in_flight[lane] -= 1
                done += sum(counts)
                makespan = max(makespan, now)
                typical = chunk_s if typical is None else 0.75 * typical + 0.25 * chunk_s
                if in_flight[lane] == 0:
                    dispatch(lane, now)
                if (in_flight[lane] in (1,) and not plan.exhausted() and typical < PREFETCH_BELOW_S
                        and plan.chunks_left(PREFETCH_CHUNKS_PER_WORKER * self.n + 1)
                        > PREFETCH_CHUNKS_PER_WORKER * self.n):
                    dispatch(lane, now)
        # The results are decoded by the time the last one is in: the master is free by then.
        return max(makespan, master_free)

    def _sub_masters(self):
        p, t, R = self.p, self.task_s, self.R
        per_node = R - 1
        nodes = -(-self.n // per_node)
        # The root cuts the input as one master would for all the workers, and gives a node
        # its workers' chunks in one node-chunk: nodes of any size then get their share.
        node_plan = ChunkPlan(self.items, self.n)
        root_free = 0.0
        events, seq = [], 0
        makespan = 0.0

        class Node:
            pass

        state = []
        for node in range(nodes):
            s = Node()
            s.workers = min(per_node, self.n - node * per_node)  # the last node may have fewer
            s_lanes = -(-s.workers // self.lane)
            s.free = 0.0  # the sub-master's CPU
            s.stock = 0  # items received, not yet cut
            s.last_refill = 0
            s.asked = False
            s.width = [min(self.lane, s.workers - l * self.lane) for l in range(s_lanes)]
            s.in_flight = [0] * s_lanes
            s.busy_until = [0.0] * s_lanes
            s.idle = list(range(s_lanes))
            s.typical = None
            state.append(s)

        def push(time, *what):
            nonlocal seq
            seq += 1
            heapq.heappush(events, (time, seq) + what)

        def ask_root(node, now):
            # The request travels to the root, which cuts and encodes the node-chunk.
            state[node].asked = True
            push(now + p["net_latency"], "root", node)

        def cut(s, width):
            """The sub-master's guided rule over its stock: half the stock over its workers.
            A lane's chunks are cut to one size, as the adaptive plan's batches are (cut one by
            one they would shrink within the lane, and the lane would wait for its largest)."""
            k = max(1, min(-(-s.stock // (2 * s.workers)), LARGEST_ADAPTIVE_CHUNK))
            counts = []
            for _ in range(width):
                if s.stock == 0:
                    break
                counts.append(min(k, s.stock))
                s.stock -= counts[-1]
            return counts

        def feed(node, lane, now):
            s = state[node]
            counts = cut(s, s.width[lane])
            if not counts:
                return False
            s.free = self._serve(s.free, now, sum(p["c_m"] + p["c_i"] * k for k in counts))
            s.in_flight[lane] += 1
            push(s.free + p["latency"], "arrive", node, lane, counts)
            maybe_refill(node, s.free)
            return True

        def maybe_refill(node, now):
            s = state[node]
            if not s.asked and not node_plan.exhausted() and s.stock <= s.last_refill // 2:
                ask_root(node, now)

        for node in range(nodes):
            ask_root(node, 0.0)
        while events:
            ev = heapq.heappop(events)
            now, kind = ev[0], ev[2]
            if kind == "root":
                node = ev[3]
                if node_plan.exhausted():
                    state[node].asked = False
                    continue
                K = sum(node_plan.take()[1] for _ in range(state[node].workers) if not node_plan.exhausted())
                root_free = self._serve(root_free, now, p["c_m"] + p["root_c_i"] * K)
                push(root_free + p["net_latency"], "stock", node, K)
            elif kind == "stock":
                node, K = ev[3], ev[4]
                s = state[node]
                s.asked = False
                s.free = self._serve(s.free, now, p["c_m"] + p["c_i"] * K)  # decode, and later return
                s.stock += K
                s.last_refill = K
                while s.idle and s.stock:
                    lane = s.idle.pop()
                    feed(node, lane, s.free)
                maybe_refill(node, s.free)
            elif kind == "arrive":
                node, lane, counts = ev[3], ev[4], ev[5]
                s = state[node]
                start = max(now, s.busy_until[lane])
                chunk_s = max(p["w_m"] + (p["w_i"] + t) * k for k in counts)
                s.busy_until[lane] = start + chunk_s
                push(s.busy_until[lane] + p["latency"], "result", node, lane, (counts, chunk_s))
            else:  # a lane's results at its sub-master
                node, lane, (counts, chunk_s) = ev[3], ev[4], ev[5]
                s = state[node]
                s.in_flight[lane] -= 1
                makespan = max(makespan, now)
                s.typical = chunk_s if s.typical is None else 0.75 * s.typical + 0.25 * chunk_s
                if s.in_flight[lane] == 0 and not feed(node, lane, now):
                    s.idle.append(lane)
                if (s.in_flight[lane] == 1 and s.typical < PREFETCH_BELOW_S
                        and s.stock > PREFETCH_CHUNKS_PER_WORKER * s.workers):
                    feed(node, lane, now)
                maybe_refill(node, now)
        # Results go back to the root with the node's last chunk: one more network hop.
        return makespan + p["net_latency"]


# ---------------------------------------------------------------------------- parameters

# Measured on the 2-core machine (docs/scaling.md): the master's costs at 2 ranks, where it is
# saturated; the worker's and the sharing parameters fitted to the dispatch-rate table at 2 and
# 17 ranks only (3, 5 and 9 ranks, W3 and W4 are then predictions of the model).
SHARED = dict(c_m=1.5e-6, c_i=16e-9, w_m=0.5e-6, w_i=15e-9, latency=0.3e-6, spin_weight=0.1, switch=3e-6, switch_per_rank=0.1e-6,
              rendezvous=6e-6, item_bytes=4, rdv_shared=0.0, rdv_per_rank=4e-6)
# A cluster: the same costs per chunk and item, a core per rank; 0.5 us within a node (shared
# memory), 2 us between nodes (InfiniBand is about 1.5 us one way).
CLUSTER = dict(c_m=1.5e-6, c_i=17e-9, w_m=1.0e-6, w_i=5e-9, latency=0.5e-6, net_latency=2e-6,
               root_c_i=17e-9)


def read_results(path):
    """{(workers, variant, metric): [values]} from RESULT lines (bench_common.hpp's format), or
    from the dispatch-rate table of a Markdown page (docs/scaling.md: scripts/dispatch-rate.sh's
    medians, one value per cell)."""
    values = collections.defaultdict(list)
    table_columns = ("chunks_per_s", "items_per_s", "master_cpu_us_per_chunk", "caller_cpu_us_per_chunk",
                     "master_cpu_share")
    for line in open(path):
        parts = line.split()
        if len(parts) == 7 and parts[0] == "RESULT":
            _, _, workers, _, variant, metric, value = parts
            values[(int(workers), variant, metric)].append(float(value))
            continue
        cells = [c.strip().replace(",", "") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 7 and all(_is_number(c) for c in cells):
            workers, variant = int(cells[0]) - 1, "cs" + cells[1]
            for metric, value in zip(table_columns, cells[2:]):
                values[(workers, variant, metric)].append(float(value))
    return values


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def w4_durations(path="bench/w4_durations.json"):
    with open(path) as f:
        return json.load(f)["durations_s"]


def simulated_chunk_rate(p, ranks, chunksize, cores):
    """bench_dispatch_rate: chunks/s of a map of no-ops at `chunksize`, in steady state (enough
    chunks that the start and the tail are a few per cent, as in the 0.3 s measured maps)."""
    workers = ranks - 1
    chunks = max(600, 40 * workers)
    sim = SharedCoreSim(p, workers, cores)
    return chunks / sim.run(chunks * chunksize, chunksize)


def check(args):
    p = dict(SHARED)
    rows = []
    if args.check:
        measured = read_results(args.check)
        # The master's cost per chunk size where it is saturated (1 worker on its own core).
        table = {int(v[2:]): statistics.median(x) * 1e-6 for (w, v, m), x in measured.items()
                 if w == 1 and m == "master_cpu_us_per_chunk"}
        if table:
            p["master_cost_table"] = table
        keys = sorted({(w, v) for (w, v, m) in measured if m == "chunks_per_s"}, key=lambda k: (k[0], int(k[1][2:])))
        for workers, variant in keys:
            ranks, chunksize = workers + 1, int(variant[2:])
            if args.chunksizes and chunksize not in args.chunksizes:
                continue
            m = statistics.median(measured[(workers, variant, "chunks_per_s")])
            s = simulated_chunk_rate(p, ranks, chunksize, args.cores)
            rows.append((f"dispatch rate, {ranks} ranks, chunksize {chunksize} (chunks/s)", s, m))
    if args.workloads:
        measured = read_results(args.workloads)
        durations = w4_durations()
        workers = 2
        sim = SharedCoreSim(p, workers, args.cores)
        w3 = [0.010] * 200
        key = (workers, "default", "efficiency")
        if measured.get(key):
            span = sim.run(len(w3), None, w3)
            rows.append(("W3 200 x 10 ms, 3 ranks: efficiency", sum(w3) / (workers * span),
                         statistics.median(measured[key])))
        for variant, chunksize in (("default", None), ("cs1", 1)):
            key = (workers, variant, "makespan_over_ideal")
            if measured.get(key):
                span = SharedCoreSim(p, workers, args.cores).run(len(durations), chunksize, durations)
                rows.append((f"W4 Pareto, 3 ranks, {'default chunking' if chunksize is None else 'chunksize 1'}:"
                             " makespan / ideal", span / (sum(durations) / workers),
                             statistics.median(measured[key])))
    print("| case | simulated | measured | error |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for name, s, m in rows:
        err = (s - m) / m * 100
        worst = max(worst, abs(err))
        fmt = (lambda v: f"{v:,.0f}") if m > 100 else (lambda v: f"{v:.3f}")
        print(f"| {name} | {fmt(s)} | {fmt(m)} | {err:+.1f}% |")
    print(f"\nlargest error: {worst:.1f}%")


RANKS_PER_NODE = 64  # sub-masters: one per node of this many ranks (docs/scaling.md says why)
WORK_PER_RANK_S = 1.0  # each prediction maps this many seconds of tasks per rank
MAX_LANES = 1000  # event aggregation: at most this many simulated worker lanes


def predicted_efficiency(p, ranks, task_s, mode, ranks_per_node=RANKS_PER_NODE):
    """Useful task time / (ranks outside the root x makespan) of one map of fixed tasks of
    `task_s`, WORK_PER_RANK_S of them per rank, adaptive chunking. `ranks` excludes the root;
    with sub-masters one in `ranks_per_node` of them is a sub-master, not a worker, so the ranks
    they take count as lost."""
    items = int(ranks * WORK_PER_RANK_S / task_s)
    if mode == "one master":
        lane = max(1, ranks // MAX_LANES)
        sim = ClusterSim(p, ranks, task_s, items, lane=lane)
    else:
        # The root may send index ranges instead of items (the sub-masters read the input):
        # then it pays nothing per item.
        q = dict(p, root_c_i=0.0) if mode == "sub-masters, root sends ranges" else p
        workers = ranks - -(-ranks // ranks_per_node)  # every node's first rank is its sub-master
        lane = max(1, min(ranks_per_node - 1, workers // MAX_LANES))
        sim = ClusterSim(q, workers, task_s, items, ranks_per_node=ranks_per_node, lane=lane)
    return items * task_s / (ranks * sim.run())


PREDICTION_MODES = ("one master", "sub-masters", "sub-masters, root sends ranges")


def predict(args):
    R = args.ranks_per_node
    known = {}

    def efficiency(ranks, t, mode):
        key = (ranks, t, mode)
        if key not in known:
            known[key] = predicted_efficiency(CLUSTER, ranks, t, mode, R)
        return known[key]

    ranks_list = (1000, 10_000, 100_000)
    tasks = (100e-6, 1e-3, 10e-3)
    results = {}
    print(f"Efficiency on dedicated cores: one map of {WORK_PER_RANK_S:g} s of fixed tasks per rank, "
          f"adaptive chunking; sub-masters: one per {R} ranks")
    print("| ranks | task | " + " | ".join(PREDICTION_MODES) + " |")
    print("|---:|---:|" + "---:|" * len(PREDICTION_MODES))
    for ranks in ranks_list:
        for t in tasks:
            row = [efficiency(ranks, t, mode) for mode in PREDICTION_MODES]
            results[(ranks, t)] = row
            print(f"| {ranks:,} | {t * 1e3:g} ms | " + " | ".join(f"{e:.3f}" for e in row) + " |")
    # Where sub-masters start to pay: the smallest rank count of a finer grid from which on
    # they beat one master, per task duration.
    print("\nsub-masters beat one master from (ranks; grid 2^8..2^16):")
    grid = [2 ** k for k in range(8, 17)]
    for mode in PREDICTION_MODES[1:]:
        for t in tasks:
            wins = [efficiency(r, t, mode) > efficiency(r, t, "one master") for r in grid]
            first = next((r for i, r in enumerate(grid) if all(wins[i:])), None)
            print(f"  {mode}, {t * 1e3:g} ms tasks: {first if first else 'not up to ' + str(grid[-1])}")
    if args.png:
        plot(results, ranks_list, tasks, args.png, R)


def plot(results, ranks_list, tasks, path, ranks_per_node):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(tasks), figsize=(12, 3.8), sharey=True)
    for ax, t in zip(axes, tasks):
        for i, (mode, style) in enumerate(zip(PREDICTION_MODES, ("o-", "s--", "^:"))):
            ax.plot(ranks_list, [results[(r, t)][i] for r in ranks_list], style, label=mode)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"tasks of {t * 1e3:g} ms")
        ax.set_xlabel("ranks")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("efficiency (simulated)")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"mpipool dispatch, simulated: {WORK_PER_RANK_S:g} s of work per rank, "
                 f"sub-masters one per {ranks_per_node} ranks (bench/sim/dispatch_sim.py --predict)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def quick():
    """A few seconds: the engines against answers known without them. Exits 1 on a failure."""
    failures = []

    def expect(what, value, low, high):
        ok = low <= value <= high
        print(f"{'ok ' if ok else 'FAIL'} {what}: {value:.4g} (expected {low:.4g}..{high:.4g})")
        if not ok:
            failures.append(what)

    # The plan: 22 chunks for 2000 items on 2 workers (scheduler.hpp's comment on chunk_plan).
    plan = ChunkPlan(2000, 2)
    counts = []
    while not plan.exhausted():
        counts.append(plan.take()[1])
    expect("adaptive chunks for 2000 items on 2 workers", len(counts), 22, 22)
    # One worker on its own core, no-op items: the master is the bottleneck, 1 / its cost.
    p = dict(SHARED)
    rate = simulated_chunk_rate(p, 2, 1, cores=2)
    expect("chunks/s with 1 worker, chunksize 1", rate, 0.95 / (p["c_m"] + p["c_i"]), 1.0 / (p["c_m"] + p["c_i"]))
    # Long fixed tasks on dedicated cores: the makespan is the work over the workers.
    sim = SharedCoreSim(p, 4, cores=5)
    span = sim.run(400, 1, [0.01] * 400)
    expect("400 x 10 ms on 4 workers, own cores: makespan (s)", span, 1.0, 1.005)
    # Processor sharing: 4 workers on 2 cores take twice as long (the master is idle).
    span = SharedCoreSim(dict(p, spin_weight=0.0), 4, cores=2).run(400, 1, [0.01] * 400)
    expect("400 x 10 ms on 4 workers, 2 cores: makespan (s)", span, 2.0, 2.02)
    # Event aggregation: lanes of 10 workers against every worker simulated.
    cp = dict(CLUSTER)
    exact = ClusterSim(cp, 1000, 1e-3, 100_000).run()
    lanes = ClusterSim(cp, 1000, 1e-3, 100_000, lane=10).run()
    expect("1000 workers, lanes of 10 / exact makespan", lanes / exact, 0.99, 1.01)
    exact = ClusterSim(cp, 1008, 1e-3, 100_000, ranks_per_node=64).run()
    lanes = ClusterSim(cp, 1008, 1e-3, 100_000, ranks_per_node=64, lane=9).run()
    expect("sub-masters, lanes of 9 / exact makespan", lanes / exact, 0.99, 1.01)
    # As --predict aggregates at 10^5 ranks (lanes of 100 workers, a node per lane), at 10^4.
    exact = ClusterSim(cp, 10_000, 10e-3, 1_000_000).run()
    lanes = ClusterSim(cp, 10_000, 10e-3, 1_000_000, lane=100).run()
    expect("10^4 workers, lanes of 100 / exact makespan", lanes / exact, 0.99, 1.01)
    exact = ClusterSim(cp, 9843, 10e-3, 1_000_000, ranks_per_node=64).run()
    lanes = ClusterSim(cp, 9843, 10e-3, 1_000_000, ranks_per_node=64, lane=63).run()
    expect("10^4 ranks, sub-masters, a node per lane / exact makespan", lanes / exact, 0.99, 1.01)
    # The master's limit: 10^4 workers on 1-item chunks of 100 us tasks ask for 10^8 chunks/s,
    # one master serves 1 / 1.5 us: efficiency far below 1.
    eff = predicted_efficiency(cp, 10_000, 100e-6, "one master")
    expect("10^4 workers, 100 us tasks, one master: efficiency", eff, 0.0, 0.7)
    if failures:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", metavar="RESULTS", help="dispatch-rate RESULT lines to compare with")
    ap.add_argument("--workloads", metavar="RESULTS", help="bench_workloads RESULT lines (W3, W4; 3 ranks)")
    ap.add_argument("--chunksizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    ap.add_argument("--cores", type=int, default=2, help="cores of the measuring machine (2)")
    ap.add_argument("--predict", action="store_true")
    ap.add_argument("--png", help="plot of the prediction")
    ap.add_argument("--ranks-per-node", type=int, default=RANKS_PER_NODE, help="sub-masters: one per this many ranks")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a parameter of the shared-core model (SHARED), e.g. spin_weight=1")
    args = ap.parse_args()
    for setting in args.set:
        name, value = setting.split("=")
        if name not in SHARED:
            ap.error(f"no parameter {name}; there are {', '.join(SHARED)}")
        SHARED[name] = float(value)
    if args.check or args.workloads:
        check(args)
    if args.predict:
        predict(args)
    if args.quick:
        quick()


if __name__ == "__main__":
    main()
