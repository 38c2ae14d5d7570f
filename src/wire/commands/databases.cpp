#include <morm/wire/commands/databases.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code drop_database::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.i32("dropDatabase", 1);
    return b.finish(db, diag);
}

[[nodiscard]] error_code drop_database::parse(bson::document_view reply, diagnostics& diag) { return parse_ok(reply, name, diag); }

[[nodiscard]] error_code list_databases::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.i32("listDatabases", 1);
    if (name_only) b.boolean("nameOnly", true);
    return b.finish("admin", diag);
}

[[nodiscard]] error_code list_databases::parse(bson::document_view reply, std::vector<std::string>& out, diagnostics& diag) {
    if (auto ec = check_ok(reply, name, diag)) return ec;
    bson_t body;
    bson_init_static(&body, reply.data(), reply.size());
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, &body, "databases")) return malformed(diag, name, "'databases' is missing");
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return malformed(diag, name, "'databases' is not an array");
    out.clear();
    while (bson_iter_next(&arr)) {
        bson_iter_t d;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &d))
            return malformed(diag, name, "a 'databases' element is not a document");
        if (!bson_iter_find(&d, "name") || !BSON_ITER_HOLDS_UTF8(&d))
            return malformed(diag, name, "'databases.name' is missing or not a string");
        std::uint32_t len = 0;
        const char* s = bson_iter_utf8(&d, &len);
        out.emplace_back(s, len);
    }
    return {};
}

}  // namespace morm::wire::commands
