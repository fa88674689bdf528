// Must not compile: the task takes an int, the call gives it a string. The result is kept in
// `auto`, as users write it: the first error must still be mpipool's, not one about the
// result's type at this line.
#include <mpipool/mpipool.hpp>
#include <string>

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    auto next = pool.apply([](int x) { return x + 1; }, std::string("three"));
    return next;
  });
}
