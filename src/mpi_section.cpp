#include "mpipool/mpi_section.hpp"

#include <stdexcept>
#include <string>

#include "master/master.hpp"
#include "mpipool/detail/mpi_section_state.hpp"

namespace mpipool {

namespace detail {

namespace {
// Sections on this thread that keep a progress thread parked.
thread_local int parking_sections_here = 0;
}  // namespace

bool holds_parking_mpi_section() { return parking_sections_here > 0; }

void refuse_wait_in_mpi_section(const char* what) {
  if (holds_parking_mpi_section())
    throw std::logic_error(std::string("mpipool: ") + what +
                           " inside an mpi_section would wait for ever: the pool's progress thread is parked "
                           "until the section ends; end the section first");
}

}  // namespace detail

mpi_section::mpi_section(pool& owner) {
  owner.require_off_progress_thread();
  detail::master& m = owner.master_;
  if (m.caller_mpi_is_free() || !m.enter_mpi_section()) return;
  master_ = &m;
  ++detail::parking_sections_here;
}

mpi_section::~mpi_section() {
  if (!master_) return;
  --detail::parking_sections_here;
  master_->leave_mpi_section();
}

}  // namespace mpipool
