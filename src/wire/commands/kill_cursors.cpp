#include <morm/wire/commands/kill_cursors.hpp>
#include <morm/wire/reply.hpp>

namespace morm::wire::commands {

void kill_cursors::serialize(bson_t* b) const {
    bson_append_utf8(b, "killCursors", 11, collection.data(), static_cast<int>(collection.size()));
    bson_t arr;
    bson_append_array_begin(b, "cursors", 7, &arr);
    char key_buf[16];
    std::uint32_t k = 0;
    for (auto id : cursor_ids) {
        const char* key;
        std::size_t n = bson_uint32_to_string(k++, &key, key_buf, sizeof key_buf);
        bson_append_int64(&arr, key, static_cast<int>(n), id);
    }
    bson_append_array_end(b, &arr);
    if (lsid) {
        bson_t l;
        bson_append_document_begin(b, "lsid", 4, &l);
        bson_append_binary(&l, "id", 2, BSON_SUBTYPE_UUID, lsid->data(), 16);
        bson_append_document_end(b, &l);
    }
    bson_append_utf8(b, "$db", 3, db.data(), static_cast<int>(db.size()));
}

namespace {
std::size_t array_length(const bson_t* reply, const char* key) {
    bson_iter_t it, child;
    std::size_t n = 0;
    if (bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child))
        while (bson_iter_next(&child)) ++n;
    return n;
}
}  // namespace

[[nodiscard]] error_code parse_kill_cursors_reply(const bson_t* reply, kill_cursors_result& out, diagnostics& diag) {
    if (auto e = check_command_reply(reply, diag)) return e;
    out.killed = array_length(reply, "cursorsKilled");
    out.not_found = array_length(reply, "cursorsNotFound");
    return {};
}

}  // namespace morm::wire::commands
