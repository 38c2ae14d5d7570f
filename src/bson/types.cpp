#include <morm/bson/types.hpp>
#include <morm/error.hpp>

#include <cstring>

namespace morm::bson {

decimal128 decimal128::from_string(std::string_view s) {
    bson_decimal128_t d;
    if (!bson_decimal128_from_string_w_len(s.data(), static_cast<int>(s.size()), &d))
        throw morm::error(errc::invalid_argument, "invalid decimal128 string: '" + std::string(s) + "'");
    return decimal128(d);
}

std::string decimal128::to_string() const {
    char buf[BSON_DECIMAL128_STRING];
    bson_decimal128_to_string(&v_, buf);
    return buf;
}

value::value(std::string_view s) : value() {
    // bson_value_destroy frees v_utf8.str with bson_free, so allocate it with bson_malloc.
    char* p = static_cast<char*>(bson_malloc(s.size() + 1));
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    v_.value_type = BSON_TYPE_UTF8;
    v_.value.v_utf8.str = p;
    v_.value.v_utf8.len = static_cast<std::uint32_t>(s.size());
}

value::value(const document& d) : value() {
    bson_value_t tmp;
    tmp.value_type = BSON_TYPE_DOCUMENT;
    tmp.value.v_doc.data = const_cast<std::uint8_t*>(d.data());
    tmp.value.v_doc.data_len = static_cast<std::uint32_t>(d.size());
    bson_value_copy(&tmp, &v_);
}

bool append_value(bson_t* dst, std::string_view key, const bson_value_t& v) noexcept {
    switch (v.value_type) {
    case BSON_TYPE_CODE:
        return append_code(dst, key, {v.value.v_code.code, v.value.v_code.code_len});
    case BSON_TYPE_CODEWSCOPE: {
        const auto& c = v.value.v_codewscope;
        return append_code_w_scope(dst, key, {c.code, c.code_len}, {c.scope_data, c.scope_len});
    }
    default:
        return bson_append_value(dst, key.data(), static_cast<int>(key.size()), &v);
    }
}

namespace {

// A one-element document {"": v}: the simplest way to reuse libbson's encoder and JSON writer
// (whose output for code keeps NULs as \u0000; only its append cuts them).
document wrap(const bson_value_t& v) {
    document d;
    append_value(d.get(), "", v);
    return d;
}

}  // namespace

std::string value::to_json(json_mode mode) const {
    std::string s = wrap(v_).to_json(mode);
    // libbson writes `{ "" : <value> }`.
    constexpr std::string_view prefix = "{ \"\" : ";
    constexpr std::string_view suffix = " }";
    if (s.size() >= prefix.size() + suffix.size() && s.compare(0, prefix.size(), prefix) == 0)
        return s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
    return s;
}

bool operator==(const value& a, const value& b) noexcept {
    if (a.v_.value_type != b.v_.value_type) return false;
    try {
        return wrap(a.v_) == wrap(b.v_);
    } catch (...) {
        return false;
    }
}

}  // namespace morm::bson
