#include <morm/wire/commands/collections.hpp>

namespace morm::wire::commands {

namespace {
const char* create_problem(const create_collection_options& o) {
    if (o.size < 0) return "size is negative";
    if (o.max < 0) return "max is negative";
    if (!o.capped && (o.size > 0 || o.max > 0)) return "size and max need capped = true";
    // The server refuses a capped collection without a size; refusing here names it.
    if (o.capped && o.size == 0) return "capped needs a size";
    return nullptr;
}
}  // namespace

[[nodiscard]] error_code create_collection::serialize(bson_t* out, diagnostics& diag) const {
    const auto& o = options;
    if (const char* why = create_problem(o)) return refuse(diag, "create_collection", why);
    body_builder b(out, "create_collection");
    b.str("create", collection);
    if (!o.validator.empty()) b.doc("validator", o.validator);
    if (!o.validation_level.empty()) b.str("validationLevel", o.validation_level);
    if (!o.validation_action.empty()) b.str("validationAction", o.validation_action);
    if (o.capped) {
        b.boolean("capped", true).i64("size", o.size);
        if (o.max > 0) b.i64("max", o.max);
    }
    return b.finish(db, diag);
}

[[nodiscard]] error_code create_collection::parse(bson::document_view reply, diagnostics& diag) { return parse_ok(reply, name, diag); }

[[nodiscard]] error_code list_collections::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.i32("listCollections", 1);
    if (!filter.empty()) b.doc("filter", filter);
    if (name_only) b.boolean("nameOnly", true);
    return b.finish(db, diag);
}

[[nodiscard]] error_code list_collections::parse(bson::document_view reply, cursor_batch& out, diagnostics& diag) {
    return parse_cursor(reply, name, out, diag);
}

[[nodiscard]] error_code list_collections::names(bson::document_view batch, std::vector<std::string>& out, diagnostics& diag) {
    bson_iter_t it;
    if (!batch.init_iter(it)) return malformed(diag, name, "the batch is not a BSON document");
    while (bson_iter_next(&it)) {
        bson_iter_t d;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &d))
            return malformed(diag, name, "a batch element is not a document");
        if (!bson_iter_find(&d, "name") || !BSON_ITER_HOLDS_UTF8(&d))
            return malformed(diag, name, "a collection's 'name' is missing or not a string");
        std::uint32_t len = 0;
        const char* s = bson_iter_utf8(&d, &len);
        out.emplace_back(s, len);
    }
    return {};
}

[[nodiscard]] error_code drop_collection::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.str("drop", collection);
    return b.finish(db, diag);
}

bool drop_collection::namespace_not_found(const error_code& ec, const diagnostics& diag) noexcept {
    return ec == errc::server_error && diag.server_code == 26;
}

[[nodiscard]] error_code drop_collection::parse(bson::document_view reply, diagnostics& diag) {
    auto ec = parse_ok(reply, name, diag);
    if (namespace_not_found(ec, diag)) {
        diag.clear();
        return {};
    }
    return ec;
}

}  // namespace morm::wire::commands
