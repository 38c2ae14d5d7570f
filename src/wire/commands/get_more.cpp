#include <morm/wire/commands/get_more.hpp>

namespace morm::wire::commands {

void get_more::serialize(bson_t* b) const {
    bson_append_int64(b, "getMore", 7, cursor_id);
    bson_append_utf8(b, "collection", 10, collection.data(), static_cast<int>(collection.size()));
    if (batch_size > 0) bson_append_int32(b, "batchSize", 9, batch_size);
    if (lsid) {
        bson_t l;
        bson_append_document_begin(b, "lsid", 4, &l);
        bson_append_binary(&l, "id", 2, BSON_SUBTYPE_UUID, lsid->data(), 16);
        bson_append_document_end(b, &l);
    }
    bson_append_utf8(b, "$db", 3, db.data(), static_cast<int>(db.size()));
}

[[nodiscard]] error_code parse_get_more_reply(const bson_t* reply, cursor_reply& out, diagnostics& diag) {
    if (auto e = check_command_reply(reply, diag)) return e;
    return parse_cursor_reply(reply, out, diag);
}

}  // namespace morm::wire::commands
