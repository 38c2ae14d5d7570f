#include <morm/wire/reply.hpp>

#include <fmt/format.h>

#include <climits>
#include <cmath>
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

}  // namespace

bool read_integer(const bson_iter_t& it, std::int64_t& out) noexcept {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_INT32: out = bson_iter_int32(&it); return true;
        case BSON_TYPE_INT64: out = bson_iter_int64(&it); return true;
        case BSON_TYPE_DOUBLE: {
            // A double is taken only when it holds an integer int64 can represent: casting
            // NaN or 1e300 is undefined behaviour, a fraction is no count.
            const double d = bson_iter_double(&it);
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::trunc(d)) return false;
            out = static_cast<std::int64_t>(d);
            return true;
        }
        default: return false;
    }
}

void fill_server_error(const bson_t* body, diagnostics& diag) {
    diag.clear();
    bson_iter_t it;
    if (!bson_iter_init(&it, body)) return;
    while (bson_iter_next(&it)) {
        auto k = key_of(it);
        if (k == "errmsg") diag.message = utf8_of(it);
        else if (k == "code") {
            // A code that is no int32 is kept as 0 rather than truncated into another code.
            std::int64_t v = 0;
            if (read_integer(it, v) && v >= INT32_MIN && v <= INT32_MAX) diag.server_code = static_cast<std::int32_t>(v);
        }
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

namespace {

/// `what` must be an integer (see read_integer) in [lo, hi].
[[nodiscard]] error_code integer_field(const bson_iter_t& it, std::string_view what, std::int64_t lo,
                                       std::int64_t hi, std::int64_t& out, diagnostics& diag) {
    if (!read_integer(it, out) || out < lo || out > hi)
        return protocol(diag, fmt::format("{} is not an integer in [{}, {}]", what, lo, hi));
    return {};
}

/// `what`, when present, must be a string.
[[nodiscard]] error_code string_field(const bson_iter_t& it, std::string_view what, std::string& out,
                                      diagnostics& diag) {
    if (!BSON_ITER_HOLDS_UTF8(&it)) return protocol(diag, fmt::format("{} is not a string", what));
    out = utf8_of(it);
    return {};
}

constexpr std::int64_t max_i32 = 2147483647;
constexpr std::int64_t max_i64 = 9223372036854775807;

/// One element of writeErrors: {index, code, codeName?, errmsg?, errInfo?}.
[[nodiscard]] error_code parse_write_error(const bson_iter_t& arr, write_error& we, diagnostics& diag) {
    bson_iter_t e;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e))
        return protocol(diag, "write reply: a writeErrors element is not a document");
    bool has_index = false, has_code = false;
    std::int64_t v = 0;
    while (bson_iter_next(&e)) {
        auto ek = key_of(e);
        if (ek == "index") {
            if (auto ec = integer_field(e, "write reply: writeErrors.index", 0, max_i32, v, diag)) return ec;
            we.index = static_cast<std::int32_t>(v);
            has_index = true;
        } else if (ek == "code") {
            if (auto ec = integer_field(e, "write reply: writeErrors.code", -max_i32 - 1, max_i32, v, diag))
                return ec;
            we.code = static_cast<std::int32_t>(v);
            has_code = true;
        } else if (ek == "codeName") {
            if (auto ec = string_field(e, "write reply: writeErrors.codeName", we.code_name, diag)) return ec;
        } else if (ek == "errmsg") {
            if (auto ec = string_field(e, "write reply: writeErrors.errmsg", we.message, diag)) return ec;
        }
    }
    if (!has_index) return protocol(diag, "write reply: a writeErrors element without index");
    if (!has_code) return protocol(diag, "write reply: a writeErrors element without code");
    return {};
}

[[nodiscard]] error_code parse_write_errors(const bson_iter_t& it, write_reply& out, diagnostics& diag) {
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return protocol(diag, "write reply: writeErrors is not an array");
    while (bson_iter_next(&arr)) {
        write_error we;
        if (auto ec = parse_write_error(arr, we, diag)) return ec;
        for (const auto& prev : out.write_errors)
            if (prev.index == we.index)
                return protocol(diag, fmt::format("write reply: writeErrors names index {} twice", we.index));
        out.write_errors.push_back(std::move(we));
    }
    return {};
}

[[nodiscard]] error_code parse_upserted(const bson_iter_t& it, write_reply& out, diagnostics& diag) {
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return protocol(diag, "write reply: upserted is not an array");
    while (bson_iter_next(&arr)) {
        bson_iter_t e;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e))
            return protocol(diag, "write reply: an upserted element is not a document");
        write_reply::upserted_id u;
        bool has_id = false, has_index = false;
        std::int64_t v = 0;
        while (bson_iter_next(&e)) {
            auto ek = key_of(e);
            if (ek == "index") {
                if (auto ec = integer_field(e, "write reply: upserted.index", 0, max_i32, v, diag)) {
                    if (has_id) bson_value_destroy(&u.id);  // not owned by `out` yet
                    return ec;
                }
                u.index = static_cast<std::int32_t>(v);
                has_index = true;
            } else if (ek == "_id" && !has_id) {
                bson_value_copy(bson_iter_value(&e), &u.id);
                has_id = true;
            }
        }
        // Owned by `out` from here on, so an early return below frees it.
        out.upserted.push_back(u);
        if (!has_index || !has_id) return protocol(diag, "write reply: an upserted element lacks index or _id");
        for (std::size_t k = 0; k + 1 < out.upserted.size(); ++k)
            if (out.upserted[k].index == u.index)
                return protocol(diag, fmt::format("write reply: upserted names index {} twice", u.index));
    }
    return {};
}

