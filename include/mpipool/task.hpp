#pragma once
/// @file task.hpp
/// @brief Which callables the pool can run on other ranks, and how to register a free function.
///
/// Every rank runs the same program, so a worker can rebuild a callable from its type:
/// - a capture-less lambda, or any empty, default-constructible function object: nothing to do;
/// - a function object with state that Boost.Serialization can serialize: its state is shipped
///   to each worker once per call, not once per item;
/// - a named free function: one MPIPOOL_REGISTER line at namespace scope.
///
/// Anything else (a lambda that captures, a `std::function`) is rejected at compile time; an
/// unregistered free function is rejected at run time, on the master, before any work is sent.

#include <concepts>
#include <type_traits>
#include <utility>

#include "mpipool/detail/task_model.hpp"
#include "mpipool/parallel.hpp"
#include "mpipool/serialization.hpp"

namespace mpipool::detail {

struct function_registration {
  template <class R, class... P>
  function_registration(R (*fn)(P...), const char* name) {
    task_registry::instance().add_function(reinterpret_cast<erased_function>(fn), name);
  }
};

template <class P>
struct plain_pointer {
  using type = P;
};
template <class R, class... A>
struct plain_pointer<R (*)(A...) noexcept> {
  using type = R (*)(A...);
};
template <class P>
using plain_pointer_t = typename plain_pointer<P>::type;

#define MPIPOOL_DETAIL_CONCAT_(a, b) a##b
#define MPIPOOL_DETAIL_CONCAT(a, b) MPIPOOL_DETAIL_CONCAT_(a, b)

// What could be a task: a function (pointer or reference) or a class type. Whether it really can
// travel is checked inside make_callable, where the failure can say why.
// A task width (mpipool::ranks) picks the overloads that run a task on a group of ranks.
template <class W>
inline constexpr bool is_task_width = std::is_same_v<std::decay_t<W>, task_width> ||
                                      std::is_same_v<std::decay_t<W>, gathering_task_width>;

// A task width is not a task: it picks the overloads that run one on a group of ranks.
template <class F>
concept callable_candidate =
    (std::is_class_v<std::decay_t<F>> && !is_task_width<F>) ||
    (std::is_pointer_v<std::decay_t<F>> && std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>);

// Turns what the caller passed into the callable that travels: a function pointer becomes its
// registered name; a function object travels as itself.
template <callable_candidate F>
auto make_callable(F&& f) {
  using D = std::decay_t<F>;
  if constexpr (is_group_task<D>::value) {  // made from a callable that passed here already
    return D(std::forward<F>(f));
  } else if constexpr (std::is_pointer_v<D> && std::is_function_v<std::remove_pointer_t<D>>) {
    return registered_function<plain_pointer_t<D>>::lookup(f);
  } else {
    static_assert(std::is_class_v<D>,
                  "mpipool: this is not a callable the pool can send to other ranks; pass a "
                  "registered free function, a capture-less lambda, or a function object");
    static_assert(is_stateless<D> || (is_serializable_v<D> && std::is_default_constructible_v<D>),
                  "mpipool: this callable has state that cannot be sent to other ranks (a lambda "
                  "with captures, a std::function, ...). Pass a capture-less lambda and give the "
                  "values as arguments, register a free function with MPIPOOL_REGISTER, or give "
                  "the function object a serialize() member and a default constructor");
    return D(std::forward<F>(f));
  }
}

// The task of a parallel call: the caller's callable, run on groups of `width.ranks` workers.
template <class Width, class F>
auto make_group_task(Width width, F&& f) {
  auto inner = make_callable(std::forward<F>(f));
  constexpr bool gather = std::is_same_v<Width, gathering_task_width>;
  return group_task<decltype(inner), gather>{std::move(inner), width.ranks};
}

}  // namespace mpipool::detail

/// @brief Registers a named free function so that the pool can call it on other ranks.
///
/// Write it once, at namespace scope, in any one source file of the program. Overloaded
/// functions need a cast to pick one, e.g. via a small wrapper function.
/// @code
/// int square(int x) { return x * x; }
/// MPIPOOL_REGISTER(square);
/// // ... pool.map(square, xs);
/// @endcode
#define MPIPOOL_REGISTER(function)                                                    \
  [[maybe_unused]] static const ::mpipool::detail::function_registration              \
      MPIPOOL_DETAIL_CONCAT(mpipool_registration_, __COUNTER__) {                     \
    &function, #function                                                              \
  }
