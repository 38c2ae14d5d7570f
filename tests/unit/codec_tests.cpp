#include "common/codec_test_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/model.hpp>

#include <catch2/catch.hpp>

#include <cstring>

using namespace std::chrono_literals;
namespace codec = morm::codec;
namespace bs = morm::bson;
using codec::field_flags;

using namespace ct;

namespace {

template <class T>
std::string enc_json(const T& v) {
    return codec::encode(v).to_json();
}

template <class T>
std::string decode_error(const std::string& json) {
    auto doc = bs::document::from_json(json);
    T out{};
    morm::diagnostics diag;
    auto ec = codec::decode(doc.view(), out, &diag);
    CHECK(ec == morm::errc::decode_error);
    return diag.message;
}

}  // namespace

TEST_CASE("codec: traits, names and concepts", "[codec]") {
    STATIC_REQUIRE(codec::model<User>);
    STATIC_REQUIRE(codec::structure<Address>);
    STATIC_REQUIRE_FALSE(codec::model<Address>);
    STATIC_REQUIRE_FALSE(codec::structure<std::string>);
    STATIC_REQUIRE(codec::model_traits<User>::collection == "users");
    STATIC_REQUIRE(std::is_same_v<codec::model_traits<User>::id_type, std::string>);
    STATIC_REQUIRE(std::is_same_v<codec::model_traits<Everything>::id_type, bs::object_id>);
    STATIC_REQUIRE(codec::field_name(&User::id) == "_id");
    STATIC_REQUIRE(codec::field_name(&User::email) == "email");
    STATIC_REQUIRE(codec::field_name(&Everything::top) == "t");
    STATIC_REQUIRE(codec::model_traits<User>::has_version);
    STATIC_REQUIRE(codec::model_traits<User>::version_index == 5);
    STATIC_REQUIRE_FALSE(codec::model_traits<Flags>::has_version);
    STATIC_REQUIRE(codec::struct_traits<Strict>::strict);
    STATIC_REQUIRE_FALSE(codec::struct_traits<Lenient>::strict);

    User u{"1", "John", "j@x", {}, {}, 3};
    codec::model_traits<User>::id(u) = "2";
    CHECK(u.id == "2");

    std::vector<std::string> names;
    std::vector<bool> version_flags;
    codec::for_each_field<User>([&](const auto& f) {
        names.emplace_back(f.name);
        version_flags.push_back(f.has(field_flags::version));
    });
    CHECK(names == std::vector<std::string>{"_id", "name", "email", "address", "tags", "version"});
    CHECK(version_flags == std::vector<bool>{false, false, false, false, false, true});
}

TEST_CASE("codec: user round trip and exact encoding", "[codec]") {
    User u{"1", "John", "john@example.com", {"Main St", "Springfield", std::nullopt}, {"a", "b"}, 7};
    auto doc = codec::encode(u);
    CHECK(doc.to_json() ==
          R"({ "_id" : "1", "name" : "John", "email" : "john@example.com", "address" : { "street" : "Main St", "city" : "Springfield", "zip" : null }, "tags" : [ "a", "b" ], "version" : 7 })");
    auto back = codec::decode<User>(doc.view());
    CHECK(back == u);

    // encode_into appends to an existing document (the OP_MSG hot path).
    bs::document pre;
    bson_append_int32(pre.get(), "x", 1, 1);
    REQUIRE_FALSE(codec::encode_into(pre.get(), u));
    CHECK(pre.to_json().rfind(R"({ "x" : 1, "_id" : "1", )", 0) == 0);
}

