#include <morm/wire/commands/aggregate.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code aggregate::serialize(bson_t* out, diagnostics& diag) const {
    const aggregate_options& o = options;
    if (o.batch_size < 0) return refuse(diag, name, "batch_size is negative");
    if (o.max_time && o.max_time->count() < 0) return refuse(diag, name, "max_time is negative");
    body_builder b(out, name);
    b.str("aggregate", collection).doc_array("pipeline", pipeline);
    bson::document cursor;
    if (o.batch_size > 0) b.check(bson_append_int32(cursor.get(), "batchSize", 9, o.batch_size), "cursor");
    b.doc("cursor", cursor);
    if (o.allow_disk_use) b.boolean("allowDiskUse", true);
    if (!o.collation.empty()) b.doc("collation", o.collation);
    if (!o.hint.empty()) b.doc("hint", o.hint);
    if (o.max_time) b.i64("maxTimeMS", o.max_time->count());
    return b.finish(db, diag);
}

[[nodiscard]] error_code aggregate::parse(bson::document_view reply, cursor_batch& out, diagnostics& diag) {
    return parse_cursor(reply, name, out, diag);
}

}  // namespace morm::wire::commands
