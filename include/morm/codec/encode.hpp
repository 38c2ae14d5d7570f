// Model -> BSON. Appends straight into a caller's bson_t (e.g. one from bson_writer_begin
// that writes into an outgoing OP_MSG buffer): no intermediate document, keys of declared
// fields have compile-time lengths, array index keys come from bson_uint32_to_string.
//
// Errors (errc::encode_error; diagnostics::message is "<field path>: <reason>"): invalid
// UTF-8 in a string or map key, a map key that starts with '$' or contains '.' or NUL, an
// unsigned integer above INT64_MAX, or libbson refusing to grow the buffer.
// errc::document_too_large if the result exceeds max_document_size (16 MiB).
//
// With field_flags::omit_empty, "empty" means: empty string/vector/map/document/binary,
// nullopt, and an all-zero ObjectId (so a not-yet-assigned `_id` is left out).
#pragma once

#include <morm/codec/detail/common.hpp>
#include <morm/detail/text.hpp>

#include <cstring>

namespace morm::codec {

/// Largest document MongoDB accepts (maxBsonObjectSize).
inline constexpr std::size_t max_document_size = 16 * 1024 * 1024;

namespace detail {

template <class V>
bool is_empty_value(const V& v) noexcept {
    if constexpr (is_optional<V>::value) return !v.has_value();
    else if constexpr (std::is_same_v<V, bson::binary>) return v.data.empty();
    else if constexpr (std::is_same_v<V, bson::object_id>) return v.is_zero();
    else if constexpr (requires { v.empty(); }) return v.empty();
    else return false;
}

inline bool append_failed(error_context& ctx) { return ctx.fail(errc::encode_error, "append failed (buffer cannot grow)"); }

inline bool valid_utf8(const char* s, std::size_t n) noexcept { return morm::detail::valid_text(s, n); }

inline bool check_utf8(const char* s, std::size_t n, error_context& ctx) {
    if (!valid_utf8(s, n)) return ctx.fail(errc::encode_error, "invalid UTF-8 in string");
    return true;
}

inline bool check_map_key(std::string_view k, error_context& ctx) {
    if (!valid_utf8(k.data(), k.size())) return ctx.fail(errc::encode_error, "invalid UTF-8 in key");
    if (!k.empty() && k.front() == '$')
        return ctx.fail(errc::encode_error, "key '" + std::string(k) + "' starts with '$'");
    if (k.find('.') != std::string_view::npos)
        return ctx.fail(errc::encode_error, "key '" + std::string(k) + "' contains '.'");
    return true;
}

template <structure T>
bool encode_fields(bson_t* dst, const T& obj, error_context& ctx);

template <class V>
bool encode_value(bson_t* dst, const char* key, int klen, const V& v, error_context& ctx) {
    if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        std::string_view s = v;
        if (!check_utf8(s.data(), s.size(), ctx)) return false;
        return bson_append_utf8(dst, key, klen, s.data(), static_cast<int>(s.size())) || append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bool>) {
        return bson_append_bool(dst, key, klen, v) || append_failed(ctx);
    } else if constexpr (std::is_enum_v<V>) {
        if constexpr (has_enum_strings<V>) {
            for (const auto& [e, name] : enum_strings<V>())
                if (e == v)
                    return bson_append_utf8(dst, key, klen, name.data(), static_cast<int>(name.size())) ||
                           append_failed(ctx);
            return ctx.fail(errc::encode_error,
                            "enum value " + std::to_string(static_cast<long long>(v)) + " has no declared string");
        } else {
            return encode_value(dst, key, klen, static_cast<std::underlying_type_t<V>>(v), ctx);
        }
    } else if constexpr (integer<V>) {
        if constexpr (sizeof(V) <= 4 && std::is_signed_v<V>) {
            return bson_append_int32(dst, key, klen, static_cast<std::int32_t>(v)) || append_failed(ctx);
        } else if constexpr (sizeof(V) < 4) {  // small unsigned
            return bson_append_int32(dst, key, klen, static_cast<std::int32_t>(v)) || append_failed(ctx);
        } else {
            if constexpr (std::is_unsigned_v<V> && sizeof(V) >= 8) {
                if (v > static_cast<V>(INT64_MAX))
                    return ctx.fail(errc::encode_error, "unsigned value " + std::to_string(v) + " exceeds int64");
            }
            return bson_append_int64(dst, key, klen, static_cast<std::int64_t>(v)) || append_failed(ctx);
        }
    } else if constexpr (std::is_floating_point_v<V>) {
        return bson_append_double(dst, key, klen, static_cast<double>(v)) || append_failed(ctx);
    } else if constexpr (is_optional<V>::value) {
        if (!v) return bson_append_null(dst, key, klen) || append_failed(ctx);
        return encode_value(dst, key, klen, *v, ctx);
    } else if constexpr (is_vector<V>::value) {
        bson_t child;
        if (!bson_append_array_begin(dst, key, klen, &child)) return append_failed(ctx);
        char buf[16];
        std::uint32_t i = 0;
        for (const auto& e : v) {
            const char* k;
            std::size_t n = bson_uint32_to_string(i, &k, buf, sizeof buf);
            if (!encode_value(&child, k, static_cast<int>(n), e, ctx)) {
                bson_append_array_end(dst, &child);
                return ctx.push(std::string_view(k, n));
            }
            ++i;
        }
        return bson_append_array_end(dst, &child) || append_failed(ctx);
    } else if constexpr (is_string_map<V>::value) {
        bson_t child;
        if (!bson_append_document_begin(dst, key, klen, &child)) return append_failed(ctx);
        for (const auto& [k, e] : v) {
            if (!check_map_key(k, ctx) ||
                !encode_value(&child, k.data(), static_cast<int>(k.size()), e, ctx)) {
                bson_append_document_end(dst, &child);
                return ctx.push(k);
            }
        }
        return bson_append_document_end(dst, &child) || append_failed(ctx);
    } else if constexpr (structure<V>) {
        bson_t child;
        if (!bson_append_document_begin(dst, key, klen, &child)) return append_failed(ctx);
        if (!encode_fields(&child, v, ctx)) {
            bson_append_document_end(dst, &child);
            return false;
        }
        return bson_append_document_end(dst, &child) || append_failed(ctx);
    } else if constexpr (is_time_point<V>::value) {
        auto ms = std::chrono::floor<std::chrono::milliseconds>(v.time_since_epoch()).count();
        return bson_append_date_time(dst, key, klen, static_cast<std::int64_t>(ms)) || append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bson::object_id>) {
        bson_oid_t oid = v.to_bson();
        return bson_append_oid(dst, key, klen, &oid) || append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bson::binary>) {
        return bson_append_binary(dst, key, klen, static_cast<bson_subtype_t>(v.subtype), v.data.data(),
                                  static_cast<std::uint32_t>(v.data.size())) ||
               append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bson::decimal128>) {
        return bson_append_decimal128(dst, key, klen, &v.get()) || append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bson::document>) {
        return bson_append_document(dst, key, klen, v.get()) || append_failed(ctx);
    } else if constexpr (std::is_same_v<V, bson::value>) {
        return bson_append_value(dst, key, klen, &v.get()) || append_failed(ctx);
    } else {
        static_assert(sizeof(V) == 0, "morm::codec: this type cannot be encoded to BSON; declare it with "
                                      "MORM_STRUCT or use a supported type");
        return false;
    }
}

template <structure T, std::size_t I>
bool encode_field(bson_t* dst, const T& obj, error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    using M = typename std::remove_cvref_t<decltype(d)>::member_type;
    const M& m = obj.*d.member;
    if constexpr (d.has(field_flags::extra_fields)) {
        static_assert(std::is_same_v<M, bson::document>,
                      "field_flags::extra_fields requires a morm::bson::document member");
        bson_iter_t it;
        if (!bson_iter_init(&it, m.get())) return true;
        while (bson_iter_next(&it))
            if (!bson_append_iter(dst, bson_iter_key(&it), static_cast<int>(bson_iter_key_len(&it)), &it))
                return append_failed(ctx);
        return true;
    } else {
        if constexpr (d.has(field_flags::version))
            static_assert(std::is_same_v<M, std::int64_t>, "field_flags::version requires a std::int64_t member");
        if constexpr (d.has(field_flags::omit_empty))
            if (is_empty_value(m)) return true;
        if (!encode_value(dst, d.name.data(), static_cast<int>(d.name.size()), m, ctx)) return ctx.push(d.name);
        return true;
    }
}

template <structure T>
bool encode_fields(bson_t* dst, const T& obj, error_context& ctx) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (encode_field<T, I>(dst, obj, ctx) && ...);
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

}  // namespace detail

/// Appends the fields of `obj` to the already-initialized `dst`. On error `dst` may hold a
/// partial document; discard it. Fails with document_too_large if `dst` ends up over 16 MiB.
template <structure T>
[[nodiscard]] error_code encode_into(bson_t* dst, const T& obj, diagnostics* diag = nullptr) {
    detail::error_context ctx(diag);
    if (detail::encode_fields(dst, obj, ctx) && dst->len > max_document_size)
        ctx.fail(errc::document_too_large, "document of " + std::to_string(dst->len) + " bytes exceeds the " +
                                               std::to_string(max_document_size) + " byte limit");
    return ctx.finish();
}

/// Appends one value under `key` (used by the query DSL for typed operands). `key` is not
/// validated: operators like "$set" and dotted paths are allowed. Map keys inside `v` are.
template <class V>
[[nodiscard]] error_code encode_value(bson_t* dst, std::string_view key, const V& v, diagnostics* diag = nullptr) {
    detail::error_context ctx(diag);
    if (!detail::encode_value(dst, key.data(), static_cast<int>(key.size()), v, ctx)) ctx.push(key);
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
