// Change detection for tracked objects: the update document that turns the last known
// server state (a snapshot) into the current one, as $set/$unset of the changed paths.
// Sub-documents are compared field by field (nested paths, "address.city"); arrays and
// values of different types are set whole.
#pragma once

#include <bson/bson.h>

#include <cstddef>

namespace morm {

/// Appends `$set` / `$unset` documents to `update` (an open, empty document) for every
/// path where `cur` differs from `old`. Returns the number of changed paths (0: equal,
/// and nothing was appended).
std::size_t build_update_diff(const bson_t* old, const bson_t* cur, bson_t* update);

}  // namespace morm