[[nodiscard]] error_code parse_write_concern_error(const bson_iter_t& it, write_reply& out, diagnostics& diag) {
    bson_iter_t e;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &e))
        return protocol(diag, "write reply: writeConcernError is not a document");
    diagnostics d;
    bool has_code = false;
    std::int64_t v = 0;
    while (bson_iter_next(&e)) {
        auto k = key_of(e);
        if (k == "code") {
            if (auto ec = integer_field(e, "write reply: writeConcernError.code", -max_i32 - 1, max_i32, v, diag))
                return ec;
            d.server_code = static_cast<std::int32_t>(v);
            has_code = true;
        } else if (k == "codeName") {
            if (auto ec = string_field(e, "write reply: writeConcernError.codeName", d.code_name, diag)) return ec;
        } else if (k == "errmsg") {
            if (auto ec = string_field(e, "write reply: writeConcernError.errmsg", d.message, diag)) return ec;
        }
    }
    if (!has_code) return protocol(diag, "write reply: writeConcernError has no code");
    if (d.message.empty()) d.message = "write concern error";
    out.write_concern_error = std::move(d);
    return {};
}

}  // namespace

[[nodiscard]] error_code parse_write_reply(const bson_t* body, write_reply& out, diagnostics& diag) {
    out.clear();
    if (auto ec = check_command_reply(body, diag)) return ec;
    bson_iter_t it;
    if (!bson_iter_init(&it, body)) return protocol(diag, "corrupt write reply");
    error_code ec;
    // A field of the wrong type is a protocol error, never a default: a count read as 0 or
    // a writeErrors element skipped would report a failed write as a success.
    while (!ec && bson_iter_next(&it)) {
        auto k = key_of(it);
        if (k == "n") ec = integer_field(it, "write reply: 'n'", 0, max_i64, out.n, diag);
        else if (k == "nModified") ec = integer_field(it, "write reply: 'nModified'", 0, max_i64, out.n_modified, diag);
        else if (k == "writeErrors") ec = parse_write_errors(it, out, diag);
        else if (k == "writeConcernError") ec = parse_write_concern_error(it, out, diag);
        else if (k == "upserted") ec = parse_upserted(it, out, diag);
    }
    if (ec) out.clear();
    return ec;
}

[[nodiscard]] error_code check_batch(const std::uint8_t* data, std::uint32_t len, std::string_view what,
                                     diagnostics& diag) {
    bson_t arr;
    bson_iter_t it;
    if (!data || !bson_init_static(&arr, data, len) || !bson_iter_init(&it, &arr))
        return protocol(diag, fmt::format("{} is not a BSON array", what));
    std::size_t i = 0;
    for (; bson_iter_next(&it); ++i)
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return protocol(diag, fmt::format("{}.{} is not a document (BSON type 0x{:02x})", what, i,
                                              static_cast<unsigned>(bson_iter_type(&it))));
    // bson_iter_next also stops at a corrupt element: the batch would end there silently.
    if (it.err_off != 0) return protocol(diag, fmt::format("{}.{} is corrupt BSON", what, i));
    return {};
}

[[nodiscard]] error_code parse_cursor_reply(const bson_t* body, cursor_reply& out, diagnostics& diag) {
    if (auto ec = check_command_reply(body, diag)) return ec;
    bson_iter_t it, c;
    if (!bson_iter_init_find(&it, body, "cursor")) return protocol(diag, "cursor reply has no 'cursor' document");
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &c))
        return protocol(diag, "cursor reply: 'cursor' is not a document");
    bool has_id = false, has_batch = false;
    const char* batch_name = "cursor.nextBatch";
    while (bson_iter_next(&c)) {
        auto k = key_of(c);
        if (k == "id") {
            // A cursor id of another type must not read as 0 ("exhausted"): results would
            // be cut short without a word.
            if (!BSON_ITER_HOLDS_INT64(&c) && !BSON_ITER_HOLDS_INT32(&c))
                return protocol(diag, "cursor reply: 'cursor.id' is not an integer");
            out.id = bson_iter_as_int64(&c);
            has_id = true;
        } else if (k == "ns") {
            if (!BSON_ITER_HOLDS_UTF8(&c)) return protocol(diag, "cursor reply: 'cursor.ns' is not a string");
            out.ns = utf8_of(c);
        } else if (k == "firstBatch" || k == "nextBatch") {
            if (!BSON_ITER_HOLDS_ARRAY(&c)) return protocol(diag, "cursor reply: the cursor batch is not an array");
            bson_iter_array(&c, &out.batch_len, &out.batch_data);
            batch_name = k == "firstBatch" ? "cursor.firstBatch" : "cursor.nextBatch";
            has_batch = true;
        }
    }
    if (!has_id) return protocol(diag, "cursor document lacks id or batch ('cursor.id' is missing)");
    if (!has_batch) return protocol(diag, "cursor document lacks id or batch (no firstBatch/nextBatch)");
    return check_batch(out.batch_data, out.batch_len, batch_name, diag);
}

}  // namespace morm::wire
