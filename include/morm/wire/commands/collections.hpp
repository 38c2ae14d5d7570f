// Collection commands: create (with validator options), listCollections, drop.
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

#include <string>
#include <vector>

namespace morm::wire::commands {

/// {create, validator?, validationLevel?, validationAction?, capped?, size?, max?, $db}.
/// Every field of create_collection_options is sent when set; size or max without capped,
/// capped without size, and a negative size or max are refused.
struct create_collection {
    static constexpr std::string_view name = "create";

    std::string_view db;
    std::string_view collection;
    const create_collection_options& options;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
};

/// {listCollections: 1, filter?, nameOnly?, $db}; the reply is a cursor whose `ns` is
/// "<db>.$cmd.listCollections".
struct list_collections {
    static constexpr std::string_view name = "listCollections";
    using result_type = cursor_batch;

    std::string_view db;
    const bson::document& filter;
    bool name_only = true;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, cursor_batch& out, diagnostics& diag);
    /// Appends the `name` of each document of a batch; a document without a string `name`
    /// is errc::protocol.
    [[nodiscard]] static error_code names(bson::document_view batch, std::vector<std::string>& out,
                                          diagnostics& diag);
};

/// {drop, $db}.
struct drop_collection {
    static constexpr std::string_view name = "drop";

    std::string_view db;
    std::string_view collection;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// ok:0 with NamespaceNotFound (code 26) is success: dropping what is not there is
    /// not an error for drop().
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
    /// True for the server error parse() forgives (an ok:0 the connection already reported).
    static bool namespace_not_found(const error_code& ec, const diagnostics& diag) noexcept;
};

}  // namespace morm::wire::commands
