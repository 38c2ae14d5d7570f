// Every benchmark document decodes into its typed model (tests/common/spec_models.hpp,
// benchmarks/bson_models.hpp) and re-encodes to the same bytes: the generated data always,
// the official MongoDB data sets when $MORM_DATA_DIR names them (skipped otherwise).
#include "../../benchmarks/bson_models.hpp"
#include "common/data_dirs.hpp"
#include "common/spec_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace sm = morm::spec_models;
namespace codec = morm::codec;
using morm::bson::document;

namespace {

document load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return document::from_json(ss.str());
}

template <class T>
T round_trip(const std::string& dir, const char* rel) {
    const std::string path = dir + "/" + rel;
    INFO(path);
    document src = load(path);
    REQUIRE(src.size() > 5);
    T obj{};
    morm::diagnostics diag;
    auto ec = codec::decode(src.view(), obj, &diag);
    INFO(diag.message);
    REQUIRE_FALSE(ec);
    document again = codec::encode(obj);
    CHECK(again.size() == src.size());
    CHECK(again == src);
    if (!(again == src)) CHECK(again.to_json(morm::bson::json_mode::canonical).substr(0, 2000) ==
                               src.to_json(morm::bson::json_mode::canonical).substr(0, 2000));
    return obj;
}

}  // namespace

TEST_CASE("spec data (generated): every document round-trips through its model", "[codec][spec_data]") {
    const std::string dir = morm_data::generated_dir();
    round_trip<sm::odm_small_doc>(dir, "odm/small_doc.json");
    auto large = round_trip<sm::odm_large_doc>(dir, "odm/large_doc.json");
    CHECK(large.image_field.data.size() > 2'000'000);
    auto nested = round_trip<sm::odm_nested_doc>(dir, "odm/large_doc_nested.json");
    CHECK(nested.embedded_str_doc_array.size() == 2);
    round_trip<sm::driver_small_doc>(dir, "driver/small_doc.json");
    auto big = round_trip<sm::driver_large_doc>(dir, "driver/large_doc.json");
    CHECK(big.fields.size() > 2'000'000);
    auto t = round_trip<sm::tweet>(dir, "driver/tweet.json");
    REQUIRE(t.entities.user_mentions.size() == 1);
    CHECK(t.in_reply_to_screen_name == t.entities.user_mentions[0].screen_name);
    round_trip<bench_models::flat_bson>(dir, "bson/flat_bson.json");
    round_trip<bench_models::deep_bson>(dir, "bson/deep_bson.json");
    round_trip<bench_models::full_bson>(dir, "bson/full_bson.json");
}

// The official files, with values checked against their known content.
TEST_CASE("spec data (official): odm small_doc", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto d = round_trip<sm::odm_small_doc>(*dir, "odm/small_doc.json");
    CHECK(d.field1 == "miNVpaKW");
    CHECK(d.field13 == 74094448);
    CHECK(d.id.is_zero());
    // once an id is assigned it is written first
    d.id = morm::bson::object_id::generate();
    auto doc = codec::encode(d);
    CHECK(std::string(bson_iter_key(&*doc.view().begin())) == "_id");
}

TEST_CASE("spec data (official): odm large_doc", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto d = round_trip<sm::odm_large_doc>(*dir, "odm/large_doc.json");
    CHECK(d.field1 == "kj9$mxz#p2qw8r*vn4@h7c&u1s");
    CHECK(d.image_field.subtype == 0);
    CHECK(d.image_field.data.size() > 1000);
    CHECK(d.image_field.data[1] == 'P');  // PNG signature
}

TEST_CASE("spec data (official): odm large_doc_nested", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto d = round_trip<sm::odm_nested_doc>(*dir, "odm/large_doc_nested.json");
    CHECK(d.embedded_str_doc_1.field1 == "kj9$mxz#p2qw8r*vn4@h7c&u1s");
    CHECK(d.embedded_str_doc_array.size() == 2);
    CHECK(codec::field_name(&sm::odm_nested_doc::embedded_int_doc_14) == "embedded_int_doc_14");
}

TEST_CASE("spec data (official): driver small_doc", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto d = round_trip<sm::driver_small_doc>(*dir, "driver/small_doc.json");
    CHECK(d.k_oggaoR4O == "miNVpaKW");
    CHECK(d.k_Ph9CZN5L == 74094448);
}

TEST_CASE("spec data (official): driver large_doc", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto d = round_trip<sm::driver_large_doc>(*dir, "driver/large_doc.json");
    auto first = d.fields.find("qx3MigjubFSm");
    REQUIRE(first);
    CHECK(std::string(bson_iter_utf8(&*first, nullptr)) == "UAwV7PoNUVtv");
}

TEST_CASE("spec data (official): driver tweet", "[codec][spec_data][official_data]") {
    auto dir = morm_data::official_dir_or_skip();
    if (!dir) return;
    auto t = round_trip<sm::tweet>(*dir, "driver/tweet.json");
    CHECK(t.id == 22824602300);
    CHECK(t.in_reply_to_status_id == 22773233453);
    CHECK_FALSE(t.retweet_count);
    CHECK_FALSE(t.geo);
    CHECK(t.user.screen_name == "jessiekf");
    CHECK(t.user.utc_offset == -25200);
    CHECK_FALSE(t.user.following);
    CHECK(t.user.profile_background_tile);
    REQUIRE(t.entities.user_mentions.size() == 1);
    CHECK(t.entities.user_mentions[0].indices == std::vector<std::int32_t>{0, 9});
    CHECK(t.entities.user_mentions[0].id == 41832464);
}
