#include "mpipool/detail/stop_poll.hpp"

#include <algorithm>

namespace mpipool::detail {

bool stop_poll::look() {
  const clock::time_point now = clock::now();
  const clock::duration since = now - last_look_;
  last_look_ = now;
  // Fast items: look half as often. Slow ones: at once back to every item, so that a chunk
  // whose items turn slow is not left unwatched for long.
  if (since < interval / 4) stride_ = std::min(stride_ * 2, max_stride);
  else if (since > interval) stride_ = 1;
  countdown_ = every_item_ ? 1 : stride_;
  return ask_(job_);
}

}  // namespace mpipool::detail
