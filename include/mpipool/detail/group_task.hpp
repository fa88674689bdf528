#pragma once
// A parallel task (mpipool/parallel.hpp) as it travels: the caller's callable and the width of
// its group. On each member it is called like any task, with the item's arguments; it puts the
// group's communicator in front of them, and after the item the members agree on its outcome,
// so that the group's rank 0 reports one outcome for all of them.

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/mpi/communicator.hpp>

#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

// The communicator of the group the calling thread runs an item for. Throws mpipool::error
// outside a parallel task's item.
const boost::mpi::communicator& current_group_communicator();

// Called by every member after an item, with its own failure (none: it succeeded). Returns the
// item's failure as the group sees it: none when every member succeeded, else the first failing
// member's type name and a message naming every failing member's rank and host. A member whose
// partners do not come within the group's grace period (they wait in a collective of their own
// that this member left by throwing) ends the job, saying so: MPI cannot cancel a collective.
std::optional<item_error> agree_on_item(std::optional<item_error> mine);

template <class F>
struct group_task {
  F inner;
  int width = 1;  // the master's to know; members learn their group from the chunk

  template <class... A>
    requires std::is_invocable_v<F&, const boost::mpi::communicator&, A&&...>
  auto operator()(A&&... args) {
    using raw = std::invoke_result_t<F&, const boost::mpi::communicator&, A&&...>;
    using result = std::conditional_t<std::is_void_v<raw>, void, std::remove_cvref_t<raw>>;
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
      return std::move(*value);
    }
  }
};

template <class T>
struct is_group_task : std::false_type {};
template <class F>
struct is_group_task<group_task<F>> : std::true_type {};

}  // namespace mpipool::detail
