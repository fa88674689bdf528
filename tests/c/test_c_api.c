/* The C API from C, under mpiexec at every rank count: a code that called MPI_Init itself
 * starts a pool on MPI_COMM_WORLD (mpipool_run_comm) and checks every call kind and every
 * misuse against known values. Prints each failed check, then "N passed, M failed". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpipool.h>

static int passed, failed;

#define CHECK(condition)                                                                 \
  do {                                                                                   \
    if (condition) {                                                                     \
      ++passed;                                                                          \
    } else {                                                                             \
      ++failed;                                                                          \
      fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", __FILE__, __LINE__, \
              #condition, mpipool_last_error()->status, mpipool_last_error()->message);  \
    }                                                                                    \
  } while (0)

static int square(const void* in, void* out, void* user) {
  (void)user;
  const double x = *(const double*)in;
  *(double*)out = x * x;
  return 0;
}

/* starmap: an int and a double in one record. */
static int scale(const void* in, void* out, void* user) {
  (void)user;
  int factor;
  double value;
  memcpy(&factor, in, sizeof factor);
  memcpy(&value, (const char*)in + sizeof factor, sizeof value);
  *(double*)out = factor * value;
  return 0;
}

static int reverse(const void* in, size_t size, mpipool_writer* out, void* user) {
  (void)user;
  const char* text = in;
  for (size_t i = 0; i < size; ++i)
    if (mpipool_writer_write(out, text + size - 1 - i, 1) != MPIPOOL_OK) return 1;
  return 0;
}

static int fail_on_seven(const void* in, void* out, void* user) {
  (void)user;
  const int x = *(const int*)in;
  if (x == 7) {
    mpipool_task_fail("seven is not allowed");
    return 3;
  }
  *(int*)out = x + 1;
  return 0;
}

static mpipool_pool* the_pool; /* rank 0's, for the task that tries to use it */

/* A task that calls the pool: refused, whatever pool pointer it has. */
static int call_the_pool(const void* in, void* out, void* user) {
  (void)in;
  (void)user;
  double x = 1, y = 0;
  *(int*)out = mpipool_map(the_pool, "square", &x, sizeof x, 1, &y, sizeof y, sizeof y, 0);
  return 0;
}

static double twice(double x) { return 2 * x; }

struct counter {
  int results;
  int errors;
  size_t bytes;
};
static void on_result(const void* output, size_t size, void* user) {
  (void)output;
  struct counter* c = user;
  c->results++;
  c->bytes = size;
}
static void on_error(const mpipool_error_info* error, void* user) {
  (void)error;
  ((struct counter*)user)->errors++;
}

struct numbers {
  int next, end;
};
static int produce(void* user, void* record) {
  struct numbers* n = user;
  if (n->next >= n->end) return 0;
  *(double*)record = n->next++;
  return 1;
}
struct sums {
  double total;
  int count;
  int in_order;
};
static int consume(void* user, uint64_t index, const void* record) {
  struct sums* s = user;
  const double y = *(const double*)record;
  if (y != (double)index * (double)index) s->in_order = 0;
  s->total += y;
  s->count++;
  return 0;
}

