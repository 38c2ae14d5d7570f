// The codec's customization point (morm::bson_traits): user types defined in
// tests/common/user_types.hpp with one specialization each, the built-in year_month_day,
// field aliases, the JSON schema and identity keys derived from the traits, and the two
// encoders (encode_raw, encode_into) producing the same bytes by construction.
#include "common/user_types.hpp"

#include <morm/bson/byte_buffer.hpp>
#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/encode_raw.hpp>
#include <morm/orm/model_ops.hpp>

#include <catch2/catch.hpp>

#include <cstring>

using namespace user_types;
namespace codec = morm::codec;
using morm::bson::document;
using namespace std::chrono;

namespace {

std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view j) { return canon(document::from_json(j)); }

template <class T>
std::string raw_bytes(const T& obj) {
    morm::bson::byte_buffer buf;
    REQUIRE_FALSE(codec::encode_raw(buf, obj));
    return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
}

template <class T>
std::string bson_bytes(const T& obj) {
    document d;
    REQUIRE_FALSE(codec::encode_into(d.get(), obj));
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

template <class T>
std::string decode_error(std::string_view json) {
    auto doc = document::from_json(json);
    T out{};
    morm::diagnostics diag;
    auto ec = codec::decode(doc, out, &diag);
    CHECK(ec == morm::errc::decode_error);
    return diag.message;
}

Account sample_account() {
    Account a;
    a.id = UserId{"u1"};
    a.name = "Ada";
    for (std::uint8_t i = 0; i < 16; ++i) a.token.bytes[i] = i;
    a.birthday = 2024y / February / 29;
    a.devices = {Uuid{}, a.token};
    return a;
}

struct NotMapped {
    int x;
};

}  // namespace

static_assert(codec::mapped<Money> && codec::mapped<Uuid> && codec::mapped<UserId>);
static_assert(codec::mapped<std::chrono::year_month_day> && codec::mapped<std::optional<UserId>>);
static_assert(!codec::mapped<NotMapped> && !codec::mapped<char>);
static_assert(codec::identity_type<UserId>() && codec::identity_type<Uuid>() && codec::identity_type<std::string>());
static_assert(!codec::identity_type<std::vector<int>>() && !codec::identity_type<std::optional<std::string>>());
static_assert(codec::expected_name<Money>() == "decimal128" && codec::expected_name<Uuid>() == "UUID (binary subtype 4)");
static_assert(codec::bson_type_of<UserId> == BSON_TYPE_UTF8 && codec::bson_type_of<year_month_day> == BSON_TYPE_DATE_TIME);

TEST_CASE("codec traits: a money type stored as decimal128", "[codec][traits]") {
    Wallet w{UserId{"w1"}, Money{-1205}, Money{5}};
    const auto doc = codec::encode(w);
    CHECK(canon(doc) == canon_json(R"({"_id": "w1", "balance": {"$numberDecimal": "-12.05"},
                                       "limit": {"$numberDecimal": "0.05"}})"));
    CHECK(raw_bytes(w) == bson_bytes(w));
    auto back = codec::decode<Wallet>(doc);
    CHECK(back.balance == Money{-1205});
    CHECK(back.limit == Money{5});
    CHECK(back.id == UserId{"w1"});

    // Any decimal spelling of a whole number of cents reads back.
    auto sci = codec::decode<Wallet>(document::from_json(
        R"({"_id": "w", "balance": {"$numberDecimal": "1.2E+3"}, "limit": null})"));
    CHECK(sci.balance == Money{120000});
    CHECK_FALSE(sci.limit.has_value());

    CHECK(decode_error<Wallet>(R"({"_id": "w", "balance": {"$numberDecimal": "1.234"}, "limit": null})") ==
          "balance: not a whole number of cents: 1.234");
    CHECK(decode_error<Wallet>(R"({"_id": "w", "balance": "12.00", "limit": null})") ==
          "balance: expected decimal128, got string");
    CHECK(decode_error<Wallet>(R"({"_id": 7, "balance": {"$numberDecimal": "1"}})") ==
          "_id: expected string, got int32");
}

TEST_CASE("codec traits: a UUID stored as binary subtype 4", "[codec][traits]") {
    const Account a = sample_account();
    const auto doc = codec::encode(a);
    auto it = doc.find("token");
    REQUIRE(it);
    bson_subtype_t sub;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&*it, &sub, &len, &data);
    CHECK(sub == BSON_SUBTYPE_UUID);
    REQUIRE(len == 16);
    CHECK(std::memcmp(data, a.token.bytes.data(), 16) == 0);
    CHECK(raw_bytes(a) == bson_bytes(a));
    auto back = codec::decode<Account>(doc);
    CHECK(back.token == a.token);
    CHECK(back.devices == a.devices);

    CHECK(decode_error<Account>(R"({"_id": "u", "name": "n", "token": {"$binary": {"base64": "AAAA", "subType": "00"}},
                                    "birthday": {"$date": 0}, "devices": [], "referrer": null})") ==
          "token: expected UUID (binary subtype 4), got binary");
    CHECK(decode_error<Account>(R"({"_id": "u", "name": "n", "token": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}},
                                    "birthday": {"$date": 0}, "devices": [1], "referrer": null})") ==
          "devices.0: expected UUID (binary subtype 4), got int32");
}