TEST_CASE("codec: every supported type round-trips", "[codec]") {
    Everything e;
    e.id = bs::object_id::generate();
    e.s = "héllo";
    e.b = true;
    e.i32 = -5;
    e.i64 = 1LL << 40;
    e.d = 2.5;
    e.color = Color::blue;
    e.level = Level::high;
    e.opt_set = 9;
    e.nums = {1, 2, 3};
    e.nested_vec = {{"a"}, {}, {"b", "c"}};
    e.counts = {{"x", 1}, {"y", 2}};
    e.places = {{"home", {"h", "c", "123"}}};
    e.addresses = {{"s1", "c1", std::nullopt}, {"s2", "c2", "z2"}};
    e.when = std::chrono::system_clock::time_point(1700000000123ms);
    e.bin = {BSON_SUBTYPE_UUID, {1, 2, 3, 4}};
    e.dec = bs::decimal128::from_string("123.456");
    e.raw = bs::document::from_json(R"({"free": [1, "two"]})");
    e.any = bs::value("str");
    e.any_doc = bs::value(bs::document::from_json(R"({"k": 1})"));
    e.top.mid.leaf.n = 1;
    e.top.mid.leaves = {{2}, {3}};
    e.top.maybe = Mid{{4}, {{5}}};

    auto doc = codec::encode(e);
    auto back = codec::decode<Everything>(doc.view());
    CHECK(back == e);
    CHECK(codec::encode(back) == doc);

    // Types on the wire.
    auto type_of = [&](const char* path) {
        auto it = doc.find(path);
        REQUIRE(it);
        return bson_iter_type(&*it);
    };
    CHECK(type_of("_id") == BSON_TYPE_OID);
    CHECK(type_of("i32") == BSON_TYPE_INT32);
    CHECK(type_of("i64") == BSON_TYPE_INT64);
    CHECK(type_of("level") == BSON_TYPE_INT32);
    CHECK(type_of("color") == BSON_TYPE_UTF8);
    CHECK(type_of("opt_null") == BSON_TYPE_NULL);
    CHECK(type_of("when") == BSON_TYPE_DATE_TIME);
    CHECK(type_of("bin") == BSON_TYPE_BINARY);
    CHECK(type_of("dec") == BSON_TYPE_DECIMAL128);
    CHECK(type_of("t.maybe.leaves.0.n") == BSON_TYPE_INT32);
    auto color = doc.find("color");
    CHECK(std::string(bson_iter_utf8(&*color, nullptr)) == "blue");
    auto level = doc.find("level");
    CHECK(bson_iter_int32(&*level) == 5);
}

TEST_CASE("codec: optional absent vs null", "[codec]") {
    Address a;
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"street": "s", "city": "c"})").view(), a));
    CHECK_FALSE(a.zip);
    a.zip = "x";
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"street": "s", "city": "c", "zip": null})").view(), a));
    CHECK_FALSE(a.zip);
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"street": "s", "city": "c", "zip": "z"})").view(), a));
    CHECK(a.zip == "z");
    // null into a non-optional is a mismatch
    CHECK(decode_error<Address>(R"({"street": null, "city": "c"})") == "street: expected string, got null");
}

TEST_CASE("codec: nesting at depth 3 and vectors of structs", "[codec]") {
    Top t{{{1}, {{2}, {3}, {4}}}, Mid{{5}, {}}};
    auto doc = codec::encode(t);
    CHECK(doc.to_json() ==
          R"({ "mid" : { "leaf" : { "n" : 1 }, "leaves" : [ { "n" : 2 }, { "n" : 3 }, { "n" : 4 } ] }, "maybe" : { "leaf" : { "n" : 5 }, "leaves" : [  ] } })");
    CHECK(codec::decode<Top>(doc.view()) == t);
    CHECK(decode_error<Top>(R"({"mid": {"leaf": {"n": 1}, "leaves": [{"n": 1}, {"n": "x"}]}})") ==
          "mid.leaves.1.n: expected int32, got string");
    CHECK(decode_error<Top>(R"({"mid": {"leaf": {}, "leaves": []}})") == "mid.leaf.n: missing required field");

    // Decoding into a populated object shrinks vectors and reuses elements.
    Top into = t;
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"mid": {"leaf": {"n": 9}, "leaves": [{"n": 8}]}})").view(), into));
    CHECK(into.mid.leaves == std::vector<Leaf>{{8}});
    CHECK_FALSE(into.maybe);
}

