// Index commands: createIndexes, listIndexes, dropIndexes.
#pragma once

#include <morm/client/options.hpp>
#include <morm/wire/commands/common.hpp>

#include <string>
#include <vector>

namespace morm::wire::commands {

/// The name MongoDB gives an index on `keys` when none is set: "a_1_b_-1", "t_text".
std::string index_name_for(const bson::document& keys);

/// {createIndexes, indexes: [{key, name, unique?, sparse?, expireAfterSeconds?,
/// partialFilterExpression?, collation?}], $db}. Every field of index_options is sent; no
/// model, empty keys or a negative expire_after is refused.
struct create_indexes {
    static constexpr std::string_view name = "createIndexes";
    using result_type = std::vector<std::string>;

    std::string_view db;
    std::string_view collection;
    const std::vector<index_model>& models;

    /// The names sent: options.name, or index_name_for(keys).
    std::vector<std::string> names() const;
    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
};

/// {listIndexes, $db}; the reply is a cursor of index descriptions.
struct list_indexes {
    static constexpr std::string_view name = "listIndexes";
    using result_type = cursor_batch;

    std::string_view db;
    std::string_view collection;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, cursor_batch& out, diagnostics& diag);
};

/// {dropIndexes, index: <name> | "*", $db}.
struct drop_indexes {
    static constexpr std::string_view name = "dropIndexes";

    std::string_view db;
    std::string_view collection;
    std::string_view index = "*";  ///< "*" drops all but _id_

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
};

}  // namespace morm::wire::commands
