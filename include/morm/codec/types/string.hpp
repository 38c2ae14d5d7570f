// std::string <-> BSON string (UTF-8, no NUL). std::string_view and C strings encode the
// same way (query operands); they cannot be decoded into.
#pragma once

#include <morm/codec/traits.hpp>

#include <string>
#include <string_view>

namespace morm {

template <>
struct bson_traits<std::string_view> {
    static constexpr bson_type_t type = BSON_TYPE_UTF8;
    static constexpr std::string_view expected = "string";
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, std::string_view s) {
        return w.utf8(s);
    }
};

template <>
struct bson_traits<std::string> {
    static constexpr bson_type_t type = BSON_TYPE_UTF8;
    static constexpr std::string_view expected = "string";
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const std::string& s) {
        return w.utf8(s);
    }
    static bool read(const codec::element& e, std::string& s) {
        if (e.type() != BSON_TYPE_UTF8) return e.mismatch("string");
        const std::string_view v = e.as_utf8();
        s.assign(v.data(), v.size());  // reuses the capacity already in `s`
        return true;
    }
};

template <std::size_t N>
struct bson_traits<char[N]> : bson_traits<std::string_view> {};
template <>
struct bson_traits<const char*> : bson_traits<std::string_view> {};
template <>
struct bson_traits<char*> : bson_traits<std::string_view> {};

}  // namespace morm
