#pragma once
/// @file mpipool.hpp
/// @brief The umbrella header: include this one.
/// @code
/// #include <mpipool/mpipool.hpp>
/// @endcode

#include "mpipool/as_completed.hpp"
#include "mpipool/async_result.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/journal.hpp"
#include "mpipool/mpi_section.hpp"
#include "mpipool/options.hpp"
#include "mpipool/parallel.hpp"
#include "mpipool/pool.hpp"
#include "mpipool/result_stream.hpp"
#include "mpipool/run.hpp"
#include "mpipool/serialization.hpp"
#include "mpipool/task.hpp"
#include "mpipool/version.hpp"
