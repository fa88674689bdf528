// Must not compile: the result type has no serialize().
#include <mpipool/mpipool.hpp>

struct opaque {
  int value = 0;
};

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    (void)pool.apply([](int x) { return opaque{x}; }, 1);
  });
}
