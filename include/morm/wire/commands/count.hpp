// Counting: count_documents runs the aggregation the driver specs prescribe
// ($match, $skip?, $limit?, $group {_id: 1, n: {$sum: 1}}); count is the `count` command,
// whose answer comes from collection metadata (estimated_document_count).
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

#include <cstdint>

namespace morm::wire::commands {

/// Every field of count_options is sent (skip and limit as stages; hint and collation as
/// aggregate options); a negative skip or limit is refused.
struct count_documents {
    static constexpr std::string_view name = "aggregate";
    using result_type = std::int64_t;

    std::string_view db;
    std::string_view collection;
    const bson::document& filter;
    const count_options& options;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// An empty first batch is 0 (nothing matched); a batch document without a numeric
    /// `n` is errc::protocol.
    [[nodiscard]] static error_code parse(bson::document_view reply, std::int64_t& n, diagnostics& diag);
};

/// {count: <collection>, $db}.
struct count {
    static constexpr std::string_view name = "count";
    using result_type = std::int64_t;

    std::string_view db;
    std::string_view collection;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// A reply without a numeric `n` is errc::protocol rather than a count of 0.
    [[nodiscard]] static error_code parse(bson::document_view reply, std::int64_t& n, diagnostics& diag);
};

}  // namespace morm::wire::commands
