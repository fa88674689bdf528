!> @file mpipool.f90
!> @brief The `mpipool` Fortran module: the pool for Fortran codes, over the C API (mpipool.h).
!>
!> Register a `bind(c)` function on every rank, start the pool with a body, and map the
!> function over an array on rank 0:
!> @code{.f90}
!> real(c_double) function square(x) bind(c)
!>   real(c_double), value :: x
!>   square = x * x
!> end function
!>
!> integer(c_int) function body(handle, user) bind(c)
!>   type(c_ptr), value :: handle, user
!>   type(mpipool_pool) :: pool
!>   real(c_double) :: x(100), y(100)
!>   pool = mpipool_pool(handle)
!>   x = [(real(i, c_double), i = 1, 100)]
!>   call mpipool_map(pool, "square", x, y)
!>   body = 0
!> end function
!>
!> call mpipool_register("square", square)
!> call mpipool_run(body, exit_code)
!> @endcode
!> Every routine takes optional `stat` and `errmsg`: with `stat`, an error sets it (MPIPOOL_OK is
!> 0) and `errmsg`; without it, an error stops the program with the message.
module mpipool
  use, intrinsic :: iso_c_binding
  implicit none
  private

  integer, parameter, public :: MPIPOOL_OK = 0, MPIPOOL_ERR_ARGUMENT = 1, MPIPOOL_ERR_NOT_FOUND = 2, &
                                MPIPOOL_ERR_TASK = 3, MPIPOOL_ERR_STATE = 4, MPIPOOL_ERR_TIMEOUT = 5, &
                                MPIPOOL_ERR_BUFFER = 6, MPIPOOL_ERR_INTERRUPTED = 7, MPIPOOL_ERR_OTHER = 8

  !> A running pool, inside the body (rank 0): `pool = mpipool_pool(handle)`.
  type, public :: mpipool_pool
    type(c_ptr) :: handle = c_null_ptr
  end type

  !> A call running in the background (mpipool_apply_async); mpipool_wait gives its value.
  type, public :: mpipool_result
    type(c_ptr) :: handle = c_null_ptr
  end type

  !> The last error, as the C API keeps it (mpipool_error_info).
  type, bind(c) :: error_info
    integer(c_int) :: status
    character(kind=c_char) :: type_name(128)
    character(kind=c_char) :: message(1024)
    integer(c_int) :: rank
    character(kind=c_char) :: host(128)
    integer(c_int64_t) :: index
    integer(c_size_t) :: needed
  end type

  abstract interface
    !> A task on real(8) values: what mpipool_register takes.
    function mpipool_real8_task(x) bind(c) result(y)
      import :: c_double
      real(c_double), value :: x
      real(c_double) :: y
    end function
    !> A task on integer values.
    function mpipool_integer_task(x) bind(c) result(y)
      import :: c_int
      integer(c_int), value :: x
      integer(c_int) :: y
    end function
    !> The body: runs on rank 0 while the other ranks serve; returns the exit code.
    function mpipool_body(handle, user) bind(c) result(code)
      import :: c_ptr, c_int
      type(c_ptr), value :: handle, user
      integer(c_int) :: code
    end function
  end interface
  public :: mpipool_real8_task, mpipool_integer_task, mpipool_body

  interface
    function c_last_error() bind(c, name="mpipool_last_error") result(info)
      import :: c_ptr
      type(c_ptr) :: info
    end function
    function c_register_double(name, task) bind(c, name="mpipool_register_double") result(status)
      import :: c_char, c_funptr, c_int
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_funptr), value :: task
      integer(c_int) :: status
    end function
    function c_register_int(name, task) bind(c, name="mpipool_register_int") result(status)
      import :: c_char, c_funptr, c_int
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_funptr), value :: task
      integer(c_int) :: status
    end function
    function c_run(argc, argv, options, body, user, exit_code) bind(c, name="mpipool_run") result(status)
      import :: c_ptr, c_funptr, c_int
      type(c_ptr), value :: argc, argv, options, user
      type(c_funptr), value :: body
      integer(c_int), intent(out) :: exit_code
      integer(c_int) :: status
    end function
    function c_map(pool, task, inputs, input_size, count, outputs, output_size, capacity, chunksize) &
        bind(c, name="mpipool_map") result(status)
      import :: c_ptr, c_char, c_size_t, c_long, c_int
      type(c_ptr), value :: pool, inputs, outputs
      character(kind=c_char), dimension(*), intent(in) :: task
      integer(c_size_t), value :: input_size, count, output_size, capacity
      integer(c_long), value :: chunksize
      integer(c_int) :: status
    end function
    function c_apply_async(pool, task, input, size, callbacks, result) bind(c, name="mpipool_apply_async") &
        result(status)
      import :: c_ptr, c_char, c_size_t, c_int
      type(c_ptr), value :: pool, input, callbacks
      character(kind=c_char), dimension(*), intent(in) :: task
      integer(c_size_t), value :: size
      type(c_ptr), intent(out) :: result
      integer(c_int) :: status
    end function
    function c_result_wait(result, timeout) bind(c, name="mpipool_result_wait") result(status)
      import :: c_ptr, c_double, c_int
      type(c_ptr), value :: result
      real(c_double), value :: timeout
      integer(c_int) :: status
    end function
    function c_result_get(result, output, capacity, size) bind(c, name="mpipool_result_get") result(status)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: result, output, size
      integer(c_size_t), value :: capacity
      integer(c_int) :: status
    end function
    function c_result_free(result) bind(c, name="mpipool_result_free") result(status)
      import :: c_ptr, c_int
      type(c_ptr), value :: result
      integer(c_int) :: status
    end function
    function c_workers(pool, workers) bind(c, name="mpipool_workers") result(status)
      import :: c_ptr, c_int
      type(c_ptr), value :: pool
      integer(c_int), intent(out) :: workers
      integer(c_int) :: status
    end function
    function c_close(pool) bind(c, name="mpipool_close") result(status)
      import :: c_ptr, c_int
      type(c_ptr), value :: pool
      integer(c_int) :: status
    end function
    function c_join(pool) bind(c, name="mpipool_join") result(status)
      import :: c_ptr, c_int
      type(c_ptr), value :: pool
      integer(c_int) :: status
    end function
  end interface

  !> Registers a bind(c) function of a real(8) or an integer as a task, on every rank.
  interface mpipool_register
    module procedure register_real8, register_integer
  end interface
  !> Maps a registered task over a real(8) or integer array: y(i) = task(x(i)), in order.
  interface mpipool_map
    module procedure map_real8, map_integer
  end interface
  !> Runs a registered real(8) task on one value in the background.
  interface mpipool_apply_async
    module procedure apply_async_real8
  end interface
  !> Waits for a background call and gives its value.
  interface mpipool_wait
    module procedure wait_real8
  end interface
  public :: mpipool_register, mpipool_map, mpipool_apply_async, mpipool_wait, mpipool_run, mpipool_workers, &
            mpipool_close, mpipool_join

