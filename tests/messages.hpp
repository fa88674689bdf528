#pragma once
// Values for the message-size tests: strings whose every byte depends on its position and a
// seed, so that a lost, repeated or misplaced part of a message shows.

#include <cstddef>
#include <cstdint>
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

// A position-dependent checksum (FNV-1a), so that reordered bytes change it.
inline std::uint64_t checksum(const std::string& value) {
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : value) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

}  // namespace mpipool_test
