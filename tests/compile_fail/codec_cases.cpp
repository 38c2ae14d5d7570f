// Compile-fail cases of the codec's customization point (tests/CMakeLists.txt lists them,
// as "compile_fail: codec N"). A type with no morm::bson_traits mapping must be refused with
// a message that names the type and points to the customization point; CASE 0, a mapped
// user type, must compile.
#include <morm/codec/decode.hpp>
#include <morm/codec/encode_raw.hpp>
#include <morm/bson/byte_buffer.hpp>
#include <morm/orm/model_ops.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cf {
struct Point {  // no bson_traits<Point>, not a MORM_STRUCT
    double x = 0, y = 0;
};
struct Celsius {
    double v = 0;
};
}  // namespace cf

template <>
struct morm::bson_traits<cf::Celsius> {
    static constexpr bson_type_t type = BSON_TYPE_DOUBLE;
    template <class W>
    static bool write(W& w, const cf::Celsius& c) {
        return w.double_(c.v);
    }
    static bool read(const morm::codec::element& e, cf::Celsius& c) { return e.read(c.v); }
};

namespace cf {
struct Reading {
    std::string id;
    Celsius temp;
#if CASE == 1 || CASE == 2
    Point where;
#elif CASE == 3
    std::vector<Point> path;
#endif
};
#if CASE == 1 || CASE == 2
MORM_MODEL(Reading, "readings", (id, "_id"), temp, where);
#elif CASE == 3
MORM_MODEL(Reading, "readings", (id, "_id"), temp, path);
#else
MORM_MODEL(Reading, "readings", (id, "_id"), temp);
#endif

struct Tagged {
    std::optional<std::string> id;
};
MORM_MODEL(Tagged, "tagged", (id, "_id"));

#if CASE == 5
enum Loose { loose_a, loose_b };  // no fixed underlying type, no MORM_ENUM_STRINGS
#else
enum Loose : int { loose_a, loose_b };
#endif
struct Flagged {
    std::string id;
    Loose level = loose_a;
};
MORM_MODEL(Flagged, "flagged", (id, "_id"), level);
}  // namespace cf

int main() {
    morm::bson::byte_buffer buf;
    cf::Reading r;
#if CASE == 0 || CASE == 1 || CASE == 3
    (void)morm::codec::encode_raw(buf, r);  // CASE 1, 3: a member of an unmapped type
#elif CASE == 2
    (void)morm::codec::decode(buf.data(), buf.size(), r);  // decoding refuses it as well
#elif CASE == 4
    (void)morm::detail::ops_for<cf::Tagged>();  // an optional cannot be an _id
#endif
    cf::Flagged f;
    (void)morm::codec::decode(buf.data(), buf.size(), f);  // CASE 5: an enum read into undefined values
}
