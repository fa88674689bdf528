#include "worker/sub_master.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/mpi/status.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/topology.hpp"
#include "wire/transport.hpp"
#include "wire/wait.hpp"
#include "worker/group_link.hpp"
#include "worker/node_results.hpp"

namespace mpipool::detail {

namespace {

constexpr int master_rank = group_link::master_rank;

// What a worker holds at once: the chunks of the message it runs and of one queued behind it,
// so that its results go while it runs the next (results_sender in worker.cpp), as beside the
// master.
constexpr std::size_t messages_per_worker = 2;

// Chunks of one job in stock that go to one worker in one message (a bundle when several),
// ready to go to a worker that holds the job's task and has nothing to forget: no task, no
// forget list, and a parallel task of one rank's group slot still to be filled in.
struct handout {
  std::uint64_t job = 0;
  bool group_of_one = false;
  byte_buffer bytes;
};

struct member {
  int rank = 0;
  // Its running message started in this turn: a message may be queued behind it. One that has
  // run longer may hold a long item, and chunks committed behind it could wait as long while
  // other workers run dry (the master's prefetch follows the same rule, policy.hpp end_round).
  bool just_started = false;
  // The jobs of the messages it was sent and has not answered, oldest first; setup_job for the
  // set-up.
  std::deque<std::uint64_t> in_flight;
  std::unordered_set<std::uint64_t> holds;  // jobs whose task it has received
  std::vector<std::uint64_t> forget;        // jobs to tell it to forget with its next chunk
};

struct task_copy {
  std::string key;
  byte_buffer state;
};

class sub_master_loop {
 public:
  sub_master_loop(const boost::mpi::communicator& comm, const pool_topology& topology, const node_doorbells& bells)
      : comm_(comm), link_(comm, bells) {
    for (int rank = 1; rank < comm.size(); ++rank)
      if (rank != comm.rank() && topology.route_to(rank) == comm.rank()) members_.push_back({rank, false, {}, {}, {}});
    link_.on_sent([this](byte_buffer&& bytes) { give_back(std::move(bytes)); });
  }

  // link_'s callback points here.
  sub_master_loop(const sub_master_loop&) = delete;
  sub_master_loop& operator=(const sub_master_loop&) = delete;

  int run() {
    return link_.serve([this] {
      bool any = take_from_master();
      any |= take_results();
      any |= hand_out();
      return send_up() || any;
    });
  }

 private:
  // --- From the master --------------------------------------------------------------------------

  bool take_from_master() {
    bool any = false;
    const int down = static_cast<int>(tag::chunk);
    while (auto status = comm_.iprobe(master_rank, down)) {
      receive_message(comm_, *status, received_);
      any = true;
      const auto [route, message] = unwrap_routed(received_);
      if (route.rank != comm_.rank()) {
        link_.pass_down(route, message);
        continue;
      }
      switch (static_cast<tag>(route.tag)) {
        case tag::exit: link_.exit_with(group_link::exit_code_of(message)); break;
        case tag::chunk: stock(message); break;
        case tag::cancel: {
          std::uint64_t job = 0;
          std::memcpy(&job, message.data(), std::min(message.size(), sizeof job));
          cancel(job);
          break;
        }
        default:
          throw std::runtime_error("mpipool: protocol error: the master sent sub-master " + std::to_string(comm_.rank()) +
                                   " a message of tag " + std::to_string(route.tag));
      }
    }
    return any;
  }