TEST_CASE("codec: decode error messages carry the full path and both types", "[codec]") {
    CHECK(decode_error<User>(R"({"_id": "1", "name": "n", "email": "e", "address": {"street": "s", "city": "c", "zip": 5}, "tags": [], "version": 1})") ==
          "address.zip: expected string, got int32");
    CHECK(decode_error<User>(R"({"_id": "1", "name": "n", "email": "e", "address": {"street": "s", "city": "c"}, "tags": ["a", "b", "c", 1.5], "version": 1})") ==
          "tags.3: expected string, got double");
    CHECK(decode_error<User>(R"({"_id": "1", "name": "n", "address": {"street": "s", "city": "c"}, "tags": [], "version": 1})") ==
          "email: missing required field");
    CHECK(decode_error<User>(R"({"_id": "1", "name": "n", "email": "e", "address": [], "tags": [], "version": 1})") ==
          "address: expected document, got array");
    CHECK(decode_error<Everything>(R"({"color": "purple"})") == "color: unknown enum value 'purple'");
    CHECK(decode_error<Everything>(R"({"counts": {"a": 1, "b": true}})") == "counts.b: expected int32, got bool");

    morm::diagnostics diag;
    Lenient l;
    std::uint8_t junk[] = {3, 0, 0, 0};
    CHECK(codec::decode(junk, sizeof junk, l, &diag) == morm::errc::decode_error);

    try {
        codec::decode<Address>(bs::document::from_json(R"({"street": 1})").view());
        FAIL("no throw");
    } catch (const morm::error& e) {
        CHECK(e.code() == morm::errc::decode_error);
        CHECK(e.diag().message == "street: expected string, got int32");
    }
}

TEST_CASE("codec: numeric widening and narrowing", "[codec]") {
    Wide w;
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"i32": {"$numberLong": "7"}, "i64": 5, "d": 3})").view(), w));
    CHECK(w.i32 == 7);
    CHECK(w.i64 == 5);
    CHECK(w.d == 3.0);
    CHECK(decode_error<Wide>(R"({"i32": {"$numberLong": "4294967296"}, "i64": 5, "d": 3})") ==
          "i32: expected int32, got int64 4294967296 (out of range)");
    CHECK(decode_error<Wide>(R"({"i32": 1, "i64": 1.5, "d": 3})") == "i64: expected int64, got double");
    CHECK(decode_error<Wide>(R"({"i32": 1, "i64": 1, "d": "x"})") == "d: expected double, got string");
    CHECK(decode_error<Wide>(R"({"i32": 1.0, "i64": 1, "d": 1})") == "i32: expected int32, got double");
}

