#include <morm/wire/commands/run_command.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code run_command::serialize(bson_t* out, diagnostics& diag) const {
    if (command.empty()) return refuse(diag, name, "the command is empty");
    bson_iter_t it;
    if (bson_iter_init_find(&it, command.get(), "$db")) {
        // The handle names the database; a second, different one would be ambiguous.
        std::uint32_t len = 0;
        const char* own = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : nullptr;
        if (!own || std::string_view(own, len) != db)
            return refuse(diag, name, "the command's own $db differs from the database it runs on");
        if (!bson_concat(out, command.get())) return refuse(diag, name, "the command cannot be appended");
        return {};
    }
    body_builder b(out, name);
    b.check(bson_concat(out, command.get()), "(command)");
    return b.finish(db, diag);
}

[[nodiscard]] error_code run_command::parse(bson::document_view reply, bson::document& out, diagnostics& diag) {
    if (auto ec = check_ok(reply, name, diag)) return ec;
    out.assign(reply);
    return {};
}

}  // namespace morm::wire::commands