  // The master's chunks for this group: one job's, one or many.
  void stock(std::span<const char> message) {
    std::span<const char> front = message;
    const chunk_view first = read_chunk(take_section<chunk_header>(front));
    forget(first.forget);
    const std::uint64_t job = first.header.job;
    if (job == setup_job) {
      hand_setup(message);
      return;
    }
    if (first.header.key_size > 0) tasks_[job] = {std::string(first.key), byte_buffer(first.state.begin(), first.state.end())};
    if (first.header.group_size > 1)
      throw std::runtime_error("mpipool: protocol error: a stocking sub-master was sent a parallel task's chunk");
    const bool cut_short = terminated_ || std::ranges::find(cancelled_, job) != cancelled_.end();
    // A message to a worker holds as many as the master says: a chunk, or a bundle's worth
    // (tiny tasks), in order.
    const std::size_t each = std::max<std::uint32_t>(first.header.chunks_per_worker, 1);
    std::size_t in_this = each;  // a new handout at the first chunk
    const auto stock_chunk = [&](chunk_header header, std::span<const char> items) {
      if (in_this == each) {
        stock_.push_back({job, first.header.group_size == 1, take_buffer()});
        stock_.back().bytes.clear();
        in_this = 0;
      }
      byte_buffer& bytes = stock_.back().bytes;
      header.key_size = header.state_size = header.forget_count = header.pieces = 0;
      header.section_size = 0;
      const int unfilled_group[1] = {0};  // filled in by send_handout
      const std::size_t at = bytes.size();
      append_chunk(bytes, header, {}, {}, {},
                   header.group_size == 1 ? std::span<const int>(unfilled_group) : std::span<const int>());
      bytes.insert(bytes.end(), items.begin(), items.end());
      if (each > 1) set_section_size<chunk_header>(bytes, at);
      ++in_this;
    };
    for (std::span<const char> rest = message; !rest.empty();) {
      const chunk_view chunk = read_chunk(take_section<chunk_header>(rest));
      if (cut_short) {
        answer_cut_short(chunk.header);
        continue;
      }
      if (chunk.header.pieces == 0) {
        stock_chunk(chunk.header, chunk.items);
        continue;
      }
      // A node-chunk: cut into the caller's chunks, its items being of one size.
      const std::uint32_t count = chunk.header.items.count;
      if (count == 0 || chunk.items.size() % count != 0)
        throw std::runtime_error("mpipool: protocol error: a node-chunk's items are not of one size");
      const std::size_t item_bytes = chunk.items.size() / count;
      node_results_.cut(job, chunk.header.items, chunk.header.pieces);
      chunk_header piece = chunk.header;
      std::uint32_t cut = 0;  // items cut off so far
      for (std::uint32_t p = 0; p < chunk.header.pieces; ++p) {
        std::uint32_t piece_count = 0;
        std::memcpy(&piece_count, chunk.piece_counts.data() + std::size_t{p} * sizeof piece_count, sizeof piece_count);
        if (piece_count == 0 || piece_count > count - cut)
          throw std::runtime_error("mpipool: protocol error: a node-chunk's pieces do not add up to its items");
        piece.items = {chunk.header.items.first + cut, piece_count};
        stock_chunk(piece, chunk.items.subspan(std::size_t{cut} * item_bytes, std::size_t{piece_count} * item_bytes));
        cut += piece_count;
      }
      if (cut != count)
        throw std::runtime_error("mpipool: protocol error: a node-chunk's pieces do not add up to its items");
    }
  }

  // Every worker runs the set-up (the initializer) and reports its host: each reply goes up as
  // a part of the master's one set-up chunk.
  void hand_setup(std::span<const char> setup) {
    for (member& worker : members_) {
      link_.send(worker.rank, static_cast<int>(tag::chunk), byte_buffer(setup.begin(), setup.end()));
      worker.in_flight.push_back(setup_job);
    }
    setup_parts_due_ += members_.size();
  }

  void forget(const std::vector<std::uint64_t>& jobs) {
    for (std::uint64_t job : jobs) {
      tasks_.erase(job);
      std::erase(cancelled_, job);
      for (member& worker : members_)
        if (worker.holds.erase(job) != 0) worker.forget.push_back(job);
    }
  }

  // The job's chunks in stock go back cut short, and its workers are told; every_job
  // (terminate()): every chunk, and every worker that has one.
  void cancel(std::uint64_t job) {
    const bool every = job == every_job;
    if (every) terminated_ = true;
    else if (std::ranges::find(cancelled_, job) == cancelled_.end()) cancelled_.push_back(job);
    for (auto it = stock_.begin(); it != stock_.end();) {
      if (!every && it->job != job) {
        ++it;
        continue;
      }
      answer_cut_short(*it);
      give_back(std::move(it->bytes));
      it = stock_.erase(it);
    }
    for (const member& worker : members_) {
      const bool has_it = every ? !worker.in_flight.empty() : std::ranges::find(worker.in_flight, job) != worker.in_flight.end();
      if (!has_it) continue;
      const auto* raw = reinterpret_cast<const char*>(&job);
      link_.send(worker.rank, static_cast<int>(tag::cancel), byte_buffer(raw, raw + sizeof job));
    }
  }

