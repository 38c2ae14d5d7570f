#include <morm/wire/commands/find.hpp>

#include <algorithm>

namespace morm::wire::commands {

namespace {
/// Why the options cannot be sent as set; null when they can.
const char* find_problem(const find_options& o) {
    if (!o.hint.empty() && !o.hint_name.empty()) return "hint and hint_name are both set; set one of them";
    if (o.skip < 0) return "skip is negative";
    if (o.limit < 0) return "limit is negative";
    if (o.batch_size < 0) return "batch_size is negative";
    if (o.max_time && o.max_time->count() < 0) return "max_time is negative";
    // The server reads tags and maxStalenessSeconds only with a non-primary mode, and a
    // primary read preference is never sent.
    if (o.read_pref && o.read_pref->is_primary() && (!o.read_pref->tags.empty() || o.read_pref->max_staleness_seconds))
        return "read_pref sets tags or max_staleness_seconds with mode primary";
    return nullptr;
}
}  // namespace

[[nodiscard]] error_code find::serialize(bson_t* out, diagnostics& diag) const {
    const find_options& o = options;
    if (const char* why = find_problem(o)) return refuse(diag, name, why);
    body_builder b(out, name);
    b.str("find", collection).doc("filter", filter);
    if (!o.sort.empty()) b.doc("sort", o.sort);
    if (!o.projection.empty()) b.doc("projection", o.projection);
    if (!o.hint.empty()) b.doc("hint", o.hint);
    else if (!o.hint_name.empty()) b.str("hint", o.hint_name);
    if (!o.collation.empty()) b.doc("collation", o.collation);
    if (o.skip > 0) b.i64("skip", o.skip);
    if (o.limit > 0) b.i64("limit", o.limit);
    if (o.batch_size > 0) {
        // A first batch larger than the limit would only be cut by the server.
        std::int64_t first = o.batch_size;
        if (o.limit > 0) first = std::min(first, o.limit);
        b.i32("batchSize", static_cast<std::int32_t>(first));
    }
    if (o.single_batch) b.boolean("singleBatch", true);
    if (o.max_time) b.i64("maxTimeMS", o.max_time->count());
    if (b.ok()) {
        if (o.read_pref) o.read_pref->append_to(out);
        else if (default_read_pref) default_read_pref->append_to(out);
    }
    return b.finish(db, diag);
}

[[nodiscard]] error_code find::parse(bson::document_view reply, cursor_batch& out, diagnostics& diag) {
    return parse_cursor(reply, name, out, diag);
}

[[nodiscard]] error_code first_document(const cursor_batch& c, std::string_view op, std::optional<bson::document>& out,
                          diagnostics& diag) {
    out.reset();
    bson_iter_t it;
    if (!bson_iter_init(&it, c.batch.get()) || !bson_iter_next(&it)) return {};
    if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return malformed(diag, op, "'cursor.firstBatch.0' is not a document");
    out = copy_document(it);
    return {};
}

}  // namespace morm::wire::commands
