/**
 * @file mpipool.h
 * @brief mpipool's C API: the pool for codes in C (and, through the `mpipool` module, Fortran).
 *
 * The same engine as the C++ API, behind C11 types. Tasks are registered by name on every rank
 * (all ranks run the same program), before the pool starts; calls name them. Every function
 * returns a status (MPIPOOL_OK, or an error whose details mpipool_last_error() gives on the
 * calling thread); no C++ exception ever crosses this interface.
 * @code
 * static int square(const void* in, void* out, void* user) {
 *   (void)user;
 *   *(double*)out = *(const double*)in * *(const double*)in;
 *   return 0;
 * }
 * static int body(mpipool_pool* pool, void* user) {
 *   double xs[100], ys[100];
 *   for (int i = 0; i < 100; ++i) xs[i] = i;
 *   if (mpipool_map(pool, "square", xs, sizeof(double), 100, ys, sizeof(double), sizeof ys, 0) != MPIPOOL_OK)
 *     fprintf(stderr, "%s\n", mpipool_last_error()->message);
 *   return 0;
 * }
 * int main(int argc, char** argv) {
 *   mpipool_register_records("square", square, sizeof(double), sizeof(double), NULL);
 *   int exit_code = 1;
 *   mpipool_run(&argc, &argv, NULL, body, NULL, &exit_code);
 *   return exit_code;
 * }
 * @endcode
 */
#ifndef MPIPOOL_H
#define MPIPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief What every function returns. */
typedef enum mpipool_status {
  MPIPOOL_OK = 0,               /**< success */
  MPIPOOL_ERR_ARGUMENT = 1,     /**< a null pointer, a bad size or count, a bad chunksize */
  MPIPOOL_ERR_NOT_FOUND = 2,    /**< no task of that name is registered, or it is of another kind */
  MPIPOOL_ERR_TASK = 3,         /**< a task failed on a worker (mpipool_last_error() says where) */
  MPIPOOL_ERR_STATE = 4,        /**< the pool is closed or stopped, or a pool call from inside a task */
  MPIPOOL_ERR_TIMEOUT = 5,      /**< a wait ran out of time: the result is not ready yet */
  MPIPOOL_ERR_BUFFER = 6,       /**< an output buffer is too small (mpipool_last_error()->needed says how big) */
  MPIPOOL_ERR_INTERRUPTED = 7,  /**< SIGTERM or SIGINT stopped the pool, or terminate() */
  MPIPOOL_ERR_OTHER = 8         /**< anything else: MPI, memory, the pool's own failure */
} mpipool_status;

/** @brief The last error on the calling thread, as mpipool_last_error() gives it. */
typedef struct mpipool_error_info {
  int status;             /**< the mpipool_status of the failed call */
  char type_name[128];    /**< the error's type (a task's: the C++ type, or "mpipool_task_error") */
  char message[1024];     /**< what happened, cut to fit */
  int rank;               /**< the worker rank where a task failed, else -1 */
  char host[128];         /**< that worker's host, else "" */
  int64_t index;          /**< the failing item's index in the call's input, else -1 */
  size_t needed;          /**< with MPIPOOL_ERR_BUFFER: the bytes the output needs */
} mpipool_error_info;

/** @brief The last error of an mpipool call on this thread (never NULL; status 0 if none). */
const mpipool_error_info* mpipool_last_error(void);

/** @brief A running pool, valid inside the body only (rank 0). */
typedef struct mpipool_pool mpipool_pool;
/** @brief A call running in the background: mpipool_map_async, mpipool_apply_async. */
typedef struct mpipool_result mpipool_result;
/** @brief Where a byte task writes its output. */
typedef struct mpipool_writer mpipool_writer;

/* ---- Tasks, registered on every rank before the pool starts ---- */

/**
 * @brief A task on fixed-size records: reads `input`, writes `output`; returns 0, or non-zero to
 * fail the item (with the message given to mpipool_task_fail, if any).
 */