  // Results with no items for a chunk that no worker ran, as a worker answers a chunk of a job
  // cancelled before it started.
  void answer_cut_short(const chunk_header& chunk) {
    results_header header;
    header.job = chunk.job;
    header.items = {chunk.items.first, 0};
    begin_results(scratch_, header, {});
    pass_up(scratch_);
  }

  void answer_cut_short(const handout& chunks) {
    for (std::span<const char> rest = chunks.bytes; !rest.empty();)
      answer_cut_short(frame_cursor(take_section<chunk_header>(rest)).take<chunk_header>());
  }

  // --- To the workers ---------------------------------------------------------------------------

  // Hands chunks in stock to the workers with room, the idle first; a second message only to a
  // worker whose running message started in this turn (member::just_started).
  bool hand_out() {
    bool any = false;
    while (!stock_.empty()) {
      member* least = nullptr;
      for (member& worker : members_) {
        if (worker.in_flight.size() >= messages_per_worker || (!worker.in_flight.empty() && !worker.just_started) ||
            (least && worker.in_flight.size() >= least->in_flight.size()))
          continue;
        least = &worker;
      }
      if (!least) break;
      send_handout(*least, stock_.front());
      stock_.pop_front();
      any = true;
    }
    for (member& worker : members_) worker.just_started = false;
    return any;
  }

  void send_handout(member& worker, handout& chunks) {
    const std::uint64_t job = chunks.job;
    const bool needs_task = !worker.holds.contains(job);
    if (worker.in_flight.empty()) worker.just_started = true;
    worker.in_flight.push_back(job);
    if (!needs_task && worker.forget.empty()) {  // as it stands, but for a group's one member
      if (chunks.group_of_one)
        for (std::span<const char> rest = chunks.bytes; !rest.empty();) {
          const std::span<const char> section = take_section<chunk_header>(rest);
          const auto at = static_cast<std::size_t>(section.data() - chunks.bytes.data()) + sizeof(chunk_header);
          std::memcpy(chunks.bytes.data() + at, &worker.rank, sizeof worker.rank);
        }
      link_.send(worker.rank, static_cast<int>(tag::chunk), std::move(chunks.bytes));
      return;
    }
    std::string_view key;
    std::span<const char> state;
    if (needs_task) {
      auto task = tasks_.find(job);
      if (task == tasks_.end())
        throw std::runtime_error("mpipool: protocol error: sub-master " + std::to_string(comm_.rank()) +
                                 " was sent a chunk of job " + std::to_string(job) + " without its task");
      key = task->second.key;
      state = task->second.state;
    }
    // The task (its first time on this worker) and the forget list go in the first chunk.
    byte_buffer bytes = take_buffer();
    bytes.clear();
    const int group[1] = {worker.rank};  // a parallel task of one rank: the worker's own
    const bool bundle = frame_cursor(chunks.bytes).take<chunk_header>().section_size != 0;
    bool first = true;
    for (std::span<const char> rest = chunks.bytes; !rest.empty(); first = false) {
      const chunk_view chunk = read_chunk(take_section<chunk_header>(rest));
      chunk_header header = chunk.header;
      header.key_size = first ? static_cast<std::uint32_t>(key.size()) : 0;
      header.state_size = first ? static_cast<std::uint32_t>(state.size()) : 0;
      header.forget_count = first ? static_cast<std::uint32_t>(worker.forget.size()) : 0;
      header.section_size = 0;
      const std::span<const int> members = header.group_size == 1 ? std::span<const int>(group) : std::span<const int>();
      const std::size_t at = bytes.size();
      if (first) begin_chunk(bytes, header, key, state, worker.forget, members);
      else append_chunk(bytes, header, {}, {}, {}, members);
      bytes.insert(bytes.end(), chunk.items.begin(), chunk.items.end());
      if (bundle) set_section_size<chunk_header>(bytes, at);
    }
    give_back(std::move(chunks.bytes));
    worker.holds.insert(job);
    worker.forget.clear();
    link_.send(worker.rank, static_cast<int>(tag::chunk), std::move(bytes));
  }

