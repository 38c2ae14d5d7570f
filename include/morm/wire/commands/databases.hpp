// Database commands: dropDatabase, listDatabases.
#pragma once

#include <morm/wire/commands/common.hpp>

#include <string>
#include <vector>

namespace morm::wire::commands {

/// {dropDatabase: 1, $db}.
struct drop_database {
    static constexpr std::string_view name = "dropDatabase";

    std::string_view db;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
};

/// {listDatabases: 1, nameOnly: true, $db: "admin"}; the reply's databases[].name.
struct list_databases {
    static constexpr std::string_view name = "listDatabases";
    using result_type = std::vector<std::string>;

    bool name_only = true;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// A missing `databases` array, or an entry without a string `name`, is errc::protocol.
    [[nodiscard]] static error_code parse(bson::document_view reply, std::vector<std::string>& out,
                                          diagnostics& diag);
};

}  // namespace morm::wire::commands
