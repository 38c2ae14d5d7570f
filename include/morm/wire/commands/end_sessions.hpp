// The endSessions command: {endSessions: [lsid, ...], $db: "admin"}.
#pragma once

#include <morm/wire/commands/common.hpp>

#include <vector>

namespace morm::wire::commands {

/// No session, or more than the server's 10000 per command, is refused (split the list).
struct end_sessions {
    static constexpr std::string_view name = "endSessions";
    static constexpr std::size_t max_per_command = 10000;

    const std::vector<bson::document>& session_ids;  ///< the lsid documents ({id: UUID})

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    [[nodiscard]] static error_code parse(bson::document_view reply, diagnostics& diag);
};

}  // namespace morm::wire::commands
