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
// travel is checked by task_checks, where the failure can say why.
// A task width (mpipool::ranks) is no task: it picks the overloads that run one on a group of ranks.
template <class W>
inline constexpr bool is_task_width = std::is_same_v<std::decay_t<W>, task_width> ||
                                      std::is_same_v<std::decay_t<W>, gathering_task_width>;

template <class F>
concept callable_candidate =
    (std::is_class_v<std::decay_t<F>> && !is_task_width<F>) ||
    (std::is_pointer_v<std::decay_t<F>> && std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>);

// What a caller passed that is no task at all (an int, say): its checks fail with a message.
struct not_a_callable {};

// The callable that travels for what the caller passed as F: a function pointer becomes its
// registered name, a function object travels as itself. Defined for every F, so that naming a
// call's result type never fails inside a signature, where overload resolution would either
// drop the candidate silently or stop with an error that is not mpipool's.
template <class F, class D = std::decay_t<F>>
struct callable_of {
  using type = not_a_callable;
};
template <class F, class D>
  requires std::is_class_v<D>
struct callable_of<F, D> {
  using type = D;
};
template <class F, class D>
  requires(std::is_pointer_v<D> && std::is_function_v<std::remove_pointer_t<D>>)
struct callable_of<F, D> {
  using type = registered_function<plain_pointer_t<D>>;
};
template <class F>
using callable_t = typename callable_of<F>::type;

// The result type of task F on argument tuples Args: void if F cannot be called with them.
template <class F, class Args>
using task_result_t = typename apply_result<callable_t<F>, Args>::type;

// Each requirement on a task F called with argument tuples Args, in the order the checks report
// them: the first one missed is the one to fix.
template <class F, class Args>
struct task_checks {
  using decayed = std::decay_t<F>;
  using callable = callable_t<F>;
  using result = task_result_t<F, Args>;
  static constexpr bool is_callable = callable_candidate<F>;
  // A parallel task's wrapper carries its width, which travels with the callable inside it.
  static constexpr bool travels = !std::is_class_v<decayed> || is_stateless<decayed> || is_group_task<decayed>::value ||
                                  (is_serializable_v<decayed> && std::is_default_constructible_v<decayed>);
  static constexpr bool arguments_travel = args_serializable<Args>::value;
  static constexpr bool invocable = apply_result<callable, Args>::invocable;
  static constexpr bool result_travels =
      std::is_void_v<result> || (is_serializable_v<result> && std::is_default_constructible_v<result>);
  static constexpr bool ok = is_callable && travels && arguments_travel && invocable && result_travels;
};

// What a rejected call returns: a stand-in that converts to whatever the caller expected, so
// that mpipool's message is the only error where the caller just keeps or converts the result.
struct rejected_task {
  template <class T>
  operator T() const;  // never defined: only code that fails to compile names it
};

// The compile-time checks of every pool call, for a task that fails them (`task_checks::ok` is
// false): only the first requirement missed raises its message, and nothing of the call is
// instantiated after it. The deduced return type makes the compiler instantiate this at the
// caller's line, so the message comes before any error in the caller's use of the result.
template <class F, class Args>
constexpr auto reject_task() {
  using checks = task_checks<F, Args>;
  static_assert(checks::is_callable,
                "mpipool: this is not a callable the pool can send to other ranks; pass a "
                "registered free function, a capture-less lambda, or a function object");
  constexpr bool callable = checks::is_callable;
  static_assert(!callable || checks::travels,
                "mpipool: this callable has state that cannot be sent to other ranks (a lambda "
                "with captures, a std::function, ...). Pass a capture-less lambda and give the "
                "values as arguments, register a free function with MPIPOOL_REGISTER, or give "
                "the function object a serialize() member and a default constructor");
  constexpr bool sendable = callable && checks::travels;
  static_assert(!sendable || checks::arguments_travel,
                "mpipool: an argument type cannot be sent to other ranks: it must be "
                "default-constructible and serializable with Boost.Serialization (give it a "
                "serialize() member; see mpipool/serialization.hpp). Pointers never are.");
  constexpr bool arguments = sendable && checks::arguments_travel;
  static_assert(!arguments || checks::invocable || !is_group_task<typename checks::callable>::value,
                "mpipool: a parallel task (mpipool::ranks(k)) takes its group's communicator first "
                "(const boost::mpi::communicator& or MPI_Comm), then the item's arguments");
  static_assert(!arguments || checks::invocable || is_group_task<typename checks::callable>::value,
                "mpipool: the function cannot be called with these arguments (check their "
                "number and types against the function's parameters)");
  static_assert(!(arguments && checks::invocable) || checks::result_travels,
                "mpipool: the function's result type cannot be sent back to the master: it must "
                "be default-constructible and serializable with Boost.Serialization (give it a "
                "serialize() member; see mpipool/serialization.hpp). Pointers never are.");
  return rejected_task{};
}

// Turns what the caller passed into the callable that travels: a function pointer becomes its
// registered name; a function object travels as itself.
template <callable_candidate F>
callable_t<F> make_callable(F&& f) {
  using D = std::decay_t<F>;
  if constexpr (std::is_pointer_v<D>) {
    return registered_function<plain_pointer_t<D>>::lookup(f);
  } else if constexpr (is_group_task<D>::value) {  // made by make_group_task from a checked callable
    return D(std::forward<F>(f));
  } else {
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
