// BSON -> model. Reads with bson_iter_t straight from the source bytes into the struct (no
// intermediate document); strings, vectors and maps reuse the capacity already in `out`.
//
// Rules:
// - A declared field that is absent fails with errc::decode_error ("<path>: missing required
//   field"), except: std::optional members become nullopt; `omit_empty` members become empty;
//   `optional_on_decode` members keep their current value. `required` overrides all three.
// - null decodes only into std::optional (nullopt) and bson::value.
// - int32 widens to int64 and double; int64 narrows to int32 only if it fits; anything else is
//   a type mismatch: "<path>: expected string, got int32". Paths are dotted from the top-level
//   document, array elements by index ("tags.3").
// - Unknown fields are skipped unless the structure is MORM_STRICT ("<path>: unknown field")
//   or has an `extra_fields` member, which collects them.
#pragma once

#include <morm/codec/detail/common.hpp>

#include <bitset>
#include <cstring>
#include <limits>

namespace morm::codec {

namespace detail {

inline bool mismatch(const bson_iter_t& it, std::string_view expected, error_context& ctx) {
    std::string why = "expected ";
    why += expected;
    why += ", got ";
    why += bson_type_name(bson_iter_type(&it));
    return ctx.fail(errc::decode_error, std::move(why));
}

template <structure T>
bool decode_fields(bson_iter_t& it, T& out, error_context& ctx);

template <class V>
bool decode_value(const bson_iter_t& cit, V& v, error_context& ctx);

// decode_value() dispatches on the family of V to one of the helpers below, passing the
// element's type `t`; each is forced inline, so the dispatch compiles to the same code as a
// single if-constexpr ladder. libbson's getters take non-const iterators but do not move
// them, hence the const_casts.

/// int32 or int64 into any integer type, range-checked.
template <class V>
[[gnu::always_inline]] inline bool decode_integer(const bson_iter_t& cit, bson_type_t t, V& v, error_context& ctx) {
    bson_iter_t* it = const_cast<bson_iter_t*>(&cit);
    std::int64_t x;
    if (t == BSON_TYPE_INT32) x = bson_iter_int32_unsafe(it);
    else if (t == BSON_TYPE_INT64 && !(sizeof(V) <= 4 && std::is_signed_v<V>)) x = bson_iter_int64_unsafe(it);
    else if (t == BSON_TYPE_INT64) {
        x = bson_iter_int64_unsafe(it);
        if (x < std::numeric_limits<V>::min() || x > std::numeric_limits<V>::max())
            return ctx.fail(errc::decode_error,
                            "expected " + std::string(expected_name<V>()) + ", got int64 " + std::to_string(x) +
                                " (out of range)");
    } else
        return mismatch(cit, expected_name<V>(), ctx);
    if constexpr (std::is_unsigned_v<V> || sizeof(V) < 4) {
        if (x < std::int64_t(std::numeric_limits<V>::min()) ||
            (x > 0 && std::uint64_t(x) > std::uint64_t(std::numeric_limits<V>::max())))
            return ctx.fail(errc::decode_error, "value " + std::to_string(x) + " out of range");
    }
    v = static_cast<V>(x);
    return true;
}

/// Types read from a single scalar element: std::string, bool, enum, integer, floating point.
template <class V>
inline constexpr bool decode_scalar_type = std::is_same_v<V, std::string> || std::is_same_v<V, bool> ||
                                           std::is_enum_v<V> || integer<V> || std::is_floating_point_v<V>;

template <class V>
[[gnu::always_inline]] inline bool decode_scalar(const bson_iter_t& cit, bson_type_t t, V& v, error_context& ctx) {
    bson_iter_t* it = const_cast<bson_iter_t*>(&cit);
    if constexpr (std::is_same_v<V, std::string>) {
        if (t != BSON_TYPE_UTF8) return mismatch(cit, "string", ctx);
        std::size_t len = 0;
        const char* s = bson_iter_utf8_unsafe(it, &len);
        v.assign(s, len);
        return true;
    } else if constexpr (std::is_same_v<V, bool>) {
        if (t != BSON_TYPE_BOOL) return mismatch(cit, "bool", ctx);
        v = bson_iter_bool_unsafe(it);
        return true;
    } else if constexpr (std::is_enum_v<V>) {
        if constexpr (has_enum_strings<V>) {
            if (t != BSON_TYPE_UTF8) return mismatch(cit, "string", ctx);
            std::uint32_t len = 0;
            const char* s = bson_iter_utf8(it, &len);
            std::string_view sv(s, len);
            for (const auto& [e, name] : enum_strings<V>())
                if (name == sv) {
                    v = e;
                    return true;
                }
            return ctx.fail(errc::decode_error, "unknown enum value '" + std::string(sv) + "'");
        } else {
            std::underlying_type_t<V> u{};
            if (!decode_value(cit, u, ctx)) return false;
            v = static_cast<V>(u);
            return true;
        }
    } else if constexpr (integer<V>) {
        return decode_integer(cit, t, v, ctx);
    } else {
        static_assert(std::is_floating_point_v<V>);
        if (t == BSON_TYPE_DOUBLE) v = static_cast<V>(bson_iter_double_unsafe(it));
        else if (t == BSON_TYPE_INT32) v = static_cast<V>(bson_iter_int32_unsafe(it));
        else return mismatch(cit, "double", ctx);
        return true;
    }
}

/// Types holding other decodable values: optionals, vectors, string maps, nested models.
template <class V>
inline constexpr bool decode_nested_type =
    is_optional<V>::value || is_vector<V>::value || is_string_map<V>::value || structure<V>;

template <class V>
[[gnu::always_inline]] inline bool decode_nested(const bson_iter_t& cit, bson_type_t t, V& v, error_context& ctx) {
    bson_iter_t* it = const_cast<bson_iter_t*>(&cit);
    if constexpr (is_optional<V>::value) {
        if (t == BSON_TYPE_NULL) {
            v.reset();
            return true;
        }
        if (!v) v.emplace();
        return decode_value(cit, *v, ctx);
    } else if constexpr (is_vector<V>::value) {
        if (t != BSON_TYPE_ARRAY) return mismatch(cit, "array", ctx);
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) return ctx.fail(errc::decode_error, "corrupt array");
        std::size_t n = 0;
        while (bson_iter_next(&child)) {
            if (n == v.size()) v.emplace_back();
            if (!decode_value(child, v[n], ctx))
                return ctx.push(std::string_view(bson_iter_key(&child), bson_iter_key_len(&child)));
            ++n;
        }
        if (child.err_off) return ctx.fail(errc::decode_error, "corrupt array");
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(n), v.end());
        return true;
    } else if constexpr (is_string_map<V>::value) {
        if (t != BSON_TYPE_DOCUMENT) return mismatch(cit, "document", ctx);
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) return ctx.fail(errc::decode_error, "corrupt document");
        v.clear();
        while (bson_iter_next(&child)) {
            std::string key(bson_iter_key(&child), bson_iter_key_len(&child));
            auto& slot = v[key];
            if (!decode_value(child, slot, ctx)) return ctx.push(key);
        }
        if (child.err_off) return ctx.fail(errc::decode_error, "corrupt document");
        return true;
    } else {
        static_assert(structure<V>);
        if (t != BSON_TYPE_DOCUMENT) return mismatch(cit, "document", ctx);
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) return ctx.fail(errc::decode_error, "corrupt document");
        return decode_fields(child, v, ctx);
    }
}

