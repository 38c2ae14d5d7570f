// std::optional<T>: null when empty; null (or an absent field) decodes to nullopt.
#pragma once

#include <morm/codec/traits.hpp>

#include <optional>

namespace morm {

template <class T>
struct bson_traits<std::optional<T>> {
    static constexpr bson_type_t type = bson_traits<T>::type;
    static constexpr std::string_view expected = codec::expected_name<T>();
    static constexpr std::size_t size_estimate = codec::size_estimate<T>();
    static constexpr bool identity = false;
    static constexpr bool nullable = true;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const std::optional<T>& v) {
        if (!v) return w.null();
        return w.value(*v);
    }
    static bool read(const codec::element& e, std::optional<T>& v) {
        if (e.type() == BSON_TYPE_NULL) {
            v.reset();
            return true;
        }
        if (!v) v.emplace();
        return e.read(*v);
    }
    static bool empty(const std::optional<T>& v) noexcept { return !v.has_value(); }
    static void schema(bson_t* s, bool) { codec::append_schema<T>(s, true); }
};

}  // namespace morm
