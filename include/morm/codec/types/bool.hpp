// bool <-> BSON boolean.
#pragma once

#include <morm/codec/traits.hpp>

namespace morm {

template <>
struct bson_traits<bool> {
    static constexpr bson_type_t type = BSON_TYPE_BOOL;
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, bool b) {
        return w.boolean(b);
    }
    static bool read(const codec::element& e, bool& b) {
        if (e.type() != BSON_TYPE_BOOL) return e.mismatch("bool");
        b = e.as_bool();
        return true;
    }
};

}  // namespace morm
