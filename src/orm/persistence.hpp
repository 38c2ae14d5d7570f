// Sending a commit's plan (unit_of_work.hpp): its write groups, pipelined on one pooled
// connection, and the lookup that confirms retried inserts.
#pragma once

#include "unit_of_work.hpp"

#include <morm/orm/engine.hpp>

#include <boost/asio/awaitable.hpp>

#include <span>
#include <vector>

namespace morm::uow {

/// Sends every write of `p`: per collection inserts, updates, version-checked updates
/// (one per command, for a per-item `n`), deletes. `outcomes[i]` receives work item i's
/// outcome. `keep`: record each insert's and upsert's bytes as its new snapshot.
/// Sets `ec`/`diag` when no connection could be had (then nothing was sent, and every
/// outcome stays pending) or the run was cut short. `transactional`: all of it in one
/// multi-document transaction (client::write_groups_in_transaction).
boost::asio::awaitable<void> execute(const engine& eng, plan& p, bool keep, bool transactional,
                                     std::vector<item_outcome>& outcomes, pipeline_stats& stats, error_code& ec,
                                     diagnostics& diag);

/// For the work items `which` (inserts), whether a document with their _id exists: one
/// find per collection. On failure sets `ec`/`diag` and reports the unchecked ones absent.
boost::asio::awaitable<std::vector<bool>> confirm_inserts(const engine& eng, const plan& p,
                                                          std::span<const std::size_t> which, error_code& ec,
                                                          diagnostics& diag);

}  // namespace morm::uow
