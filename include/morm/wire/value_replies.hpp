// Replies of the commands that answer with a value rather than a cursor or a write
// outcome (distinct, count). Sans-io: input is the body of an ok:1 reply.
#pragma once

#include <morm/bson/types.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <vector>

namespace morm::wire {

/// distinct's `values` array, copied into `out`. A reply without it (or where it is not an
/// array) is errc::protocol: an empty result would be indistinguishable from "no values".
[[nodiscard]] error_code parse_distinct_reply(const bson_t* body, std::vector<bson::value>& out, diagnostics& diag);

/// count's `n`. A reply without a numeric `n` is errc::protocol rather than a count of 0.
[[nodiscard]] error_code parse_count_reply(const bson_t* body, std::int64_t& n, diagnostics& diag);

}  // namespace morm::wire
