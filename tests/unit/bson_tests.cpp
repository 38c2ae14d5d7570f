#include <morm/bson.hpp>
#include <morm/error.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <set>
#include <sys/wait.h>
#include <unistd.h>
#include <thread>
#include <unordered_set>
#include <vector>

using namespace morm::bson;

TEST_CASE("document: default, from_json, to_json, equality", "[bson]") {
    document empty;
    CHECK(empty.empty());
    CHECK(empty.size() == 5);
    CHECK(empty.to_json() == "{ }");

    auto d = document::from_json(R"({"a": 1, "b": {"c": [1, 2, {"d": "x"}]}, "n": {"$numberLong": "5"}})");
    CHECK_FALSE(d.empty());
    CHECK(d.view().valid());
    CHECK(d.to_json() == R"({ "a" : 1, "b" : { "c" : [ 1, 2, { "d" : "x" } ] }, "n" : 5 })");
    CHECK(d.to_json(json_mode::canonical) ==
          R"({ "a" : { "$numberInt" : "1" }, "b" : { "c" : [ { "$numberInt" : "1" }, { "$numberInt" : "2" }, { "d" : "x" } ] }, "n" : { "$numberLong" : "5" } })");
    CHECK(fmt::format("{}", d) == d.to_json());
    CHECK(fmt::format("{}", d.view()) == d.to_json());

    auto d2 = document::from_json(R"({"a": 1, "b": {"c": [1, 2, {"d": "x"}]}, "n": {"$numberLong": "5"}})");
    CHECK(d == d2);
    CHECK_FALSE(d == document::from_json(R"({"a": 2})"));

    CHECK_THROWS_AS(document::from_json("{not json"), morm::error);
    try {
        document::from_json("{\"a\": ");
        FAIL("no throw");
    } catch (const morm::error& e) {
        CHECK(e.code() == morm::errc::invalid_argument);
    }
}

TEST_CASE("document: relaxed JSON of dates after year 9999 reads back (fuzz finding)", "[bson]") {
    using morm::bson::document;
    using morm::bson::json_mode;
    // libbson 1.23 prints these as 5-digit-year ISO strings that it cannot parse; Extended
    // JSON's relaxed form keeps ISO for 1970..9999 only.
    const auto d = document::from_json(R"({"max": {"$date": {"$numberLong": "9223372036854775807"}},
        "y10000": {"$date": {"$numberLong": "253402300800000"}},
        "y18029": {"$date": {"$numberLong": "506804601598000"}},
        "y9999": {"$date": {"$numberLong": "253402300799999"}},
        "s": "\"$date\" : \"12345-01-01T00:00:00Z\""})");
    const std::string relaxed = d.to_json(json_mode::relaxed);
    CHECK(relaxed.find(R"("max" : { "$date" : { "$numberLong" : "9223372036854775807" } })") != std::string::npos);
    CHECK(relaxed.find(R"("y10000" : { "$date" : { "$numberLong" : "253402300800000" } })") != std::string::npos);
    CHECK(relaxed.find(R"("y9999" : { "$date" : "9999-12-31T23:59:59.999Z" })") != std::string::npos);
    const auto back = document::from_json(relaxed);
    CHECK(back.to_json(json_mode::canonical) == d.to_json(json_mode::canonical));
}

TEST_CASE("document: copy and move, inline and heap storage", "[bson]") {
    std::string big = R"({"s": ")" + std::string(1000, 'x') + "\"}";
    for (auto json : {std::string(R"({"a": 1})"), big}) {
        auto d = document::from_json(json);
        document c = d;
        CHECK(c == d);
        CHECK(c.data() != d.data());
        document m = std::move(c);
        CHECK(m == d);
        CHECK(c.empty());  // moved-from is a valid empty document
        bson_append_int32(c.get(), "z", 1, 7);
        CHECK(c.to_json() == R"({ "z" : 7 })");
        document a;
        a = m;
        CHECK(a == d);
        a = std::move(m);
        CHECK(a == d);
        // The moved-into document must stay appendable (heap bookkeeping re-pointed).
        bson_append_int32(a.get(), "y", 1, 1);
        CHECK(a.find("y").has_value());
    }
}

TEST_CASE("document: from_bytes validates", "[bson]") {
    auto d = document::from_json(R"({"a": "b"})");
    auto c = document::from_bytes(d.data(), d.size());
    CHECK(c == d);
    std::vector<std::uint8_t> bad(d.data(), d.data() + d.size());
    bad[4] = 0x7F;  // unknown element type
    CHECK_FALSE(document_view(bad.data(), bad.size()).valid());
    CHECK_THROWS_AS(document::from_bytes(bad.data(), bad.size()), morm::error);
    CHECK_THROWS_AS(document::from_bytes(d.data(), d.size() - 1), morm::error);
    // invalid UTF-8 in a string value
    bson_t b = BSON_INITIALIZER;
    bson_append_utf8(&b, "k", 1, "\xff\xfe", 2);
    CHECK_FALSE(document_view(&b).valid());
    bson_destroy(&b);
}

