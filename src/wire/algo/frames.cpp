#include <morm/wire/algo/frames.hpp>

#include <fmt/format.h>

#include <cstring>

namespace morm::wire::algo {

[[nodiscard]] error_code parse_reply_frame(std::span<const std::uint8_t> frame, std::int32_t request_id, op_msg_view& out,
                             diagnostics& diag) {
    if (auto e = parse_op_msg(frame, out, diag)) return e;
    if (out.header.response_to != request_id) {
        diag.clear();
        diag.message = fmt::format("reply responseTo {} does not match request {}", out.header.response_to, request_id);
        return make_error_code(errc::protocol);
    }
    if (out.more_to_come()) {
        diag.clear();
        diag.message = "unexpected moreToCome reply";
        return make_error_code(errc::protocol);
    }
    return {};
}

namespace {
std::int32_t read_i32(const std::uint8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

/// Appends the documents of one kind-1 section [off, end) to `cmd` as an array.
bool append_sequence(const std::uint8_t* p, std::size_t off, std::size_t end, bson_t* cmd) {
    const char* ident = reinterpret_cast<const char*>(p + off);
    const void* nul = std::memchr(ident, 0, end - off);
    if (!nul) return false;
    std::size_t doc_off = off + static_cast<std::size_t>(static_cast<const char*>(nul) - ident) + 1;
    bson_t arr;
    bson_append_array_begin(cmd, ident, -1, &arr);
    std::uint32_t k = 0;
    char key_buf[16];
    bool ok = true;
    while (doc_off + 5 <= end) {
        const std::int32_t dlen = read_i32(p + doc_off);
        if (dlen < 5 || doc_off + static_cast<std::size_t>(dlen) > end) {
            ok = false;
            break;
        }
        bson_t d;
        if (bson_init_static(&d, p + doc_off, static_cast<std::size_t>(dlen))) {
            const char* key;
            bson_uint32_to_string(k++, &key, key_buf, sizeof key_buf);
            bson_append_document(&arr, key, -1, &d);
        }
        doc_off += static_cast<std::size_t>(dlen);
    }
    bson_append_array_end(cmd, &arr);
    return ok;
}
}  // namespace

bool command_from_frame(std::span<const std::uint8_t> frame, bson_t* out, std::string_view& name,
                        std::string_view& db) {
    bson_init(out);
    const std::uint8_t* p = frame.data();
    if (frame.size() < min_op_msg_size || p[header_size + 4] != 0) return false;
    const std::uint32_t flag_bits = static_cast<std::uint32_t>(read_i32(p + header_size));
    const std::size_t end = frame.size() - ((flag_bits & flags::checksum_present) ? 4 : 0);
    const std::int32_t body_len = read_i32(p + header_size + 5);
    std::size_t off = header_size + 5;
    if (body_len < 5 || off + static_cast<std::size_t>(body_len) > end) return false;
    bson_t body;
    if (!bson_init_static(&body, p + off, static_cast<std::size_t>(body_len))) return false;
    bson_copy_to(&body, out);  // bson_copy_to initialises `out` again: drop the first init
    bson_iter_t it;
    if (bson_iter_init(&it, &body) && bson_iter_next(&it)) name = bson_iter_key(&it);
    if (bson_iter_init_find(&it, &body, "$db") && BSON_ITER_HOLDS_UTF8(&it)) {
        std::uint32_t len;
        const char* s = bson_iter_utf8(&it, &len);
        db = std::string_view(s, len);
    }
    off += static_cast<std::size_t>(body_len);
    while (off + 5 <= end && p[off] == 1) {
        const std::size_t sec_end = off + 1 + static_cast<std::size_t>(read_i32(p + off + 1));
        if (sec_end > end || !append_sequence(p, off + 5, sec_end, out)) return false;
        off = sec_end;
    }
    return true;
}

}  // namespace morm::wire::algo
