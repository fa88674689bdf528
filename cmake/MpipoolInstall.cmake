# Install rules: the headers, the library, an exported mpipool::mpipool target with its
# package files (find_package(mpipool)), and mpipool.pc (pkg-config). Included by the top-level
# CMakeLists.txt when MPIPOOL_INSTALL is on, after the mpipool target is defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MPIPOOL_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/mpipool"
    CACHE STRING "Where mpipoolConfig.cmake is installed, relative to the prefix")

install(TARGETS mpipool EXPORT mpipoolTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/mpipool"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(FILES "${PROJECT_SOURCE_DIR}/include/mpipool.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
# The link options (-rdynamic) and the MPI, Boost and thread libraries travel with the target.
install(EXPORT mpipoolTargets
        NAMESPACE mpipool::
        DESTINATION "${MPIPOOL_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/mpipoolConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/mpipoolConfig.cmake"
  INSTALL_DESTINATION "${MPIPOOL_INSTALL_CMAKEDIR}")
# Before 1.0 a minor version may break code written for the previous one.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_mpipool_compatibility SameMinorVersion)
else()
  set(_mpipool_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/mpipoolConfigVersion.cmake"
  COMPATIBILITY ${_mpipool_compatibility})
install(FILES "${PROJECT_BINARY_DIR}/mpipoolConfig.cmake"
              "${PROJECT_BINARY_DIR}/mpipoolConfigVersion.cmake"
        DESTINATION "${MPIPOOL_INSTALL_CMAKEDIR}")

# pkg-config: the same link line as the exported target, except MPI, which comes from the MPI
# compiler wrapper (mpicxx), as MPI implementations do not agree on a pkg-config name.
# Relocatable, as `cmake --install --prefix` may choose another prefix than the configured one:
# the prefix is found from where mpipool.pc lies.
set(MPIPOOL_PC_DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${MPIPOOL_PC_DESTINATION}")
  set(MPIPOOL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _mpipool_up "/root/${MPIPOOL_PC_DESTINATION}" "/root")
  string(REGEX REPLACE "/$" "" _mpipool_up "${_mpipool_up}")
  set(MPIPOOL_PC_PREFIX "\${pcfiledir}/${_mpipool_up}")
endif()
foreach(_mpipool_dir IN ITEMS includedir libdir)
  string(TOUPPER "${_mpipool_dir}" _mpipool_upper)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_mpipool_upper}}")
    set(MPIPOOL_PC_${_mpipool_upper} "${CMAKE_INSTALL_${_mpipool_upper}}")
  else()
    set(MPIPOOL_PC_${_mpipool_upper} "\${prefix}/${CMAKE_INSTALL_${_mpipool_upper}}")
  endif()
endforeach()
set(MPIPOOL_PC_LIBS "-L\${libdir} -lmpipool")
# pkg-config leaves out -L of the system's own library folders.
foreach(_mpipool_boost IN ITEMS mpi serialization)
  get_target_property(_mpipool_boost_file Boost::${_mpipool_boost} LOCATION)
  get_filename_component(_mpipool_boost_dir "${_mpipool_boost_file}" DIRECTORY)
  string(APPEND MPIPOOL_PC_LIBS " -L${_mpipool_boost_dir} -lboost_${_mpipool_boost}")
endforeach()
string(APPEND MPIPOOL_PC_LIBS " -pthread")
foreach(_mpipool_lib IN LISTS CMAKE_DL_LIBS)
  string(APPEND MPIPOOL_PC_LIBS " -l${_mpipool_lib}")
endforeach()
if(MPIPOOL_EXPORT_SYMBOLS)
  string(APPEND MPIPOOL_PC_LIBS " -rdynamic")
endif()
# The exported target's compile definitions (OMPI_SKIP_MPICXX, ...), as -D flags.
get_target_property(_mpipool_definitions mpipool INTERFACE_COMPILE_DEFINITIONS)
list(TRANSFORM _mpipool_definitions PREPEND "-D")
list(JOIN _mpipool_definitions " " MPIPOOL_PC_CFLAGS)
configure_file("${PROJECT_SOURCE_DIR}/cmake/mpipool.pc.in" "${PROJECT_BINARY_DIR}/mpipool.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/mpipool.pc" DESTINATION "${MPIPOOL_PC_DESTINATION}")

# The Fortran module: its library in the same export (mpipool::fortran), its .mod files in a
# folder of their own compiler, and mpipool-fortran.pc for pkg-config.
if(MPIPOOL_FORTRAN)
  install(TARGETS mpipool_fortran EXPORT mpipoolTargets
          ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
          LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}")
  install(DIRECTORY "${PROJECT_BINARY_DIR}/fortran-modules/"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${MPIPOOL_FORTRAN_MODULE_SUBDIR}"
          FILES_MATCHING PATTERN "*.mod")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/mpipool-fortran.pc.in" "${PROJECT_BINARY_DIR}/mpipool-fortran.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/mpipool-fortran.pc" DESTINATION "${MPIPOOL_PC_DESTINATION}")
endif()