TEST_CASE("codec: enums both ways", "[codec]") {
    Everything e;
    e.color = Color::green;
    e.level = Level::high;
    auto doc = codec::encode(e);
    auto back = codec::decode<Everything>(doc.view());
    CHECK(back.color == Color::green);
    CHECK(back.level == Level::high);
    CHECK(decode_error<Everything>(R"({"color": 1})") == "color: expected string, got int32");
    // an enum value without a declared string cannot be encoded
    e.color = static_cast<Color>(42);
    morm::diagnostics diag;
    bs::document out;
    CHECK(codec::encode_into(out.get(), e, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "color: enum value 42 has no declared string");
}

TEST_CASE("codec: datetime keeps millisecond precision", "[codec]") {
    Everything e;
    e.when = std::chrono::system_clock::time_point(1700000000123456us);
    auto back = codec::decode<Everything>(codec::encode(e).view());
    CHECK(back.when == std::chrono::system_clock::time_point(1700000000123ms));
    // before the epoch floors, not truncates toward zero
    e.when = std::chrono::system_clock::time_point(-1500us);
    auto doc = codec::encode(e);
    auto when = doc.find("when");
    REQUIRE(when);
    CHECK(bson_iter_date_time(&*when) == -2);
}

TEST_CASE("codec: strict mode and extra fields", "[codec]") {
    auto doc = bs::document::from_json(R"({"a": 1, "zz": 2})");
    Lenient l;
    CHECK_FALSE(codec::decode(doc.view(), l));
    CHECK(l.a == 1);
    CHECK(decode_error<Strict>(R"({"a": 1, "zz": 2})") == "zz: unknown field");

    auto src = bs::document::from_json(R"({"x": 1, "name": "n", "y": {"z": [1]}})");
    auto ex = codec::decode<Extra>(src.view());
    CHECK(ex.name == "n");
    CHECK(ex.rest.to_json() == R"({ "x" : 1, "y" : { "z" : [ 1 ] } })");
    CHECK(codec::encode(ex).to_json() == R"({ "name" : "n", "x" : 1, "y" : { "z" : [ 1 ] } })");
}

TEST_CASE("codec: extra fields are collected in document order, in runs", "[codec]") {
    // Adjacent unknown elements are copied as one run; runs before, between and after the
    // declared field, and runs that outgrow the inline bson_t, must all land in order.
    std::string json = R"({"a": 1, "b": "two", "name": "n", "c": {"d": [1, 2]}, "e": null)";
    std::string expected = R"({ "a" : 1, "b" : "two", "c" : { "d" : [ 1, 2 ] }, "e" : null)";
    for (int i = 0; i < 40; ++i) {
        json += ", \"k" + std::to_string(i) + "\": \"value number " + std::to_string(i) + "\"";
        expected += ", \"k" + std::to_string(i) + "\" : \"value number " + std::to_string(i) + "\"";
    }
    json += "}";
    expected += " }";
    auto src = bs::document::from_json(json);
    Extra ex;
    ex.rest = bs::document::from_json(R"({"old": 1})");
    REQUIRE_FALSE(codec::decode(src.view(), ex));
    CHECK(ex.name == "n");
    CHECK(ex.rest.to_json() == expected);
    CHECK(bson_validate(ex.rest.get(), BSON_VALIDATE_NONE, nullptr));
    // Decoding again into the same object replaces the collected fields.
    REQUIRE_FALSE(codec::decode(src.view(), ex));
    CHECK(ex.rest.to_json() == expected);
    auto only = bs::document::from_json(R"({"name": "m", "z": 1})");
    REQUIRE_FALSE(codec::decode(only.view(), ex));
    CHECK(ex.rest.to_json() == R"({ "z" : 1 })");
}

TEST_CASE("codec: bson::value::assign equals from_iter for every type, reusing one value", "[codec]") {
    auto src = bs::document::from_json(R"j({"i": 1, "l": {"$numberLong": "5000000000"}, "d": 2.5, "b": true,
        "t": {"$date": {"$numberLong": "1367366400000"}}, "n": null, "mn": {"$minKey": 1}, "s": "str",
        "mx": {"$maxKey": 1}, "o": {"$oid": "be5e1052cd2d26df5bc34626"}, "doc": {"a": [1]}, "arr": [1, "x"],
        "bin": {"$binary": {"base64": "AAEC", "subType": "00"}}, "re": {"$regularExpression": {"pattern": "p", "options": "i"}},
        "c": {"$code": "f()"}, "ts": {"$timestamp": {"t": 7, "i": 1}}, "dec": {"$numberDecimal": "1.5"},
        "i2": 3, "s2": "again"})j");
    bson_iter_t it;
    REQUIRE(bson_iter_init(&it, src.get()));
    bs::value v;
    int n = 0;
    while (bson_iter_next(&it)) {
        v.assign(it);
        CHECK(v == bs::value::from_iter(it));
        CHECK(v.type() == bson_iter_type(&it));
        ++n;
    }
    CHECK(n == 19);
}

TEST_CASE("codec: vectors of scalars reserve once and still fit any length", "[codec]") {
    for (int n : {0, 1, 2, 9, 10, 11, 100, 1000}) {
        std::string arr = "[";
        for (int i = 0; i < n; ++i) arr += (i ? ", " : "") + std::to_string(i * 1000003);
        arr += "]";
        auto src = bs::document::from_json(R"({"v": )" + arr + R"(, "w": )" + arr + "}");
        ScalarVectors v;
        v.w = {7, 7, 7};
        REQUIRE_FALSE(codec::decode(src.view(), v));
        REQUIRE(v.v.size() == static_cast<std::size_t>(n));
        REQUIRE(v.w.size() == static_cast<std::size_t>(n));
        for (std::size_t i = 0; i < v.v.size(); ++i) {
            CHECK(v.v[i] == static_cast<std::int32_t>(i) * 1000003);
            CHECK(v.w[i] == static_cast<std::int64_t>(i) * 1000003);
        }
    }
}

