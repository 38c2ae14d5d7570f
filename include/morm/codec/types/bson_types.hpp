// The BSON-specific types of morm::bson: ObjectId, binary, decimal128, an embedded
// document, and bson::value (any type, for schemaless fields).
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/bson/types.hpp>
#include <morm/codec/traits.hpp>

namespace morm {

template <>
struct bson_traits<bson::object_id> {
    static constexpr bson_type_t type = BSON_TYPE_OID;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const bson::object_id& v) {
        return w.object_id(v.bytes().data());
    }
    static bool read(const codec::element& e, bson::object_id& v) {
        if (e.type() != BSON_TYPE_OID) return e.mismatch("objectId");
        v = bson::object_id(*bson_iter_oid_unsafe(&const_cast<bson_iter_t&>(e.iter())));
        return true;
    }
    /// An all-zero id is "not assigned yet" (omit_empty leaves it out).
    static bool empty(const bson::object_id& v) noexcept { return v.is_zero(); }
};

template <>
struct bson_traits<bson::binary> {
    static constexpr bson_type_t type = BSON_TYPE_BINARY;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const bson::binary& v) {
        return w.binary(v.subtype, v.data.data(), v.data.size());
    }
    static bool read(const codec::element& e, bson::binary& v) {
        if (e.type() != BSON_TYPE_BINARY) return e.mismatch("binary");
        const auto bytes = e.as_binary(v.subtype);
        v.data.assign(bytes.begin(), bytes.end());
        return true;
    }
    static bool empty(const bson::binary& v) noexcept { return v.data.empty(); }
};

template <>
struct bson_traits<bson::decimal128> {
    static constexpr bson_type_t type = BSON_TYPE_DECIMAL128;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const bson::decimal128& v) {
        return w.decimal128(v.get());
    }
    static bool read(const codec::element& e, bson::decimal128& v) {
        if (e.type() != BSON_TYPE_DECIMAL128) return e.mismatch("decimal128");
        v = bson::decimal128(e.as_decimal128());
        return true;
    }
};

/// An embedded document kept as bytes (not validated beyond libbson's framing).
template <>
struct bson_traits<bson::document> {
    static constexpr bson_type_t type = BSON_TYPE_DOCUMENT;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const bson::document& v) {
        return w.raw(BSON_TYPE_DOCUMENT, v.data(), v.size());
    }
    static bool read(const codec::element& e, bson::document& v) {
        if (e.type() != BSON_TYPE_DOCUMENT) return e.mismatch("document");
        const auto bytes = e.as_document();
        v.assign(bson::document_view(bytes.data(), bytes.size()));
        return true;
    }
};

/// Any BSON value: the common scalars are laid out directly, as bson_append_value does;
/// the other types through libbson, then copied.
template <>
struct bson_traits<bson::value> {
    static constexpr bson_type_t type = BSON_TYPE_EOD;
    static constexpr std::string_view expected = "value";
    static constexpr bool identity = true;  // an array is refused by the server, not here

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const bson::value& v) {
        const bson_value_t& bv = v.get();
        switch (bv.value_type) {
        case BSON_TYPE_INT32: return w.int32(bv.value.v_int32);
        case BSON_TYPE_INT64: return w.int64(bv.value.v_int64);
        case BSON_TYPE_DOUBLE: return w.double_(bv.value.v_double);
        case BSON_TYPE_BOOL: return w.boolean(bv.value.v_bool);
        case BSON_TYPE_NULL: return w.null();
        case BSON_TYPE_DATE_TIME: return w.date(bv.value.v_datetime);
        case BSON_TYPE_UTF8: return w.utf8_unchecked(bv.value.v_utf8.str, bv.value.v_utf8.len);
        case BSON_TYPE_CODE: return write_code(w, bv.value.v_code.code, bv.value.v_code.code_len);
        case BSON_TYPE_CODEWSCOPE: return write_code_w_scope(w, bv);
        default: return write_other(w, bv);
        }
    }
    static bool read(const codec::element& e, bson::value& v) {
        v.assign(e.iter());
        return true;
    }

private:
    // Code strings may hold NUL bytes: lay them out from their length (libbson's appenders
    // take C strings and would cut them at the first NUL).
    template <class W>
    static bool write_code(W& w, const char* s, std::size_t n) {
        auto& raw = w.raw_writer();
        raw.ensure(1 + w.key().wsize() + 4 + n + 1);
        raw.header(BSON_TYPE_CODE, w.key());
        raw.i32(static_cast<std::int32_t>(n + 1));
        if (n) raw.bytes(s, n);
        raw.u8(0);
        return true;
    }
    template <class W>
    static bool write_code_w_scope(W& w, const bson_value_t& bv) {
        const auto& c = bv.value.v_codewscope;
        const std::size_t total = std::size_t{4} + 4 + c.code_len + 1 + c.scope_len;
        if (total > codec::max_document_size) return w.fail("code with scope exceeds the document size limit");
        auto& raw = w.raw_writer();
        raw.ensure(1 + w.key().wsize() + total);
        raw.header(BSON_TYPE_CODEWSCOPE, w.key());
        raw.i32(static_cast<std::int32_t>(total));
        raw.i32(static_cast<std::int32_t>(c.code_len + 1));
        if (c.code_len) raw.bytes(c.code, c.code_len);
        raw.u8(0);
        if (c.scope_len) raw.bytes(c.scope_data, c.scope_len);
        return true;
    }
    template <class W>
    static bool write_other(W& w, const bson_value_t& bv) {
        bson_t tmp;
        bson_init(&tmp);
        if (!bson_append_value(&tmp, "", 0, &bv)) {
            bson_destroy(&tmp);
            return w.fail("append failed (buffer cannot grow)");
        }
        // {"": value}: the payload starts after the length, the type byte and the key's NUL.
        const std::uint8_t* p = bson_get_data(&tmp);
        const bool ok = w.raw(static_cast<bson_type_t>(p[4]), p + 6, tmp.len - 7);
        bson_destroy(&tmp);
        return ok;
    }
};

}  // namespace morm
