#pragma once
// A parallel task (mpipool/parallel.hpp) as it travels: the caller's callable and the width of
// its group. On each member it is called like any task, with the item's arguments; it puts the
// group's communicator in front of them, and after the item the members agree on its outcome,
// so that the group's rank 0 reports one outcome for all of them.

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/mpi/collectives/gather.hpp>
#include <boost/mpi/communicator.hpp>

#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

// The communicator of the group the calling thread runs an item for. Throws mpipool::error
// outside a parallel task's item.
const boost::mpi::communicator& current_group_communicator();
// The group's own communicator on which its members agree; null for a group of one.
const boost::mpi::communicator* current_group_agreement();

// Called by every member after an item, with its own failure (none: it succeeded). Returns the
// item's failure as the group sees it: none when every member succeeded, else the first failing
// member's type name and a message naming every failing member's rank and host. A member whose
// partners do not come within the group's grace period (they wait in a collective of their own
// that this member left by throwing) ends the job, saying so: MPI cannot cancel a collective.
std::optional<item_error> agree_on_item(std::optional<item_error> mine);

// Every member's value, in group rank order, on the group's rank 0 (the others' are empty:
// only rank 0 reports the item).
template <class T>
std::vector<T> gather_members(const T& mine) {
  std::vector<T> all;
  if (const boost::mpi::communicator* agreement = current_group_agreement()) boost::mpi::gather(*agreement, mine, all, 0);
  else all.push_back(mine);
  return all;
}

// `Gather`: the item's result is every member's (a vector), not only rank 0's.
template <class F, bool Gather = false>
struct group_task {
  F inner;
  int width = 1;  // the master's to know; members learn their group from the chunk

  template <class... A>
    requires std::is_invocable_v<F&, const boost::mpi::communicator&, A&&...>
  auto operator()(A&&... args) {
    using raw = std::invoke_result_t<F&, const boost::mpi::communicator&, A&&...>;
    using result = std::conditional_t<std::is_void_v<raw>, void, std::remove_cvref_t<raw>>;
    static_assert(!Gather || !std::is_void_v<result>, "mpipool: gather_all needs a task that returns a value");
    const boost::mpi::communicator& group = current_group_communicator();
    std::optional<item_error> mine;
    if constexpr (std::is_void_v<result>) {
      try {
        std::invoke(inner, group, std::forward<A>(args)...);
      } catch (...) {
        mine = describe(std::current_exception());
      }
      if (auto failure = agree_on_item(std::move(mine))) throw described_failure(std::move(*failure));
    } else {
      std::optional<result> value;
      try {
        value.emplace(std::invoke(inner, group, std::forward<A>(args)...));
      } catch (...) {
        mine = describe(std::current_exception());
      }
      if (auto failure = agree_on_item(std::move(mine))) throw described_failure(std::move(*failure));
      if constexpr (Gather) return gather_members(*value);
      else return std::move(*value);
    }
  }
};

template <class T>
struct is_group_task : std::false_type {};
template <class F, bool Gather>
struct is_group_task<group_task<F, Gather>> : std::true_type {};

}  // namespace mpipool::detail
