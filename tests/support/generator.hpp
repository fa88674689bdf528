#pragma once
// A minimal coroutine generator (C++20 has no std::generator), to show that streams take
// generators as input.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <utility>

namespace mpipool_test {

template <class T>
class generator {
 public:
  struct promise_type {
    T value{};
    std::exception_ptr error;
    generator get_return_object() { return generator(handle::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    std::suspend_always yield_value(T v) {
      value = std::move(v);
      return {};
    }
    void return_void() {}
    void unhandled_exception() { error = std::current_exception(); }
  };
  using handle = std::coroutine_handle<promise_type>;

  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(handle h) : h_(h) {}
    T& operator*() const { return h_.promise().value; }
    iterator& operator++() {
      resume(h_);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return h_.done(); }

   private:
    handle h_;
  };

  explicit generator(handle h) : h_(h) {}
  generator(generator&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  generator& operator=(generator&& other) noexcept {
    std::swap(h_, other.h_);
    return *this;
  }
  ~generator() {
    if (h_) h_.destroy();
  }
  iterator begin() {
    resume(h_);
    return iterator(h_);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  static void resume(handle h) {
    h.resume();
    if (h.done() && h.promise().error) std::rethrow_exception(h.promise().error);
  }
  handle h_;
};

}  // namespace mpipool_test
