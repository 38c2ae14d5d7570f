// std::map / std::unordered_map with std::string keys <-> BSON document. Keys must be valid
// UTF-8 and must not start with '$' or contain '.' (MongoDB's rules for stored field names).
#pragma once

#include <morm/codec/traits.hpp>

#include <map>
#include <string>
#include <unordered_map>

namespace morm {

namespace codec::detail {

inline bool check_map_key(std::string_view k, error_context& ctx) {
    if (!valid_utf8(k.data(), k.size())) return ctx.fail(errc::encode_error, "invalid UTF-8 in key");
    if (!k.empty() && k.front() == '$')
        return ctx.fail(errc::encode_error, "key '" + std::string(k) + "' starts with '$'");
    if (k.find('.') != std::string_view::npos)
        return ctx.fail(errc::encode_error, "key '" + std::string(k) + "' contains '.'");
    return true;
}

/// The traits of a map from std::string to V.
template <class Map>
struct string_map_traits {
    using V = typename Map::mapped_type;
    static constexpr bson_type_t type = BSON_TYPE_DOCUMENT;
    static constexpr std::size_t size_estimate = 5 + 32;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const Map& m) {
        auto& raw = w.raw_writer();
        auto& ctx = w.context();
        const std::size_t at = raw.open(BSON_TYPE_DOCUMENT, w.key());
        for (const auto& [key, e] : m) {
            if (!check_map_key(key, ctx) || !write_value(raw, dyn_key{key.data(), key.size()}, e, ctx))
                return ctx.push(key);
        }
        raw.close(at);
        return true;
    }

    static bool read(const element& e, Map& m) {
        if (e.type() != BSON_TYPE_DOCUMENT) return e.mismatch("document");
        auto& ctx = e.context();
        bson_iter_t child;
        if (!bson_iter_recurse(&const_cast<bson_iter_t&>(e.iter()), &child)) return e.fail("corrupt document");
        m.clear();
        while (bson_iter_next(&child)) {
            std::string key(bson_iter_key(&child), bson_iter_key_len(&child));
            auto& slot = m[key];
            if (!read_value(child, slot, ctx)) return ctx.push(key);
        }
        if (child.err_off) return e.fail("corrupt document");
        return true;
    }

    static void schema(bson_t* s, bool nullable) {
        append_schema_type(s, "object", nullable);
        bson_t ap;
        bson_append_document_begin(s, "additionalProperties", -1, &ap);
        append_schema<V>(&ap, false);
        bson_append_document_end(s, &ap);
    }
};

}  // namespace codec::detail

template <class V, class C, class A>
struct bson_traits<std::map<std::string, V, C, A>> : codec::detail::string_map_traits<std::map<std::string, V, C, A>> {};
template <class V, class H, class E, class A>
struct bson_traits<std::unordered_map<std::string, V, H, E, A>>
    : codec::detail::string_map_traits<std::unordered_map<std::string, V, H, E, A>> {};

}  // namespace morm