TEST_CASE("codec traits: year_month_day is a date at midnight UTC", "[codec][traits]") {
    Account a = sample_account();
    const auto doc = codec::encode(a);
    auto it = doc.find("birthday");
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_DATE_TIME(&*it));
    CHECK(bson_iter_date_time(&*it) == 1709164800000);  // 2024-02-29T00:00:00Z
    CHECK(codec::decode<Account>(doc).birthday == 2024y / February / 29);

    // Before the epoch, too.
    a.birthday = 1815y / December / 10;
    CHECK(codec::decode<Account>(codec::encode(a)).birthday == 1815y / December / 10);

    a.birthday = 2023y / February / 30;
    document d;
    morm::diagnostics diag;
    CHECK(codec::encode_into(d.get(), a, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "birthday: invalid calendar date");

    CHECK(decode_error<Account>(R"({"_id": "u", "name": "n", "token": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}},
                                    "birthday": {"$date": 1709164800001}, "devices": [], "referrer": null})") ==
          "birthday: date is not at midnight UTC, cannot be read as a calendar day");
}

TEST_CASE("codec traits: a strong id type as _id: identity key, id filter, JSON", "[codec][traits]") {
    std::string k1, k2;
    REQUIRE_FALSE(morm::detail::value_key(UserId{"alice"}, k1, nullptr));
    REQUIRE_FALSE(morm::detail::value_key(std::string("alice"), k2, nullptr));
    CHECK(k1 == k2);
    CHECK(k1 == std::string("\x02\0\x06\0\0\0alice\0", 12));

    // The key of a loaded document's stored _id is the same.
    const auto doc = codec::encode(sample_account());
    bson_iter_t it;
    REQUIRE(bson_iter_init(&it, doc.get()));
    REQUIRE(bson_iter_find(&it, "_id"));
    std::string k3;
    REQUIRE_FALSE(morm::detail::value_key(UserId{"u1"}, k3, nullptr));
    CHECK(morm::detail::element_key(it) == k3);

    // An id that cannot be encoded is refused with the field named.
    morm::diagnostics diag;
    std::string bad;
    CHECK(morm::detail::value_key(UserId{std::string("a\0b", 3)}, bad, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "_id: invalid UTF-8 in string");
    CHECK(morm::detail::id_json_of(UserId{"u1"}) == "\"u1\"");
}

TEST_CASE("codec traits: the JSON schema comes from the traits", "[codec][traits]") {
    CHECK(canon(morm::json_schema_validator<Account>()) == canon_json(R"({"$jsonSchema": {
        "bsonType": "object",
        "properties": {
          "_id": {"bsonType": "string"},
          "name": {"bsonType": "string"},
          "token": {"bsonType": "binData"},
          "birthday": {"bsonType": "date"},
          "devices": {"bsonType": "array", "items": {"bsonType": "binData"}},
          "referrer": {"bsonType": ["string", "null"]}},
        "required": ["_id", "name", "token", "birthday", "devices"]}})"));
    CHECK(canon(morm::json_schema_validator<Wallet>()) == canon_json(R"({"$jsonSchema": {
        "bsonType": "object",
        "properties": {
          "_id": {"bsonType": "string"},
          "balance": {"bsonType": "decimal"},
          "limit": {"bsonType": ["decimal", "null"]}},
        "required": ["_id", "balance"]}})"));
    // A renamed field is not required: documents still stored under the former name are valid.
    CHECK(canon(morm::json_schema_validator<Contact>()) == canon_json(R"({"$jsonSchema": {
        "bsonType": "object",
        "properties": {
          "_id": {"bsonType": "string"},
          "email": {"bsonType": "string"},
          "mobile": {"bsonType": ["string", "null"]},
          "visits": {"bsonType": "int"}},
        "required": ["_id", "visits"]}})"));
}

TEST_CASE("codec traits: aliases read the former name and write the current one", "[codec][traits]") {
    auto old = codec::decode<Contact>(document::from_json(R"({"_id": "c1", "mail": "a@x", "phone": "12", "visits": 3})"));
    CHECK(old.email == "a@x");
    CHECK(old.mobile == "12");
    CHECK(old.visits == 3);
    CHECK(canon(codec::encode(old)) == canon_json(R"({"_id": "c1", "email": "a@x", "mobile": "12", "visits": 3})"));

    // Both names present: the current one wins, whatever the order.
    auto both1 = codec::decode<Contact>(document::from_json(R"({"_id": "c", "mail": "old", "email": "new", "visits": 0})"));
    auto both2 = codec::decode<Contact>(document::from_json(R"({"_id": "c", "email": "new", "mail": "old", "visits": 0})"));
    CHECK(both1.email == "new");
    CHECK(both2.email == "new");
    CHECK_FALSE(both1.mobile.has_value());

    CHECK(decode_error<Contact>(R"({"_id": "c", "visits": 0})") == "email: missing required field");
    CHECK(decode_error<Contact>(R"({"_id": "c", "mail": 5, "visits": 0})") == "mail: expected string, got int32");
}

TEST_CASE("codec traits: encode_raw and encode_into write the same bytes", "[codec][traits]") {
    Contact c{"c1", "e@x", std::nullopt, 7};
    CHECK(raw_bytes(c) == bson_bytes(c));
    Wallet w{UserId{"w"}, Money{1}, std::nullopt};
    CHECK(raw_bytes(w) == bson_bytes(w));

    // encode_into appends after what the document already holds.
    document d = document::from_json(R"({"first": 1})");
    REQUIRE_FALSE(codec::encode_into(d.get(), c));
    CHECK(canon(d) == canon_json(R"({"first": 1, "_id": "c1", "email": "e@x", "mobile": null, "visits": 7})"));

    // encode_value uses the same writer for one element.
    document v;
    REQUIRE_FALSE(codec::encode_value(v.get(), "$gt", Money{250}));
    CHECK(canon(v) == canon_json(R"({"$gt": {"$numberDecimal": "2.50"}})"));
}
