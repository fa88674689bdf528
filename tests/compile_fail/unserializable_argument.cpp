// Must not compile: the argument type has no serialize().
#include <mpipool/mpipool.hpp>
#include <vector>

struct opaque {
  int value = 0;
};

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    (void)pool.map([](opaque o) { return o.value; }, std::vector<opaque>(2));
  });
}