TEST_CASE("codec: field flags", "[codec]") {
    Flags f;
    f.id = "i";
    f.must = 1;
    CHECK(enc_json(f) == R"({ "_id" : "i", "must" : 1, "keep" : 42 })");
    f.empty_str = "x";
    f.empty_vec = {1};
    f.none = 2;
    CHECK(enc_json(f) == R"({ "_id" : "i", "es" : "x", "ev" : [ 1 ], "none" : 2, "must" : 1, "keep" : 42 })");

    Flags g;
    g.empty_str = "old";
    g.empty_vec = {9};
    g.keep = 7;
    REQUIRE_FALSE(codec::decode(bs::document::from_json(R"({"_id": "i", "must": null})").view(), g));
    CHECK(g.empty_str.empty());  // omit_empty + absent = empty
    CHECK(g.empty_vec.empty());
    CHECK(g.keep == 7);  // optional_on_decode keeps the current value
    CHECK_FALSE(g.must);
    CHECK(decode_error<Flags>(R"({"_id": "i"})") == "must: missing required field");
}

TEST_CASE("codec: invalid strings and keys are rejected on encode", "[codec]") {
    morm::diagnostics diag;
    bs::document out;
    Address bad{"ok", "\xff\xfe", std::nullopt};
    CHECK(codec::encode_into(out.get(), bad, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "city: invalid UTF-8 in string");

    MapHolder m;
    m.m = {{"$where", "x"}};
    bs::document o1;
    CHECK(codec::encode_into(o1.get(), m, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "m.$where: key '$where' starts with '$'");
    m.m = {{"a.b", "x"}};
    bs::document o2;
    CHECK(codec::encode_into(o2.get(), m, &diag) == morm::errc::encode_error);
    CHECK(diag.message == "m.a.b: key 'a.b' contains '.'");
    m.m = {{std::string("a\0b", 3), "x"}};
    bs::document o3;
    CHECK(codec::encode_into(o3.get(), m, &diag) == morm::errc::encode_error);
    m.m = {{"fine", "x"}};
    CHECK_NOTHROW(codec::encode(m));
    CHECK_THROWS_AS(codec::encode(bad), morm::error);
}

TEST_CASE("codec: documents over 16 MiB are rejected", "[codec]") {
    Big b{std::string(codec::max_document_size, 'x')};
    morm::diagnostics diag;
    bs::document out;
    CHECK(codec::encode_into(out.get(), b, &diag) == morm::errc::document_too_large);
    CHECK(diag.message.find("exceeds") != std::string::npos);
    Big ok{std::string(codec::max_document_size - 100, 'x')};
    bs::document out2;
    CHECK_FALSE(codec::encode_into(out2.get(), ok));
}

TEST_CASE("codec: encode_value for single values", "[codec]") {
    bs::document d;
    REQUIRE_FALSE(codec::encode_value(d.get(), "name", "John"));
    REQUIRE_FALSE(codec::encode_value(d.get(), "$in", std::vector<std::int64_t>{1, 2}));
    REQUIRE_FALSE(codec::encode_value(d.get(), "address.city", std::string("C")));
    REQUIRE_FALSE(codec::encode_value(d.get(), "c", Color::red));
    REQUIRE_FALSE(codec::encode_value(d.get(), "a", Address{"s", "c", "z"}));
    CHECK(d.to_json() ==
          R"({ "name" : "John", "$in" : [ 1, 2 ], "address.city" : "C", "c" : "red", "a" : { "street" : "s", "city" : "c", "zip" : "z" } })");
    morm::diagnostics diag;
    CHECK(codec::encode_value(d.get(), "k", std::string("\xc3"), &diag) == morm::errc::encode_error);
    CHECK(diag.message == "k: invalid UTF-8 in string");
}