/// BSON-specific types: dates, object ids, binary, decimal128, documents, any value.
template <class V>
inline constexpr bool decode_bson_type = is_time_point<V>::value || std::is_same_v<V, bson::object_id> ||
                                         std::is_same_v<V, bson::binary> || std::is_same_v<V, bson::decimal128> ||
                                         std::is_same_v<V, bson::document> || std::is_same_v<V, bson::value>;

template <class V>
[[gnu::always_inline]] inline bool decode_bson(const bson_iter_t& cit, bson_type_t t, V& v, error_context& ctx) {
    bson_iter_t* it = const_cast<bson_iter_t*>(&cit);
    if constexpr (is_time_point<V>::value) {
        if (t != BSON_TYPE_DATE_TIME) return mismatch(cit, "date", ctx);
        std::chrono::milliseconds ms(bson_iter_date_time(it));
        v = V(std::chrono::duration_cast<typename V::duration>(ms));
    } else if constexpr (std::is_same_v<V, bson::object_id>) {
        if (t != BSON_TYPE_OID) return mismatch(cit, "objectId", ctx);
        v = bson::object_id(*bson_iter_oid_unsafe(it));
    } else if constexpr (std::is_same_v<V, bson::binary>) {
        if (t != BSON_TYPE_BINARY) return mismatch(cit, "binary", ctx);
        bson_subtype_t sub;
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_binary(it, &sub, &len, &data);
        v.subtype = static_cast<std::uint8_t>(sub);
        v.data.assign(data, data + len);
    } else if constexpr (std::is_same_v<V, bson::decimal128>) {
        if (t != BSON_TYPE_DECIMAL128) return mismatch(cit, "decimal128", ctx);
        bson_decimal128_t d;
        bson_iter_decimal128(it, &d);
        v = bson::decimal128(d);
    } else if constexpr (std::is_same_v<V, bson::document>) {
        if (t != BSON_TYPE_DOCUMENT) return mismatch(cit, "document", ctx);
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_document(it, &len, &data);
        v.assign(bson::document_view(data, len));
    } else {
        static_assert(std::is_same_v<V, bson::value>);
        v = bson::value::from_iter(cit);
    }
    return true;
}

