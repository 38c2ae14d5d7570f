// Model -> BSON bytes, written straight into a growable byte buffer without libbson: the
// encoder of the write path, where documents are appended to an outgoing OP_MSG frame.
//
// Each element costs a bounds check, a type byte, a key copy of compile-time length and the
// payload (see codec/writer.hpp); the types are laid out by their bson_traits (codec/types/).
// One reserve per document from a compile-time size estimate, then doubling.
//
// Errors (errc::encode_error; diagnostics::message is "<field path>: <reason>"): invalid
// UTF-8 in a string or map key, a map key that starts with '$' or contains '.' or NUL, an
// unsigned integer above INT64_MAX, or what a user type's write() reports.
// errc::document_too_large if the result exceeds max_document_size (16 MiB).
//
// With field_flags::omit_empty, "empty" means: empty string/vector/map/document/binary,
// nullopt, and an all-zero ObjectId (so a not-yet-assigned `_id` is left out).
#pragma once

#include <morm/codec/types.hpp>

#include <string>

namespace morm::codec {

namespace detail {

[[nodiscard]] inline bool too_large(std::size_t len, error_context& ctx) {
    return ctx.fail(errc::document_too_large, "document of " + std::to_string(len) + " bytes exceeds the " +
                                                  std::to_string(max_document_size) + " byte limit");
}

}  // namespace detail

/// Appends one complete BSON document encoding `obj` at the end of `out`. On error `out` is
/// restored to its previous size (its capacity may have grown). `Buffer` needs data(),
/// size(), capacity(), reserve(n) and set_size_unchecked(n) with the semantics of
/// morm::bson::byte_buffer.
template <structure T, class Buffer>
[[nodiscard]] error_code encode_raw(Buffer& out, const T& obj, diagnostics* diag = nullptr) {
    const std::size_t start = out.size();
    out.reserve(start + detail::raw_estimate_doc<T>());
    detail::raw_writer<Buffer> w{out, out.data(), start, out.capacity()};
    w.ensure(4);
    w.pos += 4;
    detail::error_context ctx(diag);
    if (detail::raw_fields(w, obj, ctx)) [[likely]] {
        w.ensure(1);
        w.u8(0);
        const std::size_t len = w.pos - start;
        if (len <= max_document_size) [[likely]] {
            w.i32_at(start, static_cast<std::int32_t>(len));
            out.set_size_unchecked(w.pos);
            return {};
        }
        (void)detail::too_large(len, ctx);
    }
    out.set_size_unchecked(start);
    return ctx.finish();
}

/// Appends the one-element document `{key: v}` at the end of `out` (key not validated).
template <class V, class Buffer>
[[nodiscard]] error_code encode_raw_value(Buffer& out, std::string_view key, const V& v, diagnostics* diag = nullptr) {
    const std::size_t start = out.size();
    out.reserve(start + 5 + 2 + key.size() + size_estimate<V>());
    detail::raw_writer<Buffer> w{out, out.data(), start, out.capacity()};
    w.ensure(4);
    w.pos += 4;
    detail::error_context ctx(diag);
    if (detail::write_value(w, detail::dyn_key{key.data(), key.size()}, v, ctx)) {
        w.ensure(1);
        w.u8(0);
        w.i32_at(start, static_cast<std::int32_t>(w.pos - start));
        out.set_size_unchecked(w.pos);
        return {};
    }
    ctx.push(key);
    out.set_size_unchecked(start);
    return ctx.finish();
}

}  // namespace morm::codec
