#include "wire/transport.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/mpi/exception.hpp>

namespace mpipool::detail {

namespace {

// Where an empty message points: MPI wants a valid address even for no bytes.
char empty_marker = 0;

constexpr std::size_t max_mpi_count = static_cast<std::size_t>(std::numeric_limits<int>::max());

// Parts well below MPI's limit: no count near INT_MAX, and a part is still large enough that
// its per-message cost is nothing next to copying it.
std::atomic<std::size_t> part_limit{std::size_t{1} << 30};

// A buffer that carried more than this is freed after use rather than kept for the next one.
constexpr std::size_t kept_buffer_capacity = std::size_t{64} << 20;

int continuation_tag(int tag) { return tag + continuation_tag_offset; }

int as_count(std::size_t bytes) { return static_cast<int>(bytes); }

}  // namespace

std::size_t message_part_limit() { return part_limit.load(std::memory_order_relaxed); }

void set_message_part_limit(std::size_t bytes) {
  part_limit.store(std::clamp<std::size_t>(bytes, 1, max_mpi_count), std::memory_order_relaxed);
}

outgoing_message::outgoing_message(const boost::mpi::communicator& comm, int dest, int tag, byte_buffer&& bytes)
    : bytes_(std::move(bytes)), total_size_(bytes_.size()) {
  const std::size_t limit = message_part_limit();
  if (!bytes_.empty() && bytes_.size() <= limit) {
    BOOST_MPI_CHECK_RESULT(MPI_Isend, (bytes_.data(), as_count(bytes_.size()), MPI_CHAR, dest, tag,
                                       static_cast<MPI_Comm>(comm), &first_));
    return;
  }
  parts_.reserve(1 + (bytes_.size() + limit - 1) / limit);
  BOOST_MPI_CHECK_RESULT(MPI_Isend, (&empty_marker, 0, MPI_CHAR, dest, tag, static_cast<MPI_Comm>(comm), &first_));
  // From here on the receiver expects the rest: a failure leaves the two sides out of step.
  try {
    const int parts_tag = continuation_tag(tag);
    parts_.push_back(comm.isend(dest, parts_tag, reinterpret_cast<const char*>(&total_size_), as_count(sizeof total_size_)));
    for (std::size_t at = 0; at < bytes_.size(); at += limit) {
      const std::size_t part = std::min(limit, bytes_.size() - at);
      parts_.push_back(comm.isend(dest, parts_tag, bytes_.data() + at, as_count(part)));
    }
  } catch (const std::exception& e) {
    // Parts already posted may still read the bytes until the job is aborted: keep them.
    static_cast<void>(new byte_buffer(std::move(bytes_)));
    throw transport_broken(std::string("mpipool: a message was sent only in part: ") + e.what());
  }
}

bool outgoing_message::test() {
  if (!first_done_) {
    int done = 0;
    BOOST_MPI_CHECK_RESULT(MPI_Test, (&first_, &done, MPI_STATUS_IGNORE));
    if (done == 0) return false;
    first_done_ = true;
  }
  // Requests are tested once each until done: a finished one is not asked again.
  while (parts_done_ < parts_.size() && parts_[parts_done_].test()) ++parts_done_;
  return parts_done_ == parts_.size();
}

void send_batch::test_owners() {
  // Only the sends whose first message is still in progress take part.
  std::erase_if(owners_, [](outgoing_message* send) { return send->first_request() == nullptr; });
  requests_.clear();
  for (outgoing_message* send : owners_) requests_.push_back(*send->first_request());
  if (requests_.empty()) return;
  indices_.resize(requests_.size());
  int done = 0;
  BOOST_MPI_CHECK_RESULT(MPI_Testsome, (static_cast<int>(requests_.size()), requests_.data(), &done, indices_.data(),
                                        MPI_STATUSES_IGNORE));
  if (done == MPI_UNDEFINED) return;  // no active request: not the case here, but MPI may say so
  for (int k = 0; k < done; ++k) owners_[static_cast<std::size_t>(indices_[static_cast<std::size_t>(k)])]->first_done();
}

void receive_message(const boost::mpi::communicator& comm, const boost::mpi::status& probed, byte_buffer& into) {
  const int source = probed.source();
  const int tag = probed.tag();
  const std::size_t first_size = static_cast<std::size_t>(probed.count<char>().value_or(0));
  if (first_size != 0) {
    into.resize(first_size);
    comm.recv(source, tag, into.data(), as_count(first_size));
    return;
  }
  comm.recv(source, tag, &empty_marker, 0);

  const int parts_tag = continuation_tag(tag);
  std::uint64_t total_size = 0;
  comm.recv(source, parts_tag, reinterpret_cast<char*>(&total_size), as_count(sizeof total_size));
  into.resize(static_cast<std::size_t>(total_size));
  for (std::size_t at = 0; at < into.size();) {
    // Parts are as large as the sender chose; each receive offers room for the rest.
    const std::size_t room = std::min(into.size() - at, max_mpi_count);
    const boost::mpi::status part = comm.recv(source, parts_tag, into.data() + at, as_count(room));
    const std::size_t got = static_cast<std::size_t>(part.count<char>().value_or(0));
    if (got == 0)
      throw std::runtime_error("mpipool: protocol error: an empty part in a message of " +
                               std::to_string(total_size) + " bytes");
    at += got;
  }
}

incoming_message::incoming_message(const boost::mpi::communicator& comm, const boost::mpi::status& probed,
                                   byte_buffer&& into)
    : source_(probed.source()), bytes_(std::move(into)) {
  const std::size_t first_size = static_cast<std::size_t>(probed.count<char>().value_or(0));
  if (first_size == 0) {  // in parts, or empty
    receive_message(comm, probed, bytes_);
    return;
  }
  bytes_.resize(first_size);
  BOOST_MPI_CHECK_RESULT(MPI_Irecv, (bytes_.data(), as_count(first_size), MPI_CHAR, source_, probed.tag(),
                                     static_cast<MPI_Comm>(comm), &request_));
}

incoming_message::incoming_message(incoming_message&& other) noexcept
    : source_(other.source_), bytes_(std::move(other.bytes_)), request_(std::exchange(other.request_, MPI_REQUEST_NULL)) {}

incoming_message& incoming_message::operator=(incoming_message&& other) noexcept {
  source_ = other.source_;
  bytes_ = std::move(other.bytes_);
  request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
  return *this;
}

bool incoming_message::test() {
  if (request_ == MPI_REQUEST_NULL) return true;
  int done = 0;
  BOOST_MPI_CHECK_RESULT(MPI_Test, (&request_, &done, MPI_STATUS_IGNORE));
  return done != 0;  // MPI_Test nulls a finished request
}

void trim_message_buffer(byte_buffer& bytes) {
  if (bytes.capacity() > kept_buffer_capacity) byte_buffer().swap(bytes);
}

}  // namespace mpipool::detail
