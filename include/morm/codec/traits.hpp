// The codec's one customization point: morm::bson_traits<T> says how a C++ type is stored in
// BSON. Every built-in type is a specialization in its own header under codec/types/; a
// user type needs one specialization and nothing else.
//
//   struct Money { std::int64_t cents; };
//   template <> struct morm::bson_traits<Money> {
//       static constexpr bson_type_t type = BSON_TYPE_DECIMAL128;  // required
//       template <class W> static bool write(W& w, const Money& m) {  // required
//           return w.decimal128(to_decimal(m));
//       }
//       static bool read(const morm::codec::element& e, Money& m) {  // required
//           if (e.type() != BSON_TYPE_DECIMAL128) return e.mismatch("decimal128");
//           return from_decimal(e.as_decimal128(), m) || e.fail("not a whole number of cents");
//       }
//   };
//
// Required members:
//   type            the BSON type written (messages "expected X, got Y", the JSON schema's
//                   bsonType); BSON_TYPE_EOD for "any type" (bson::value).
//   write(w, v)     writes one element through `w` (codec::value_writer: null(), int32(),
//                   utf8(), binary(), decimal128(), date(), value(u) to delegate...); returns
//                   false after w.fail(reason).
//   read(e, v)      reads `v` from the element `e` (codec::element); returns false after
//                   e.mismatch(expected) or e.fail(reason). Errors are prefixed with the
//                   field path by the codec.
// Optional members (defaults in brackets):
//   expected        string_view naming the type in messages [the name of `type`]
//   size_estimate   payload bytes, for the one reserve per document [by `type`]
//   identity        bool: may be a model's _id [every type but array, null, any]
//   nullable        bool: an absent or null element is a value (std::optional) [false]
//   empty(v)        for field_flags::omit_empty [v.empty() if it exists, else false]
//   schema(s, nullable)  appends the $jsonSchema fragment of a property to the open
//                   document `s` [{"bsonType": <type>}, or [<type>, "null"] if nullable]
#pragma once

#include <morm/codec/element.hpp>
#include <morm/codec/writer.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace morm {

/// How `T` is stored in BSON. Not defined for types without a mapping; see above.
template <class T>
struct bson_traits;

}  // namespace morm

