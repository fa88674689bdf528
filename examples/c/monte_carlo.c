/* Monte Carlo estimate of pi from C: each task throws darts from its own seed and counts the
 * hits in the unit quarter circle; rank 0 maps it over the seeds and sums.
 *
 *   mpirun -n 4 build/examples/c/monte_carlo_c [tasks] [darts per task]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpipool.h>

struct throw_spec {
  uint64_t seed;
  uint64_t darts;
};

/* xorshift64*: small, fast, and the same on every rank. */
static double uniform(uint64_t* state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return (double)((*state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int count_hits(const void* input, void* output, void* user) {
  (void)user;
  const struct throw_spec* spec = input;
  uint64_t state = spec->seed * 0x9E3779B97F4A7C15ULL + 1;
  uint64_t hits = 0;
  for (uint64_t i = 0; i < spec->darts; ++i) {
    const double x = uniform(&state), y = uniform(&state);
    hits += x * x + y * y <= 1.0;
  }
  *(uint64_t*)output = hits;
  return 0;
}

struct settings {
  size_t tasks;
  uint64_t darts;
};

static int body(mpipool_pool* pool, void* user) {
  const struct settings* s = user;
  struct throw_spec* specs = malloc(s->tasks * sizeof *specs);
  uint64_t* hits = malloc(s->tasks * sizeof *hits);
  if (!specs || !hits) return 1;
  for (size_t i = 0; i < s->tasks; ++i) specs[i] = (struct throw_spec){i, s->darts};
  int workers = 0;
  mpipool_workers(pool, &workers);
  const int status = mpipool_map(pool, "count_hits", specs, sizeof *specs, s->tasks, hits, sizeof *hits,
                                 s->tasks * sizeof *hits, 0);
  if (status != MPIPOOL_OK) {
    fprintf(stderr, "mpipool_map: %s\n", mpipool_last_error()->message);
    return 1;
  }
  uint64_t total = 0;
  for (size_t i = 0; i < s->tasks; ++i) total += hits[i];
  const double pi = 4.0 * (double)total / ((double)s->tasks * (double)s->darts);
  printf("pi ~ %.6f from %zu tasks of %llu darts on %d workers\n", pi, s->tasks, (unsigned long long)s->darts,
         workers);
  free(specs);
  free(hits);
  return pi > 3.1 && pi < 3.2 ? 0 : 1;
}

int main(int argc, char** argv) {
  struct settings s = {64, 200000};
  if (argc > 1) s.tasks = (size_t)strtoull(argv[1], NULL, 10);
  if (argc > 2) s.darts = strtoull(argv[2], NULL, 10);
  mpipool_register_records("count_hits", count_hits, sizeof(struct throw_spec), sizeof(uint64_t), NULL);
  int exit_code = 1;
  if (mpipool_run(&argc, &argv, NULL, body, &s, &exit_code) != MPIPOOL_OK) {
    fprintf(stderr, "mpipool_run: %s\n", mpipool_last_error()->message);
    return 1;
  }
  return exit_code;
}
