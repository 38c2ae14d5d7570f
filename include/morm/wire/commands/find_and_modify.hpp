// The findAndModify command: {findAndModify, query, sort?, fields?, remove | update,
// new?, upsert?, arrayFilters?, writeConcern?, $db}; the reply's `value` (a document or
// null).
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

#include <optional>

namespace morm::wire::commands {

/// Every field of find_one_and_modify_options is sent, or refused where findAndModify
/// gives it no meaning: a remove refuses upsert, returned = after and array_filters; a
/// replacement refuses array_filters. An update needs $-operators; a replacement must
/// have none.
struct find_and_modify {
    static constexpr std::string_view name = "findAndModify";
    using result_type = std::optional<bson::document>;
    enum class kind { update, replace, remove };

    std::string_view db;
    std::string_view collection;
    kind what;
    const bson::document& filter;
    const bson::document* update;  ///< the update or the replacement; null for remove
    const find_one_and_modify_options& options;
    /// Sent as writeConcern when options.wc is unset (the client's default); may be null.
    const write_concern* default_wc = nullptr;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// `value: null` is nullopt (nothing matched); a missing `value`, or one that is
    /// neither a document nor null, is errc::protocol.
    [[nodiscard]] static error_code parse(bson::document_view reply, std::optional<bson::document>& out,
                                          diagnostics& diag);
};

/// Does the first key of `d` start with '$' (an update with operators, not a replacement)?
bool is_operator_document(const bson::document& d) noexcept;

}  // namespace morm::wire::commands
