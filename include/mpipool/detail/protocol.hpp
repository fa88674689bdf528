#pragma once
// The wire format between the master and its workers: message kinds, and how a chunk and a
// batch of results are framed. Nothing here decides what is sent when; that is the master's
// and the scheduler's business. Messages of any size travel through transport.hpp.
//
// A worker's results message doubles as its request for more work, so a task costs two
// messages, not three.
//
// A chunk message may carry several chunks back to back (a bundle: see dispatch_policy), and
// the worker's reply then carries their results in the same order, one section each (from a
// stocking sub-master: as its workers finish them, a node-chunk's in parts). Every
// section's header gives its size; 0 means the section runs to the end of the message, as in a
// message of one chunk.
//
//   chunk   (master -> worker): chunk_header | task key | task state | forget list | group | items
//                               [| piece counts: a node-chunk, to a stocking sub-master]
//   results (worker -> master): results_header | host | outcomes
//   cancel  (master -> worker): job id; stop the chunk of that job early. every_job, at
//                               terminate(): stop every chunk, and kill an isolated item running
//   exit    (master -> worker): exit code; leave the serve loop
//   (through a stocking sub-master, the master's chunks go to the sub-master, which hands them
//   to its workers as they ask, and their results go up stamped with the worker's rank; chunks
//   of fixed-size items go as one node-chunk, which it cuts apart, and their results go up in
//   parts, each saying how many of its pieces it holds: see chunk_header::pieces)
//   items_done (worker -> master): the worker's count of items finished, at most once a second
//            while a chunk runs, from a worker with no count the master can read (see
//            chunk_header::report_items_done); for the progress display only
//
// Job 0 is the set-up job: its single item (if any) is the per-worker initializer, and its
// results message is the worker's first request and carries the worker's host name.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mpipool/detail/archive.hpp"

namespace mpipool::detail {

enum class tag : int { chunk = 101, results = 102, cancel = 103, exit = 104, items_done = 105 };

inline constexpr std::uint64_t setup_job = 0;
inline constexpr std::uint64_t every_job = ~std::uint64_t{0};  // in a cancel: see above

// A message that Open MPI's shared memory sends at once: under its 4 KiB eager limit, with room
// for the headers. Larger ones wait for a handshake with the receiver, which on shared cores
// waits for it to get a core. A bundle (dispatch_policy::bundle_bytes_most) and a sub-master's
// results put together (node_results::most_bytes_together) stay under it.
inline constexpr std::size_t eager_message_bytes = 4096 - 256;

struct item_range {
  std::uint64_t first = 0;
  std::uint32_t count = 0;
};

// Reads fixed-size fields and spans from the front of a message, checking that they are there
// (throws "truncated protocol message" otherwise).
class frame_cursor {
 public:
  explicit frame_cursor(std::span<const char> bytes) : bytes_(bytes) {}
  template <class T>
  T take() {
    T value;
    std::memcpy(&value, take_bytes(sizeof(T)).data(), sizeof(T));
    return value;
  }
  // Inline: every item's frame is read through it.
  std::span<const char> take_bytes(std::size_t n) {
    if (n > bytes_.size() - at_) truncated();
    auto bytes = bytes_.subspan(at_, n);
    at_ += n;
    return bytes;
  }
  std::size_t position() const { return at_; }
  std::span<const char> rest() const { return bytes_.subspan(at_); }

 private:
  [[noreturn]] static void truncated();

