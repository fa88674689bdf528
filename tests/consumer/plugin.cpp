// A shared library built on mpipool, as a plugin or a Python extension is: a static libmpipool.a
// links into it only if it was compiled as position-independent code.
#include "plugin.hpp"

#include <cstdio>
#include <numeric>
#include <ranges>
#include <vector>

#include <mpipool/mpipool.hpp>

int plugin_cube(int x) { return x * x * x; }
MPIPOOL_REGISTER(plugin_cube);

int consumer_plugin_run(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const std::vector<int> cubes = pool.map(plugin_cube, std::views::iota(0, 100));
    std::printf("plugin: sum of cubes below 100: %ld on %zu workers\n",
                std::accumulate(cubes.begin(), cubes.end(), 0L), pool.workers());
    return 0;
  });
}
