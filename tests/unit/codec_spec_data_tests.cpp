// Every benchmark document of ../shared/benchmarks/data/{odm,driver} decodes into its typed
// model (tests/common/spec_models.hpp) and re-encodes to the same bytes.
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

document load(const char* rel) {
    std::string path = std::string(MORM_SHARED_DATA_DIR) + "/" + rel;
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return document::from_json(ss.str());
}

template <class T>
T round_trip(const char* rel) {
    INFO(rel);
    document src = load(rel);
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

TEST_CASE("spec data: odm small_doc", "[codec][spec_data]") {
    auto d = round_trip<sm::odm_small_doc>("odm/small_doc.json");
    CHECK(d.field1 == "miNVpaKW");
    CHECK(d.field13 == 74094448);
    CHECK(d.id.is_zero());
    // once an id is assigned it is written first
    d.id = morm::bson::object_id::generate();
    auto doc = codec::encode(d);
    CHECK(std::string(bson_iter_key(&*doc.view().begin())) == "_id");
}

TEST_CASE("spec data: odm large_doc", "[codec][spec_data]") {
    auto d = round_trip<sm::odm_large_doc>("odm/large_doc.json");
    CHECK(d.field1 == "kj9$mxz#p2qw8r*vn4@h7c&u1s");
    CHECK(d.image_field.subtype == 0);
    CHECK(d.image_field.data.size() > 1000);
    CHECK(d.image_field.data[1] == 'P');  // PNG signature
}

TEST_CASE("spec data: odm large_doc_nested", "[codec][spec_data]") {
    auto d = round_trip<sm::odm_nested_doc>("odm/large_doc_nested.json");
    CHECK(d.embedded_str_doc_1.field1 == "kj9$mxz#p2qw8r*vn4@h7c&u1s");
    CHECK(d.embedded_str_doc_array.size() == 2);
    CHECK(codec::field_name(&sm::odm_nested_doc::embedded_int_doc_14) == "embedded_int_doc_14");
}

TEST_CASE("spec data: driver small_doc", "[codec][spec_data]") {
    auto d = round_trip<sm::driver_small_doc>("driver/small_doc.json");
    CHECK(d.k_oggaoR4O == "miNVpaKW");
    CHECK(d.k_Ph9CZN5L == 74094448);
}

TEST_CASE("spec data: driver large_doc", "[codec][spec_data]") {
    auto d = round_trip<sm::driver_large_doc>("driver/large_doc.json");
    auto first = d.fields.find("qx3MigjubFSm");
    REQUIRE(first);
    CHECK(std::string(bson_iter_utf8(&*first, nullptr)) == "UAwV7PoNUVtv");
}

TEST_CASE("spec data: driver tweet", "[codec][spec_data]") {
    auto t = round_trip<sm::tweet>("driver/tweet.json");
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
