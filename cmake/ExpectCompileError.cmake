# Builds TARGET in the build folder BUILD_DIR, which must fail, and checks that the compiler's
# first error matches EXPECT and that it is its only error: a misuse must read as mpipool's
# message, not as whatever broke further down. Run by the compile_fail.* tests (ctest).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(output "${out}${err}")
message("${output}")
if(status EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not")
endif()
# Make's own lines say "Error 1", never "error:". Semicolons would split the list of matches.
string(REPLACE ";" "," output "${output}")
string(REGEX MATCHALL "[^\n]*error:[^\n]*" errors "${output}")
list(LENGTH errors error_count)
if(error_count EQUAL 0)
  message(FATAL_ERROR "${TARGET} failed to build without a compiler error (exit status ${status})")
endif()
list(GET errors 0 first_error)
if(NOT first_error MATCHES "${EXPECT}")
  message(FATAL_ERROR "the first error is not mpipool's message '${EXPECT}', but:\n${first_error}")
endif()
if(NOT error_count EQUAL 1)
  message(FATAL_ERROR "mpipool's message came first, then ${error_count} errors in all; it must be the only one")
endif()
message("${TARGET}: the only error is mpipool's message '${EXPECT}': as expected")
