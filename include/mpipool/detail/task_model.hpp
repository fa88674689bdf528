#pragma once
// How one kind of task (a callable type applied to an argument tuple type) is built and run on
// a worker, and how it gets a key that every rank agrees on.

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <boost/core/demangle.hpp>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/group_task.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/registry.hpp"
#include "mpipool/serialization.hpp"

namespace mpipool::detail {

// A registered free function, found on each rank by its registered name.
template <class Pointer>
struct registered_function;

template <class R, class... P>
struct registered_function<R (*)(P...)> {
  using pointer = R (*)(P...);
  pointer fn = nullptr;
  std::string name;

  // Constrained, so that a call with arguments the function does not take is found out by the
  // pool's checks (task.hpp), not inside this body.
  template <class... A>
    requires std::is_invocable_v<pointer, A...>
  R operator()(A&&... args) const {
    return fn(std::forward<A>(args)...);
  }

  static registered_function lookup(pointer p) {
    auto erased = reinterpret_cast<erased_function>(p);
    return {p, task_registry::instance().function_name(erased, boost::core::demangle(typeid(p).name()))};
  }
  static registered_function find(std::string name) {
    // Looked up before `name` is moved into the result, in a statement of its own.
    const auto function = reinterpret_cast<pointer>(task_registry::instance().find_function(name));
    return {function, std::move(name)};
  }
};

template <class T>
struct is_registered_function : std::false_type {};
template <class P>
struct is_registered_function<registered_function<P>> : std::true_type {};

// A callable that carries no state: the workers default-construct their own copy.
template <class C>
inline constexpr bool is_stateless = std::is_empty_v<C> && std::is_default_constructible_v<C>;

template <class Callable>
byte_buffer encode_callable(const Callable& callable) {
  byte_buffer state;
  if constexpr (is_group_task<Callable>::value) {  // members need the task, not the width
    state = encode_callable(callable.inner);
  } else if constexpr (is_registered_function<Callable>::value) {
    state.assign(callable.name.begin(), callable.name.end());
  } else if constexpr (!is_stateless<Callable>) {
    writer(state) << callable;
  }
  return state;
}

template <class Callable>
std::shared_ptr<void> decode_callable(std::span<const char> state) {
  if constexpr (is_group_task<Callable>::value) {
    using inner = decltype(Callable::inner);
    auto decoded = std::static_pointer_cast<inner>(decode_callable<inner>(state));
    return std::make_shared<Callable>(Callable{std::move(*decoded), 0});
  } else if constexpr (is_registered_function<Callable>::value) {
    return std::make_shared<Callable>(Callable::find(std::string(state.begin(), state.end())));
  } else if constexpr (is_stateless<Callable>) {
    return std::make_shared<Callable>();
  } else {
    auto callable = std::make_shared<Callable>();
    reader(state) >> *callable;
    return callable;
  }
}

template <class Callable>
std::string display_name(const Callable& callable) {
  if constexpr (is_group_task<Callable>::value) return display_name(callable.inner);
  else if constexpr (is_registered_function<Callable>::value) return callable.name;
  else if constexpr (requires { { callable.task_display_name() } -> std::convertible_to<std::string>; })
    return callable.task_display_name();  // a function object that names what it runs
  else return boost::core::demangle(typeid(Callable).name());
}

template <class Callable, class Args>
struct apply_result;
template <class Callable, class... A>
struct apply_result<Callable, std::tuple<A...>> {
  static constexpr bool invocable = std::is_invocable_v<Callable&, A&&...>;
  using raw = typename std::conditional_t<invocable, std::invoke_result<Callable&, A&&...>,
                                          std::type_identity<void>>::type;
  using type = std::conditional_t<std::is_void_v<raw>, void, std::remove_cvref_t<raw>>;
};

// A callable of type Callable applied to argument tuples of type Args.
template <class Callable, class Args>
struct task_model {
  using callable_type = Callable;
  using args_type = Args;
  using result_type = typename apply_result<Callable, Args>::type;

  // The whole chunk's item loop, typed: nothing per item goes through a function pointer.
  static std::uint32_t run(void* erased, const chunk_work& work) {
    auto& callable = *static_cast<Callable*>(erased);
    argument_reader in(work.items);
    if constexpr (is_small_fixed_v<result_type>) {  // every outcome's size is known: grow once
      constexpr std::size_t outcome_size = 2 + fixed_wire_size<result_type>();  // status, size, value
      work.outcomes.reserve(work.outcomes.size() + std::size_t{work.count} * outcome_size);
    }
    outcome_writer out(work.outcomes);
    auto& running = current_task();
    std::uint32_t done = 0;
    std::span<const std::uint32_t> unreadable = work.unreadable;
    for (; done < work.skip && done < work.count; ++done) {
      if (!unreadable.empty() && unreadable.front() == done) {
        unreadable = unreadable.subspan(1);
        in.pass<Args>();
      } else {
        Args args;
        (void)in.next(args);
      }
      if (work.decoded) work.decoded->store(done + 1, std::memory_order_release);
    }
    for (; done < work.count; ++done) {
      if (done > work.skip && work.should_stop()) break;
      running.item.store(work.first + done, std::memory_order_relaxed);
      Args args;
      std::optional<item_error> undecoded = in.next(args);
      if (work.decoded) work.decoded->store(done + 1, std::memory_order_release);
      if (undecoded) {
        out.failure(*undecoded);
        continue;
      }
      // A result that fails to serialize fails its own item, in out.success.
      if constexpr (std::is_void_v<result_type>) {
        bool ok = true;
        try {
          std::apply(callable, std::move(args));
        } catch (...) {
          ok = false;
          out.failure(describe(std::current_exception()));
        }
        if (ok) out.success();
      } else {
        std::optional<result_type> result;
        try {
          result.emplace(std::apply(callable, std::move(args)));
        } catch (...) {
          out.failure(describe(std::current_exception()));
        }
        if (result) out.success(*result);
      }
    }
    return done;
  }

  static std::string name(const void* callable) {
    return display_name(*static_cast<const Callable*>(callable));
  }

  static constexpr task_vtable vtable{&decode_callable<Callable>, &run, &name};

  // The key every rank knows this model by. A function, so that it is right even when asked
  // for during static initialization (a global pool_options, say).
  static const char* key() {
    static const char* const registered = task_registry::instance().add_task(typeid(task_model).name(), vtable);
    return registered;
  }
  // Odr-using this registers the model during static initialization, on every rank, even on
  // ranks that never call the code that submits it.
  static inline const char* const registration = key();
};

// Everything the master needs to name a task to a worker.
struct task_definition {
  const char* key = nullptr;  // static storage, from task_model::key
  byte_buffer state;          // the callable's serialized state, sent once per worker per call
  std::string name;           // for messages
  int group_width = 0;        // a parallel task's ranks per item; 0 for an ordinary task
};

template <class Model>
task_definition define_task(const typename Model::callable_type& callable) {
  (void)Model::registration;
  int group_width = 0;
  if constexpr (is_group_task<typename Model::callable_type>::value) group_width = callable.width;
  return {task_registry::instance().checked_key(Model::key()), encode_callable(callable), display_name(callable),
          group_width};
}

}  // namespace mpipool::detail

namespace mpipool::detail {

// Whether every argument of a task can travel to a worker.
template <class Args>
struct args_serializable;
template <class... A>
struct args_serializable<std::tuple<A...>>
    : std::bool_constant<(is_serializable_v<A> && ...) && (std::is_default_constructible_v<A> && ...)> {};

}  // namespace mpipool::detail
