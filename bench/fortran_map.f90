! The Fortran module's map on W1 (x*x over integers) at chunksize 1000 and 1: items per second,
! medians of `repeats` maps (scripts/bench.sh prints them beside bench_c_api_map's C++ rows).
!
!   mpirun -n 3 build-bench/bench/bench_fortran_map
module fortran_map_bench
  use, intrinsic :: iso_c_binding
  use mpipool
  implicit none
  integer, parameter :: repeats = 5
contains
  integer(c_int) function square(x) bind(c)
    integer(c_int), value :: x
    square = x * x
  end function

  real(c_double) function median(values)
    real(c_double), intent(in) :: values(:)
    real(c_double) :: sorted(size(values)), swap
    integer :: i, j
    sorted = values
    do i = 1, size(sorted)
      do j = i + 1, size(sorted)
        if (sorted(j) < sorted(i)) then
          swap = sorted(i)
          sorted(i) = sorted(j)
          sorted(j) = swap
        end if
      end do
    end do
    median = sorted((size(sorted) + 1) / 2)
  end function

  integer(c_int) function body(handle, user) bind(c)
    type(c_ptr), value :: handle, user
    type(mpipool_pool) :: pool
    integer(c_int), allocatable :: x(:), y(:)
    real(c_double) :: rates(repeats)
    integer(8) :: start, finish, rate
    integer :: chunk, n, rep, i, k
    integer, parameter :: chunks(2) = [1000, 1]
    pool = mpipool_pool(handle)
    body = 0
    do k = 1, 2
      chunk = chunks(k)
      n = merge(200000, 50000, chunk /= 1)
      allocate(x(n), y(n))
      x = [(int(mod(i, 40000), c_int), i = 1, n)]
      do rep = 1, repeats
        call system_clock(start, rate)
        call mpipool_map(pool, "square", x, y, chunksize=chunk)
        call system_clock(finish)
        rates(rep) = real(n, c_double) / (real(finish - start, c_double) / real(rate, c_double))
        if (any(y /= x * x)) body = 1
      end do
      print '(a, i0, a, i0, a, es10.3)', "fortran W1 map, chunksize ", chunk, ", ", n, " items: items/s ", median(rates)
      deallocate(x, y)
    end do
    if (c_associated(user)) body = 1
  end function
end module

program fortran_map
  use fortran_map_bench
  implicit none
  integer :: exit_code
  call mpipool_register("square", square)
  call mpipool_run(body, exit_code)
  if (exit_code /= 0) error stop exit_code
end program
