#include <morm/detail/text.hpp>
#include <morm/wire/commands/common.hpp>
#include <morm/wire/reply.hpp>

#include <fmt/format.h>

namespace morm::wire::commands {

[[nodiscard]] error_code refuse(diagnostics& diag, std::string_view op, std::string_view why) {
    diag.clear();
    diag.message = fmt::format("{}: {}; nothing was sent", op, why);
    return make_error_code(errc::invalid_argument);
}

bson::document copy_document(const bson_iter_t& it) {
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&it, &len, &data);
    bson::document d;
    d.assign(bson::document_view(data, len));
    return d;
}

[[nodiscard]] error_code malformed(diagnostics& diag, std::string_view op, std::string_view what) {
    diag.clear();
    diag.message = fmt::format("{} reply: {}", op, what);
    return make_error_code(errc::protocol);
}

bool append_doc_array(bson_t* b, const char* key, const std::vector<bson::document>& docs) {
    bson_t arr;
    if (!bson_append_array_begin(b, key, -1, &arr)) return false;
    char buf[16];
    bool ok = true;
    for (std::size_t i = 0; ok && i < docs.size(); ++i) {
        const char* k;
        const std::size_t kl = bson_uint32_to_string(static_cast<std::uint32_t>(i), &k, buf, sizeof buf);
        ok = bson_append_document(&arr, k, static_cast<int>(kl), docs[i].get());
    }
    return bson_append_array_end(b, &arr) && ok;
}

body_builder& body_builder::check(bool ok, const char* key) {
    if (!ok && !failed_) {
        failed_ = key;
        why_ = "cannot be appended";
    }
    return *this;
}

body_builder& body_builder::doc(const char* key, bson::document_view d) {
    if (!ok()) return *this;
    bson_t src;
    if (!d.data() || !bson_init_static(&src, d.data(), d.size())) return check(false, key);
    return check(bson_append_document(out_, key, -1, &src), key);
}

body_builder& body_builder::doc_array(const char* key, const std::vector<bson::document>& docs) {
    if (!ok()) return *this;
    return check(append_doc_array(out_, key, docs), key);
}

body_builder& body_builder::str(const char* key, std::string_view v) {
    if (!ok()) return *this;
    if (!morm::detail::valid_text(v)) {
        // Cut short at the NUL by the server, a name would be another collection's.
        failed_ = key;
        why_ = "is not valid UTF-8, or contains NUL";
        return *this;
    }
    return check(bson_append_utf8(out_, key, -1, v.data(), static_cast<int>(v.size())), key);
}

body_builder& body_builder::i32(const char* key, std::int32_t v) {
    return ok() ? check(bson_append_int32(out_, key, -1, v), key) : *this;
}

body_builder& body_builder::i64(const char* key, std::int64_t v) {
    return ok() ? check(bson_append_int64(out_, key, -1, v), key) : *this;
}

body_builder& body_builder::boolean(const char* key, bool v) {
    return ok() ? check(bson_append_bool(out_, key, -1, v), key) : *this;
}

[[nodiscard]] error_code body_builder::finish(std::string_view db, diagnostics& diag) {
    str("$db", db);
    if (ok()) return {};
    return refuse(diag, op_, fmt::format("field '{}' {}", failed_, why_));
}

[[nodiscard]] error_code check_ok(bson::document_view reply, std::string_view op, diagnostics& diag) {
    bson_t body;
    if (!reply.data() || !bson_init_static(&body, reply.data(), reply.size()))
        return malformed(diag, op, "the body is not a BSON document");
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &body, "ok")) return malformed(diag, op, "'ok' is missing");
    if (!BSON_ITER_HOLDS_NUMBER(&it) && !BSON_ITER_HOLDS_BOOL(&it)) return malformed(diag, op, "'ok' is not a number");
    return check_command_reply(&body, diag);
}

[[nodiscard]] error_code parse_ok(bson::document_view reply, std::string_view op, diagnostics& diag) {
    return check_ok(reply, op, diag);
}

namespace {
[[nodiscard]] error_code read_cursor_fields(bson_iter_t& c, std::string_view op, cursor_batch& out,
                                            diagnostics& diag) {
    bool has_id = false, has_batch = false;
    while (bson_iter_next(&c)) {
        const std::string_view k(bson_iter_key(&c), bson_iter_key_len(&c));
        if (k == "id") {
            if (!BSON_ITER_HOLDS_INT64(&c) && !BSON_ITER_HOLDS_INT32(&c))
                return malformed(diag, op, "'cursor.id' is not an integer");
            out.id = bson_iter_as_int64(&c);
            has_id = true;
        } else if (k == "ns") {
            if (!BSON_ITER_HOLDS_UTF8(&c)) return malformed(diag, op, "'cursor.ns' is not a string");
            std::uint32_t len = 0;
            const char* s = bson_iter_utf8(&c, &len);
            out.ns.assign(s, len);
        } else if (k == "firstBatch") {
            if (!BSON_ITER_HOLDS_ARRAY(&c)) return malformed(diag, op, "'cursor.firstBatch' is not an array");
            std::uint32_t len = 0;
            const std::uint8_t* data = nullptr;
            bson_iter_array(&c, &len, &data);
            out.batch.assign(bson::document_view(data, len));
            has_batch = true;
        }
    }
    if (!has_id) return malformed(diag, op, "'cursor.id' is missing");
    if (!has_batch) return malformed(diag, op, "'cursor.firstBatch' is missing");
    return {};
}
}  // namespace

[[nodiscard]] error_code parse_cursor(bson::document_view reply, std::string_view op, cursor_batch& out, diagnostics& diag) {
    if (auto ec = check_ok(reply, op, diag)) return ec;
    bson_t body;
    bson_init_static(&body, reply.data(), reply.size());
    bson_iter_t it, c;
    if (!bson_iter_init_find(&it, &body, "cursor")) return malformed(diag, op, "'cursor' is missing");
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &c))
        return malformed(diag, op, "'cursor' is not a document");
    return read_cursor_fields(c, op, out, diag);
}

}  // namespace morm::wire::commands
