#include <morm/wire/reply.hpp>

#include <fmt/format.h>

#include <cstring>
#include <string_view>

namespace morm::wire {

namespace {
std::string_view key_of(const bson_iter_t& it) { return {bson_iter_key(&it), bson_iter_key_len(&it)}; }

std::string utf8_of(const bson_iter_t& it) {
    if (!BSON_ITER_HOLDS_UTF8(&it)) return {};
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return {s, len};
}

bool numeric(const bson_iter_t& it, double& out) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOUBLE: out = bson_iter_double(&it); return true;
        case BSON_TYPE_INT32: out = bson_iter_int32(&it); return true;
        case BSON_TYPE_INT64: out = static_cast<double>(bson_iter_int64(&it)); return true;
        case BSON_TYPE_BOOL: out = bson_iter_bool(&it) ? 1 : 0; return true;
        default: return false;
    }
}

[[nodiscard]] error_code protocol(diagnostics& diag, std::string msg) {
    diag.clear();
    diag.message = std::move(msg);
    return make_error_code(errc::protocol);
}

void parse_error_doc(const bson_iter_t& doc_it, diagnostics& d) {
    bson_iter_t it;
    if (!bson_iter_recurse(&doc_it, &it)) return;
    while (bson_iter_next(&it)) {
        auto k = key_of(it);
        if (k == "code") d.server_code = bson_iter_as_int64(&it);
        else if (k == "codeName") d.code_name = utf8_of(it);
        else if (k == "errmsg") d.message = utf8_of(it);
    }
}
}  // namespace

void fill_server_error(const bson_t* body, diagnostics& diag) {
    diag.clear();
    bson_iter_t it;
    if (!bson_iter_init(&it, body)) return;
    while (bson_iter_next(&it)) {
        auto k = key_of(it);
        if (k == "errmsg") diag.message = utf8_of(it);
        else if (k == "code") diag.server_code = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "codeName") diag.code_name = utf8_of(it);
        else if (k == "errorLabels" && BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_iter_t a;
            if (bson_iter_recurse(&it, &a))
                while (bson_iter_next(&a)) diag.error_labels.push_back(utf8_of(a));
        }
    }
    if (diag.message.empty()) diag.message = "command failed";
}

[[nodiscard]] error_code check_command_reply(const bson_t* body, diagnostics& diag) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, body, "ok")) return protocol(diag, "reply has no 'ok' field");
    double ok = 0;
    if (!numeric(it, ok)) return protocol(diag, "reply field 'ok' is not numeric");
    if (ok == 1.0) return {};
    fill_server_error(body, diag);
    return make_error_code(errc::server_error);
}

write_reply::write_reply(write_reply&& o) noexcept
    : n(o.n), n_modified(o.n_modified), write_errors(std::move(o.write_errors)),
      write_concern_error(std::move(o.write_concern_error)), upserted(std::move(o.upserted)) {
    o.upserted.clear();
}

write_reply& write_reply::operator=(write_reply&& o) noexcept {
    if (this != &o) {
        clear();
        n = o.n;
        n_modified = o.n_modified;
        write_errors = std::move(o.write_errors);
        write_concern_error = std::move(o.write_concern_error);
        upserted = std::move(o.upserted);
        o.upserted.clear();
    }
    return *this;
}

write_reply::~write_reply() { clear(); }

void write_reply::clear() {
    n = n_modified = 0;
    write_errors.clear();
    write_concern_error.reset();
    for (auto& u : upserted) bson_value_destroy(&u.id);
    upserted.clear();
}

[[nodiscard]] error_code parse_write_reply(const bson_t* body, write_reply& out, diagnostics& diag) {
    out.clear();
    if (auto ec = check_command_reply(body, diag)) return ec;
    bson_iter_t it;
    if (!bson_iter_init(&it, body)) return protocol(diag, "corrupt write reply");
    while (bson_iter_next(&it)) {
        auto k = key_of(it);
        if (k == "n") {
            out.n = bson_iter_as_int64(&it);
        } else if (k == "nModified") {
            out.n_modified = bson_iter_as_int64(&it);
        } else if (k == "writeErrors") {
            if (!BSON_ITER_HOLDS_ARRAY(&it)) return protocol(diag, "writeErrors is not an array");
            bson_iter_t arr;
            bson_iter_recurse(&it, &arr);
            while (bson_iter_next(&arr)) {
                if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) return protocol(diag, "writeErrors element is not a document");
                write_error we;
                bson_iter_t e;
                bson_iter_recurse(&arr, &e);
                bool has_index = false;
                while (bson_iter_next(&e)) {
                    auto ek = key_of(e);
                    if (ek == "index") {
                        we.index = static_cast<std::int32_t>(bson_iter_as_int64(&e));
                        has_index = true;
                    } else if (ek == "code") {
                        we.code = static_cast<std::int32_t>(bson_iter_as_int64(&e));
                    } else if (ek == "codeName") {
                        we.code_name = utf8_of(e);
                    } else if (ek == "errmsg") {
                        we.message = utf8_of(e);
                    }
                }
                if (!has_index) return protocol(diag, "writeErrors element without index");
                out.write_errors.push_back(std::move(we));
            }
        } else if (k == "writeConcernError" && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            diagnostics d;
            parse_error_doc(it, d);
            out.write_concern_error = std::move(d);
        } else if (k == "upserted" && BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_iter_t arr;
            bson_iter_recurse(&it, &arr);
            while (bson_iter_next(&arr)) {
                bson_iter_t e;
                if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e)) continue;
                write_reply::upserted_id u;
                bool has_id = false;
                while (bson_iter_next(&e)) {
                    auto ek = key_of(e);
                    if (ek == "index") u.index = static_cast<std::int32_t>(bson_iter_as_int64(&e));
                    else if (ek == "_id") {
                        bson_value_copy(bson_iter_value(&e), &u.id);
                        has_id = true;
                    }
                }
                if (has_id) out.upserted.push_back(u);
            }
        }
    }
    return {};
}

[[nodiscard]] error_code parse_cursor_reply(const bson_t* body, cursor_reply& out, diagnostics& diag) {
    if (auto ec = check_command_reply(body, diag)) return ec;
    bson_iter_t it, c;
    if (!bson_iter_init_find(&it, body, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &c))
        return protocol(diag, "reply has no 'cursor' document");
    bool has_id = false, has_batch = false;
    while (bson_iter_next(&c)) {
        auto k = key_of(c);
        if (k == "id") {
            out.id = bson_iter_as_int64(&c);
            has_id = true;
        } else if (k == "ns") {
            out.ns = utf8_of(c);
        } else if (k == "firstBatch" || k == "nextBatch") {
            if (!BSON_ITER_HOLDS_ARRAY(&c)) return protocol(diag, "cursor batch is not an array");
            bson_iter_array(&c, &out.batch_len, &out.batch_data);
            has_batch = true;
        }
    }
    if (!has_id || !has_batch) return protocol(diag, "cursor document lacks id or batch");
    return {};
}

}  // namespace morm::wire