TEST_CASE("document_view: find and iteration", "[bson]") {
    auto d = document::from_json(R"({"a": 1, "b": {"c": [10, 20, {"d": "x"}]}})");
    auto v = d.view();
    auto a = v.find("a");
    REQUIRE(a);
    CHECK(bson_iter_int32(&*a) == 1);
    auto c1 = v.find("b.c.1");
    REQUIRE(c1);
    CHECK(bson_iter_int32(&*c1) == 20);
    auto dd = v.find("b.c.2.d");
    REQUIRE(dd);
    CHECK(std::string(bson_iter_utf8(&*dd, nullptr)) == "x");
    CHECK_FALSE(v.find("b.x"));
    CHECK_FALSE(v.find("zz"));

    std::vector<std::string> keys;
    for (const bson_iter_t& it : v) keys.emplace_back(bson_iter_key(&it));
    CHECK(keys == std::vector<std::string>{"a", "b"});
    int n = 0;
    for ([[maybe_unused]] auto& it : document().view()) ++n;
    CHECK(n == 0);
}

TEST_CASE("object_id: hex round trip and parse errors", "[bson]") {
    auto id = object_id::from_hex("507f1f77bcf86cd799439011");
    CHECK(id.to_hex() == "507f1f77bcf86cd799439011");
    CHECK(object_id::from_hex("507F1F77BCF86CD799439011") == id);
    CHECK(fmt::format("{}", id) == "507f1f77bcf86cd799439011");
    CHECK_FALSE(object_id::parse_hex("507f1f77bcf86cd79943901"));
    CHECK_FALSE(object_id::parse_hex("507f1f77bcf86cd79943901g"));
    CHECK_THROWS_AS(object_id::from_hex("xyz"), morm::error);
    CHECK(object_id().is_zero());
    CHECK_FALSE(id.is_zero());
    // timestamp is the first 4 bytes big-endian: 0x507f1f77 = 1350508407
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(id.timestamp().time_since_epoch()).count() == 1350508407);

    bson_oid_t raw;
    bson_oid_init_from_string(&raw, "507f1f77bcf86cd799439011");
    CHECK(object_id(raw) == id);
    bson_oid_t back = id;
    CHECK(bson_oid_equal(&raw, &back));

    auto id2 = object_id::from_hex("507f1f77bcf86cd799439012");
    CHECK(id < id2);
    CHECK(id != id2);
    CHECK(std::hash<object_id>{}(id) != std::hash<object_id>{}(id2));
}

TEST_CASE("object_id: generate follows the spec", "[bson]") {
    auto before = std::chrono::system_clock::now() - std::chrono::seconds(1);
    auto a = object_id::generate();
    auto b = object_id::generate();
    auto after = std::chrono::system_clock::now() + std::chrono::seconds(1);
    CHECK(a.timestamp() >= before);
    CHECK(a.timestamp() <= after);
    // same process: same 5-byte random value
    CHECK(std::equal(a.bytes().begin() + 4, a.bytes().begin() + 9, b.bytes().begin() + 4));
    // 3-byte big-endian counter increments by one (mod 2^24)
    auto counter = [](const object_id& o) {
        return (std::uint32_t(o.bytes()[9]) << 16) | (std::uint32_t(o.bytes()[10]) << 8) | o.bytes()[11];
    };
    CHECK(counter(b) == ((counter(a) + 1) & 0xFFFFFF));
    CHECK(a != b);
}

TEST_CASE("object_id: a forked child draws a new random value", "[bson]") {
    auto parent = object_id::generate();
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto child = object_id::generate();
        ssize_t n = write(fds[1], child.bytes().data(), object_id::size);
        _exit(n == object_id::size ? 0 : 1);
    }
    std::array<std::uint8_t, object_id::size> got{};
    REQUIRE(read(fds[0], got.data(), got.size()) == ssize_t(got.size()));
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    CHECK_FALSE(std::equal(got.begin() + 4, got.begin() + 9, parent.bytes().begin() + 4));
}

TEST_CASE("object_id: unique across threads", "[bson]") {
    constexpr int threads = 4, per = 20000;
    std::vector<std::vector<object_id>> out(threads);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            out[t].reserve(per);
            for (int i = 0; i < per; ++i) out[t].push_back(object_id::generate());
        });
    for (auto& t : ts) t.join();
    std::unordered_set<object_id> all;
    for (auto& v : out) all.insert(v.begin(), v.end());
    CHECK(all.size() == std::size_t(threads * per));
}

