// BSON -> model. Reads with bson_iter_t straight from the source bytes into the struct (no
// intermediate document); strings, vectors and maps reuse the capacity already in `out`.
// Each member is read by its bson_traits (codec/types/); the field walk and the rules for
// absent, unknown and aliased fields are in codec/types/structure.hpp.
//
// - null decodes only into std::optional (nullopt) and bson::value.
// - int32 widens to int64 and double; int64 narrows to int32 only if it fits; anything else is
//   a type mismatch: "<path>: expected string, got int32". Paths are dotted from the top-level
//   document, array elements by index ("tags.3").
#pragma once

#include <morm/codec/types.hpp>

namespace morm::codec {

/// Decodes the document at `data`/`len` into `out` (fields not in the document are handled
/// as described in structure.hpp). On error `out` may be partly assigned.
template <structure T>
[[nodiscard]] error_code decode(const std::uint8_t* data, std::size_t len, T& out, diagnostics* diag = nullptr) {
    detail::error_context ctx(diag);
    bson_iter_t it;
    if (!data || !bson_iter_init_from_data(&it, data, len)) ctx.fail(errc::decode_error, "invalid BSON document");
    else detail::decode_fields(it, out, ctx);
    return ctx.finish();
}

template <structure T>
[[nodiscard]] error_code decode(bson::document_view v, T& out, diagnostics* diag = nullptr) {
    return decode(v.data(), v.size(), out, diag);
}

template <structure T>
[[nodiscard]] error_code decode(const bson_t* b, T& out, diagnostics* diag = nullptr) {
    return decode(bson_get_data(b), b->len, out, diag);
}

/// Throwing form: decodes a new `T` (which must be default-constructible).
template <structure T>
T decode(bson::document_view v) {
    T out{};
    diagnostics diag;
    if (auto ec = decode(v, out, &diag)) throw morm::error(ec, std::move(diag));
    return out;
}

}  // namespace morm::codec
