// The models of fuzz_model_decode.cpp, shared with the seed generator (make_seeds.cpp):
// every type the codec maps and every field flag.
#pragma once

#include <morm/bson.hpp>
#include <morm/codec/model.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fz {

namespace bs = morm::bson;
using morm::codec::field_flags;

enum class Color { red, green, blue };
MORM_ENUM_STRINGS(Color, red, green, blue);
enum class Level : std::int32_t { low = 1, high = 5 };  // stored as its integer
enum class Small : std::uint8_t { a = 0, b = 200 };     // integer, range-checked to 8 bits
enum Plain : int { plain_a, plain_b, plain_c };         // unscoped (an unfixed one does not compile)

struct Leaf {
    std::int32_t n = 0;
    std::optional<std::string> label;
    friend bool operator==(const Leaf&, const Leaf&) = default;
};
MORM_STRUCT(Leaf, n, label);

struct Node {
    Leaf leaf;
    std::vector<Leaf> leaves;
    std::optional<Leaf> maybe;
    std::map<std::string, Leaf> by_name;
};
MORM_STRUCT(Node, leaf, leaves, maybe, by_name);

struct Everything {
    bs::object_id id;
    std::string s;
    bool b = false;
    std::int8_t i8 = 0;
    std::int16_t i16 = 0;
    std::int32_t i32 = 0;
    std::int64_t i64 = 0;
    std::uint8_t u8 = 0;
    std::uint16_t u16 = 0;
    std::uint32_t u32 = 0;
    std::uint64_t u64 = 0;
    float f = 0;
    double d = 0;
    Color color = Color::red;
    Level level = Level::low;
    Small small = Small::a;
    Plain plain = plain_a;
    std::optional<std::int32_t> opt_i;
    std::optional<std::string> opt_s;
    std::optional<std::chrono::system_clock::time_point> opt_when;
    std::vector<std::int64_t> nums;
    std::vector<double> reals;
    std::vector<std::vector<std::string>> nested_vec;
    std::vector<std::optional<bool>> flags;
    std::map<std::string, std::int32_t> counts;
    std::unordered_map<std::string, double> weights;
    std::map<std::string, std::vector<bs::value>> bags;
    std::chrono::system_clock::time_point when;
    std::chrono::sys_time<std::chrono::milliseconds> when_ms;
    std::chrono::sys_time<std::chrono::seconds> when_s;
    std::chrono::year_month_day day{std::chrono::year{2000}, std::chrono::January, std::chrono::day{1}};
    bs::binary bin;
    bs::decimal128 dec;
    bs::document raw;
    bs::value any;
    Node node;
    std::vector<Node> nodes;
};
MORM_MODEL(Everything, "everything", (id, "_id"), s, b, i8, i16, i32, i64, u8, u16, u32, u64, f, d, color, level,
           small, plain, opt_i, opt_s, opt_when, nums, reals, nested_vec, flags, counts, weights, bags, when, when_ms,
           when_s, day, bin, dec, raw, any, (node, "n"), nodes);

// The field flags and the strict / extra-fields paths of the field walk.
struct Strict {
    std::int32_t a = 0;
    std::string b;
};
MORM_STRUCT(Strict, a, b);
MORM_STRICT(Strict);

struct Flagged {
    std::string id;
    std::string renamed;
    std::string empty_str;
    std::vector<int> empty_vec;
    std::optional<int> must;
    int keep = 42;
    Strict strict;
    bs::document rest;
};
MORM_MODEL(Flagged, "flagged", (id, "_id"), (renamed, "new_name", morm::codec::alias("old_name")),
           (empty_str, "es", field_flags::omit_empty), (empty_vec, "ev", field_flags::omit_empty),
           (must, "must", field_flags::required), (keep, "keep", field_flags::optional_on_decode), strict,
           (rest, "", field_flags::extra_fields));

}  // namespace fz
