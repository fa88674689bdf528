#include "mpipool/errors.hpp"

#include <utility>

namespace mpipool {

namespace {
std::string describe(const remote_failure& f) {
  std::string text = f.type_name;
  if (!f.message.empty()) text += ": " + f.message;
  return text + " (rank " + std::to_string(f.rank) + " on host " + f.host + ")";
}
}  // namespace

remote_error::remote_error(std::string task, std::uint64_t index, remote_failure failure)
    : error("mpipool: task '" + task + "' failed on item " + std::to_string(index) + ": " +
            describe(failure)),
      task_(std::move(task)),
      index_(index),
      failure_(std::move(failure)) {}

initializer_error::initializer_error(remote_failure failure)
    : error("mpipool: worker initializer failed: " + describe(failure)),
      failure_(std::move(failure)) {}

}  // namespace mpipool