namespace morm::codec {

/// A type with a BSON mapping (a bson_traits<T> specialization).
template <class T>
concept mapped = requires { bson_traits<T>::type; };

namespace detail {

template <class T>
inline constexpr bool dependent_false = false;

/// Instantiated for a type without a mapping: the compiler names T in "required from".
template <class T>
struct no_bson_mapping_for {
    static_assert(dependent_false<T>,
                  "morm: this type has no BSON mapping. Specialize morm::bson_traits<T> for it (one "
                  "specialization: type, write, read; see morm/codec/traits.hpp), or declare it with "
                  "MORM_STRUCT / MORM_MODEL / MORM_ENUM_STRINGS.");
};

template <class T>
constexpr bool check_mapped() {
    if constexpr (!mapped<T>) (void)sizeof(no_bson_mapping_for<T>);
    return mapped<T>;
}

}  // namespace detail

/// The BSON type `T` is stored as (BSON_TYPE_EOD: any).
template <class T>
inline constexpr bson_type_t bson_type_of = bson_traits<T>::type;

/// Name of the BSON type `T` is stored as, for "expected X, got Y".
template <class T>
constexpr std::string_view expected_name() noexcept {
    if constexpr (!detail::check_mapped<T>()) return {};
    else if constexpr (requires { bson_traits<T>::expected; }) return bson_traits<T>::expected;
    else return detail::bson_type_name(bson_traits<T>::type);
}

/// Guessed payload size of a `T`; exact for fixed-size types. Only sizes the initial reserve.
template <class T>
constexpr std::size_t size_estimate() noexcept {
    if constexpr (!detail::check_mapped<T>()) {
        return 0;
    } else if constexpr (requires { bson_traits<T>::size_estimate; }) {
        return bson_traits<T>::size_estimate;
    } else {
        switch (bson_traits<T>::type) {
        case BSON_TYPE_BOOL: return 1;
        case BSON_TYPE_INT32: return 4;
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DATE_TIME:
        case BSON_TYPE_TIMESTAMP: return 8;
        case BSON_TYPE_OID: return 12;
        case BSON_TYPE_DECIMAL128: return 16;
        case BSON_TYPE_NULL: return 0;
        case BSON_TYPE_UTF8: return 4 + 16 + 1;
        default: return 32;
        }
    }
}

/// Whether `T` may be a model's _id.
template <class T>
constexpr bool identity_type() noexcept {
    if constexpr (!detail::check_mapped<T>()) {
        return false;
    } else if constexpr (requires { bson_traits<T>::identity; }) {
        return bson_traits<T>::identity;
    } else {
        constexpr auto t = bson_traits<T>::type;
        return t != BSON_TYPE_ARRAY && t != BSON_TYPE_NULL && t != BSON_TYPE_EOD && t != BSON_TYPE_UNDEFINED;
    }
}

/// Whether an absent or null element is a value of `T` (std::optional).
template <class T>
constexpr bool nullable() noexcept {
    if constexpr (requires { bson_traits<T>::nullable; }) return bson_traits<T>::nullable;
    else return false;
}

/// "Empty" for field_flags::omit_empty.
template <class T>
bool is_empty_value(const T& v) noexcept {
    if constexpr (requires { bson_traits<T>::empty(v); }) return bson_traits<T>::empty(v);
    else if constexpr (requires { v.empty(); }) return v.empty();
    else return false;
}

/// The $jsonSchema type alias of a BSON type ("int", "long", "binData"...); empty for any.
constexpr std::string_view schema_type_name(bson_type_t t) noexcept {
    switch (t) {
    case BSON_TYPE_INT32: return "int";
    case BSON_TYPE_INT64: return "long";
    case BSON_TYPE_DECIMAL128: return "decimal";
    case BSON_TYPE_BINARY: return "binData";
    case BSON_TYPE_DOCUMENT: return "object";
    case BSON_TYPE_CODE: return "javascript";
    case BSON_TYPE_EOD: return "";
    default: return detail::bson_type_name(t);
    }
}

/// Appends `"bsonType": t` (or `[t, "null"]` if nullable) to the open schema document `s`.
inline void append_schema_type(bson_t* s, std::string_view t, bool nullable) {
    if (t.empty()) return;
    if (!nullable) {
        bson_append_utf8(s, "bsonType", 8, t.data(), static_cast<int>(t.size()));
        return;
    }
    bson_t arr;
    bson_append_array_begin(s, "bsonType", 8, &arr);
    bson_append_utf8(&arr, "0", 1, t.data(), static_cast<int>(t.size()));
    bson_append_utf8(&arr, "1", 1, "null", 4);
    bson_append_array_end(s, &arr);
}

/// Appends the $jsonSchema fragment of a property of type `T` to the open document `s`.
template <class T>
void append_schema(bson_t* s, bool nullable = false) {
    if constexpr (!detail::check_mapped<T>()) return;
    else if constexpr (requires { bson_traits<T>::schema(s, nullable); }) bson_traits<T>::schema(s, nullable);
    else append_schema_type(s, schema_type_name(bson_traits<T>::type), nullable);
}

namespace detail {

/// Writes `v` as one element under key `k`: the single entry point of every encoder.
template <class V, class B, class K>
[[gnu::always_inline]] inline bool write_value(raw_writer<B>& w, const K& k, const V& v, error_context& ctx) {
    if constexpr (check_mapped<V>()) {
        value_writer<B, K> vw(w, k, ctx);
        return bson_traits<V>::write(vw, v);
    } else {
        return false;
    }
}

/// Reads `v` from the element at `it`: the single entry point of every decoder. The
/// built-in scalars of the element's exact type are read inline (read() is a call per type,
/// and a model or an array is mostly these); everything else, widening and errors go through
/// bson_traits<V>::read.
template <class V>
bool read_value(const bson_iter_t& it, V& v, error_context& ctx) {
    if constexpr (check_mapped<V>()) {
        const bson_type_t t = iter_type(it);
        if constexpr (std::is_same_v<V, std::int32_t>) {
            if (t == BSON_TYPE_INT32) return v = bson_iter_int32_unsafe(&it), true;
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
            if (t == BSON_TYPE_INT64) return v = bson_iter_int64_unsafe(&it), true;
        } else if constexpr (std::is_same_v<V, double>) {
            if (t == BSON_TYPE_DOUBLE) return v = bson_iter_double_unsafe(&it), true;
        } else if constexpr (std::is_same_v<V, bool>) {
            if (t == BSON_TYPE_BOOL) return v = bson_iter_bool_unsafe(&it), true;
        } else if constexpr (std::is_same_v<V, std::string>) {
            if (t == BSON_TYPE_UTF8) {
                std::size_t n = 0;
                const char* s = bson_iter_utf8_unsafe(&it, &n);
                v.assign(s, n);  // reuses the capacity already in `v`
                return true;
            }
        }
        (void)t;
        return bson_traits<V>::read(element(it, ctx), v);
    } else {
        return false;
    }
}

// Structures (MORM_STRUCT): the field walks live in codec/types/structure.hpp.
template <structure T, class B>
bool raw_fields(raw_writer<B>& w, const T& obj, error_context& ctx);
template <structure T>
bool decode_fields(bson_iter_t& it, T& out, error_context& ctx);

}  // namespace detail

template <class B, class K>
template <class U>
bool value_writer<B, K>::value(const U& u) {
    return detail::write_value(w_, k_, u, ctx_);
}

template <class U>
bool element::read(U& u) const {
    return detail::read_value(it_, u, ctx_);
}

}  // namespace morm::codec
