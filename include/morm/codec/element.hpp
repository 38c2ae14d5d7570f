// The element reader handed to bson_traits<T>::read: one BSON element of a document being
// decoded, with typed getters and the error reporting of the codec.
#pragma once

#include <morm/codec/detail/common.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace morm::codec {

/// \brief One element of a document being decoded (borrowed: valid during read() only).
///
/// Check type() first; the as_*() getters assume the element has that type. On a problem,
/// return `mismatch("decimal128")` ("expected decimal128, got string") or `fail(reason)`:
/// the codec prefixes the field path ("price: expected decimal128, got string").
/// `read(u)` decodes this element into `u` through bson_traits<U> (delegation).
class element {
public:
    element(const bson_iter_t& it, detail::error_context& ctx) noexcept : it_(it), ctx_(ctx) {}

    bson_type_t type() const noexcept { return detail::iter_type(it_); }
    std::string_view key() const noexcept { return {detail::iter_key(it_), detail::iter_key_len(it_)}; }

    bool as_bool() const noexcept { return bson_iter_bool_unsafe(it()); }
    std::int32_t as_int32() const noexcept { return bson_iter_int32_unsafe(it()); }
    std::int64_t as_int64() const noexcept { return bson_iter_int64_unsafe(it()); }
    double as_double() const noexcept { return bson_iter_double_unsafe(it()); }
    /// UTC milliseconds since the Unix epoch.
    std::int64_t as_date() const noexcept { return bson_iter_date_time(it()); }
    std::string_view as_utf8() const noexcept {
        std::size_t n = 0;
        const char* s = bson_iter_utf8_unsafe(it(), &n);
        return {s, n};
    }
    const std::uint8_t* as_object_id() const noexcept { return bson_iter_oid_unsafe(it())->bytes; }
    bson_decimal128_t as_decimal128() const noexcept {
        bson_decimal128_t d{};
        bson_iter_decimal128(it(), &d);
        return d;
    }
    /// The bytes of a binary element; `subtype` receives its subtype.
    std::span<const std::uint8_t> as_binary(std::uint8_t& subtype) const noexcept {
        bson_subtype_t sub{};
        std::uint32_t n = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_binary(it(), &sub, &n, &data);
        subtype = static_cast<std::uint8_t>(sub);
        return {data, n};
    }
    /// The bytes of an embedded document or array (its length prefix included).
    std::span<const std::uint8_t> as_document() const noexcept {
        std::uint32_t n = 0;
        const std::uint8_t* data = nullptr;
        if (type() == BSON_TYPE_ARRAY) bson_iter_array(it(), &n, &data);
        else bson_iter_document(it(), &n, &data);
        return {data, n};
    }

    /// Decodes this element into `u` through bson_traits<U>.
    template <class U>
    bool read(U& u) const;

    /// "expected <what>, got <this element's type>" (errc::decode_error); returns false.
    bool mismatch(std::string_view expected) const {
        std::string why = "expected ";
        why += expected;
        why += ", got ";
        why += detail::bson_type_name(type());
        return ctx_.fail(errc::decode_error, std::move(why));
    }
    /// Records a decode error with this reason; returns false.
    bool fail(std::string reason) const { return ctx_.fail(errc::decode_error, std::move(reason)); }

    // For container and document traits.
    const bson_iter_t& iter() const noexcept { return it_; }
    detail::error_context& context() const noexcept { return ctx_; }

private:
    // libbson's getters take non-const iterators but do not move them.
    bson_iter_t* it() const noexcept { return const_cast<bson_iter_t*>(&it_); }

    const bson_iter_t& it_;
    detail::error_context& ctx_;
};

}  // namespace morm::codec
