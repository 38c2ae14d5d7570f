// Value types of BSON that have no natural C++ counterpart: decimal128, binary and an owning
// "any BSON value" for schemaless fields. Datetimes are std::chrono::system_clock::time_point
// (millisecond precision on the wire); ObjectId is in object_id.hpp.
#pragma once

#include <morm/bson/document.hpp>

#include <bson/bson.h>
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace morm::bson {

/// IEEE 754-2008 128-bit decimal (BSON type 0x13).
class decimal128 {
public:
    /// Zero.
    decimal128() noexcept : v_{0, 0x3040000000000000ull} {}
    explicit decimal128(const bson_decimal128_t& v) noexcept : v_(v) {}

    /// Parses a decimal string ("1.5", "-1E+3", "NaN", "Infinity"). Throws `morm::error`
    /// (invalid_argument) on bad input.
    static decimal128 from_string(std::string_view s);
    std::string to_string() const;

    const bson_decimal128_t& get() const noexcept { return v_; }
    std::uint64_t high() const noexcept { return v_.high; }
    std::uint64_t low() const noexcept { return v_.low; }

    /// Compares the representation (so 1.0 != 1.00, as in BSON).
    friend bool operator==(const decimal128& a, const decimal128& b) noexcept {
        return a.v_.high == b.v_.high && a.v_.low == b.v_.low;
    }

private:
    bson_decimal128_t v_;
};

/// BSON binary data: a subtype byte and the bytes.
struct binary {
    std::uint8_t subtype = BSON_SUBTYPE_BINARY;
    std::vector<std::uint8_t> data;

    friend bool operator==(const binary&, const binary&) = default;
};

/// `bson_append_value` that keeps every byte of code and code-with-scope strings: libbson 1.23
/// appends those with C-string calls, cutting them at the first NUL. Use this instead of
/// `bson_append_value` wherever the value may come from decoded BSON.
bool append_value(bson_t* dst, std::string_view key, const bson_value_t& v) noexcept;

/// An owning BSON value of any type (wraps `bson_value_t`), for schemaless fields.
/// Default = BSON null. Copyable (deep) and movable.
class value {
public:
    value() noexcept { v_.value_type = BSON_TYPE_NULL; }
    ~value() { bson_value_destroy(&v_); }
    /// Deep-copies a libbson value (e.g. `*bson_iter_value(&it)`).
    explicit value(const bson_value_t& v) { bson_value_copy(&v, &v_); }
    value(const value& o) { bson_value_copy(&o.v_, &v_); }
    value(value&& o) noexcept : v_(o.v_) { o.v_.value_type = BSON_TYPE_NULL; }
    value& operator=(const value& o) {
        if (this != &o) {
            bson_value_t tmp;
            bson_value_copy(&o.v_, &tmp);
            bson_value_destroy(&v_);
            v_ = tmp;
        }
        return *this;
    }
    value& operator=(value&& o) noexcept {
        if (this != &o) {
            bson_value_destroy(&v_);
            v_ = o.v_;
            o.v_.value_type = BSON_TYPE_NULL;
        }
        return *this;
    }

    value(std::int32_t i) noexcept : value() { v_.value_type = BSON_TYPE_INT32; v_.value.v_int32 = i; }
    value(std::int64_t i) noexcept : value() { v_.value_type = BSON_TYPE_INT64; v_.value.v_int64 = i; }
    value(double d) noexcept : value() { v_.value_type = BSON_TYPE_DOUBLE; v_.value.v_double = d; }
    value(bool b) noexcept : value() { v_.value_type = BSON_TYPE_BOOL; v_.value.v_bool = b; }
    value(std::string_view s);
    value(const char* s) : value(std::string_view(s)) {}
    /// An embedded document.
    value(const document& d);

    /// Copies the value the iterator points at.
    static value from_iter(const bson_iter_t& it) { return value(*bson_iter_value(const_cast<bson_iter_t*>(&it))); }

    /// Replaces this value with the one at `it` (an element bson_iter_next stopped at): the
    /// fixed-size types are read inline; the others are copied through libbson.
    void assign(const bson_iter_t& it) {
        const bson_type_t t = bson_iter_type_unsafe(&it);
        if (owns_memory(v_.value_type)) bson_value_destroy(&v_);
        v_.value_type = t;
        switch (t) {
        case BSON_TYPE_INT32: v_.value.v_int32 = bson_iter_int32_unsafe(&it); return;
        case BSON_TYPE_INT64: v_.value.v_int64 = bson_iter_int64_unsafe(&it); return;
        case BSON_TYPE_DOUBLE: v_.value.v_double = bson_iter_double_unsafe(&it); return;
        case BSON_TYPE_BOOL: v_.value.v_bool = bson_iter_bool_unsafe(&it); return;
        case BSON_TYPE_DATE_TIME: v_.value.v_datetime = bson_iter_int64_unsafe(&it); return;
        case BSON_TYPE_NULL:
        case BSON_TYPE_UNDEFINED:
        case BSON_TYPE_MINKEY:
        case BSON_TYPE_MAXKEY: return;
        default: break;
        }
        bson_value_copy(bson_iter_value(const_cast<bson_iter_t*>(&it)), &v_);
    }

    bson_type_t type() const noexcept { return v_.value_type; }
    bool is_null() const noexcept { return v_.value_type == BSON_TYPE_NULL; }
    const bson_value_t& get() const noexcept { return v_; }

    /// Appends this value under `key` to `dst` (see `append_value`). Returns false if `dst`
    /// would overflow.
    bool append_to(bson_t* dst, std::string_view key) const noexcept { return append_value(dst, key, v_); }

    /// Extended JSON of the value alone, e.g. `1`, `"x"`, `{"$oid": "..."}`.
    std::string to_json(json_mode mode = json_mode::relaxed) const;

    /// Same type and same encoded bytes.
    friend bool operator==(const value& a, const value& b) noexcept;

private:
    static bool owns_memory(bson_type_t t) noexcept {
        switch (t) {
        case BSON_TYPE_UTF8:
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY:
        case BSON_TYPE_BINARY:
        case BSON_TYPE_REGEX:
        case BSON_TYPE_DBPOINTER:
        case BSON_TYPE_CODE:
        case BSON_TYPE_SYMBOL:
        case BSON_TYPE_CODEWSCOPE: return true;
        default: return false;
        }
    }

    bson_value_t v_{};
};

}  // namespace morm::bson

template <>
struct fmt::formatter<morm::bson::decimal128> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const morm::bson::decimal128& d, Ctx& ctx) const {
        char buf[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&d.get(), buf);
        return fmt::formatter<std::string_view>::format(std::string_view(buf), ctx);
    }
};

template <>
struct fmt::formatter<morm::bson::value> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const morm::bson::value& v, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(v.to_json(), ctx);
    }
};
