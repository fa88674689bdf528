#pragma once
// What the calling thread knows of the mpi_sections it holds. While one of them keeps the
// progress thread parked, no result can come, so a wait for one on this thread would never end.

namespace mpipool::detail {

// Throws std::logic_error, naming `what`, if this thread holds an mpi_section that parks the
// progress thread.
void refuse_wait_in_mpi_section(const char* what);

// Whether this thread holds an mpi_section that parks the progress thread.
bool holds_parking_mpi_section();

}  // namespace mpipool::detail