contains

  function c_string(text) result(c)
    character(*), intent(in) :: text
    character(kind=c_char, len=len_trim(text) + 1) :: c
    c = trim(text) // c_null_char
  end function

  ! The last error's message, as a Fortran string.
  function last_message() result(message)
    character(len=:), allocatable :: message
    type(error_info), pointer :: info
    integer :: n
    call c_f_pointer(c_last_error(), info)
    n = 0
    do while (n < size(info%message))
      if (info%message(n + 1) == c_null_char) exit
      n = n + 1
    end do
    allocate(character(len=n) :: message)
    message = transfer(info%message(1:n), message)
  end function

  ! Reports a call's status: through stat and errmsg when given, else by stopping on an error.
  subroutine finish(status, stat, errmsg)
    integer(c_int), intent(in) :: status
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    if (present(stat)) stat = int(status)
    if (status == MPIPOOL_OK) return
    if (present(errmsg)) errmsg = last_message()
    if (.not. present(stat)) error stop "mpipool: " // last_message()
  end subroutine

  subroutine register_real8(name, task, stat, errmsg)
    character(*), intent(in) :: name
    procedure(mpipool_real8_task) :: task
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call finish(c_register_double(c_string(name), c_funloc(task)), stat, errmsg)
  end subroutine

  subroutine register_integer(name, task, stat, errmsg)
    character(*), intent(in) :: name
    procedure(mpipool_integer_task) :: task
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call finish(c_register_int(c_string(name), c_funloc(task)), stat, errmsg)
  end subroutine

  !> Starts MPI and a pool over every rank, runs `body` on rank 0 while the others serve,
  !> finalizes MPI. `exit_code` is the body's value on every rank.
  subroutine mpipool_run(body, exit_code, stat, errmsg)
    procedure(mpipool_body) :: body
    integer, intent(out) :: exit_code
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: code
    integer(c_int) :: status
    code = 1
    status = c_run(c_null_ptr, c_null_ptr, c_null_ptr, c_funloc(body), c_null_ptr, code)
    exit_code = int(code)
    call finish(status, stat, errmsg)
  end subroutine

  subroutine map_real8(pool, name, x, y, chunksize, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    character(*), intent(in) :: name
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(out), target, contiguous :: y(:)
    integer, intent(in), optional :: chunksize
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call map_records(pool, name, c_loc(x), size(x), c_loc(y), size(y), c_sizeof(0.0_c_double), chunksize, &
                     stat, errmsg)
  end subroutine

  subroutine map_integer(pool, name, x, y, chunksize, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    character(*), intent(in) :: name
    integer(c_int), intent(in), target, contiguous :: x(:)
    integer(c_int), intent(out), target, contiguous :: y(:)
    integer, intent(in), optional :: chunksize
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call map_records(pool, name, c_loc(x), size(x), c_loc(y), size(y), c_sizeof(0_c_int), chunksize, stat, errmsg)
  end subroutine

  ! The map of either kind: `inputs` records of `element` bytes in, as many out into `outputs`.
  subroutine map_records(pool, name, x, inputs, y, outputs, element, chunksize, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    character(*), intent(in) :: name
    type(c_ptr), intent(in) :: x, y
    integer, intent(in) :: inputs, outputs
    integer(c_size_t), intent(in) :: element
    integer, intent(in), optional :: chunksize
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_long) :: chunk
    chunk = 0
    if (present(chunksize)) chunk = int(chunksize, c_long)
    call finish(c_map(pool%handle, c_string(name), x, element, int(inputs, c_size_t), y, element, &
                      int(outputs, c_size_t) * element, chunk), stat, errmsg)
  end subroutine

  subroutine apply_async_real8(pool, name, x, result, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    character(*), intent(in) :: name
    real(c_double), intent(in), target :: x
    type(mpipool_result), intent(out) :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call finish(c_apply_async(pool%handle, c_string(name), c_loc(x), c_sizeof(x), c_null_ptr, result%handle), &
                stat, errmsg)
  end subroutine

  !> Waits (at most `timeout` seconds when given) and gives the value; the handle is freed
  !> unless the wait timed out (stat MPIPOOL_ERR_TIMEOUT: wait again).
  subroutine wait_real8(result, y, timeout, stat, errmsg)
    type(mpipool_result), intent(inout) :: result
    real(c_double), intent(out), target :: y
    real(c_double), intent(in), optional :: timeout
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: status
    real(c_double) :: limit
    limit = -1.0_c_double
    if (present(timeout)) limit = timeout
    status = c_result_wait(result%handle, limit)
    if (status == MPIPOOL_OK) status = c_result_get(result%handle, c_loc(y), c_sizeof(y), c_null_ptr)
    if (status /= MPIPOOL_ERR_TIMEOUT) then
      if (c_result_free(result%handle) == MPIPOOL_OK) result%handle = c_null_ptr
    end if
    call finish(status, stat, errmsg)
  end subroutine

  !> The number of processes that run tasks.
  subroutine mpipool_workers(pool, workers, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    integer, intent(out) :: workers
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: n
    n = 0
    call finish(c_workers(pool%handle, n), stat, errmsg)
    workers = int(n)
  end subroutine

  !> Python's close(): no new calls; what was submitted still runs.
  subroutine mpipool_close(pool, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call finish(c_close(pool%handle), stat, errmsg)
  end subroutine

  !> Waits for the pool to wind down after mpipool_close.
  subroutine mpipool_join(pool, stat, errmsg)
    type(mpipool_pool), intent(in) :: pool
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call finish(c_join(pool%handle), stat, errmsg)
  end subroutine

end module mpipool
