#pragma once
// Values for the message-size tests: strings whose every byte depends on its position and a
// seed, so that a lost, repeated or misplaced part of a message shows.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace mpipool_test {

inline char pattern_byte(std::size_t i, unsigned seed) {
  return static_cast<char>((i ^ (i >> 13) ^ (i >> 29)) * 151u + seed);
}

inline std::string patterned(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = pattern_byte(i, seed);
  return out;
}

// Whether `value` is exactly patterned(size, seed), without building a second copy of it.
inline bool is_patterned(const std::string& value, std::size_t size, unsigned seed) {
  if (value.size() != size) return false;
  for (std::size_t i = 0; i < size; ++i)
    if (value[i] != pattern_byte(i, seed)) return false;
  return true;
}

// A position-dependent checksum (FNV-1a over 8-byte words, then the last bytes), so that
// reordered bytes change it; word by word to keep 3 GiB quick.
inline std::uint64_t checksum(const std::string& value) {
  constexpr std::uint64_t prime = 1099511628211ull;
  std::uint64_t hash = 14695981039346656037ull;
  std::size_t i = 0;
  for (; i + sizeof(std::uint64_t) <= value.size(); i += sizeof(std::uint64_t)) {
    std::uint64_t word = 0;
    std::memcpy(&word, value.data() + i, sizeof word);
    hash = (hash ^ word) * prime;
  }
  for (; i < value.size(); ++i) hash = (hash ^ static_cast<unsigned char>(value[i])) * prime;
  return hash;
}

}  // namespace mpipool_test
