#pragma once
// Values that fail to serialize or to deserialize, at one chosen value: what the item-failure
// tests and the failure-point matrix send through the pool.
#include <stdexcept>
#include <string>

#include <boost/serialization/split_member.hpp>

namespace mpipool_test {

constexpr int poisoned = 3;

// Throws in save() after writing part of itself when its value is `poisoned`.
struct refuses_to_save {
  int value = 0;
  std::string label;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    ar << value;
    if (value == poisoned) throw std::length_error("cannot save " + std::to_string(value));
    ar << label;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ar >> value >> label;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

// Throws in load() after reading part of itself when its value is `poisoned`.
struct refuses_to_load {
  int value = 0;
  std::string label;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    ar << value << label;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ar >> value;
    if (value == poisoned) throw std::domain_error("cannot load " + std::to_string(value));
    ar >> label;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

}  // namespace mpipool_test
