#pragma once
/// @file bitwise.hpp
/// @brief Which values travel as raw bytes, with no Boost archive, and how a type opts in.
///
/// Arguments and results of these kinds are copied byte for byte into the messages, which costs
/// a `memcpy` where an archive costs a stream and a `std::locale` per chunk:
/// - arithmetic types (`bool`, `char`, `int`, `double`, ...) and enums;
/// - `std::complex` of an arithmetic type;
/// - `std::array`, `std::pair` and `std::tuple` whose elements are all of these kinds;
/// - `std::vector` of any of these kinds (its length, then its elements), except
///   `std::vector<bool>`;
/// - a trivially copyable type of yours that opts in by specializing
///   `mpipool::bitwise_serializable`.
///
/// Everything else (strings, maps, optionals, your structs with `serialize()`) goes through
/// Boost.Serialization, as does any value that holds one: a `std::tuple<int, std::string>` is
/// archived whole. A struct of yours is archived, with its own `serialize()`, unless it opts in;
/// an opted-in type is always copied as bytes, and its `serialize()` (if any) is not used.
///
/// Every rank runs the same program, so both sides make the same choice from the type alone.
/// The bytes are those of this machine, so all ranks must share one byte order and type layout
/// (as they do when they run one program on one kind of machine).
///
/// @code
/// struct particle { double x, y, z; float mass; };     // trivially copyable, no serialize()
/// template <> struct mpipool::bitwise_serializable<particle> : std::true_type {};
///
/// std::vector<particle> moved = pool.map(step, particles);    // copied as bytes both ways
/// static_assert(mpipool::is_serializable_v<std::vector<particle>>);
/// @endcode

#include <type_traits>

namespace mpipool {

/// @brief Customization point: specialize to `std::true_type` for a trivially copyable type that
/// should travel as its raw bytes (see the file comment for the rules). A type without a
/// `serialize()` of its own can then travel alone or inside arrays, pairs, tuples and vectors of
/// bitwise values, though not inside a container that Boost.Serialization writes (a `std::map`,
/// say).
/// @code
/// template <> struct mpipool::bitwise_serializable<particle> : std::true_type {};
/// @endcode
template <class T>
struct bitwise_serializable : std::false_type {};

}  // namespace mpipool
