// Enums: as the strings declared with MORM_ENUM_STRINGS, else as their underlying integer.
#pragma once

#include <morm/codec/traits.hpp>
#include <morm/codec/types/integer.hpp>

#include <string>

namespace morm {

namespace codec::detail {
/// Only an enum with a fixed underlying type (`enum class E`, `enum E : int`) holds every
/// value of that type; list-initialization from an integer compiles for exactly those.
template <class E>
concept fixed_underlying_enum = requires(std::underlying_type_t<E> u) { E{u}; };
}  // namespace codec::detail

template <class E>
    requires std::is_enum_v<E>
struct bson_traits<E> {
    using underlying = std::underlying_type_t<E>;
    static constexpr bool strings = codec::detail::has_enum_strings<E>;
    // A number read from the server becomes an E: for an enum without a fixed underlying
    // type, a value outside its enumerators' bit range would be undefined behaviour.
    static_assert(strings || codec::detail::fixed_underlying_enum<E>,
                  "morm: an enum stored as a number needs a fixed underlying type (enum class E, or "
                  "enum E : int), or MORM_ENUM_STRINGS");
    static constexpr bson_type_t type = strings ? BSON_TYPE_UTF8 : bson_traits<underlying>::type;
    static constexpr std::size_t size_estimate = strings ? 4 + 8 + 1 : 8;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, E v) {
        if constexpr (strings) {
            for (const auto& [e, name] : codec::enum_strings<E>())
                if (e == v) return w.utf8_unchecked(name.data(), name.size());
            return w.fail("enum value " + std::to_string(static_cast<long long>(v)) + " has no declared string");
        } else {
            return w.value(static_cast<underlying>(v));
        }
    }

    static bool read(const codec::element& e, E& v) {
        if constexpr (strings) {
            if (e.type() != BSON_TYPE_UTF8) return e.mismatch("string");
            const std::string_view sv = e.as_utf8();
            for (const auto& [x, name] : codec::enum_strings<E>())
                if (name == sv) {
                    v = x;
                    return true;
                }
            return e.fail("unknown enum value '" + std::string(sv) + "'");
        } else {
            underlying u{};
            if (!e.read(u)) return false;
            v = static_cast<E>(u);
            return true;
        }
    }

    static void schema(bson_t* s, bool nullable) {
        if constexpr (strings) {
            codec::append_schema_type(s, "string", false);
            bson_t arr;
            bson_append_array_begin(s, "enum", 4, &arr);
            std::uint32_t i = 0;
            char buf[16];
            for (auto& [x, name] : codec::enum_strings<E>()) {
                const char* k;
                bson_uint32_to_string(i++, &k, buf, sizeof buf);
                bson_append_utf8(&arr, k, -1, name.data(), static_cast<int>(name.size()));
            }
            if (nullable) bson_append_null(&arr, "null", -1);
            bson_append_array_end(s, &arr);
        } else {
            codec::append_schema<underlying>(s, nullable);
        }
    }
};

}  // namespace morm
