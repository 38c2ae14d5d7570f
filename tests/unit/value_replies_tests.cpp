// distinct / count reply parsing: a reply without the value is a protocol error, never
// an empty result. No server.
#include <morm/bson/document.hpp>
#include <morm/error.hpp>
#include <morm/wire/value_replies.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using namespace morm;
using bson::document;

TEST_CASE("distinct reply: values are copied; missing or non-array values is a protocol error", "[unit][wire]") {
    diagnostics d;
    std::vector<bson::value> out;
    auto ok = document::from_json(R"({"values": [1, "a"], "ok": 1})");
    REQUIRE_FALSE(wire::parse_distinct_reply(ok.get(), out, d));
    REQUIRE(out.size() == 2);
    CHECK(out[1].to_json() == R"("a")");

    auto empty = document::from_json(R"({"values": [], "ok": 1})");
    REQUIRE_FALSE(wire::parse_distinct_reply(empty.get(), out, d));
    CHECK(out.empty());

    auto missing = document::from_json(R"({"ok": 1})");
    auto ec = wire::parse_distinct_reply(missing.get(), out, d);
    CHECK(ec == errc::protocol);
    CHECK(d.message.find("'values'") != std::string::npos);

    auto scalar = document::from_json(R"({"values": 3, "ok": 1})");
    ec = wire::parse_distinct_reply(scalar.get(), out, d);
    CHECK(ec == errc::protocol);
    CHECK(d.message.find("not an array") != std::string::npos);
}

TEST_CASE("count reply: n is read; missing or non-numeric n is a protocol error", "[unit][wire]") {
    diagnostics d;
    std::int64_t n = -1;
    auto ok = document::from_json(R"({"n": 7, "ok": 1})");
    REQUIRE_FALSE(wire::parse_count_reply(ok.get(), n, d));
    CHECK(n == 7);
    auto missing = document::from_json(R"({"ok": 1})");
    CHECK(wire::parse_count_reply(missing.get(), n, d) == errc::protocol);
    auto text = document::from_json(R"({"n": "7", "ok": 1})");
    CHECK(wire::parse_count_reply(text.get(), n, d) == errc::protocol);
}
