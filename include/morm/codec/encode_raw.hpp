// Model -> BSON bytes, written straight into a growable byte buffer without libbson.
//
// Produces exactly the bytes of encode_into() (same field order, types, flags, validation and
// error messages; see encode.hpp), but each element costs a bounds check, a type byte, a key
// copy of compile-time length and the payload, instead of a trip through libbson's generic
// bson_append_* machinery. Used on the write path, where documents are appended to an
// outgoing OP_MSG frame.
//
// The buffer is duck-typed with the interface of morm::bson::byte_buffer: data(), size(),
// capacity(), reserve(n) (keeps the first size() bytes), set_size_unchecked(n). The encoder
// writes past size() into the reserved capacity and publishes the final size at the end, so
// growth is rare: one reserve per document from a compile-time size estimate, then doubling.
#pragma once

#include <morm/codec/encode.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace morm::codec {

namespace detail {

/// Output cursor over the spare capacity of a buffer. `pos` is an absolute offset in the
/// buffer; bytes in [out.size(), pos) are written but not yet published.
template <class Buffer>
struct raw_writer {
    Buffer& out;
    std::uint8_t* base;
    std::size_t pos;
    std::size_t cap;

    /// Makes room for `n` more bytes at `pos`.
    void ensure(std::size_t n) {
        if (n > cap - pos) [[unlikely]]
            grow(n);
    }
    [[gnu::noinline]] void grow(std::size_t n) {
        out.set_size_unchecked(pos);  // reserve() preserves size() bytes: make ours count
        out.reserve(std::max(pos + n, cap * 2));
        base = out.data();
        cap = out.capacity();
    }