typedef int (*mpipool_record_task)(const void* input, void* output, void* user);
/** @brief A task on bytes of any size: reads `input`, writes what it returns through `output`. */
typedef int (*mpipool_bytes_task)(const void* input, size_t input_size, mpipool_writer* output, void* user);

/** @brief Registers a record task: `input_size` bytes in, `output_size` bytes out, per item. */
int mpipool_register_records(const char* name, mpipool_record_task task, size_t input_size, size_t output_size,
                             void* user);
/** @brief Registers a byte task. */
int mpipool_register_bytes(const char* name, mpipool_bytes_task task, void* user);
/** @brief Registers `double f(double)` as a record task of one double in, one out (Fortran's real(8)). */
int mpipool_register_double(const char* name, double (*task)(double));
/** @brief Registers `int f(int)` as a record task of one int in, one out (Fortran's integer). */
int mpipool_register_int(const char* name, int (*task)(int));

/** @brief Inside a byte task: appends `size` bytes to its output. */
int mpipool_writer_write(mpipool_writer* output, const void* data, size_t size);
/** @brief Inside a task: the message of the failure it is about to return (non-zero). */
void mpipool_task_fail(const char* message);

/* ---- Starting a pool ---- */

/** @brief mpipool_options::ranks_per_group for a group of each node's ranks (pool_options::group_per_node). */
#define MPIPOOL_GROUP_PER_NODE (-1)

/** @brief Settings of a pool; fill with mpipool_options_init, then change what you need. */
typedef struct mpipool_options {
  const char* initializer;       /**< a registered byte task run once on every worker, or NULL */
  const void* initializer_input; /**< its input */
  size_t initializer_input_size;
  int isolated;                  /**< run tasks in a helper process per worker */
  double task_timeout;           /**< seconds per item, 0: none (turns isolation on) */
  int max_tasks_per_child;       /**< replace a helper after this many tasks, 0: never */
  int progress;                  /**< a progress display on stderr */
  int ranks_per_group;           /**< groups of this many ranks, each behind a relay that talks to the
                                      master for it (the C++ pool_options::ranks_per_group), or
                                      MPIPOOL_GROUP_PER_NODE; 0: the environment's
                                      MPIPOOL_RANKS_PER_GROUP, else no groups */
} mpipool_options;

/** @brief The defaults: no initializer, not isolated, no limits, no progress. */
void mpipool_options_init(mpipool_options* options);

/** @brief What runs on rank 0 while the pool serves; its return value is the job's exit code. */
typedef int (*mpipool_body)(mpipool_pool* pool, void* user);

/**
 * @brief Starts MPI (MPI_Init_thread) and a pool over MPI_COMM_WORLD, runs `body` on rank 0
 * while every other rank serves, finalizes MPI. `*exit_code` is the body's value on every rank
 * (128 + the signal after SIGTERM or SIGINT). `options` may be NULL, and so may `argc` and
 * `argv` together (Fortran has none to give).
 */
int mpipool_run(int* argc, char*** argv, const mpipool_options* options, mpipool_body body, void* user,
                int* exit_code);
/** @brief As mpipool_run, for a code that called MPI_Init itself: a pool over `comm`. */
int mpipool_run_comm(MPI_Comm comm, const mpipool_options* options, mpipool_body body, void* user, int* exit_code);

/* ---- Calls (rank 0, inside the body) ---- */

/**
 * @brief Applies a record task to `count` records of `input_size` bytes at `inputs`, writing
 * `count` records of `output_size` bytes to `outputs` (`outputs_capacity` bytes), in order.
 * `chunksize` 0: adaptive. With a chunksize above 1, each chunk's records travel as one block (a
 * failing record fails its chunk; the error names that record), unless the pool's options count
 * or limit items one by one (progress, a task timeout, isolated).
 */
int mpipool_map(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size, size_t count,
                void* outputs, size_t output_size, size_t outputs_capacity, long chunksize);

/** @brief mpipool_map with a results journal: `journal_file`, and the call's name in it. */
int mpipool_map_journaled(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size,
                          size_t count, void* outputs, size_t output_size, size_t outputs_capacity, long chunksize,
                          const char* journal_file, const char* journal_name);

