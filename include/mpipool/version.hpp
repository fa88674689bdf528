#pragma once
/// @file version.hpp
/// @brief mpipool's version, at compile time. CMakeLists.txt reads its project version from here.
/// @code
/// #if MPIPOOL_VERSION >= 100   // 0.1.0 or later
/// std::printf("mpipool %s\n", MPIPOOL_VERSION_STRING);
/// @endcode

/// @brief The major version: changes that break code written for the previous one.
#define MPIPOOL_VERSION_MAJOR 0
/// @brief The minor version: additions.
#define MPIPOOL_VERSION_MINOR 2
/// @brief The patch version: fixes.
#define MPIPOOL_VERSION_PATCH 0

/// @brief The version as one number for `#if`: major * 10000 + minor * 100 + patch.
#define MPIPOOL_VERSION (MPIPOOL_VERSION_MAJOR * 10000 + MPIPOOL_VERSION_MINOR * 100 + MPIPOOL_VERSION_PATCH)

#define MPIPOOL_DETAIL_STRINGIFY_(x) #x
#define MPIPOOL_DETAIL_STRINGIFY(x) MPIPOOL_DETAIL_STRINGIFY_(x)
/// @brief The version as text: "major.minor.patch".
#define MPIPOOL_VERSION_STRING                                                       \
  MPIPOOL_DETAIL_STRINGIFY(MPIPOOL_VERSION_MAJOR) "." MPIPOOL_DETAIL_STRINGIFY(      \
      MPIPOOL_VERSION_MINOR) "." MPIPOOL_DETAIL_STRINGIFY(MPIPOOL_VERSION_PATCH)
