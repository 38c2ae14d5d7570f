// Any command, as the caller wrote it: the document plus "$db"; the reply body, copied.
#pragma once

#include <morm/wire/commands/common.hpp>

namespace morm::wire::commands {

/// An empty command, or one whose own "$db" names another database, is refused.
struct run_command {
    static constexpr std::string_view name = "run_command";
    using result_type = bson::document;

    std::string_view db;
    const bson::document& command;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, bson::document& out, diagnostics& diag);
};

}  // namespace morm::wire::commands