TEST_CASE("decimal128, binary, value", "[bson]") {
    auto d = decimal128::from_string("1.25");
    CHECK(d.to_string() == "1.25");
    CHECK(fmt::format("{}", d) == "1.25");
    CHECK(d == decimal128::from_string("1.25"));
    CHECK_FALSE(d == decimal128::from_string("1.250"));
    CHECK(decimal128().to_string() == "0");
    CHECK_THROWS_AS(decimal128::from_string("abc"), morm::error);

    binary b1{BSON_SUBTYPE_UUID, {1, 2, 3}};
    binary b2{BSON_SUBTYPE_UUID, {1, 2, 3}};
    CHECK(b1 == b2);
    b2.subtype = 0;
    CHECK_FALSE(b1 == b2);

    value n;
    CHECK(n.is_null());
    CHECK(n.to_json() == "null");
    value i{std::int32_t(5)};
    CHECK(i.type() == BSON_TYPE_INT32);
    CHECK(i.to_json() == "5");
    CHECK(i.to_json(json_mode::canonical) == R"({ "$numberInt" : "5" })");
    CHECK_FALSE(i == value{std::int64_t(5)});
    value s{"hé"};
    CHECK(s.to_json() == "\"hé\"");
    value s2 = s;
    CHECK(s2 == s);
    value s3 = std::move(s2);
    CHECK(s3 == s);
    CHECK(s2.is_null());
    s2 = s3;
    CHECK(s2 == s3);
    value doc{document::from_json(R"({"x": [1]})")};
    CHECK(doc.type() == BSON_TYPE_DOCUMENT);
    CHECK(doc.to_json() == R"({ "x" : [ 1 ] })");
    CHECK(fmt::format("{}", doc) == doc.to_json());

    auto src = document::from_json(R"({"k": {"$date": "2020-01-01T00:00:00Z"}})");
    auto it = src.find("k");
    REQUIRE(it);
    auto dv = value::from_iter(*it);
    CHECK(dv.type() == BSON_TYPE_DATE_TIME);
    document out;
    dv.append_to(out.get(), "k");
    CHECK(out == src);
}

namespace {

// {c: Code("a\0b"), w: CodeWScope("x\0y", {n: 1})}, laid out by hand: libbson cannot build it.
const std::vector<std::uint8_t> code_nul_fixture = {
    43, 0, 0, 0,                                        // document length
    0x0D, 'c', 0, 4, 0, 0, 0, 'a', 0, 'b', 0,           // code: int32 length, "a\0b", NUL
    0x0F, 'w', 0, 24, 0, 0, 0,                          // code_w_scope: int32 total
    4, 0, 0, 0, 'x', 0, 'y', 0,                         //   string "x\0y"
    12, 0, 0, 0, 0x10, 'n', 0, 1, 0, 0, 0, 0,           //   scope {n: 1}
    0};

document_view code_nul_view() { return {code_nul_fixture.data(), code_nul_fixture.size()}; }

std::vector<std::uint8_t> bytes_of(document_view d) { return {d.data(), d.data() + d.size()}; }

}  // namespace

TEST_CASE("value: code and code_w_scope keep NUL bytes through decode, copy and encode", "[bson]") {
    REQUIRE(code_nul_view().valid());
    CHECK(bytes_of(document::from_bytes(code_nul_view())) == code_nul_fixture);

    document out;
    for (const bson_iter_t& it : code_nul_view()) {
        value v = value::from_iter(it);
        value copy = v;
        value assigned;
        assigned = copy;
        CHECK(assigned == v);
        REQUIRE(assigned.append_to(out.get(), bson_iter_key(&it)));
    }
    CHECK(bytes_of(out) == code_nul_fixture);

    value c = value::from_iter(*code_nul_view().find("c"));
    CHECK(std::string(c.get().value.v_code.code, c.get().value.v_code.code_len) == std::string("a\0b", 3));
}

TEST_CASE("value: equality sees code bytes after a NUL", "[bson]") {
    auto other = code_nul_fixture;
    other[13] = 'B';  // "a\0B"
    other[28] = 'Y';  // "x\0Y"
    document_view ov(other.data(), other.size());
    for (const char* key : {"c", "w"}) {
        value a = value::from_iter(*code_nul_view().find(key));
        value b = value::from_iter(*ov.find(key));
        CHECK(a == value::from_iter(*code_nul_view().find(key)));
        CHECK_FALSE(a == b);
    }
}

