#include <morm/wire/commands/distinct.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code distinct::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.str("distinct", collection).str("key", key).doc("query", filter);
    return b.finish(db, diag);
}

[[nodiscard]] error_code distinct::parse(bson::document_view reply, std::vector<bson::value>& out, diagnostics& diag) {
    if (auto ec = check_ok(reply, name, diag)) return ec;
    bson_t body;
    bson_init_static(&body, reply.data(), reply.size());
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, &body, "values")) return malformed(diag, name, "'values' is missing");
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return malformed(diag, name, "'values' is not an array");
    out.clear();
    while (bson_iter_next(&arr)) out.push_back(bson::value::from_iter(arr));
    return {};
}

}  // namespace morm::wire::commands
