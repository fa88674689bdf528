// The one place where a failure reported by a worker becomes the exception a caller catches.
#include <chrono>
#include <exception>
#include <utility>

#include "worker/isolated_executor.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/errors.hpp"

namespace mpipool::detail {

std::exception_ptr item_failure(const std::string& task, std::uint64_t index, item_error failure,
                                const worker_identity& from) {
  const std::int64_t code = failure.code;
  const bool crashed = failure.type_name == crashed_type_name;
  const bool timed_out = failure.type_name == timeout_type_name;
  remote_failure where{std::move(failure.type_name), std::move(failure.message), from.rank, from.host};
  if (crashed) {
    const process_end end = decode_crash(code);
    return std::make_exception_ptr(worker_crashed(task, index, std::move(where), end.signal, end.exit_status));
  }
  if (timed_out) return std::make_exception_ptr(mpipool::task_timeout(task, index, std::move(where), std::chrono::milliseconds(code)));
  return std::make_exception_ptr(remote_error(task, index, std::move(where)));
}

}  // namespace mpipool::detail
