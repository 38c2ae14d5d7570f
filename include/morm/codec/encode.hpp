// Model -> BSON into a caller's bson_t (e.g. a filter or command under construction).
//
// An adapter over the one raw writer (encode_raw.hpp): the object is laid out in a reused
// per-thread buffer, then its elements are appended to the bson_t in one copy, so both
// encodings are the same bytes by construction. Errors as encode_raw.
#pragma once

#include <morm/bson/byte_buffer.hpp>
#include <morm/codec/encode_raw.hpp>

namespace morm::codec {

namespace detail {

/// The per-thread scratch buffer of the bson_t adapters; trimmed after a large document so
/// that one 16 MiB encode does not pin 16 MiB per thread.
struct scratch {
    bson::byte_buffer& buf;
    scratch() : buf(get()) { buf.clear(); }
    ~scratch() {
        if (buf.capacity() > (1u << 20)) buf = bson::byte_buffer();
    }
    static bson::byte_buffer& get() {
        thread_local bson::byte_buffer b(1024);
        return b;
    }
};

/// Appends the elements of the complete document in `s` to `dst`.
[[nodiscard]] inline bool append_elements(bson_t* dst, const bson::byte_buffer& s, error_context& ctx) {
    bson_t src;
    if (!bson_init_static(&src, s.data(), s.size()) || !bson_concat(dst, &src))
        return ctx.fail(errc::encode_error, "append failed (buffer cannot grow)");
    return true;
}

}  // namespace detail

/// Appends the fields of `obj` to the already-initialized `dst`. On error `dst` is
/// unchanged. Fails with document_too_large if `dst` would end up over 16 MiB.
template <structure T>
[[nodiscard]] error_code encode_into(bson_t* dst, const T& obj, diagnostics* diag = nullptr) {
    detail::scratch s;
    if (auto ec = encode_raw(s.buf, obj, diag)) return ec;
    detail::error_context ctx(diag);
    if (dst->len + s.buf.size() - 5 > max_document_size) (void)detail::too_large(dst->len + s.buf.size() - 5, ctx);
    else (void)detail::append_elements(dst, s.buf, ctx);
    return ctx.finish();
}

/// Appends one value under `key` (used by the query DSL for typed operands). `key` is not
/// validated: operators like "$set" and dotted paths are allowed. Map keys inside `v` are.
template <class V>
[[nodiscard]] error_code encode_value(bson_t* dst, std::string_view key, const V& v, diagnostics* diag = nullptr) {
    detail::scratch s;
    if (auto ec = encode_raw_value(s.buf, key, v, diag)) return ec;
    detail::error_context ctx(diag);
    (void)detail::append_elements(dst, s.buf, ctx);
    return ctx.finish();
}

/// Encodes `obj` into a new document. Throws `morm::error` on failure.
template <structure T>
bson::document encode(const T& obj) {
    bson::document doc;
    diagnostics diag;
    if (auto ec = encode_into(doc.get(), obj, &diag)) throw morm::error(ec, std::move(diag));
    return doc;
}

}  // namespace morm::codec
