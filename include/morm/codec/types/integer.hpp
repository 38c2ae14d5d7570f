// Integers: signed types up to 32 bits and unsigned types below 32 bits are int32; the
// others int64 (an unsigned value above INT64_MAX is an encode error). Decoding accepts
// int32 and int64 and range-checks into the member's type.
#pragma once

#include <morm/codec/traits.hpp>

#include <limits>
#include <string>

namespace morm {

template <codec::detail::integer V>
struct bson_traits<V> {
    static constexpr bool small = sizeof(V) < 4 || (sizeof(V) == 4 && std::is_signed_v<V>);
    static constexpr bson_type_t type = small ? BSON_TYPE_INT32 : BSON_TYPE_INT64;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, V v) {
        if constexpr (small) {
            return w.int32(static_cast<std::int32_t>(v));
        } else {
            if constexpr (std::is_unsigned_v<V> && sizeof(V) >= 8) {
                if (v > static_cast<V>(INT64_MAX)) return w.fail("unsigned value " + std::to_string(v) + " exceeds int64");
            }
            return w.int64(static_cast<std::int64_t>(v));
        }
    }

    static bool read(const codec::element& e, V& v) {
        const bson_type_t t = e.type();
        std::int64_t x;
        if (t == BSON_TYPE_INT32) {
            x = e.as_int32();
        } else if (t == BSON_TYPE_INT64) {
            x = e.as_int64();
            if constexpr (sizeof(V) <= 4 && std::is_signed_v<V>) {
                if (x < std::numeric_limits<V>::min() || x > std::numeric_limits<V>::max())
                    return e.fail("expected " + std::string(codec::expected_name<V>()) + ", got int64 " +
                                  std::to_string(x) + " (out of range)");
            }
        } else {
            return e.mismatch(codec::expected_name<V>());
        }
        if constexpr (std::is_unsigned_v<V> || sizeof(V) < 4) {
            if (x < std::int64_t(std::numeric_limits<V>::min()) ||
                (x > 0 && std::uint64_t(x) > std::uint64_t(std::numeric_limits<V>::max())))
                return e.fail("value " + std::to_string(x) + " out of range");
        }
        v = static_cast<V>(x);
        return true;
    }
};

}  // namespace morm
