! A parameter sweep in Fortran: the damped oscillator's energy after a fixed time, for a range of
! damping coefficients, each integrated on a worker; rank 0 prints the table.
!
!   mpirun -n 4 build/examples/fortran/sweep_fortran
module sweep_tasks
  use, intrinsic :: iso_c_binding
  use mpipool
  implicit none
contains
  ! x'' + 2 gamma x' + x = 0 from x = 1, v = 0, to t = 10 with a small explicit step.
  real(c_double) function energy_after(gamma) bind(c)
    real(c_double), value :: gamma
    real(c_double) :: x, v, a, dt
    integer :: step
    x = 1.0_c_double
    v = 0.0_c_double
    dt = 1.0e-4_c_double
    do step = 1, 100000
      a = -x - 2.0_c_double * gamma * v
      v = v + a * dt
      x = x + v * dt
    end do
    energy_after = 0.5_c_double * (x * x + v * v)
  end function

  integer(c_int) function body(handle, user) bind(c)
    type(c_ptr), value :: handle, user
    type(mpipool_pool) :: pool
    integer, parameter :: n = 12
    real(c_double) :: gammas(n), energies(n)
    integer :: i, workers
    pool = mpipool_pool(handle)
    gammas = [(0.05_c_double * (i - 1), i = 1, n)]
    call mpipool_workers(pool, workers)
    call mpipool_map(pool, "energy_after", gammas, energies, chunksize=1)
    print '(a, i0, a)', "damping sweep on ", workers, " workers:"
    print '(a)', "   gamma   energy at t = 10"
    do i = 1, n
      print '(f8.2, es18.6)', gammas(i), energies(i)
    end do
    body = 0
    ! More damping, less energy left: the table must fall.
    if (any(energies(2:) >= energies(:n - 1))) body = 1
    if (c_associated(user)) body = 1
  end function
end module

program sweep
  use sweep_tasks
  implicit none
  integer :: exit_code
  call mpipool_register("energy_after", energy_after)
  call mpipool_run(body, exit_code)
  if (exit_code /= 0) error stop exit_code
end program
