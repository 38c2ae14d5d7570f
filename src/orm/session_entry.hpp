// One object held by a session: its state in the unit of work, its change-tracking
// snapshot and its identity key. Shared by the session (identity map, staging), the
// planner and the reconciler of a commit (unit_of_work.hpp).
#pragma once

#include <morm/orm/session.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace morm {

struct session::entry {
    enum class state : std::uint8_t {
        pending_insert,  // add()ed, not yet written
        pending_merge,   // merge()d with an unknown id: upsert ($set of its fields)
        persistent,      // loaded or committed: tracked through its snapshot
        pending_delete,  // remove()d
    };
    std::shared_ptr<void> obj;
    const detail::model_ops* ops = nullptr;
    state st = state::pending_insert;
    bool has_snapshot = false;
    bool maybe_written = false;  // an earlier write's outcome was unknown (connection died)
    bool dead = false;           // expunged/deleted: storage awaiting compaction
    std::uint32_t index = 0;     // position in the session's entry list
    std::uint32_t hash = 0;      // of `key`, for the identity map
    std::string snapshot;        // BSON bytes of the last known server state
    std::string key;             // identity key: the BSON encoding of the _id value
};

using session_entry = session::entry;

}  // namespace morm
