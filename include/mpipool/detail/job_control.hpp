#pragma once
// What a job's consumer may ask of the master from another thread.

#include <cstdint>

namespace mpipool::detail {

class job_control {
 public:
  virtual ~job_control() = default;
  // Drops a job: reads no more of its input, cuts its running chunks short, discards its
  // results. Returns once the progress thread has let go of the job.
  virtual void cancel(std::uint64_t job_id) = 0;
  // A held-back job may have chunks to give again.
  virtual void poke() = 0;
};

}  // namespace mpipool::detail
