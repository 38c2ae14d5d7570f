// The find command: {find, filter, sort?, projection?, hint?, collation?, skip?, limit?,
// batchSize?, singleBatch?, maxTimeMS?, $readPreference?, $db}; the reply is a cursor.
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

namespace morm::wire::commands {

/// Every field of find_options is sent when set, or refused by serialize() (errc::
/// invalid_argument naming it): hint with hint_name, a negative skip, limit, batch_size or
/// max_time, tags or max staleness with a primary read preference.
struct find {
    static constexpr std::string_view name = "find";
    using result_type = cursor_batch;

    std::string_view db;
    std::string_view collection;
    const bson::document& filter;
    const find_options& options;
    /// Sent as $readPreference when options.read_pref is unset (the client's default).
    const read_preference* default_read_pref = nullptr;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, cursor_batch& out, diagnostics& diag);
};

/// The first document of a cursor's batch, copied; nullopt when the batch is empty. A
/// batch element that is not a document is errc::protocol.
[[nodiscard]] error_code first_document(const cursor_batch& c, std::string_view op, std::optional<bson::document>& out,
                                        diagnostics& diag);

}  // namespace morm::wire::commands
