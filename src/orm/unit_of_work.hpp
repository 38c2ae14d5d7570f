// The unit of work of a commit, as two pure steps around the I/O (SQLAlchemy's
// unitofwork/persistence split):
//   plan       staged entries -> what to write, grouped per collection in the order
//              inserts, updates (plain, then version-checked), deletes; objects that
//              cannot be written (bad id, encode error) are refused here, unsent.
//   reconcile  plan + one outcome per work item -> a verdict per item (written, failed,
//              or to be confirmed by a lookup) and the per-object failure reports.
// Neither does I/O or touches the identity map, so both are unit-tested without a server;
// the session applies their results. Each step has its own file: plan.cpp, persistence.cpp
// (execution, through the client's batch-write API) and reconcile.cpp. Splitting at the
// server's limits happens in the client's batch writer, as the plan is encoded.
#pragma once

#include "session_entry.hpp"

#include <morm/bson/document.hpp>
#include <morm/client/batch_write.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace morm::uow {

enum class work_kind : std::uint8_t { insert, merge, update, remove };

object_outcome::operation operation_of(work_kind k);

/// One write of the plan.
struct work_item {
    work_item(session_entry* en, work_kind k) : e(en), kind(k) {}
    session_entry* e;
    work_kind kind;
    bool versioned = false;
    std::int64_t old_version = 0;   ///< the version the server must still hold
    std::size_t update = SIZE_MAX;  ///< update: index of its $set/$unset document in plan::updates
    std::string new_snapshot;       ///< what the server holds once this write succeeds
};

/// The work indexes of one collection, per write group.
struct collection_plan {
    std::string_view name;
    std::vector<std::size_t> inserts, updates, vupdates, deletes, vdeletes;
};

struct plan {
    std::vector<work_item> work;
    std::vector<bson::document> updates;
    std::vector<collection_plan> collections;  ///< in first-touched order
    std::vector<object_outcome> refused;       ///< not sendable: reported, never sent
    std::size_t unchanged = 0;                 ///< tracked objects with nothing to write
};

/// Plans the writes of `entries` (live, in staging order; pending ones already re-keyed to
/// their current id). Objects are only changed by their before-hooks (orm/hooks.hpp), which
/// run here; otherwise they are only read: a version-checked update's new version is
/// in its update document and snapshot, and lands in the object when it succeeds.
plan make_plan(std::span<session_entry* const> entries);

enum class verdict : std::uint8_t {
    written,  ///< the server has it
    failed,   ///< not written (or outcome unknown): stays pending, reported
    confirm,  ///< a retried insert rejected as a duplicate without naming the index: look its _id up
};

struct reconciliation {
    std::vector<verdict> verdicts;          ///< one per work item
    std::vector<object_outcome> failures;   ///< one per failed item, in work order
    std::vector<std::size_t> to_confirm;    ///< work indexes with verdict::confirm
};

/// Decides each work item from its outcome (`outcomes[i]` belongs to `p.work[i]`).
reconciliation reconcile(const plan& p, std::span<item_outcome> outcomes);

/// The report of an object that is not written, before any outcome is known.
object_outcome refusal(const session_entry& e, object_outcome::operation op, errc err, std::string message);

/// The report of an item that was not written.
object_outcome failure_of(const work_item& w, const item_outcome& o, errc err, std::string message);

}  // namespace morm::uow