/**
 * @brief starmap over arrays: item i's arguments are the i-th records of the `arity` arrays at
 * `inputs`, given to the task one after the other in one record (the task is registered with
 * the sum of the sizes as its input size).
 */
int mpipool_starmap(mpipool_pool* pool, const char* task, size_t arity, const void* const* inputs,
                    const size_t* input_sizes, size_t count, void* outputs, size_t output_size,
                    size_t outputs_capacity, long chunksize);

/** @brief Called on rank 0 when a background call succeeds: its output bytes. */
typedef void (*mpipool_result_callback)(const void* output, size_t size, void* user);
/** @brief Called on rank 0 when a background call fails. */
typedef void (*mpipool_error_callback)(const mpipool_error_info* error, void* user);
/** @brief The callbacks of a background call; any may be NULL. They run on the pool's thread. */
typedef struct mpipool_callbacks {
  mpipool_result_callback on_result;
  mpipool_error_callback on_error;
  void* user;
} mpipool_callbacks;

/**
 * @brief mpipool_map in the background. `outputs` is written when mpipool_result_get returns
 * MPIPOOL_OK. `callbacks` may be NULL.
 */
int mpipool_map_async(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size, size_t count,
                      void* outputs, size_t output_size, size_t outputs_capacity, long chunksize,
                      const mpipool_callbacks* callbacks, mpipool_result** result);

/** @brief Runs a byte task on `size` bytes at `input` in the background. */
int mpipool_apply_async(mpipool_pool* pool, const char* task, const void* input, size_t size,
                        const mpipool_callbacks* callbacks, mpipool_result** result);

/** @brief Waits for a background call, at most `timeout_s` seconds (negative: no limit). */
int mpipool_result_wait(mpipool_result* result, double timeout_s);
/** @brief Whether a background call is done (`*ready` 1) or not (0). */
int mpipool_result_ready(const mpipool_result* result, int* ready);
/**
 * @brief Waits, then gives the call's output: for mpipool_map_async, writes its `outputs`; for
 * mpipool_apply_async, copies the bytes into `output` (`capacity` bytes) and sets `*size`
 * (MPIPOOL_ERR_BUFFER when they do not fit; `*size` then says how many). `output` and `size`
 * may be NULL for a map.
 */
int mpipool_result_get(mpipool_result* result, void* output, size_t capacity, size_t* size);
/** @brief Frees a handle (the call goes on if it is still running). NULL is fine. */
int mpipool_result_free(mpipool_result* result);

/** @brief Gives item `index`'s input record; returns 1, or 0 at the end of the input. */
typedef int (*mpipool_producer)(void* user, void* record);
/**
 * @brief Takes one output record; returns 0, or non-zero to stop the stream. `index`: the item's
 * position in the input when the stream is ordered, else the result's position in arrival order.
 */
typedef int (*mpipool_consumer)(void* user, uint64_t index, const void* record);

/**
 * @brief imap over a producer: records of `input_size` bytes are read lazily (on the pool's
 * thread, only as workers need them); outputs of `output_size` bytes reach `consumer` on the
 * calling thread, in input order when `ordered`, else as they finish.
 */
int mpipool_imap(mpipool_pool* pool, const char* task, size_t input_size, mpipool_producer producer,
                 void* producer_user, size_t output_size, mpipool_consumer consumer, void* consumer_user,
                 long chunksize, int ordered);

/** @brief Python's close(): no new calls; what was submitted still runs. */
int mpipool_close(mpipool_pool* pool);
/** @brief Python's terminate(): unfinished calls fail with MPIPOOL_ERR_INTERRUPTED. */
int mpipool_terminate(mpipool_pool* pool);
/** @brief Waits for the pool to wind down after close or terminate. */
int mpipool_join(mpipool_pool* pool);
/** @brief The number of processes that run tasks. */
int mpipool_workers(const mpipool_pool* pool, int* workers);

#ifdef __cplusplus
}
#endif

#endif /* MPIPOOL_H */
