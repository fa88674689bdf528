! The Fortran module under mpiexec: map over real(8) and integer arrays, apply_async then wait,
! and errors through stat and errmsg. Prints each failed check, then "N passed, M failed".
module fortran_test_tasks
  use, intrinsic :: iso_c_binding
  use mpipool
  implicit none
  integer :: passed = 0, failed = 0
contains
  real(c_double) function square(x) bind(c)
    real(c_double), value :: x
    square = x * x
  end function

  integer(c_int) function increment(x) bind(c)
    integer(c_int), value :: x
    increment = x + 1
  end function

  subroutine check(condition, what)
    logical, intent(in) :: condition
    character(*), intent(in) :: what
    if (condition) then
      passed = passed + 1
    else
      failed = failed + 1
      write (0, '(a)') "check failed: " // what
    end if
  end subroutine

  integer(c_int) function body(handle, user) bind(c)
    type(c_ptr), value :: handle, user
    type(mpipool_pool) :: pool
    type(mpipool_result) :: pending
    real(c_double) :: x(100), y(100), small(10), value
    integer(c_int) :: n(50), m(50)
    integer :: i, stat, workers
    character(len=512) :: message
    pool = mpipool_pool(handle)
    x = [(real(i, c_double), i = 1, 100)]
    call mpipool_map(pool, "square", x, y)
    call check(all(y == x * x), "map of real(8)")
    call mpipool_map(pool, "square", x, y, chunksize=1)
    call check(all(y == x * x), "map of real(8) at chunksize 1")
    n = [(i, i = 1, 50)]
    call mpipool_map(pool, "increment", n, m)
    call check(all(m == n + 1), "map of integer")
    call mpipool_apply_async(pool, "square", 12.0_c_double, pending)
    call mpipool_wait(pending, value, timeout=30.0_c_double)
    call check(value == 144.0_c_double, "apply_async then wait")
    call mpipool_workers(pool, workers)
    call check(workers >= 1, "workers")
    message = ""
    call mpipool_map(pool, "no_such_task", x, y, stat=stat, errmsg=message)
    call check(stat == MPIPOOL_ERR_NOT_FOUND, "an unregistered name gives MPIPOOL_ERR_NOT_FOUND")
    call check(index(message, "no_such_task") > 0, "the message names it: " // trim(message))
    call mpipool_map(pool, "square", x, small, stat=stat, errmsg=message)
    call check(stat == MPIPOOL_ERR_BUFFER, "an output array too small gives MPIPOOL_ERR_BUFFER")
    call mpipool_close(pool)
    call mpipool_map(pool, "square", x, y, stat=stat)
    call check(stat == MPIPOOL_ERR_STATE, "a call after close gives MPIPOOL_ERR_STATE")
    call mpipool_join(pool)
    body = merge(0, 1, failed == 0)
  end function
end module

program test_fortran
  use fortran_test_tasks
  implicit none
  integer :: exit_code
  call mpipool_register("square", square)
  call mpipool_register("increment", increment)
  call mpipool_run(body, exit_code)
  if (passed + failed > 0) print '(i0, " passed, ", i0, " failed")', passed, failed
  if (exit_code /= 0) error stop exit_code
end program
