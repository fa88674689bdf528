// Streams millions of records through imap_unordered in bounded memory: the master reads the
// input only as fast as the workers take it, whatever its length. The input is either generated
// records or the lines of a file, read one at a time.
//
//   mpirun -n 4 ./streaming [records]         (default: 2 million generated records)
//   mpirun -n 4 ./streaming --file data.txt   (one task per line)
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <ranges>
#include <string>

#include <mpipool/mpipool.hpp>

namespace {

// The lines of a stream, as an input range.
class lines {
 public:
  explicit lines(std::istream& in) : in_(&in) {}
  class iterator {
   public:
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(lines* owner) : owner_(owner) { ++*this; }
    const std::string& operator*() const { return owner_->line_; }
    iterator& operator++() {
      if (!std::getline(*owner_->in_, owner_->line_)) owner_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return owner_ == nullptr; }

   private:
    lines* owner_ = nullptr;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  std::istream* in_;
  std::string line_;
};

// A checksum of a text: the work each task does.
std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

std::string make_record(long i) { return "record " + std::to_string(i) + std::string(100, char('a' + i % 26)); }

long peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

template <class Input>
int stream_through(mpipool::pool& pool, Input&& input, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t combined = 0;
  long count = 0;
  for (std::uint64_t hash : pool.imap_unordered(fnv1a, std::forward<Input>(input), 1000)) {
    combined ^= hash;
    ++count;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%ld %s in %.2f s: %.0f records/s on %zu workers (checksum %016llx, master peak RSS %ld MiB)\n",
              count, what, seconds, static_cast<double>(count) / seconds, pool.workers(),
              static_cast<unsigned long long>(combined), peak_rss_mib());
  return 0;
}

}  // namespace
MPIPOOL_REGISTER(fnv1a);

int main(int argc, char** argv) {
  const std::string first = argc > 1 ? argv[1] : "";
  return mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    if (first == "--file") {
      if (argc < 3) {
        std::fprintf(stderr, "usage: streaming --file PATH\n");
        return 2;
      }
      std::ifstream file(argv[2]);
      if (!file) {
        std::fprintf(stderr, "streaming: cannot open %s\n", argv[2]);
        return 1;
      }
      return stream_through(pool, lines(file), "lines");
    }
    const long records = first.empty() ? 2'000'000 : std::atol(first.c_str());
    return stream_through(pool, std::views::iota(0L, records) | std::views::transform(make_record), "records");
  });
}