  std::span<const char> bytes_;
  std::size_t at_ = 0;
};

struct chunk_header {
  std::uint64_t job = 0;
  item_range items;
  std::uint32_t key_size = 0;    // 0 when the worker already holds this job's task
  std::uint32_t state_size = 0;
  std::uint32_t forget_count = 0;  // jobs whose tasks the worker may drop
  // In the set-up chunk: 1 when the master shows progress, and a worker whose count of finished
  // items it cannot read (items_done.hpp) is to send it items_done messages.
  std::uint32_t report_items_done = 0;
  // A parallel task's group: how many ranks run every item of the chunk together (0: an
  // ordinary chunk). Their ranks follow the forget list, the group's rank 0 first.
  std::uint32_t group_size = 0;
  // To a stocking sub-master, in a message's first chunk: how many of its chunks go to a worker
  // in one message (a bundle's worth for tiny tasks; 0: one each). (In what was padding.)
  std::uint16_t chunks_per_worker = 0;
  // To a stocking sub-master: a node-chunk, the caller's chunks of fixed-size items (their bytes
  // alone) sent as one, for the sub-master to cut apart on its node. This many chunks (pieces,
  // at most most_node_chunk_pieces); their item counts (u32 each) follow the items. 0: an
  // ordinary chunk. (Both in what was padding, so that a chunk's header is no larger.)
  std::uint16_t pieces = 0;
  std::uint64_t section_size = 0;  // in a bundle: this chunk's bytes (see the top)
};

inline constexpr std::size_t most_node_chunk_pieces = 0xffff;  // what chunk_header::pieces holds

struct chunk_view {
  chunk_header header;
  std::string_view key;
  std::span<const char> state;
  std::vector<std::uint64_t> forget;
  std::vector<int> group;  // a parallel task's members, by pool rank; empty otherwise
  std::span<const char> items;
  std::span<const char> piece_counts;  // a node-chunk's pieces' item counts (u32 each); see pieces
};

// Starts a chunk message in `out` (cleared first); the items are appended after it.
void begin_chunk(byte_buffer& out, const chunk_header& header, std::string_view key,
                 std::span<const char> state, std::span<const std::uint64_t> forget,
                 std::span<const int> group = {});
// Starts another chunk at the end of `out`, in a bundle.
void append_chunk(byte_buffer& out, const chunk_header& header, std::string_view key,
                  std::span<const char> state, std::span<const std::uint64_t> forget,
                  std::span<const int> group = {});
// The chunk that starts at byte `at` of `message`.
void set_chunk_items(byte_buffer& message, item_range items, std::size_t at = 0);
// The first chunk of a message to a stocking sub-master (see chunk_header::chunks_per_worker).
void set_chunks_per_worker(byte_buffer& message, std::uint32_t chunks);
// Ends the node-chunk that starts at byte `at` of `message` (its items last): its pieces' item
// counts, at most most_node_chunk_pieces, go after its items (see chunk_header::pieces).
void end_node_chunk(byte_buffer& message, std::size_t at, std::span<const std::uint32_t> piece_counts);
// Reads one chunk: a whole message, or one section of a bundle (see take_section).
chunk_view read_chunk(std::span<const char> message);

struct results_header {
  std::uint64_t job = 0;
  item_range items;
  std::uint32_t host_size = 0;
  // Through a stocking sub-master (worker/sub_master.hpp), which stamps them: the worker that
  // ran the chunk (0: the sender itself), and, in a part of a chunk that the sub-master gave
  // several of its workers, 0 in the last part to go up, else the set-up's 1, or how many
  // pieces of a node-chunk the part holds.
  // Both in what was padding, so that a results section is no larger.
  std::int32_t worker_rank = 0;
  // How long the chunk ran on the worker, by the worker's steady clock (for the trace).
  std::uint64_t run_ns = 0;
  // A member of a parallel task's group other than its rank 0: the outcomes are the group's
  // rank 0's to report, these only ask for more work.
  std::uint32_t group_follower = 0;
  std::uint32_t more_parts = 0;  // see worker_rank
  std::uint64_t section_size = 0;  // in a bundle's reply: these results' bytes (see the top)
};

struct results_view {
  results_header header;
  std::string_view host;
  std::span<const char> outcomes;
};

// Starts a results message in `out` (cleared first); the outcomes are appended after it.
void begin_results(byte_buffer& out, const results_header& header, std::string_view host);
void set_results_count(byte_buffer& message, std::uint32_t count);
void set_results_run_time(byte_buffer& message, std::uint64_t run_ns);
void set_results_group_follower(byte_buffer& message);
// Stamps the results section that starts at byte `at` of `message` with the worker that ran it
// and whether more parts of its chunk follow (see results_header).
void set_results_worker(std::span<char> message, std::size_t at, int worker_rank, bool more_parts);
results_view read_results(std::span<const char> message);

// The section of a bundle that starts at byte `at` runs to the end of `message` (Header:
// chunk_header or results_header).
template <class Header>
void set_section_size(byte_buffer& message, std::size_t at) {
  Header header;
  std::memcpy(&header, message.data() + at, sizeof header);
  header.section_size = message.size() - at;
  std::memcpy(message.data() + at, &header, sizeof header);
}

// Takes the first section, a chunk or its results, off the front of `rest`: all of it, unless
// its header gives a size.
template <class Header>
std::span<const char> take_section(std::span<const char>& rest) {
  const auto size = frame_cursor(rest).take<Header>().section_size;
  if (size > rest.size() || (size != 0 && size < sizeof(Header)))
    throw std::runtime_error("mpipool: protocol error: a bundle's section overruns its message");
  const std::size_t length = size == 0 ? rest.size() : static_cast<std::size_t>(size);
  const std::span<const char> section = rest.first(length);
  rest = rest.subspan(length);
  return section;
}

// Between the master and a relay (src/wire/topology.hpp) every message travels wrapped, down
// on tag::chunk and up on tag::results: a route_header names the worker the message is for or
// comes from, and the message's own tag; the message follows as it is. A relay's own exit names
// the relay.
struct route_header {
  std::int32_t rank = 0;
  std::int32_t tag = 0;
};

// `message` behind its route header, in `out` (cleared first).
void wrap_routed(byte_buffer& out, route_header route, std::span<const char> message);
// The header and the message of a wrapped one.
std::pair<route_header, std::span<const char>> unwrap_routed(std::span<const char> wrapped);

// Why one item failed. How items and outcomes are framed: see outcomes.hpp.
struct item_error {
  std::string type_name;
  std::string message;
  // What a process failure says besides its text (see crash_code / timeout_code in
  // isolated_executor.hpp): the signal or exit status of a crash, a timeout's limit in ms.
  std::int64_t code = 0;
};

// An item's failure already described elsewhere (a parallel task's members agreed on it):
// describe() passes it on as it is, so the caller sees the original type name.
class described_failure : public std::exception {
 public:
  explicit described_failure(item_error failure) : failure_(std::move(failure)) {}
  const item_error& failure() const noexcept { return failure_; }
  const char* what() const noexcept override { return failure_.message.c_str(); }

 private:
  item_error failure_;
};

item_error describe(const std::exception_ptr& error);

}  // namespace mpipool::detail