template <class V>
bool decode_value(const bson_iter_t& cit, V& v, error_context& ctx) {
    const bson_type_t t = iter_type(cit);
    if constexpr (decode_scalar_type<V>) {
        return decode_scalar(cit, t, v, ctx);
    } else if constexpr (decode_nested_type<V>) {
        return decode_nested(cit, t, v, ctx);
    } else if constexpr (decode_bson_type<V>) {
        return decode_bson(cit, t, v, ctx);
    } else {
        static_assert(sizeof(V) == 0, "morm::codec: this type cannot be decoded from BSON; declare it with "
                                      "MORM_STRUCT or use a supported type");
        return false;
    }
}

template <class T, std::size_t I>
bool decode_field(const bson_iter_t& it, T& out, error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    return decode_value(it, out.*d.member, ctx);
}

template <class T, std::size_t... I>
constexpr auto make_decoders(std::index_sequence<I...>) {
    using fn = bool (*)(const bson_iter_t&, T&, error_context&);
    return std::array<fn, sizeof...(I)>{&decode_field<T, I>...};
}

template <class T>
constexpr std::size_t extra_fields_index() {
    std::size_t i = 0, found = struct_traits<T>::size;
    for_each_field<T>([&](const auto& d) {
        if (d.has(field_flags::extra_fields) && found == struct_traits<T>::size) found = i;
        ++i;
    });
    return found;
}

/// What to do with a declared field the document did not contain.
template <class D>
bool handle_missing(typename D::class_type& out, const D& d, error_context& ctx) {
    using M = typename D::member_type;
    auto& m = out.*d.member;
    if (d.has(field_flags::extra_fields)) return true;
    if (!d.has(field_flags::required)) {
        if constexpr (is_optional<M>::value) {
            m.reset();
            return true;
        }
        if (d.has(field_flags::optional_on_decode)) return true;
        if (d.has(field_flags::omit_empty)) {
            if constexpr (std::is_default_constructible_v<M>) {
                if constexpr (requires { m.clear(); }) m.clear();
                else m = M{};
                return true;
            }
        }
    }
    ctx.fail(errc::decode_error, "missing required field");
    return ctx.push(d.name);
}