TEST_CASE("to_json: code and code_w_scope escape NUL as \\u0000", "[bson]") {
    auto c = value::from_iter(*code_nul_view().find("c"));
    auto w = value::from_iter(*code_nul_view().find("w"));
    CHECK(c.to_json() == R"({ "$code" : "a\u0000b" })");
    CHECK(w.to_json(json_mode::canonical) ==
          R"({ "$code" : "x\u0000y", "$scope" : { "n" : { "$numberInt" : "1" } } })");
    CHECK(w.to_json() == R"({ "$code" : "x\u0000y", "$scope" : { "n" : 1 } })");
    CHECK(code_nul_view().to_json() ==
          R"({ "c" : { "$code" : "a\u0000b" }, "w" : { "$code" : "x\u0000y", "$scope" : { "n" : 1 } } })");
}

TEST_CASE("document::from_json keeps NUL bytes in $code", "[bson]") {
    for (auto mode : {json_mode::relaxed, json_mode::canonical})
        CHECK(bytes_of(document::from_json(code_nul_view().to_json(mode))) == code_nul_fixture);

    auto code_of = [](const document& d, const char* path) {
        auto it = d.find(path);
        REQUIRE(it);
        uint32_t len = 0, scope_len = 0;
        const std::uint8_t* scope = nullptr;
        const char* s = bson_iter_type(&*it) == BSON_TYPE_CODE ? bson_iter_code(&*it, &len)
                                                                : bson_iter_codewscope(&*it, &len, &scope_len, &scope);
        return std::string(s, len);
    };
    // $scope before $code; a code with a NUL inside the scope of another.
    auto w = document::from_json(R"({"w": {"$scope": {"f": {"$code": "p\u0000q"}}, "$code": "x\u0000y"}})");
    CHECK(code_of(w, "w") == std::string("x\0y", 3));
    CHECK(w.to_json() == R"({ "w" : { "$code" : "x\u0000y", "$scope" : { "f" : { "$code" : "p\u0000q" } } } })");

    // An escaped backslash is not a NUL escape; strings outside $code keep their NULs as before.
    auto lit = document::from_json(R"({"c": {"$code": "a\\u0000b\u0000"}, "s": "p\u0000q"})");
    CHECK(code_of(lit, "c") == std::string("a\\u0000b\0", 9));
    auto ls = lit.find("s");
    REQUIRE(ls);
    CHECK(std::string(bson_iter_utf8(&*ls, nullptr), 3) == std::string("p\0q", 3));

    // The input already uses the first private-use code points, raw and escaped.
    auto pua = document::from_json("{\"c\": {\"$code\": \"\xEE\x80\x80\\u0000\\uE001\\ue002\"}}");
    CHECK(code_of(pua, "c") == std::string("\xEE\x80\x80\0\xEE\x80\x81\xEE\x80\x82", 10));

    // "$code" with a foreign sibling is a plain sub-document; its string keeps the NUL.
    auto plain = document::from_json(R"({"d": {"x": 1, "$code": "a\u0000b"}})");
    auto s = plain.find("d.$code");
    REQUIRE(s);
    REQUIRE(bson_iter_type(&*s) == BSON_TYPE_UTF8);
    uint32_t len = 0;
    const char* str = bson_iter_utf8(&*s, &len);
    CHECK(std::string(str, len) == std::string("a\0b", 3));
}

TEST_CASE("append_code, append_code_w_scope, append_value: every byte, also inside a child", "[bson]") {
    document scope = document::from_json(R"({"n": 1})");
    document out;
    REQUIRE(append_code(out.get(), "c", std::string_view("a\0b", 3)));
    REQUIRE(append_code_w_scope(out.get(), "w", std::string_view("x\0y", 3), scope));
    CHECK(bytes_of(out) == code_nul_fixture);

    // Into a sub-document being built: the parent's length must follow.
    document nested;
    bson_t child;
    REQUIRE(bson_append_document_begin(nested.get(), "d", 1, &child));
    for (const bson_iter_t& it : code_nul_view())
        REQUIRE(append_value(&child, bson_iter_key(&it), *bson_iter_value(const_cast<bson_iter_t*>(&it))));
    REQUIRE(bson_append_document_end(nested.get(), &child));
    REQUIRE(nested.view().valid());
    auto d = nested.find("d");
    REQUIRE(d);
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&*d, &len, &data);
    CHECK(std::vector<std::uint8_t>(data, data + len) == code_nul_fixture);

    // An empty scope stays code with scope; a key with a NUL cannot be written.
    document empty_scope;
    REQUIRE(append_code_w_scope(empty_scope.get(), "w", "f()", document()));
    CHECK(empty_scope.to_json() == R"j({ "w" : { "$code" : "f()", "$scope" : { } } })j");
    CHECK_FALSE(append_code(out.get(), std::string_view("k\0", 2), "f()"));
    CHECK_FALSE(append_code_w_scope(out.get(), "k", "f()", document_view()));
    CHECK(bytes_of(out) == code_nul_fixture);
}
