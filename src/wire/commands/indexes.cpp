#include <morm/detail/text.hpp>
#include <morm/wire/commands/indexes.hpp>

#include <fmt/format.h>

namespace morm::wire::commands {

std::string index_name_for(const bson::document& keys) {
    std::string name;
    bson_iter_t it;
    if (!bson_iter_init(&it, keys.get())) return name;
    while (bson_iter_next(&it)) {
        if (!name.empty()) name += '_';
        name += bson_iter_key(&it);
        name += '_';
        if (BSON_ITER_HOLDS_UTF8(&it)) name += bson_iter_utf8(&it, nullptr);
        else name += std::to_string(bson_iter_as_int64(&it));
    }
    return name;
}

std::vector<std::string> create_indexes::names() const {
    std::vector<std::string> out;
    out.reserve(models.size());
    for (auto& m : models) out.push_back(m.options.name.empty() ? index_name_for(m.keys) : m.options.name);
    return out;
}

namespace {
/// One element of `indexes`; false when an append failed.
[[nodiscard]] bool append_index(bson_t* ix, const index_model& m, const std::string& name) {
    const auto& o = m.options;
    bool ok = bson_append_document(ix, "key", 3, m.keys.get()) &&
              bson_append_utf8(ix, "name", 4, name.data(), static_cast<int>(name.size()));
    if (ok && o.unique) ok = bson_append_bool(ix, "unique", 6, true);
    if (ok && o.sparse) ok = bson_append_bool(ix, "sparse", 6, true);
    if (ok && o.expire_after) ok = bson_append_int64(ix, "expireAfterSeconds", 18, o.expire_after->count());
    if (ok && !o.partial_filter.empty())
        ok = bson_append_document(ix, "partialFilterExpression", 23, o.partial_filter.get());
    if (ok && !o.collation.empty()) ok = bson_append_document(ix, "collation", 9, o.collation.get());
    return ok;
}
}  // namespace

[[nodiscard]] error_code create_indexes::serialize(bson_t* out, diagnostics& diag) const {
    constexpr std::string_view op = "create_indexes";
    if (models.empty()) return refuse(diag, op, "no index to create");
    const auto index_names = names();
    for (std::size_t i = 0; i < models.size(); ++i) {
        const auto& o = models[i].options;
        if (models[i].keys.empty()) return refuse(diag, op, fmt::format("index {} has no keys", i));
        if (o.expire_after && o.expire_after->count() < 0)
            return refuse(diag, op, fmt::format("index {}: expire_after is negative", i));
        if (!morm::detail::valid_text(index_names[i]))
            return refuse(diag, op, fmt::format("index {}: the name is not valid UTF-8, or contains NUL", i));
    }
    body_builder b(out, op);
    b.str("createIndexes", collection);
    bson_t arr;
    if (!b.check(bson_append_array_begin(out, "indexes", 7, &arr), "indexes").ok()) return b.finish(db, diag);
    bool ok = true;
    for (std::size_t i = 0; ok && i < models.size(); ++i) {
        const std::string key = std::to_string(i);
        bson_t ix;
        ok = bson_append_document_begin(&arr, key.c_str(), static_cast<int>(key.size()), &ix);
        if (ok) ok = append_index(&ix, models[i], index_names[i]);
        ok = bson_append_document_end(&arr, &ix) && ok;
    }
    b.check(bson_append_array_end(out, &arr) && ok, "indexes");
    return b.finish(db, diag);
}

[[nodiscard]] error_code create_indexes::parse(bson::document_view reply, diagnostics& diag) { return parse_ok(reply, name, diag); }

[[nodiscard]] error_code list_indexes::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.str("listIndexes", collection);
    return b.finish(db, diag);
}

[[nodiscard]] error_code list_indexes::parse(bson::document_view reply, cursor_batch& out, diagnostics& diag) {
    return parse_cursor(reply, name, out, diag);
}

[[nodiscard]] error_code drop_indexes::serialize(bson_t* out, diagnostics& diag) const {
    if (index.empty()) return refuse(diag, "drop_index", "the index name is empty");
    body_builder b(out, name);
    b.str("dropIndexes", collection).str("index", index);
    return b.finish(db, diag);
}

[[nodiscard]] error_code drop_indexes::parse(bson::document_view reply, diagnostics& diag) { return parse_ok(reply, name, diag); }

}  // namespace morm::wire::commands
