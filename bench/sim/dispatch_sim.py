#!/usr/bin/env python3
"""A discrete-event simulator of mpipool's dispatch: one master (or a root with sub-masters)
handing chunks to workers, checked against measurements and used to predict large runs.

    dispatch_sim.py --check RESULTS        # simulated vs measured: the dispatch rates (RESULT
                                           # lines of scripts/dispatch-rate.sh, or its table in
                                           # docs/scaling.md; flat and, from --ranks-per-group
                                           # runs, through relays) and, with --workloads FILE,
                                           # W3 and W4 (RESULT lines of bench_workloads, 3 ranks)
    dispatch_sim.py --predict [--png FILE] # efficiency at 10^3..10^5 ranks, one master
                                           # against sub-masters, on dedicated cores
    dispatch_sim.py --fit RESULTS          # the grid search that chose the sharing parameters
    dispatch_sim.py --quick                # a few seconds: the engines against known answers

What is modelled (docs/scaling.md gives the measured inputs and the results):

- The master is one serial server. Each chunk of k items costs it c_m + c_i*k of CPU (encoding
  the items, decoding the results; scripts/dispatch-rate.sh measures both). A worker spends
  w_m + w_i*k on a chunk besides its tasks. A message takes `latency` seconds. Checked against
  a dispatch-rate table, both come from its 2-rank rows where those measure them (cost_tables):
  the master's CPU per chunk where it is the bottleneck, the worker's where it is.
- The chunk plans are mpipool's (include/mpipool/detail/scheduler.hpp): a fixed chunksize, or
  the adaptive plan (batches of one chunk per worker, each half the remaining items over the
  workers, capped at Python's default and at 16 384 items, shrinking to 1). The dispatch rules
  are src/master/policy.cpp's: an idle worker gets a chunk at once; a second chunk is committed
  to a busy worker (prefetch depth 2; 4 on shared cores) only once the job's chunks are known to
  take under 1 ms (10 ms on shared cores; a moving average) and while more than 2 chunks per
  worker are left. Bundles: once the workers report chunks that run under 20 us, a message
  carries up to 16 chunks (as many as fit under Open MPI's 4 KiB eager limit where that is at
  least 8, else 16) and a worker holds up to 32; the master pays its cost per chunk, a worker
  w_m per message and w_c + w_i*k per chunk, and a message above the eager limit one handshake.
- Relays (`ranks_per_group` R): ranks 1.. in consecutive groups of R, whose first rank passes
  every message between the master and its group's workers, at r_m of its CPU per message and
  one more latency, and spins after each as the other ranks do.
- Stocking sub-masters (`stocking`, src/worker/sub_master.cpp): the master sends a group's first
  rank chunks as to one worker of the group's weight W (dispatch_policy::set_weight): W chunks
  while it has fewer, and, once prefetch pays, up to twice its workers' depth, a refill of at
  least half its workers' worth at a time; it hands a worker a message (a chunk, or a bundle)
  when it is idle, or when the message it runs has just started; r_m of its CPU per message it
  receives, passes up or hands out. With node-chunks (`node_chunks`, fixed-size items: the
  benchmark's ints) the refill's first chunk costs the master what a chunk alone does and each
  further one c_piece and its items.
- Shared cores (the measuring machine runs up to 17 ranks on 2 cores): processor sharing. Every
  rank with CPU work runs at min(1, cores / demand), where demand counts the ranks with work and,
  at weight `spin_weight`, the ranks spinning in their wait after a message (20 us where cores
  are shared; they yield the core, but not for free). The master does not spin while every
  worker has its next message queued (master::how_to_wait). Task times are CPU times (the benchmarks' tasks spin on the
  thread's CPU clock), so they stretch when the core is shared.
  A rank that shares a core pays a switch per message, and messages above Open MPI's 4 KiB
  eager limit a handshake; both grow with the ranks queueing for the cores.
- Dedicated cores (the predictions): no sharing; identical workers are simulated in lanes of
  g workers that take g chunks at once and finish together (event aggregation), at most
  MAX_LANES lanes, which keeps 10^5 workers to about a thousand simulated entities; --quick
  compares lanes with every worker simulated at 10^4.
- Sub-masters: one per node of R ranks (R - 1 workers). The root cuts the input as one master
  would for all the workers and hands a sub-master its workers' chunks as one node-chunk, ahead
  of need (a sub-master asks for the next one when its stock falls to half of the last); the
  sub-master cuts its stock into chunks for its workers (half the stock over its workers) and
  returns their results. Root and sub-master pay c_m + c_i*K per node-chunk of K items (the root
  nothing per item if it sends index ranges); the sub-master also pays c_m + c_i*k per worker
  chunk, on its own core. "As built", the root also pays c_piece for each chunk of a node-chunk
  after the first: it takes them from its plan one by one (dispatcher::build_node_chunk).

Standard library only (matplotlib for --png).
"""
import argparse
import collections
import heapq
import itertools
import json
import math
import multiprocessing
import random
import statistics
import sys

LARGEST_ADAPTIVE_CHUNK = 16384  # chunk_plan::largest_adaptive_chunk
PREFETCH_BELOW_S = 1e-3  # dispatch_policy::prefetch_below_seconds
PREFETCH_BELOW_SHARED_S = 1e-2  # dispatch_policy::prefetch_below_seconds_on_shared_cores
PREFETCH_CHUNKS_PER_WORKER = 2  # dispatch_policy::prefetch_chunks_per_worker
PREFETCH_DEPTH = 2  # dispatch_policy::prefetch_depth
PREFETCH_DEPTH_SHARED = 4  # dispatch_policy::prefetch_depth_on_shared_cores
CHUNKS_PER_BUNDLE = 16  # dispatch_policy::chunks_per_bundle
BUNDLE_BELOW_S = 20e-6  # dispatch_policy::bundle_below_seconds (the workers' clocks)
BUNDLE_BYTES_MOST = 4096 - 256  # dispatch_policy::bundle_bytes_most
EAGER_LIMIT_BYTES = 4096  # Open MPI's shared-memory eager limit: larger messages take a handshake
HEADER_BYTES = 64  # a chunk message besides its items (about)
SPIN_S = 200e-6  # backoff::spin_for: how long a rank spins (yielding) after its last message
SPIN_SHARED_S = 20e-6  # backoff::shared_spin_for: the same where the node's cores are shared
SUB_MASTER_STOCK = 2  # dispatch_policy::sub_master_stock


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


