# mpipool_add_mpi_test(NAME <name> COMMAND <target> [ARGS ...] [RANKS n...] [TIMEOUT s]
#                      [ENVIRONMENT VAR=value...])
#
# Registers one test per rank count, named <name>.<n>ranks, run through FindMPI's launcher
# (MPIEXEC_EXECUTABLE, MPIEXEC_NUMPROC_FLAG, MPIEXEC_PREFLAGS, MPIEXEC_POSTFLAGS), so the same
# suite runs under srun too. Rank counts above the core count are oversubscribed, and Open MPI
# is told that running as root is fine: CI runs as root on two cores.
set(MPIPOOL_TEST_RANKS 1 2 3 5 CACHE STRING "Rank counts every MPI test runs at")
set(MPIPOOL_TEST_TIMEOUT 120 CACHE STRING "Default timeout of one MPI test run, in seconds")

set(_mpipool_launcher_flags ${MPIEXEC_PREFLAGS})
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpipool_mpiexec_version
                ERROR_QUIET)
if(_mpipool_mpiexec_version MATCHES "Open MPI|OpenRTE")
  list(APPEND _mpipool_launcher_flags --oversubscribe)
  set(MPIPOOL_LAUNCHER_ENVIRONMENT
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1)
endif()

function(mpipool_add_mpi_test)
  cmake_parse_arguments(T "" "NAME;COMMAND;TIMEOUT" "ARGS;RANKS;ENVIRONMENT" ${ARGN})
  if(NOT T_RANKS)
    set(T_RANKS ${MPIPOOL_TEST_RANKS})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${MPIPOOL_TEST_TIMEOUT})
  endif()
  set(environment ${MPIPOOL_LAUNCHER_ENVIRONMENT} ${T_ENVIRONMENT})
  foreach(ranks IN LISTS T_RANKS)
    set(test_name ${T_NAME}.${ranks}ranks)
    add_test(NAME ${test_name}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${_mpipool_launcher_flags}
                     $<TARGET_FILE:${T_COMMAND}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    set_tests_properties(${test_name} PROPERTIES
      TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "${environment}"
      PROCESSORS 1)
  endforeach()
endfunction()

# mpipool_add_failing_mpi_test(NAME <name> COMMAND <target> RANKS n... EXPECT <regex> [TIMEOUT s]
#                              [ENVIRONMENT VAR=value...])
#
# The program must exit non-zero and print something matching <regex> on stdout or stderr:
# for jobs that must die, promptly and with a message.
function(mpipool_add_failing_mpi_test)
  cmake_parse_arguments(T "" "NAME;COMMAND;TIMEOUT;EXPECT" "ARGS;RANKS;ENVIRONMENT" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  set(environment ${MPIPOOL_LAUNCHER_ENVIRONMENT} ${T_ENVIRONMENT})
  foreach(ranks IN LISTS T_RANKS)
    set(test_name ${T_NAME}.${ranks}ranks)
    add_test(NAME ${test_name}
             COMMAND ${CMAKE_COMMAND}
                     "-DCOMMAND=${MPIEXEC_EXECUTABLE};${MPIEXEC_NUMPROC_FLAG};${ranks};${_mpipool_launcher_flags};$<TARGET_FILE:${T_COMMAND}>;${T_ARGS}"
                     "-DEXPECT=${T_EXPECT}"
                     -P ${PROJECT_SOURCE_DIR}/cmake/ExpectFailure.cmake)
    set_tests_properties(${test_name} PROPERTIES
      TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "${environment}"
      PROCESSORS 1)
  endforeach()
endfunction()
