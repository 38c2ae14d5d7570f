// float/double <-> BSON double; decoding also accepts int32 (exact in a double).
#pragma once

#include <morm/codec/traits.hpp>

namespace morm {

template <class V>
    requires std::is_floating_point_v<V>
struct bson_traits<V> {
    static constexpr bson_type_t type = BSON_TYPE_DOUBLE;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, V v) {
        return w.double_(static_cast<double>(v));
    }
    static bool read(const codec::element& e, V& v) {
        const bson_type_t t = e.type();
        if (t == BSON_TYPE_DOUBLE) v = static_cast<V>(e.as_double());
        else if (t == BSON_TYPE_INT32) v = static_cast<V>(e.as_int32());
        else return e.mismatch("double");
        return true;
    }
};

}  // namespace morm