  // --- From the workers -------------------------------------------------------------------------

  // The workers' results, received without waiting (group_link::incoming), each section stamped
  // with the worker that ran it.
  bool take_results() {
    const bool posted =
        link_.incoming().post_arrived(comm_, static_cast<int>(tag::results), [this] { return take_buffer(); });
    const bool taken = link_.incoming().take_ready([this](int from, byte_buffer&& message) {
      member& worker = member_of(from);
      if (worker.in_flight.empty())
        throw std::runtime_error("mpipool: protocol error: results from worker " + std::to_string(from) +
                                 ", which sub-master " + std::to_string(comm_.rank()) + " sent nothing");
      const bool setup = worker.in_flight.front() == setup_job;
      worker.in_flight.pop_front();
      if (!worker.in_flight.empty()) worker.just_started = true;  // its queued message starts now
      const bool more_parts = setup && --setup_parts_due_ > 0;
      for (std::span<const char> rest = message; !rest.empty();) {
        const std::span<const char> section = take_section<results_header>(rest);
        set_results_worker(std::span<char>(message), static_cast<std::size_t>(section.data() - message.data()), from,
                           more_parts);
        pass_up(section);
      }
      give_back(std::move(message));
    });
    return posted || taken;
  }

  // --- To the master ----------------------------------------------------------------------------

  // One chunk's results (a section) for the master: a node-chunk's piece's through
  // node_results, which may put it together with others; any other as it is.
  void pass_up(std::span<const char> section) {
    if (!node_results_.take(section)) add_up(section);
  }

  // Appends a results message (one section or several) to the message going up, each section
  // sized, so that all that came in one turn goes in one message.
  void add_up(std::span<const char> results) {
    if (up_.empty()) {
      const route_header route{comm_.rank(), static_cast<int>(tag::results)};
      const auto* raw = reinterpret_cast<const char*>(&route);
      up_.assign(raw, raw + sizeof route);
    }
    for (std::span<const char> rest = results; !rest.empty();) {
      const std::span<const char> section = take_section<results_header>(rest);
      const std::size_t at = up_.size();
      up_.insert(up_.end(), section.begin(), section.end());
      set_section_size<results_header>(up_, at);
    }
  }

  bool send_up() {
    node_results_.flush();
    if (up_.empty()) return false;
    link_.send(master_rank, static_cast<int>(tag::results), std::move(up_));
    up_ = take_buffer();
    up_.clear();
    return true;
  }

  // --- Sends, buffers, bells --------------------------------------------------------------------

  byte_buffer take_buffer() {
    if (spare_.empty()) return {};
    byte_buffer bytes = std::move(spare_.back());
    spare_.pop_back();
    return bytes;
  }

  void give_back(byte_buffer&& bytes) {
    if (spare_.size() >= 2 * members_.size() + 4) return;
    trim_message_buffer(bytes);
    spare_.push_back(std::move(bytes));
  }

  member& member_of(int rank) {
    for (member& worker : members_)
      if (worker.rank == rank) return worker;
    throw std::runtime_error("mpipool: protocol error: sub-master " + std::to_string(comm_.rank()) +
                             " received results from rank " + std::to_string(rank) + ", not one of its workers");
  }

  const boost::mpi::communicator& comm_;
  group_link link_;
  std::vector<member> members_;
  std::unordered_map<std::uint64_t, task_copy> tasks_;  // the tasks of the jobs in stock or running
  std::deque<handout> stock_;
  node_results node_results_{[this](std::span<const char> section) { add_up(section); }};
  std::vector<std::uint64_t> cancelled_;  // few at a time: a vector beats a set
  bool terminated_ = false;
  std::size_t setup_parts_due_ = 0;
  std::vector<byte_buffer> spare_;
  byte_buffer received_;
  byte_buffer scratch_;
  byte_buffer up_;  // results going up, behind their route header
};

}  // namespace

int sub_master(const boost::mpi::communicator& comm, const pool_topology& topology, const node_doorbells& bells) {
  use_fine_timer_slack();
  return sub_master_loop(comm, topology, bells).run();
}

}  // namespace mpipool::detail