/// Index of the declared field stored as `k` (not the extra_fields member), or `n`.
/// Compares lengths first: one integer compare rejects most names.
template <structure T>
std::size_t find_field(std::string_view k, std::size_t hint) noexcept {
    using traits = struct_traits<T>;
    constexpr std::size_t n = traits::size;
    constexpr std::size_t extra = extra_fields_index<T>();
    auto match = [&](std::size_t i) {
        const auto& name = traits::names[i];
        return i != extra && name.size() == k.size() && std::memcmp(name.data(), k.data(), k.size()) == 0;
    };
    for (std::size_t i = hint; i < n; ++i)
        if (match(i)) return i;
    for (std::size_t i = 0; i < hint && i < n; ++i)
        if (match(i)) return i;
    return n;
}

/// Outcome of the in-order pass of decode_fields.
enum class fast_state { running, end, pending, failed };

/// One step of the in-order pass: reads the next element and, if it is field I, decodes it
/// with a direct (inlinable) call. Returns false to leave the pass.
template <structure T, std::size_t I>
bool decode_in_order(bson_iter_t& it, T& out, std::bitset<struct_traits<T>::size>& seen, fast_state& st,
                     error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    if (!bson_iter_next(&it)) {
        st = fast_state::end;
        return false;
    }
    if constexpr (d.has(field_flags::extra_fields)) {
        st = fast_state::pending;
        return false;
    } else {
        if (iter_key_len(it) != d.name.size() || std::memcmp(iter_key(it), d.name.data(), d.name.size()) != 0) {
            st = fast_state::pending;
            return false;
        }
        if (!decode_value(it, out.*d.member, ctx)) {
            st = fast_state::failed;
            return ctx.push(d.name);
        }
        seen.set(I);
        return true;
    }
}

template <structure T>
bool decode_fields(bson_iter_t& it, T& out, error_context& ctx) {
    using traits = struct_traits<T>;
    constexpr std::size_t n = traits::size;
    static constexpr auto decoders = make_decoders<T>(std::make_index_sequence<n>{});
    constexpr std::size_t extra = extra_fields_index<T>();
    if constexpr (extra < n) (out.*traits::template field<(extra < n ? extra : 0)>().member).clear();

    std::bitset<n> seen;
    // Documents written by morm (and most others) hold the fields in declaration order: take
    // them one by one with no lookup until the first element that is not the next field.
    fast_state st = fast_state::running;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (decode_in_order<T, I>(it, out, seen, st, ctx) && ...);
    }(std::make_index_sequence<n>{});
    if (st == fast_state::failed) return false;

    if (st != fast_state::end) {
        std::size_t hint = 0;  // after a reordering, still try the next declared field first
        bool pending = st == fast_state::pending;
        while (pending || bson_iter_next(&it)) {
            pending = false;
            const char* key = iter_key(it);
            const std::string_view k(key, iter_key_len(it));
            const std::size_t idx = find_field<T>(k, hint);
            if (idx == n) {
                if constexpr (extra < n) {
                    auto& doc = out.*traits::template field<(extra < n ? extra : 0)>().member;
                    if (!bson_append_iter(doc.get(), key, static_cast<int>(k.size()), &it))
                        return ctx.fail(errc::decode_error, "cannot collect extra field");
                    continue;
                } else if constexpr (traits::strict) {
                    ctx.fail(errc::decode_error, "unknown field");
                    return ctx.push(k);
                } else {
                    continue;
                }
            }
            hint = idx + 1;
            if (!decoders[idx](it, out, ctx)) return ctx.push(traits::names[idx]);
            seen.set(idx);
        }
    }
    if (it.err_off) return ctx.fail(errc::decode_error, "corrupt BSON");
    if (seen.all()) return true;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return ((seen.test(I) || handle_missing(out, traits::template field<I>(), ctx)) && ...);
    }(std::make_index_sequence<n>{});
}

}  // namespace detail

/// Decodes the document at `data`/`len` into `out` (fields not in the document are handled
/// as described above). On error `out` may be partly assigned.
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
