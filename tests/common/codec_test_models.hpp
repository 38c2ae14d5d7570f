// Models shared by the codec unit tests (codec_tests.cpp, codec_raw_tests.cpp): every
// supported field type, nesting, flags, strict/lenient decoding, extra fields.
#pragma once

#include <morm/bson.hpp>
#include <morm/codec/model.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ct {

using morm::codec::field_flags;
namespace bs = morm::bson;

struct Address {
    std::string street;
    std::string city;
    std::optional<std::string> zip;
    friend bool operator==(const Address&, const Address&) = default;
};
MORM_STRUCT(Address, street, city, zip);

enum class Color { red, green, blue };
MORM_ENUM_STRINGS(Color, red, green, blue);
enum class Level : std::int32_t { low = 1, high = 5 };  // stored as an integer

struct User {
    std::string id;
    std::string name;
    std::string email;
    Address address;
    std::vector<std::string> tags;
    std::int64_t version = 0;
    friend bool operator==(const User&, const User&) = default;
};
MORM_MODEL(User, "users", (id, "_id"), name, email, address, tags,
           (version, "version", morm::codec::field_flags::version));

struct Leaf {
    std::int32_t n = 0;
    friend bool operator==(const Leaf&, const Leaf&) = default;
};
MORM_STRUCT(Leaf, n);
struct Mid {
    Leaf leaf;
    std::vector<Leaf> leaves;
    friend bool operator==(const Mid&, const Mid&) = default;
};
MORM_STRUCT(Mid, leaf, leaves);
struct Top {
    Mid mid;
    std::optional<Mid> maybe;
    friend bool operator==(const Top&, const Top&) = default;
};
MORM_STRUCT(Top, mid, maybe);

struct Everything {
    bs::object_id id;
    std::string s;
    bool b = false;
    std::int32_t i32 = 0;
    std::int64_t i64 = 0;
    double d = 0;
    Color color = Color::red;
    Level level = Level::low;
    std::optional<std::int32_t> opt_null;
    std::optional<std::int32_t> opt_set;
    std::vector<std::int64_t> nums;
    std::vector<std::vector<std::string>> nested_vec;
    std::map<std::string, std::int32_t> counts;
    std::map<std::string, Address> places;
    std::vector<Address> addresses;
    std::chrono::system_clock::time_point when;
    bs::binary bin;
    bs::decimal128 dec;
    bs::document raw;
    bs::value any;
    bs::value any_doc;
    Top top;
    friend bool operator==(const Everything&, const Everything&) = default;
};
MORM_MODEL(Everything, "everything", (id, "_id"), s, b, i32, i64, d, color, level, opt_null, opt_set, nums,
           nested_vec, counts, places, addresses, when, bin, dec, raw, any, any_doc, (top, "t"));

struct Strict {
    std::int32_t a = 0;
};
MORM_STRUCT(Strict, a);
MORM_STRICT(Strict);

struct Lenient {
    std::int32_t a = 0;
};
MORM_STRUCT(Lenient, a);

struct Flags {
    std::string id;
    std::string empty_str;
    std::vector<int> empty_vec;
    std::optional<int> none;
    std::optional<int> must;
    int keep = 42;
};
MORM_MODEL(Flags, "flags", (id, "_id"), (empty_str, "es", field_flags::omit_empty),
           (empty_vec, "ev", field_flags::omit_empty), (none, "none", field_flags::omit_empty),
           (must, "must", field_flags::required), (keep, "keep", field_flags::optional_on_decode));

struct Wide {
    std::int32_t i32 = 0;
    std::int64_t i64 = 0;
    double d = 0;
};
MORM_STRUCT(Wide, i32, i64, d);

struct MapHolder {
    std::map<std::string, std::string> m;
};
MORM_STRUCT(MapHolder, m);

struct Extra {
    std::string name;
    bs::document rest;
};
MORM_STRUCT(Extra, name, (rest, "", field_flags::extra_fields));

struct ScalarVectors {
    std::vector<std::int32_t> v;
    std::vector<std::int64_t> w;  // read from int32 elements (widened)
};
MORM_STRUCT(ScalarVectors, v, w);

struct Big {
    std::string s;
};
MORM_STRUCT(Big, s);

struct NoId {
    int a;
};
MORM_STRUCT(NoId, a);

}  // namespace ct