def interpolated(table, count):
    """A measured table {chunksize: seconds} at `count`, linear between its sizes and beyond."""
    sizes = sorted(table)
    if count <= sizes[0]:
        return table[sizes[0]]
    for lo, hi in zip(sizes, sizes[1:]):
        if count <= hi:
            return table[lo] + (table[hi] - table[lo]) * (count - lo) / (hi - lo)
    lo, hi = sizes[-2], sizes[-1]
    return table[hi] + (table[hi] - table[lo]) / (hi - lo) * (count - hi)


def master_cost(p, count):
    """The master's CPU for a chunk of `count` items: c_m + c_i * count, or, when the parameters
    carry one, a measured table {chunksize: seconds} (the cost is not quite linear: cache
    effects, Open MPI's protocol switch at 4 KiB)."""
    table = p.get("master_cost_table")
    return interpolated(table, count) if table else p["c_m"] + p["c_i"] * count


# ---------------------------------------------------------------------------- shared cores

class SharedCoreSim:
    """A communicator of `ranks` ranks on `cores` cores, processor sharing: rank 0 the master,
    and the others workers, or, with `ranks_per_group` R >= 2, consecutive groups of R ranks
    from rank 1 whose first rank is a relay (pool_topology of src/wire/topology.cpp).

    Returns the makespan of one map over `durations` (CPU seconds per item, a list) or over
    `items` no-op items, with a fixed chunksize or the adaptive plan."""

    def __init__(self, p, ranks, cores, ranks_per_group=0, stocking=False, node_chunks=False):
        self.p, self.ranks, self.cores = p, ranks, cores
        self.node_chunks = node_chunks  # stocking sub-masters are sent node-chunks
        self.relay_of = {}  # a worker in a group: its relay
        if ranks_per_group >= 2:
            for first in range(1, ranks, ranks_per_group):
                members = range(first + 1, min(first + ranks_per_group, ranks))
                for member in members:
                    self.relay_of[member] = first
        self.relays = sorted(set(self.relay_of.values()))
        self.workers = [r for r in range(1, ranks) if r not in self.relays]
        self.stocking = stocking and bool(self.relays)

    def run(self, items, chunksize=None, durations=None, task_s=0.0):
        p, ranks, workers = self.p, self.ranks, self.workers
        n = len(workers)
        shared = ranks > self.cores
        depth = PREFETCH_DEPTH_SHARED if shared else PREFETCH_DEPTH
        most = max(depth, 2 * CHUNKS_PER_BUNDLE)  # dispatch_policy::most_in_flight_: two bundles
        plan = ChunkPlan(items, n, chunksize)
        work = [collections.deque() for _ in range(ranks)]  # CPU jobs: [remaining s, action]
        spin_until = [0.0] * ranks
        spin_s = SPIN_SHARED_S if shared else SPIN_S
        messages = [0] * ranks  # messages in flight to each worker (a bundle is one)
        events = []  # (time, seq, action) message arrivals
        seq = [0]
        now = [0.0]
        in_flight = [0] * ranks
        queued = [collections.deque() for _ in range(ranks)]  # messages (lists of chunks) at a worker
        typical = [None]  # the master's clock per chunk, a moving average
        typical_run = [None]  # the workers' clocks per chunk (the run time they report)
        sent_at = [collections.deque() for _ in range(ranks)]  # the master's clock, per chunk
        last_returned = [0.0] * ranks
        done_items = [0]

        def post(delay, action):
            seq[0] += 1
            heapq.heappush(events, (now[0] + delay, seq[0], action))

        def cpu(rank, seconds, action):
            work[rank].append([seconds, action])

        # A rank that shares a core is switched in and out for each message; the switch costs
        # more with more ranks queueing for the cores (their caches evict each other's).
        switch = p["switch"] + p["switch_per_rank"] * (ranks - self.cores) if shared else 0.0

        def rendezvous(message_bytes):
            """Messages above Open MPI's eager limit (4 KiB over shared memory) take a handshake
            (in the measured cost table already, when the master's costs come from one)."""
            if "master_cost_table" in p:
                return 0.0
            return p["rendezvous"] if message_bytes > EAGER_LIMIT_BYTES else 0.0

        def chunk_bytes(count):
            return count * p["item_bytes"] + HEADER_BYTES

        def worker_rendezvous(message_bytes):
            """On shared cores a handshake waits for the other side to get a core, and both
            sides poll meanwhile: CPU that grows with the ranks queueing for the cores."""
            if message_bytes <= EAGER_LIMIT_BYTES:
                return 0.0
            if not shared:
                return p["rendezvous"]
            return p["rendezvous"] + p["rdv_per_rank"] * (ranks - self.cores)

        def task_cost(count, first):
            if durations is not None:
                return sum(durations[first:first + count])
            return task_s * count

        def hop(worker, action):
            """One message between the master and `worker`: through its relay, if it has one,
            which receives it, passes it on and spins after it, on a core of its own or not."""
            relay = self.relay_of.get(worker)
            if relay is None:
                post(p["latency"], action)
                return

            def at_relay():
                spin_until[relay] = now[0] + spin_s
                cpu(relay, p["r_m"] + switch, lambda: (spin_at(relay), post(p["latency"], action)))
            post(p["latency"], at_relay)

        def spin_at(rank):
            spin_until[rank] = now[0] + spin_s

        def stocked():
            """master::how_to_wait: every worker has its next message queued behind the one it
            runs (and no relay passes messages): the master blocks at once, without a spin.
            (The rule's 50 us of queued work is left out.)"""
            return not self.relays and all(messages[w] >= 2 for w in workers)

        def bundles_pay():
            return most > depth and typical_run[0] is not None and typical_run[0] < BUNDLE_BELOW_S

        def bundle_size():
            """dispatch_policy::bundle_size: a bundle under the eager limit where half a bundle
            fits there, else a whole one."""
            under_limit = BUNDLE_BYTES_MOST // chunk_bytes(plan.chunksize)
            return min(CHUNKS_PER_BUNDLE, under_limit) if under_limit >= CHUNKS_PER_BUNDLE // 2 else CHUNKS_PER_BUNDLE

        def chunks_per_message(worker):
            """dispatch_policy::chunks_per_message: a bundle, never more than the room left."""
            if not bundles_pay():
                return 1
            return min(bundle_size(), most - in_flight[worker])

        def send_message(worker):
            wanted = chunks_per_message(worker)
            chunks, cost = [], 0.0
            while len(chunks) < max(wanted, 1) and not plan.exhausted():
                first, count = plan.take()
                chunks.append((first, count))
                in_flight[worker] += 1
                sent_at[worker].append(now[0])
                # The master's CPU for this chunk (encode now; the results' decoding is in c_i too).
                cost += master_cost(p, count)
            cost += rendezvous(sum(chunk_bytes(c) for _, c in chunks))  # once per message
            messages[worker] += 1
            cpu(0, cost, lambda: hop(worker, lambda: arrive(worker, chunks)))

        def arrive(worker, chunks):
            spin_at(worker)  # its progress thread spins after each message
            queued[worker].append(chunks)
            if len(queued[worker]) == 1:
                start_message(worker)

        def run_cost(count, first):
            return p["w_c"] + p["w_i"] * count + task_cost(count, first)

        worker_table = p.get("worker_cost_table")

        def measured_worker_cost(count):
            """A worker's whole CPU for a chunk of `count` items, where the 2-rank rows measured
            it (None elsewhere): its share of its messages and their handshakes included."""
            if not worker_table or count < min(worker_table):
                return None
            return interpolated(worker_table, count)

        def start_message(worker):
            chunks = queued[worker][0]
            message_bytes = sum(chunk_bytes(c) for _, c in chunks)
            measured = [measured_worker_cost(c) for _, c in chunks]
            if all(m is not None for m in measured):
                # As measured on a core of its own; on shared cores a switch, and the
                # handshake's polling that grows with the ranks queueing, besides.
                extra = worker_rendezvous(message_bytes) - p["rendezvous"] if shared and message_bytes > EAGER_LIMIT_BYTES else 0.0
                cost = switch + extra + sum(m + task_cost(c, f) for m, (f, c) in zip(measured, chunks))
            else:
                cost = (p["w_m"] + switch + worker_rendezvous(message_bytes)
                        + sum(run_cost(c, f) for f, c in chunks))
            cpu(worker, cost, lambda: finish[0](worker))

        def finish_message(worker):
            chunks = queued[worker].popleft()
            spin_at(worker)
            hop(worker, lambda: results_at_master(worker, chunks))
            if queued[worker]:
                start_message(worker)
        finish = [finish_message]  # replaced below for stocking sub-masters

        def results_at_master(worker, chunks):
            # worker_slot::returned: the time since it was sent or the previous result came,
            # split evenly over the message's chunks.
            elapsed = (now[0] - max(sent_at[worker][0], last_returned[worker])) / len(chunks)
            last_returned[worker] = now[0]
            messages[worker] -= 1
            for first, count in chunks:
                sent_at[worker].popleft()
                in_flight[worker] -= 1
                done_items[0] += count
                typical[0] = elapsed if typical[0] is None else 0.75 * typical[0] + 0.25 * elapsed
                run = run_cost(count, first)
                typical_run[0] = run if typical_run[0] is None else 0.75 * typical_run[0] + 0.25 * run
            if plan.exhausted():
                return
            if in_flight[worker] == 0:
                send_message(worker)
            # It has just started its queued chunks (or was sent some from idle): prefetch, up
            # to the depth (two bundles where bundles pay).
            limit = most if bundles_pay() else depth
            while (not plan.exhausted() and in_flight[worker] < limit
                    and typical[0] is not None
                    and typical[0] < (PREFETCH_BELOW_SHARED_S if shared else PREFETCH_BELOW_S)
                    and plan.chunks_left(PREFETCH_CHUNKS_PER_WORKER * n + 1) > PREFETCH_CHUNKS_PER_WORKER * n):
                send_message(worker)

        def prefetch_pays():
            return (typical[0] is not None and typical[0] < (PREFETCH_BELOW_SHARED_S if shared else PREFETCH_BELOW_S)
                    and plan.chunks_left(PREFETCH_CHUNKS_PER_WORKER * n + 1) > PREFETCH_CHUNKS_PER_WORKER * n)

        # --- Stocking sub-masters: the master's slots are the sub-masters, each of weight W.
        members = {s: [w for w in workers if self.relay_of.get(w) == s] for s in self.relays}
        slot_in_flight = dict.fromkeys(self.relays, 0)  # chunks, as the master counts them
        stock = {s: collections.deque() for s in self.relays}  # messages for its workers
        handed = dict.fromkeys(workers, 0)  # messages a sub-master's worker holds, as it counts them
        just_started = dict.fromkeys(workers, False)

        def refill(s):
            """dispatch_policy for a rank of weight W, and one message of the chunks it gets."""
            weight, held = len(members[s]), slot_in_flight[s]
            limit = (most if bundles_pay() else depth) * SUB_MASTER_STOCK * weight
            if held < weight:
                wanted = bundle_size() * weight if bundles_pay() else weight - held
            elif limit - held >= max(weight // 2, 1) * (bundle_size() if bundles_pay() else 1) and prefetch_pays():
                wanted = limit - held
            else:
                return
            wanted = min(wanted, limit - held)
            chunks, cost = [], 0.0
            while len(chunks) < wanted and not plan.exhausted():
                chunks.append(plan.take())
                # A node-chunk: the first chunk costs what a chunk alone does, each further
                # piece c_piece and its items.
                piece = self.node_chunks and len(chunks) > 1
                cost += p["c_piece"] + p["c_i"] * chunks[-1][1] if piece else master_cost(p, chunks[-1][1])
            if not chunks:
                return
            slot_in_flight[s] += len(chunks)
            cost += rendezvous(sum(chunk_bytes(c) for _, c in chunks))
            each = bundle_size() if bundles_pay() else 1
            cpu(0, cost, lambda: post(p["latency"], lambda: stock_at(s, chunks, each)))

        def stock_at(s, chunks, each):
            spin_at(s)
            stock[s].extend(chunks[i:i + each] for i in range(0, len(chunks), each))
            cpu(s, p["r_m"] + switch, lambda: hand_out(s))

        def hand_out(s):
            """sub_master_loop::hand_out: the idle first, then a worker whose message just
            started; a message to each costs the sub-master r_m."""
            while stock[s]:
                chosen = min((w for w in members[s] if handed[w] == 0 or (handed[w] == 1 and just_started[w])),
                             key=lambda w: handed[w], default=None)
                if chosen is None:
                    break
                chunks = stock[s].popleft()
                just_started[chosen] = just_started[chosen] or handed[chosen] == 0
                handed[chosen] += 1
                messages[chosen] += 1
                cpu(s, p["r_m"] + switch,
                    lambda w=chosen, c=chunks: (spin_at(s), post(p["latency"], lambda: arrive(w, c))))
            for w in members[s]:
                just_started[w] = False

        def results_at_sub_master(s, worker, chunks):
            spin_at(s)
            handed[worker] -= 1
            just_started[worker] = handed[worker] > 0  # its queued message starts now

            def pass_up():
                hand_out(s)
                post(p["latency"], lambda: results_at_slot(s, worker, chunks))
            cpu(s, p["r_m"] + switch, pass_up)

        def results_at_slot(s, worker, chunks):
            # A sub-master's chunk time is its worker's own (dispatcher::take_results).
            messages[worker] -= 1
            slot_in_flight[s] -= len(chunks)
            for first, count in chunks:
                done_items[0] += count
                run = run_cost(count, first)
                typical[0] = run if typical[0] is None else 0.75 * typical[0] + 0.25 * run
                typical_run[0] = run if typical_run[0] is None else 0.75 * typical_run[0] + 0.25 * run
            if not plan.exhausted():
                refill(s)

        def finish_stocked(worker):
            """A sub-master's worker answers it; a group of one, the master."""
            if worker not in self.relay_of:
                finish_message(worker)
                return
            chunks = queued[worker].popleft()
            spin_at(worker)
            post(p["latency"], lambda: results_at_sub_master(self.relay_of[worker], worker, chunks))
            if queued[worker]:
                start_message(worker)

        if self.stocking:
            finish[0] = finish_stocked
            for s in self.relays:
                refill(s)
            for worker in workers:  # a group of one talks to the master itself
                if worker not in self.relay_of and not plan.exhausted():
                    send_message(worker)
        else:
            for worker in workers:
                if not plan.exhausted():
                    send_message(worker)

        threads_beside_tasks = set(workers)  # a worker's progress thread spins beside its tasks
        while done_items[0] < items:
            runnable = [r for r in range(ranks) if work[r]]
            # The master's and a relay's progress threads do their work, so they spin only when
            # they have none; a worker's spins beside the thread that runs its tasks.
            spinning = sum(1 for r in range(ranks)
                           if (r in threads_beside_tasks or not work[r]) and spin_until[r] > now[0])
            # With a core for every rank, spinning takes nothing from anyone.
            demand = len(runnable) + (p["spin_weight"] * spinning if shared else 0.0)
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
                    if r == 0 and not work[r] and not stocked():
                        spin_until[r] = now[0] + spin_s
        return now[0]


# ---------------------------------------------------------------------------- task times

class FixedTasks:
    """Every task takes `seconds` (W3's kind)."""

    def __init__(self, seconds):
        self.mean = seconds
        self.name = f"{seconds * 1e3:g} ms"

    def chunk_s(self, items, rng):
        return items * self.mean


class BimodalTasks:
    """A share `long_share` of the tasks takes `long_s`, the others `short_s`, independently."""

    def __init__(self, short_s, long_s, long_share):
        self.short_s, self.long_s, self.long_share = short_s, long_s, long_share
        self.mean = short_s + (long_s - short_s) * long_share
        self.name = f"{long_share:.0%} {long_s * 1e3:g} ms, else {short_s * 1e3:g} ms"

    def chunk_s(self, items, rng):
        if items <= 64:
            longs = sum(rng.random() < self.long_share for _ in range(items))
        else:  # the binomial count of long tasks, normal beyond a few dozen items
            sd = math.sqrt(items * self.long_share * (1 - self.long_share))
            longs = min(items, max(0, round(rng.gauss(items * self.long_share, sd))))
        return items * self.short_s + longs * (self.long_s - self.short_s)


def lane_chunk_s(p, tasks, counts, rng):
    """How long a lane is busy with its chunks, one per worker of the lane: the workers run them
    side by side, and the lane stands for them all with their average (with fixed tasks and the
    equal chunks of a batch, that is every worker's time)."""
    return sum(p["w_m"] + p["w_i"] * k + tasks.chunk_s(k, rng) for k in counts) / len(counts)


# ---------------------------------------------------------------------------- dedicated cores

class ClusterSim:
    """Dedicated cores, heap-driven. One master, or a root with one sub-master per node.

    Workers are simulated in lanes of `lane` identical workers that take `lane` chunks at once
    and finish them together; lane 1 is exact."""

    def __init__(self, p, workers, tasks, items, ranks_per_node=None, lane=1, seed=1):
        if isinstance(tasks, (int, float)):
            tasks = FixedTasks(tasks)
        self.p, self.n, self.tasks, self.items = p, workers, tasks, items
        self.rng = random.Random(seed)
        self.R, self.lane = ranks_per_node, lane

    def run(self):
        return self._one_master() if self.R is None else self._sub_masters()

    # A server (the master, or a sub-master): serial CPU, returns when a job is done.
    @staticmethod
    def _serve(free_at, now, seconds):
        start = max(free_at, now)
        return start + seconds

    def _one_master(self):
        p = self.p
        lanes = -(-self.n // self.lane)
        plan = ChunkPlan(self.items, self.n)
        events, seq = [], 0
        master_free = 0.0
        in_flight = [0] * lanes
        typical = None  # the job's typical chunk time, as the master's policy keeps it
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
                chunk_s = lane_chunk_s(p, self.tasks, counts, self.rng)
                busy_until[lane] = start + chunk_s
                seq += 1
                heapq.heappush(events, (busy_until[lane] + p["latency"], seq, "result", lane, (counts, chunk_s)))
            else:
                counts, chunk_s = counts
                in_flight[lane] -= 1
                makespan = max(makespan, now)
                # (The master times a chunk from its sending: a round trip of latency more.)
                typical = chunk_s if typical is None else 0.75 * typical + 0.25 * chunk_s
                if in_flight[lane] == 0:
                    dispatch(lane, now)
                if (in_flight[lane] == 1 and not plan.exhausted() and typical < PREFETCH_BELOW_S
                        and plan.chunks_left(PREFETCH_CHUNKS_PER_WORKER * self.n + 1)
                        > PREFETCH_CHUNKS_PER_WORKER * self.n):
                    dispatch(lane, now)
        # The results are decoded by the time the last one is in: the master is free by then.
        return max(makespan, master_free)

    def _sub_masters(self):
        p, R = self.p, self.R
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
                counts = [node_plan.take()[1] for _ in range(state[node].workers) if not node_plan.exhausted()]
                K = sum(counts)
                # root_c_piece: what the root pays for each chunk of a node-chunk after the first
                # (as built: it takes them from its plan one by one, dispatcher::build_node_chunk).
                root_cost = p["c_m"] + p.get("root_c_piece", 0.0) * max(len(counts) - 1, 0) + p["root_c_i"] * K
                root_free = self._serve(root_free, now, root_cost)
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
                chunk_s = lane_chunk_s(p, self.tasks, counts, self.rng)
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

# The 2-core measuring machine (docs/scaling.md). The master's cost per chunk: c_m + c_i * k
# (scripts/dispatch-rate.sh, 2026-12-06), or with --check the measured table of it at 2 ranks
# (its work alone: it blocks rather than polls while its worker has work queued). The worker's
# costs and the latency: small enough that one worker on its own core keeps the master
# saturated at small chunks, as measured. The sharing parameters and
# w_i: fitted (--fit, the best by the mean error) to the dispatch-rate table at 2, 3 and 17
# ranks only (the 5-, 9- and 64-rank rows, W3 and W4 are then predictions of the model). r_m:
# not fitted, an estimate. c_piece: an estimate, c_m scaled by what node-chunks did to the
# root's CPU per chunk at 64 ranks in groups of 8 (0.39 to 0.10 us at chunksize 1).
SHARED = dict(c_m=0.22e-6, c_i=4.3e-9, w_m=0.4e-6, w_c=0.1e-6, w_i=6e-9, latency=0.3e-6,
              spin_weight=0.0,  # the weight of a thread spinning (yielding) in its wait
              switch=4e-6, switch_per_rank=0.3e-6,  # a shared rank's switch per message
              rendezvous=6e-6, rdv_per_rank=1e-6,  # a handshake, and its polling on shared cores
              item_bytes=4,  # bench_dispatch_rate's items are ints
              r_m=1.5e-6,  # a relay's CPU per message it passes on (receive, unwrap, send)
              c_piece=0.06e-6)  # the root's CPU per further piece of a node-chunk (an estimate, below)
# A cluster: a core per rank; 0.5 us a message within a node (shared memory), 2 us between
# nodes (InfiniBand is about 1.5 us one way). The master's c_m is its cost for a chunk alone in
# its message (0.8 us measured at 2 ranks before bundles: tasks of 100 us and more are never
# bundled), c_i as measured; the worker's costs as above.
CLUSTER = dict(c_m=0.8e-6, c_i=14e-9, w_m=0.5e-6, w_i=10e-9, latency=0.5e-6, net_latency=2e-6,
               root_c_i=14e-9,
               c_piece=0.1e-6)  # "as built": the root's CPU per further chunk of a node-chunk, as measured


def read_results(path):
    """{(workers, variant, metric): [values]} from RESULT lines (bench_common.hpp's format), or
    from the dispatch-rate table of a Markdown page (docs/scaling.md: scripts/dispatch-rate.sh's
    medians, one value per cell)."""
    values = collections.defaultdict(list)
    table_columns = ("chunks_per_s", "items_per_s", "master_cpu_us_per_chunk", "caller_cpu_us_per_chunk",
                     "master_cpu_share")
    for line in open(path):
        parts = line.split()
        # scripts/dispatch-rate.sh puts the rank count and the group size (0: flat) in front.
        if len(parts) == 9 and parts[2] == "RESULT":
            if parts[1] != "0":
                continue  # through sub-masters: not what the one-master model describes
            parts = parts[2:]
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


GROUPINGS = {"": "relays", "s": "stocking", "u": "stocking, no node-chunks"}


def read_grouped(path):
    """{(ranks, ranks_per_group, grouping, chunksize): [chunks/s]} from the RESULT lines of
    `scripts/dispatch-rate.sh --ranks-per-group R [--stocking]`: the runs through relays (group
    "R"), stocking sub-masters sent node-chunks ("Rs") and sent none ("Ru"); grouping: the
    value of GROUPINGS."""
    values = collections.defaultdict(list)
    for line in open(path):
        parts = line.split()
        if len(parts) == 9 and parts[2] == "RESULT" and parts[1] != "0" and parts[7] == "chunks_per_s":
            group = parts[1]
            kind = group[-1] if group[-1] in "su" else ""
            key = (int(parts[0]), int(group.rstrip("su")), GROUPINGS[kind], int(parts[6][2:]))
            values[key].append(float(parts[8]))
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


BENCH_TARGET_S = 0.3  # bench_dispatch_rate: the input grows until a map takes this long...
BENCH_MAX_ITEMS = 10_000_000  # ...or has this many items
STEADY_CHUNKS = 20_000  # beyond this many chunks a simulated map adds nothing but time


def measured_map_chunks(chunks_per_s, chunksize):
    """About how many chunks the measured map had, from its rate: at 64 ranks a worker holds up
    to 32 chunks, and a map of a few thousand is start and tail as much as steady state."""
    return max(600, min(BENCH_MAX_ITEMS // chunksize, int(chunks_per_s * BENCH_TARGET_S), STEADY_CHUNKS))


def simulated_chunk_rate(p, ranks, chunksize, cores, ranks_per_group=0, chunks=None, stocking=False,
                         node_chunks=False):
    """bench_dispatch_rate: chunks/s of a map of no-ops at `chunksize`, over `chunks` chunks
    (default: enough that the start and the tail, with up to 32 chunks a worker, are a few per
    cent)."""
    sim = SharedCoreSim(p, ranks, cores, ranks_per_group, stocking, node_chunks)
    chunks = chunks or max(2000, 400 * len(sim.workers))
    return chunks / sim.run(chunks * chunksize, chunksize)


def cost_tables(measured, cores=2):
    """The master's and the worker's CPU per chunk size, from the 2-rank rows (one worker on a
    core of its own) and, for one case, the 3-rank rows.

    - Where the master is busy all the time at 2 ranks (small chunks), the rate is its: its CPU
      per chunk there is what a chunk costs it.
    - Where it is busy less (under WORKER_BOUND_SHARE: large chunks), the worker's whole CPU per
      chunk at that size (its messages and handshakes included) is at most 1 / rate, and at most
      the CPU the master leaves at 3 ranks over the rate there (two workers, the cores full):
      the smaller of the two. (At 2 ranks the pipeline can stall with neither side busy: at
      chunks of 256, 3.7 us a chunk against 3.3 us from 3 ranks.) The master's CPU per chunk
      there also counts its polling while it waits on a core of its own (it spins 200 us after
      each message where cores are not shared, 20 us where they are): its 3-rank rows, where it
      waits as on shared cores, give its work."""
    def median(workers, variant, metric):
        values = measured.get((workers, variant, metric))
        return statistics.median(values) if values else None

    sizes = sorted({int(v[2:]) for (w, v, m) in measured if w == 1 and m == "master_cpu_us_per_chunk"})
    master, worker = {}, {}
    for size in sizes:
        variant = f"cs{size}"
        share, rate = median(1, variant, "master_cpu_share"), median(1, variant, "chunks_per_s")
        master[size] = median(1, variant, "master_cpu_us_per_chunk") * 1e-6
        if share is not None and rate and share < WORKER_BOUND_SHARE:
            worker[size] = 1 / rate
            at_three = median(2, variant, "master_cpu_us_per_chunk")
            if at_three is not None:
                master[size] = at_three * 1e-6
            share_at_three, rate_at_three = median(2, variant, "master_cpu_share"), median(2, variant, "chunks_per_s")
            if share_at_three is not None and rate_at_three:
                worker[size] = min(worker[size], (cores - share_at_three) / rate_at_three)
    tables = {"master_cost_table": master} if master else {}
    if worker:
        tables["worker_cost_table"] = worker
    return tables


WORKER_BOUND_SHARE = 0.9  # at 2 ranks, a master busy less than this waits on its worker


FIT_RANKS = (2, 3, 17)  # the rows the sharing parameters are fitted to; the others are left to check
FIT_GRID = dict(w_i=(5e-9, 6e-9), spin_weight=(0.0, 0.25, 0.5), switch=(1.5e-6, 2.5e-6, 4e-6),
                switch_per_rank=(0.05e-6, 0.15e-6, 0.3e-6), rdv_per_rank=(0.0, 0.5e-6, 1e-6))


def _fit_errors(job):
    """The relative errors of one parameter set on the fitted cells (a process of the fit's pool)."""
    p, cells, cores, values = job
    return values, [abs(simulated_chunk_rate(p, r, c, cores, chunks=measured_map_chunks(m, c)) / m - 1)
                    for r, c, m in cells]


def fit(path, cores):
    """Grid search of the sharing parameters on the FIT_RANKS rows of a dispatch-rate table:
    the best by the largest error, and the best by the mean error. One process per core."""
    measured = read_results(path)
    cells = [(w + 1, int(v[2:]), statistics.median(x)) for (w, v, m), x in measured.items()
             if m == "chunks_per_s" and w + 1 in FIT_RANKS]
    names = list(FIT_GRID)
    jobs = [(dict(SHARED, **cost_tables(measured, cores), **dict(zip(names, values))), cells, cores, values)
            for values in itertools.product(*FIT_GRID.values())]
    with multiprocessing.Pool() as pool:
        scored = [(round(max(errors), 3), statistics.mean(errors), values)
                  for values, errors in pool.map(_fit_errors, jobs)]
    print(f"fitted to {len(cells)} cells at {', '.join(map(str, FIT_RANKS))} ranks; best of {len(scored)}:")
    # By the largest error, and by the mean (which one noisy cell moves less).
    for by, key in (("largest", lambda x: (x[0], x[1])), ("mean", lambda x: (round(x[1], 3), x[0]))):
        print(f" by the {by} error:")
        for largest, mean, values in sorted(scored, key=key)[:3]:
            print(f"  largest error {largest:.1%}, mean {mean:.1%}: "
                  + ", ".join(f"{n}={v:g}" for n, v in zip(names, values)))


def check(args):
    p = dict(SHARED)
    rows = []
    if args.check:
        measured = read_results(args.check)
        p.update(cost_tables(measured, args.cores))
        keys = sorted({(w, v) for (w, v, m) in measured if m == "chunks_per_s"}, key=lambda k: (k[0], int(k[1][2:])))
        for workers, variant in keys:
            ranks, chunksize = workers + 1, int(variant[2:])
            if args.chunksizes and chunksize not in args.chunksizes:
                continue
            m = statistics.median(measured[(workers, variant, "chunks_per_s")])
            s = simulated_chunk_rate(p, ranks, chunksize, args.cores, chunks=measured_map_chunks(m, chunksize))
            rows.append((f"dispatch rate, {ranks} ranks, chunksize {chunksize} (chunks/s)", s, m))
        for (ranks, group, how, chunksize), values in sorted(read_grouped(args.check).items()):
            if args.chunksizes and chunksize not in args.chunksizes:
                continue
            m = statistics.median(values)
            s = simulated_chunk_rate(p, ranks, chunksize, args.cores, group, measured_map_chunks(m, chunksize),
                                     how != "relays", how == "stocking")
            rows.append((f"dispatch rate, {ranks} ranks in groups of {group} ({how}), chunksize {chunksize} (chunks/s)",
                         s, m))
    if args.workloads:
        measured = read_results(args.workloads)
        durations = w4_durations()
        workers = 2
        sim = SharedCoreSim(p, workers + 1, args.cores)
        w3 = [0.010] * 200
        key = (workers, "default", "efficiency")
        if measured.get(key):
            span = sim.run(len(w3), None, w3)
            rows.append(("W3 200 x 10 ms, 3 ranks: efficiency", sum(w3) / (workers * span),
                         statistics.median(measured[key])))
        for variant, chunksize in (("default", None), ("cs1", 1)):
            key = (workers, variant, "makespan_over_ideal")
            if measured.get(key):
                span = SharedCoreSim(p, workers + 1, args.cores).run(len(durations), chunksize, durations)
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


def predicted_efficiency(p, ranks, tasks, mode, ranks_per_node=RANKS_PER_NODE):
    """Useful task time / (ranks outside the root x makespan) of one map of `tasks` (a task-time
    model, or seconds for fixed tasks), WORK_PER_RANK_S of them per rank, adaptive chunking.
    `ranks` excludes the root; with sub-masters one in `ranks_per_node` of them is a sub-master,
    not a worker, so the ranks they take count as lost."""
    if isinstance(tasks, (int, float)):
        tasks = FixedTasks(tasks)
    items = int(ranks * WORK_PER_RANK_S / tasks.mean)
    if mode == "one master":
        lane = max(1, ranks // MAX_LANES)
        sim = ClusterSim(p, ranks, tasks, items, lane=lane)
    else:
        # The root may send index ranges instead of items (the sub-masters read the input):
        # then it pays nothing per item.
        q = dict(p, root_c_i=0.0) if mode == "sub-masters, root sends ranges" else p
        if mode == "sub-masters as built":
            q = dict(p, root_c_piece=p["c_piece"])
        workers = ranks - -(-ranks // ranks_per_node)  # every node's first rank is its sub-master
        lane = max(1, min(ranks_per_node - 1, workers // MAX_LANES))
        sim = ClusterSim(q, workers, tasks, items, ranks_per_node=ranks_per_node, lane=lane)
    return items * tasks.mean / (ranks * sim.run())


PREDICTION_MODES = ("one master", "sub-masters", "sub-masters as built", "sub-masters, root sends ranges")
PREDICTION_TASKS = (FixedTasks(100e-6), FixedTasks(1e-3), FixedTasks(10e-3), BimodalTasks(1e-3, 10e-3, 0.1))


def predict(args):
    R = args.ranks_per_node
    known = {}

    def efficiency(ranks, tasks, mode):
        key = (ranks, tasks.name, mode)
        if key not in known:
            known[key] = predicted_efficiency(CLUSTER, ranks, tasks, mode, R)
        return known[key]

    ranks_list = (1000, 10_000, 100_000)
    results = {}
    print(f"Efficiency on dedicated cores: one map of {WORK_PER_RANK_S:g} s of tasks per rank, "
          f"adaptive chunking; sub-masters: one per {R} ranks")
    print("| ranks | tasks | " + " | ".join(PREDICTION_MODES) + " |")
    print("|---:|---:|" + "---:|" * len(PREDICTION_MODES))
    for ranks in ranks_list:
        for tasks in PREDICTION_TASKS:
            row = [efficiency(ranks, tasks, mode) for mode in PREDICTION_MODES]
            results[(ranks, tasks.name)] = row
            print(f"| {ranks:,} | {tasks.name} | " + " | ".join(f"{e:.3f}" for e in row) + " |")
    # Where sub-masters start to pay: the smallest rank count of a finer grid from which on
    # they beat one master, per task duration.
    print("\nsub-masters beat one master from (ranks; grid 2^8..2^16):")
    grid = [2 ** k for k in range(8, 17)]
    for mode in PREDICTION_MODES[1:]:
        for tasks in PREDICTION_TASKS:
            wins = [efficiency(r, tasks, mode) > efficiency(r, tasks, "one master") for r in grid]
            first = next((r for i, r in enumerate(grid) if all(wins[i:])), None)
            print(f"  {mode}, {tasks.name}: {first if first else 'not up to ' + str(grid[-1])}")
    if args.png:
        plot(results, ranks_list, args.png, R)


def plot(results, ranks_list, path, ranks_per_node):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(PREDICTION_TASKS), figsize=(14, 3.8), sharey=True)
    for ax, tasks in zip(axes, PREDICTION_TASKS):
        for i, (mode, style) in enumerate(zip(PREDICTION_MODES, ("o-", "s--", "d-.", "^:"))):
            ax.plot(ranks_list, [results[(r, tasks.name)][i] for r in ranks_list], style, label=mode)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"tasks: {tasks.name}", fontsize=10)
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
    # A measured 2-rank table: where the master is busy a third of the time, the rate is the
    # worker's, and its CPU per chunk is then the 3-rank master's.
    two = {(1, "cs1024", "master_cpu_us_per_chunk"): [6.0], (1, "cs1024", "master_cpu_share"): [0.33],
           (1, "cs1024", "chunks_per_s"): [100e3], (2, "cs1024", "master_cpu_us_per_chunk"): [4.0]}
    tables = cost_tables(two)
    expect("measured at 2 ranks: the worker's CPU per chunk of 1024 (us)", tables["worker_cost_table"][1024] * 1e6,
           10, 10)
    expect("and the master's, from 3 ranks (us)", tables["master_cost_table"][1024] * 1e6, 4, 4)
    expect("2 ranks on 2 cores, chunksize 1024: chunks/s as measured",
           simulated_chunk_rate(dict(SHARED, **tables), 2, 1024, 2, chunks=2000), 97e3, 101e3)
    # At 3 ranks the master busy 40% of the time at 200 k chunks/s: 1.6 cores over 200 k, 8 us.
    three = {**two, (2, "cs1024", "master_cpu_share"): [0.4], (2, "cs1024", "chunks_per_s"): [200e3]}
    expect("with 3 ranks' rows: the smaller bound (us)", cost_tables(three)["worker_cost_table"][1024] * 1e6, 8, 8)
    # One worker on its own core, no-op items: the master is the bottleneck, 1 / its cost.
    p = dict(SHARED)
    rate = simulated_chunk_rate(p, 2, 1, cores=2)
    expect("chunks/s with 1 worker, chunksize 1", rate, 0.95 / (p["c_m"] + p["c_i"]), 1.0 / (p["c_m"] + p["c_i"]))
    # Long fixed tasks on dedicated cores: the makespan is the work over the workers.
    sim = SharedCoreSim(p, 5, cores=5)
    span = sim.run(400, 1, [0.01] * 400)
    expect("400 x 10 ms on 4 workers, own cores: makespan (s)", span, 1.0, 1.005)
    # Relays: 7 ranks in groups of 3 are 2 relays (ranks 1 and 4) and 4 workers, as pool_topology
    # makes them; the relays run no tasks, so the work spreads over the 4.
    sim = SharedCoreSim(p, 7, cores=7, ranks_per_group=3)
    expect("groups of 3 at 7 ranks: relays 1 and 4", sim.relays == [1, 4] and sim.workers == [2, 3, 5, 6], 1, 1)
    span = sim.run(400, 1, [0.01] * 400)
    expect("400 x 10 ms on 4 workers behind 2 relays, own cores: makespan (s)", span, 1.0, 1.005)
    sim = SharedCoreSim(p, 7, cores=7, ranks_per_group=3, stocking=True)
    span = sim.run(400, 1, [0.01] * 400)
    expect("400 x 10 ms on 4 workers behind 2 stocking sub-masters, own cores: makespan (s)", span, 1.0, 1.005)
    # Node-chunks: the master pays less per chunk, but these chunks are far from its limit.
    span = SharedCoreSim(p, 7, cores=7, ranks_per_group=3, stocking=True, node_chunks=True).run(400, 1, [0.01] * 400)
    expect("the same, sent as node-chunks: makespan (s)", span, 1.0, 1.005)
    # At chunksize 1 with 2 cores and tiny tasks the master is the limit: node-chunks lift the rate.
    plain, cut = (simulated_chunk_rate(p, 17, 1, 2, 8, 4000, True, node) for node in (False, True))
    expect("17 ranks in groups of 8, 2 cores, chunksize 1: node-chunks' chunks/s over plain stocking",
           cut / plain, 1.05, 3.0)
    # Processor sharing: 4 workers on 2 cores take twice as long (the master is idle).
    span = SharedCoreSim(dict(p, spin_weight=0.0), 5, cores=2).run(400, 1, [0.01] * 400)
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
    # Random task times: a lane stands for its workers with their average, which hides part of
    # the slowest worker's tail (docs/scaling.md gives the size of that error).
    bimodal = BimodalTasks(1e-3, 10e-3, 0.1)
    exact = ClusterSim(cp, 10_000, bimodal, 5_000_000).run()
    lanes = ClusterSim(cp, 10_000, bimodal, 5_000_000, lane=10).run()
    expect("10^4 workers, bimodal tasks, lanes of 10 / exact makespan", lanes / exact, 0.98, 1.01)
    exact = ClusterSim(cp, 9843, bimodal, 5_000_000, ranks_per_node=64).run()
    lanes = ClusterSim(cp, 9843, bimodal, 5_000_000, ranks_per_node=64, lane=63).run()
    expect("10^4 ranks, sub-masters, bimodal tasks, a node per lane / exact makespan", lanes / exact, 0.98, 1.01)
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
    ap.add_argument("--fit", metavar="RESULTS", help="fit the sharing parameters to a dispatch-rate table")
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
    if args.fit:
        fit(args.fit, args.cores)
    if args.check or args.workloads:
        check(args)
    if args.predict:
        predict(args)
    if args.quick:
        quick()


if __name__ == "__main__":
    main()
