// The aggregate command: {aggregate, pipeline, cursor: {batchSize?}, allowDiskUse?,
// collation?, hint?, maxTimeMS?, $db}; the reply is a cursor.
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

#include <vector>

namespace morm::wire::commands {

/// Every field of aggregate_options is sent when set; a negative batch_size or max_time
/// is refused (errc::invalid_argument naming it).
struct aggregate {
    static constexpr std::string_view name = "aggregate";
    using result_type = cursor_batch;

    std::string_view db;
    std::string_view collection;
    const std::vector<bson::document>& pipeline;
    const aggregate_options& options;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, cursor_batch& out, diagnostics& diag);
};

}  // namespace morm::wire::commands
