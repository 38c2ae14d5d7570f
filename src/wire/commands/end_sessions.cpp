#include <morm/wire/commands/end_sessions.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code end_sessions::serialize(bson_t* out, diagnostics& diag) const {
    if (session_ids.empty()) return refuse(diag, name, "no session to end");
    if (session_ids.size() > max_per_command)
        return refuse(diag, name, "more than 10000 sessions; split them over several commands");
    body_builder b(out, name);
    b.doc_array("endSessions", session_ids);
    return b.finish("admin", diag);
}

[[nodiscard]] error_code end_sessions::parse(bson::document_view reply, diagnostics& diag) { return parse_ok(reply, name, diag); }

}  // namespace morm::wire::commands
