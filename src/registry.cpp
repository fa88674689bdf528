#include "mpipool/detail/registry.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <string>

#include <boost/core/demangle.hpp>

#include "mpipool/errors.hpp"

namespace mpipool::detail {

namespace {
// Marks a name that two different functions were registered under.
constexpr erased_function ambiguous = nullptr;

std::string symbol_of(erased_function fn) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(fn), &info) != 0 && info.dli_sname != nullptr)
    return boost::core::demangle(info.dli_sname);
  char address[32];
  std::snprintf(address, sizeof address, "%p", reinterpret_cast<void*>(fn));
  return std::string("the function at ") + address;
}
}  // namespace

task_registry& task_registry::instance() {
  static task_registry registry;
  return registry;
}

const char* task_registry::add_task(const char* key, task_vtable vtable) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = tasks_.emplace(key, vtable);
  // Types with internal linkage (in an anonymous namespace, say) in different source files can
  // share a type name; a worker could not tell them apart.
  if (!inserted && (it->second.run != vtable.run || it->second.make != vtable.make)) ambiguous_tasks_.insert(key);
  return key;
}

const char* task_registry::checked_key(const char* key) const {
  std::lock_guard lock(mutex_);
  if (ambiguous_tasks_.contains(key))
    throw registration_error("mpipool: two different callables share the type name " +
                             boost::core::demangle(key) +
                             " (types with internal linkage in different source files?), so the "
                             "workers cannot tell them apart; give one of them another name");
  return key;
}

const task_vtable* task_registry::find_task(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(key);
  return it == tasks_.end() || ambiguous_tasks_.contains(key) ? nullptr : &it->second;
}

void task_registry::add_function(erased_function fn, const char* name) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = functions_by_name_.emplace(name, fn);
  if (!inserted && it->second != fn) it->second = ambiguous;
  names_by_function_.emplace(fn, name);
}

std::string task_registry::function_name(erased_function fn, std::string_view signature) const {
  {
    std::lock_guard lock(mutex_);
    auto it = names_by_function_.find(fn);
    if (it != names_by_function_.end()) {
      if (functions_by_name_.at(it->second) == ambiguous)
        throw registration_error("mpipool: the name '" + it->second +
                                 "' was registered for two different functions; register one of "
                                 "them under a qualified name, e.g. MPIPOOL_REGISTER(ns::" +
                                 it->second + ")");
      return it->second;
    }
  }
  throw registration_error("mpipool: " + symbol_of(fn) + " (type " + std::string(signature) +
                           ") is not registered, so the workers cannot call it; add "
                           "MPIPOOL_REGISTER(<its name>) at namespace scope, or pass a "
                           "capture-less lambda instead");
}

erased_function task_registry::find_function(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = functions_by_name_.find(name);
  if (it == functions_by_name_.end() || it->second == ambiguous)
    throw registration_error("mpipool: no function is registered as '" + std::string(name) +
                             "' in this process; do all ranks run the same program?");
  return it->second;
}

running_task& current_task() {
  static running_task task;
  return task;
}

}  // namespace mpipool::detail