static int body(mpipool_pool* pool, void* user) {
  (void)user;
  the_pool = pool;
  enum { n = 1000 };
  static double xs[n], ys[n];
  for (int i = 0; i < n; ++i) xs[i] = i;

  /* map, adaptive and at chunksize 1 */
  CHECK(mpipool_map(pool, "square", xs, sizeof(double), n, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_OK);
  int right = 1;
  for (int i = 0; i < n; ++i) right &= ys[i] == (double)i * i;
  CHECK(right);
  CHECK(mpipool_map(pool, "twice", xs, sizeof(double), 10, ys, sizeof(double), sizeof ys, 1) == MPIPOOL_OK);
  CHECK(ys[9] == 18.0);
  /* with a chunksize, each chunk travels as one block of records; the last block is shorter */
  for (int i = 0; i < n; ++i) ys[i] = -1;
  CHECK(mpipool_map(pool, "twice", xs, sizeof(double), n, ys, sizeof(double), sizeof ys, 64) == MPIPOOL_OK);
  right = 1;
  for (int i = 0; i < n; ++i) right &= ys[i] == 2.0 * i;
  CHECK(right);

  /* starmap over two arrays */
  int factors[4] = {1, 2, 3, 4};
  double values[4] = {0.5, 0.5, 0.5, 0.5};
  const void* arrays[2] = {factors, values};
  const size_t sizes[2] = {sizeof(int), sizeof(double)};
  double scaled[4] = {0};
  CHECK(mpipool_starmap(pool, "scale", 2, arrays, sizes, 4, scaled, sizeof(double), sizeof scaled, 0) == MPIPOOL_OK);
  CHECK(scaled[0] == 0.5 && scaled[3] == 2.0);

  /* apply_async of a byte task: wait, ready, get into a small buffer, then a big enough one */
  mpipool_result* handle = NULL;
  struct counter apply_calls = {0, 0, 0};
  const mpipool_callbacks apply_callbacks = {on_result, on_error, &apply_calls};
  CHECK(mpipool_apply_async(pool, "reverse", "mpipool", 7, &apply_callbacks, &handle) == MPIPOOL_OK);
  CHECK(mpipool_result_wait(handle, 30.0) == MPIPOOL_OK);
  int ready = 0;
  CHECK(mpipool_result_ready(handle, &ready) == MPIPOOL_OK && ready == 1);
  char small[3];
  size_t size = 0;
  CHECK(mpipool_result_get(handle, small, sizeof small, &size) == MPIPOOL_ERR_BUFFER);
  CHECK(size == 7 && mpipool_last_error()->needed == 7);
  char text[16] = {0};
  CHECK(mpipool_result_get(handle, text, sizeof text, &size) == MPIPOOL_OK);
  CHECK(strcmp(text, "loopipm") == 0);
  CHECK(apply_calls.results == 1 && apply_calls.bytes == 7);
  CHECK(mpipool_result_free(handle) == MPIPOOL_OK);

  /* map_async with callbacks */
  struct counter map_calls = {0, 0, 0};
  const mpipool_callbacks map_callbacks = {on_result, on_error, &map_calls};
  CHECK(mpipool_map_async(pool, "square", xs, sizeof(double), 50, ys, sizeof(double), sizeof ys, 5, &map_callbacks,
                          &handle) == MPIPOOL_OK);
  CHECK(mpipool_result_get(handle, NULL, 0, NULL) == MPIPOOL_OK);
  CHECK(ys[49] == 49.0 * 49.0 && map_calls.results == 1 && map_calls.bytes == 50 * sizeof(double));
  mpipool_result_free(handle);

  /* streams, ordered and not */
  struct numbers input = {0, 200};
  struct sums ordered = {0, 0, 1};
  CHECK(mpipool_imap(pool, "square", sizeof(double), produce, &input, sizeof(double), consume, &ordered, 3, 1) ==
        MPIPOOL_OK);
  CHECK(ordered.count == 200 && ordered.in_order && ordered.total == 2646700.0);
  struct numbers again = {0, 200};
  struct sums unordered = {0, 0, 1};
  CHECK(mpipool_imap(pool, "square", sizeof(double), produce, &again, sizeof(double), consume, &unordered, 1, 0) ==
        MPIPOOL_OK);
  CHECK(unordered.count == 200 && unordered.total == 2646700.0);

  /* a task that fails: the status, the message, where */
  int ints[10], outs[10];
  for (int i = 0; i < 10; ++i) ints[i] = i;
  CHECK(mpipool_map(pool, "fail_on_seven", ints, sizeof(int), 10, outs, sizeof(int), sizeof outs, 1) == MPIPOOL_ERR_TASK);
  CHECK(strstr(mpipool_last_error()->message, "seven is not allowed") != NULL);
  CHECK(strcmp(mpipool_last_error()->type_name, "mpipool_task_error") == 0);
  CHECK(mpipool_last_error()->index == 7 && mpipool_last_error()->rank >= 0 && mpipool_last_error()->host[0] != '\0');
  /* the same in blocks of four: still the record's own index and message */
  CHECK(mpipool_map(pool, "fail_on_seven", ints, sizeof(int), 10, outs, sizeof(int), sizeof outs, 4) == MPIPOOL_ERR_TASK);
  CHECK(mpipool_last_error()->index == 7 && mpipool_last_error()->rank >= 0);
  CHECK(strstr(mpipool_last_error()->message, "item 7: ") != NULL);
  CHECK(strstr(mpipool_last_error()->message, "seven is not allowed") != NULL);
  CHECK(strstr(mpipool_last_error()->message, "of the block") == NULL);

  /* misuse: each an error status and a message */
  CHECK(mpipool_map(NULL, "square", xs, sizeof(double), 1, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_ERR_ARGUMENT);
  CHECK(mpipool_map(pool, NULL, xs, sizeof(double), 1, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_ERR_ARGUMENT);
  CHECK(mpipool_map(pool, "square", NULL, sizeof(double), 1, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_ERR_ARGUMENT);
  CHECK(mpipool_map(pool, "no_such_task", xs, sizeof(double), 1, ys, sizeof(double), sizeof ys, 0) ==
        MPIPOOL_ERR_NOT_FOUND);
  CHECK(strstr(mpipool_last_error()->message, "no_such_task") != NULL);
  CHECK(mpipool_map(pool, "square", xs, sizeof(double), 100, ys, sizeof(double), 99 * sizeof(double), 0) ==
        MPIPOOL_ERR_BUFFER);
  CHECK(mpipool_last_error()->needed == 100 * sizeof(double));
  CHECK(mpipool_map(pool, "square", xs, sizeof(float), 1, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_ERR_ARGUMENT);
  CHECK(strstr(mpipool_last_error()->message, "registered for records of 8 bytes") != NULL);
  CHECK(mpipool_map(pool, "square", xs, sizeof(double), 1, ys, sizeof(double), sizeof ys, -2) == MPIPOOL_ERR_ARGUMENT);
  int refused = 0;
  CHECK(mpipool_map(pool, "call_the_pool", &refused, sizeof refused, 1, &refused, sizeof refused, sizeof refused, 0) ==
        MPIPOOL_OK);
  CHECK(refused == MPIPOOL_ERR_STATE);
  int refusals[3] = {0, 0, 0};
  CHECK(mpipool_map(pool, "call_the_pool", refusals, sizeof(int), 3, refusals, sizeof(int), sizeof refusals, 2) ==
        MPIPOOL_OK);
  CHECK(refusals[0] == MPIPOOL_ERR_STATE && refusals[2] == MPIPOOL_ERR_STATE);

  /* after close: refused */
  CHECK(mpipool_close(pool) == MPIPOOL_OK);
  CHECK(mpipool_map(pool, "square", xs, sizeof(double), 1, ys, sizeof(double), sizeof ys, 0) == MPIPOOL_ERR_STATE);
  CHECK(mpipool_join(pool) == MPIPOOL_OK);
  return failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  /* Every rank registers the same tasks, before the pool starts. */
  mpipool_register_records("square", square, sizeof(double), sizeof(double), NULL);
  mpipool_register_records("scale", scale, sizeof(int) + sizeof(double), sizeof(double), NULL);
  mpipool_register_records("fail_on_seven", fail_on_seven, sizeof(int), sizeof(int), NULL);
  mpipool_register_records("call_the_pool", call_the_pool, sizeof(int), sizeof(int), NULL);
  mpipool_register_bytes("reverse", reverse, NULL);
  mpipool_register_double("twice", twice);
  int exit_code = 1;
  const int status = mpipool_run_comm(MPI_COMM_WORLD, NULL, body, NULL, &exit_code);
  if (status != MPIPOOL_OK) fprintf(stderr, "mpipool_run_comm: %s\n", mpipool_last_error()->message);
  if (rank == 0) printf("%d passed, %d failed\n", passed, failed);
  MPI_Finalize();
  return status == MPIPOOL_OK ? exit_code : 1;
}
