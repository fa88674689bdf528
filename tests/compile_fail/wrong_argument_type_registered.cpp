// Must not compile: the registered function takes an int, the call gives it strings.
#include <mpipool/mpipool.hpp>
#include <string>
#include <vector>

int twice(int x) { return 2 * x; }
MPIPOOL_REGISTER(twice);

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const std::vector<int> doubled = pool.map(twice, std::vector<std::string>{"one", "two"});
    return static_cast<int>(doubled.size());
  });
}