    void u8(std::uint8_t b) noexcept { base[pos++] = b; }
    void bytes(const void* p, std::size_t n) noexcept {
        std::memcpy(base + pos, p, n);
        pos += n;
    }
    void i32(std::int32_t v) noexcept {
        const std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        bytes(&u, 4);
    }
    void i64(std::int64_t v) noexcept {
        const std::uint64_t u = BSON_UINT64_TO_LE(static_cast<std::uint64_t>(v));
        bytes(&u, 8);
    }
    void f64(double d) noexcept {
        std::uint64_t u;
        std::memcpy(&u, &d, 8);
        u = BSON_UINT64_TO_LE(u);
        bytes(&u, 8);
    }
    void i32_at(std::size_t at, std::int32_t v) noexcept {
        const std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        std::memcpy(base + at, &u, 4);
    }
    /// Type byte and key. The caller has ensured 1 + k.wsize + payload bytes.
    template <class K>
    void header(std::uint8_t type, const K& k) noexcept {
        base[pos] = type;
        k.write(base + pos + 1);
        pos += 2 + k.size();
    }
    /// Starts an embedded document/array: header + length placeholder; returns its offset.
    template <class K>
    std::size_t open(std::uint8_t type, const K& k) {
        ensure(1 + k.wsize() + 4);
        header(type, k);
        const std::size_t at = pos;
        pos += 4;
        return at;
    }
    void close(std::size_t at) {
        ensure(1);
        u8(0);
        i32_at(at, static_cast<std::int32_t>(pos - at));
    }
};

// ---- keys ------------------------------------------------------------------------------
// size(): key length without NUL; wsize(): bytes write() touches (NUL included).

/// The stored name of field I of T, with its NUL, as a compile-time constant.
template <class T, std::size_t I>
struct field_key {
    static constexpr std::string_view name = struct_traits<T>::template field<I>().name;
    static constexpr std::array<char, name.size() + 1> z = [] {
        std::array<char, name.size() + 1> a{};
        for (std::size_t i = 0; i < name.size(); ++i) a[i] = name[i];
        return a;
    }();
    static constexpr std::size_t size() noexcept { return name.size(); }
    static constexpr std::size_t wsize() noexcept { return name.size() + 1; }
    void write(std::uint8_t* p) const noexcept { std::memcpy(p, z.data(), z.size()); }
    std::string_view view() const noexcept { return name; }
};

/// A key known only at run time (map keys, encode_raw_value).
struct dyn_key {
    const char* s;
    std::size_t n;
    std::size_t size() const noexcept { return n; }
    std::size_t wsize() const noexcept { return n + 1; }
    void write(std::uint8_t* p) const noexcept {
        std::memcpy(p, s, n);
        p[n] = 0;
    }
    std::string_view view() const noexcept { return {s, n}; }
};

/// "0".."999" NUL-padded to 4 bytes, so an index key is one 4-byte store.
inline constexpr auto index_key_table = [] {
    std::array<std::array<char, 4>, 1000> t{};
    for (unsigned i = 0; i < 1000; ++i) {
        char* p = t[i].data();
        if (i >= 100) *p++ = static_cast<char>('0' + i / 100);
        if (i >= 10) *p++ = static_cast<char>('0' + i / 10 % 10);
        *p = static_cast<char>('0' + i % 10);
    }
    return t;
}();

/// Array index key ("0", "1", ...).
struct index_key {
    char buf[12];
    std::size_t n;
    explicit index_key(std::uint32_t i) noexcept {
        if (i < 1000) [[likely]] {
            std::memcpy(buf, index_key_table[i].data(), 4);
            n = i >= 100 ? 3 : i >= 10 ? 2 : 1;
        } else {
            n = static_cast<std::size_t>(std::to_chars(buf, buf + 11, i).ptr - buf);
            buf[n] = 0;
        }
    }
    std::size_t size() const noexcept { return n; }
    std::size_t wsize() const noexcept { return n < 4 ? 4 : n + 1; }
    void write(std::uint8_t* p) const noexcept {
        if (n < 4) [[likely]] std::memcpy(p, buf, 4);
        else std::memcpy(p, buf, n + 1);
    }
    std::string_view view() const noexcept { return {buf, n}; }
};

// ---- size estimate -----------------------------------------------------------------------

/// Guessed encoded size of a value's payload; exact for fixed-size types. Only sizes the
/// initial reserve, so strings and containers get a typical length.
template <class V>
constexpr std::size_t raw_estimate_value() noexcept;

template <structure T>
constexpr std::size_t raw_estimate_doc() noexcept {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return std::size_t{5} +
               (... + [] {
                    constexpr auto& d = struct_traits<T>::template field<I>();
                    using M = typename std::remove_cvref_t<decltype(d)>::member_type;
                    if constexpr (d.has(field_flags::extra_fields)) return std::size_t{0};
                    else return 2 + d.name.size() + raw_estimate_value<M>();
                }());
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

template <class V>
constexpr std::size_t raw_estimate_value() noexcept {
    if constexpr (std::is_convertible_v<const V&, std::string_view>) return 4 + 16 + 1;
    else if constexpr (std::is_same_v<V, bool>) return 1;
    else if constexpr (std::is_enum_v<V>) return has_enum_strings<V> ? 4 + 8 + 1 : 8;
    else if constexpr (integer<V>) return sizeof(V) <= 4 ? 4 : 8;
    else if constexpr (std::is_floating_point_v<V>) return 8;
    else if constexpr (is_optional<V>::value) return raw_estimate_value<typename V::value_type>();
    else if constexpr (structure<V>) return raw_estimate_doc<V>();
    else if constexpr (is_time_point<V>::value) return 8;
    else if constexpr (std::is_same_v<V, bson::object_id>) return 12;
    else if constexpr (std::is_same_v<V, bson::decimal128>) return 16;
    else if constexpr (is_vector<V>::value || is_string_map<V>::value) return 5 + 32;
    else return 32;  // binary, document, value
}

// ---- values ------------------------------------------------------------------------------

template <structure T, class B>
bool raw_fields(raw_writer<B>& w, const T& obj, error_context& ctx);

template <class B, class K, class V>
bool raw_value(raw_writer<B>& w, const K& k, const V& v, error_context& ctx);

template <class B, class K>
bool raw_string(raw_writer<B>& w, const K& k, const char* s, std::size_t n) {
    w.ensure(1 + k.wsize() + 4 + n + 1);
    w.header(BSON_TYPE_UTF8, k);
    w.i32(static_cast<std::int32_t>(n + 1));
    w.bytes(s, n);
    w.u8(0);
    return true;
}

// raw_value() dispatches on the family of V to one of the helpers below; each is forced
// inline, so the dispatch compiles to the same code as a single if-constexpr ladder.

/// Types that encode as a single fixed-size element: bool, enum, integer, floating point.
template <class V>
inline constexpr bool raw_scalar_type =
    std::is_same_v<V, bool> || std::is_enum_v<V> || integer<V> || std::is_floating_point_v<V>;

/// bool, enums (as their declared string or their underlying integer), integers, doubles.
template <class B, class K, class V>
[[gnu::always_inline]] inline bool raw_scalar(raw_writer<B>& w, const K& k, const V& v, error_context& ctx) {
    if constexpr (std::is_same_v<V, bool>) {
        w.ensure(1 + k.wsize() + 1);
        w.header(BSON_TYPE_BOOL, k);
        w.u8(v ? 1 : 0);
        return true;
    } else if constexpr (std::is_enum_v<V>) {
        if constexpr (has_enum_strings<V>) {
            for (const auto& [e, name] : enum_strings<V>())
                if (e == v) return raw_string(w, k, name.data(), name.size());
            return ctx.fail(errc::encode_error,
                            "enum value " + std::to_string(static_cast<long long>(v)) + " has no declared string");
        } else {
            return raw_value(w, k, static_cast<std::underlying_type_t<V>>(v), ctx);
        }
    } else if constexpr (integer<V>) {
        if constexpr (sizeof(V) < 4 || (sizeof(V) == 4 && std::is_signed_v<V>)) {
            w.ensure(1 + k.wsize() + 4);
            w.header(BSON_TYPE_INT32, k);
            w.i32(static_cast<std::int32_t>(v));
        } else {
            if constexpr (std::is_unsigned_v<V> && sizeof(V) >= 8) {
                if (v > static_cast<V>(INT64_MAX))
                    return ctx.fail(errc::encode_error, "unsigned value " + std::to_string(v) + " exceeds int64");
            }
            w.ensure(1 + k.wsize() + 8);
            w.header(BSON_TYPE_INT64, k);
            w.i64(static_cast<std::int64_t>(v));
        }
        return true;
    } else {
        static_assert(std::is_floating_point_v<V>);
        w.ensure(1 + k.wsize() + 8);
        w.header(BSON_TYPE_DOUBLE, k);
        w.f64(static_cast<double>(v));
        return true;
    }
}

/// Types holding other encodable values: optionals, vectors, string maps, nested models.
template <class V>
inline constexpr bool raw_nested_type =
    is_optional<V>::value || is_vector<V>::value || is_string_map<V>::value || structure<V>;

/// std::optional (null when empty), vectors (arrays), string maps and models (documents).
template <class B, class K, class V>
[[gnu::always_inline]] inline bool raw_nested(raw_writer<B>& w, const K& k, const V& v, error_context& ctx) {
    if constexpr (is_optional<V>::value) {
        if (!v) {
            w.ensure(1 + k.wsize());
            w.header(BSON_TYPE_NULL, k);
            return true;
        }
        return raw_value(w, k, *v, ctx);
    } else if constexpr (is_vector<V>::value) {
        const std::size_t at = w.open(BSON_TYPE_ARRAY, k);
        std::uint32_t i = 0;
        for (const auto& e : v) {
            const index_key ik(i);
            if (!raw_value(w, ik, e, ctx)) return ctx.push(ik.view());
            ++i;
        }
        w.close(at);
        return true;
    } else if constexpr (is_string_map<V>::value) {
        const std::size_t at = w.open(BSON_TYPE_DOCUMENT, k);
        for (const auto& [key, e] : v) {
            if (!check_map_key(key, ctx) || !raw_value(w, dyn_key{key.data(), key.size()}, e, ctx))
                return ctx.push(key);
        }
        w.close(at);
        return true;
    } else {
        static_assert(structure<V>);
        const std::size_t at = w.open(BSON_TYPE_DOCUMENT, k);
        if (!raw_fields(w, v, ctx)) return false;
        w.close(at);
        return true;
    }
}

/// BSON-specific types: dates, object ids, binary, decimal128, embedded documents.
template <class V>
inline constexpr bool raw_bson_type = is_time_point<V>::value || std::is_same_v<V, bson::object_id> ||
                                      std::is_same_v<V, bson::binary> || std::is_same_v<V, bson::decimal128> ||
                                      std::is_same_v<V, bson::document>;

template <class B, class K, class V>
[[gnu::always_inline]] inline bool raw_bson(raw_writer<B>& w, const K& k, const V& v) {
    if constexpr (is_time_point<V>::value) {
        auto ms = std::chrono::floor<std::chrono::milliseconds>(v.time_since_epoch()).count();
        w.ensure(1 + k.wsize() + 8);
        w.header(BSON_TYPE_DATE_TIME, k);
        w.i64(static_cast<std::int64_t>(ms));
    } else if constexpr (std::is_same_v<V, bson::object_id>) {
        w.ensure(1 + k.wsize() + 12);
        w.header(BSON_TYPE_OID, k);
        w.bytes(v.bytes().data(), 12);
    } else if constexpr (std::is_same_v<V, bson::binary>) {
        const std::size_t n = v.data.size();
        // The deprecated "old binary" subtype nests a second length, as libbson writes it.
        const bool old = v.subtype == BSON_SUBTYPE_BINARY_DEPRECATED;
        w.ensure(1 + k.wsize() + 4 + 1 + 4 + n);
        w.header(BSON_TYPE_BINARY, k);
        w.i32(static_cast<std::int32_t>(old ? n + 4 : n));
        w.u8(v.subtype);
        if (old) w.i32(static_cast<std::int32_t>(n));
        if (n) w.bytes(v.data.data(), n);
    } else if constexpr (std::is_same_v<V, bson::decimal128>) {
        w.ensure(1 + k.wsize() + 16);
        w.header(BSON_TYPE_DECIMAL128, k);
        w.i64(static_cast<std::int64_t>(v.low()));
        w.i64(static_cast<std::int64_t>(v.high()));
    } else {
        static_assert(std::is_same_v<V, bson::document>);
        w.ensure(1 + k.wsize() + v.size());
        w.header(BSON_TYPE_DOCUMENT, k);
        w.bytes(v.data(), v.size());
    }
    return true;
}

/// A bson::value of any type: the common scalars directly, as bson_append_value lays them
/// out; the others through libbson.
template <class B, class K>
[[gnu::always_inline]] inline bool raw_any(raw_writer<B>& w, const K& k, const bson::value& v, error_context& ctx) {
    const bson_value_t& bv = v.get();
    switch (bv.value_type) {
    case BSON_TYPE_INT32: return raw_value(w, k, bv.value.v_int32, ctx);
    case BSON_TYPE_INT64: return raw_value(w, k, bv.value.v_int64, ctx);
    case BSON_TYPE_DOUBLE: return raw_value(w, k, bv.value.v_double, ctx);
    case BSON_TYPE_BOOL: return raw_value(w, k, bv.value.v_bool, ctx);
    case BSON_TYPE_NULL:
        w.ensure(1 + k.wsize());
        w.header(BSON_TYPE_NULL, k);
        return true;
    case BSON_TYPE_DATE_TIME:
        w.ensure(1 + k.wsize() + 8);
        w.header(BSON_TYPE_DATE_TIME, k);
        w.i64(bv.value.v_datetime);
        return true;
    case BSON_TYPE_UTF8:  // not validated, like bson_append_value
        return raw_string(w, k, bv.value.v_utf8.str, bv.value.v_utf8.len);
    default: break;
    }
    // Other types: let libbson lay out the element, then copy it.
    bson_t tmp;
    bson_init(&tmp);
    if (!bson_append_value(&tmp, k.view().data(), static_cast<int>(k.size()), &v.get())) {
        bson_destroy(&tmp);
        return append_failed(ctx);
    }
    const std::size_t n = tmp.len - 5;
    w.ensure(n);
    w.bytes(bson_get_data(&tmp) + 4, n);
    bson_destroy(&tmp);
    return true;
}

template <class B, class K, class V>
bool raw_value(raw_writer<B>& w, const K& k, const V& v, error_context& ctx) {
    if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        std::string_view s = v;
        if (!check_utf8(s.data(), s.size(), ctx)) return false;
        return raw_string(w, k, s.data(), s.size());
    } else if constexpr (raw_scalar_type<V>) {
        return raw_scalar(w, k, v, ctx);
    } else if constexpr (raw_nested_type<V>) {
        return raw_nested(w, k, v, ctx);
    } else if constexpr (raw_bson_type<V>) {
        return raw_bson(w, k, v);
    } else if constexpr (std::is_same_v<V, bson::value>) {
        return raw_any(w, k, v, ctx);
    } else {
        static_assert(sizeof(V) == 0, "morm::codec: this type cannot be encoded to BSON; declare it with "
                                      "MORM_STRUCT or use a supported type");
        return false;
    }
}

template <structure T, std::size_t I, class B>
bool raw_field(raw_writer<B>& w, const T& obj, error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    using M = typename std::remove_cvref_t<decltype(d)>::member_type;
    const M& m = obj.*d.member;
    if constexpr (d.has(field_flags::extra_fields)) {
        static_assert(std::is_same_v<M, bson::document>,
                      "field_flags::extra_fields requires a morm::bson::document member");
        // The elements are the document's bytes between its length and its terminator.
        if (m.size() > 5) {
            const std::size_t n = m.size() - 5;
            w.ensure(n);
            w.bytes(m.data() + 4, n);
        }
        return true;
    } else {
        if constexpr (d.has(field_flags::version))
            static_assert(std::is_same_v<M, std::int64_t>, "field_flags::version requires a std::int64_t member");
        if constexpr (d.has(field_flags::omit_empty))
            if (is_empty_value(m)) return true;
        if (!raw_value(w, field_key<T, I>{}, m, ctx)) return ctx.push(d.name);
        return true;
    }
}

template <structure T, class B>
bool raw_fields(raw_writer<B>& w, const T& obj, error_context& ctx) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (raw_field<T, I>(w, obj, ctx) && ...);
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

}  // namespace detail

/// Appends one complete BSON document encoding `obj` at the end of `out`: exactly the bytes
/// encode_into() writes into an empty bson_t, with the same validation, error codes and
/// messages (errc::encode_error "<field path>: <reason>", errc::document_too_large over
/// 16 MiB). On error `out` is restored to its previous size (its capacity may have grown).
/// `Buffer` needs data(), size(), capacity(), reserve(n) and set_size_unchecked(n) with the
/// semantics of morm::bson::byte_buffer.
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
        ctx.fail(errc::document_too_large, "document of " + std::to_string(len) + " bytes exceeds the " +
                                               std::to_string(max_document_size) + " byte limit");
    }
    out.set_size_unchecked(start);
    return ctx.finish();
}

}  // namespace morm::codec
