// BSON validation (morm's own, iterative and depth-bounded), validation of every reply
// document at network ingress, and dates outside the range of a time_point's duration.
// Byte fixtures are built here, one per decode-error category of the BSON specification.
#include <morm/bson/document.hpp>
#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/model.hpp>
#include <morm/error.hpp>
#include <morm/wire/op_msg.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using bytes = std::vector<std::uint8_t>;
namespace bs = morm::bson;

namespace {

// --- fixture builders ----------------------------------------------------------------------

bytes i32(std::int32_t v) {
    auto u = static_cast<std::uint32_t>(v);
    return {static_cast<std::uint8_t>(u), static_cast<std::uint8_t>(u >> 8), static_cast<std::uint8_t>(u >> 16),
            static_cast<std::uint8_t>(u >> 24)};
}
bytes raw(std::string_view s) { return bytes(s.begin(), s.end()); }
bytes zeros(std::size_t n) { return bytes(n, 0); }
bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
/// A BSON string: length (counting the NUL), bytes, NUL.
bytes str(std::string_view s) { return cat({i32(static_cast<std::int32_t>(s.size() + 1)), raw(s), zeros(1)}); }
/// One element: type byte, key, NUL, value.
bytes el(std::uint8_t type, std::string_view key, const bytes& value) {
    return cat({bytes{type}, raw(key), zeros(1), value});
}
/// A document of these elements, its length computed.
bytes doc(std::initializer_list<bytes> elements) {
    bytes body = cat(elements);
    return cat({i32(static_cast<std::int32_t>(body.size() + 5)), body, zeros(1)});
}
/// Code with scope: total length computed from its parts.
bytes cws(const bytes& code, const bytes& scope) {
    return cat({i32(static_cast<std::int32_t>(4 + code.size() + scope.size())), code, scope});
}
/// Overwrites the int32 at `pos`.
bytes patch(bytes b, std::size_t pos, std::int32_t v) {
    auto le = i32(v);
    std::memcpy(b.data() + pos, le.data(), 4);
    return b;
}

bool valid(const bytes& b) { return bs::document_view(b.data(), b.size()).valid(); }

struct fixture {
    std::string what;
    bytes data;
};

// Valid documents of every type, including the odd-but-legal corners.
std::vector<fixture> valid_fixtures() {
    const bytes oid(12, 0x11);
    return {
        {"empty document", doc({})},
        {"double", doc({el(0x01, "d", zeros(8))})},
        {"string with an embedded NUL", doc({el(0x02, "s", str(std::string_view("a\0b", 3)))})},
        {"empty string", doc({el(0x02, "s", str(""))})},
        {"multi-byte UTF-8 (2 3 4 bytes)", doc({el(0x02, "k\xC3\xA9", str("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"))})},
        {"sub-document and array", doc({el(0x03, "o", doc({el(0x10, "x", i32(1))})), el(0x04, "a", doc({el(0x10, "0", i32(1))}))})},
        {"binary", doc({el(0x05, "b", cat({i32(3), bytes{0x00}, raw("abc")}))})},
        {"binary subtype 2 (old)", doc({el(0x05, "b", cat({i32(6), bytes{0x02}, i32(2), raw("ab")}))})},
        {"empty binary", doc({el(0x05, "b", cat({i32(0), bytes{0x80}}))})},
        {"undefined", doc({el(0x06, "u", {})})},
        {"object id", doc({el(0x07, "_id", oid)})},
        {"booleans", doc({el(0x08, "t", {1}), el(0x08, "f", {0})})},
        {"date", doc({el(0x09, "d", zeros(8))})},
        {"null", doc({el(0x0A, "n", {})})},
        {"regex", doc({el(0x0B, "r", cat({raw("a.c"), zeros(1), raw("im"), zeros(1)}))})},
        {"empty regex", doc({el(0x0B, "r", zeros(2))})},
        {"DBPointer", doc({el(0x0C, "p", cat({str("db.coll"), oid}))})},
        {"code", doc({el(0x0D, "c", str("function(){}"))})},
        {"symbol", doc({el(0x0E, "y", str("sym"))})},
        {"code with scope", doc({el(0x0F, "w", cws(str("x"), doc({el(0x10, "x", i32(1))})))})},
        {"code with empty code and scope", doc({el(0x0F, "w", cws(str(""), doc({})))})},
        {"int32 timestamp int64 decimal128",
         doc({el(0x10, "i", i32(7)), el(0x11, "t", zeros(8)), el(0x12, "l", zeros(8)), el(0x13, "m", zeros(16))})},
        {"min and max key", doc({el(0xFF, "min", {}), el(0x7F, "max", {})})},
    };
}

// One fixture per decode-error category of the BSON specification.
std::vector<fixture> invalid_fixtures() {
    const bytes oid(12, 0x11);
    const bytes ok_string = doc({el(0x02, "s", str("bar"))});
    std::vector<fixture> v = {
        // Top-level envelope.
        {"no bytes", {}},
        {"4 bytes only", i32(5)},
        {"length 1", cat({i32(1), zeros(1)})},
        {"length 4", cat({i32(4), zeros(1)})},
        {"length 0 with bytes", zeros(10)},
        {"negative length", cat({i32(-1), zeros(1)})},
        {"last byte 0x01", cat({i32(5), bytes{0x01}})},
        {"last byte 0xff", cat({i32(5), bytes{0xFF}})},
        {"stated length exceeds bytes (truncated)", bytes(ok_string.begin(), ok_string.end() - 3)},
        {"stated length exceeds bytes (valid envelope)", patch(ok_string, 0, static_cast<std::int32_t>(ok_string.size() + 1))},
        {"stated length below bytes (valid envelope)", patch(ok_string, 0, static_cast<std::int32_t>(ok_string.size() - 1))},
        {"trailing bytes after the document", cat({ok_string, raw("\xDE\xAD\xBE\xEF")})},
        {"terminator before the declared end", cat({i32(7), zeros(3)})},
        {"unknown type 0x14", doc({el(0x14, "x", {})})},
        {"unknown type 0x80", doc({el(0x80, "x", {})})},
        {"unknown type 0x7E", doc({el(0x7E, "x", {})})},
        {"key runs into the terminator", cat({i32(8), bytes{0x02}, raw("fo"), zeros(1)})},
        {"key invalid UTF-8 (0xff)", doc({el(0x0A, "\xFF", {})})},
        {"key overlong encoding of '/'", doc({el(0x0A, "\xC0\xAF", {})})},
        {"key UTF-16 surrogate", doc({el(0x0A, "\xED\xA0\x80", {})})},
        {"key above U+10FFFF", doc({el(0x0A, "\xF4\x90\x80\x80", {})})},
        {"key truncated sequence", doc({el(0x0A, "\xE2\x82", {})})},
        {"key lone continuation byte", doc({el(0x0A, "a\x80", {})})},
        // Fixed-size values cut off by the end of their document.
        {"double cut short", doc({el(0x01, "d", zeros(7))})},
        {"object id cut short", doc({el(0x07, "o", zeros(11))})},
        {"date cut short", doc({el(0x09, "d", zeros(7))})},
        {"int32 cut short", doc({el(0x10, "i", zeros(3))})},
        {"timestamp cut short", doc({el(0x11, "t", zeros(7))})},
        {"int64 cut short", doc({el(0x12, "l", zeros(7))})},
        {"decimal128 cut short", doc({el(0x13, "m", zeros(15))})},
        {"boolean cut short", doc({el(0x08, "b", {})})},
        // Booleans.
        {"boolean 2", doc({el(0x08, "b", {2})})},
        {"boolean 0xff", doc({el(0x08, "b", {0xFF})})},
        // Binary.
        {"binary negative length", doc({el(0x05, "b", cat({i32(-1), bytes{0}, raw("abc")}))})},
        {"binary longer than the document", doc({el(0x05, "b", cat({i32(10), bytes{0}, raw("abc")}))})},
        {"binary header cut short", doc({el(0x05, "b", i32(0))})},
        {"binary subtype 2 inner length too long", doc({el(0x05, "b", cat({i32(6), bytes{2}, i32(3), raw("ab")}))})},
        {"binary subtype 2 inner length too short", doc({el(0x05, "b", cat({i32(6), bytes{2}, i32(1), raw("ab")}))})},
        {"binary subtype 2 inner length -1", doc({el(0x05, "b", cat({i32(6), bytes{2}, i32(-1), raw("ab")}))})},
        {"binary subtype 2 shorter than its inner length field", doc({el(0x05, "b", cat({i32(2), bytes{2}, raw("ab")}))})},
        // Embedded documents and arrays.
        {"sub-document last byte not 0", doc({el(0x03, "o", cat({i32(8), bytes{0x0A}, raw("a"), zeros(1), bytes{0x01}}))})},
        {"sub-document last byte not 0 (element swallowed)",
         doc({el(0x03, "o", cat({i32(9), bytes{0x0A}, raw("a"), zeros(1), bytes{0x0A}, raw("b")}))})},
        {"sub-document length below 5", doc({el(0x03, "o", cat({i32(4), zeros(1)}))})},
        {"sub-document negative length", doc({el(0x03, "o", cat({i32(-5), zeros(1)}))})},
        {"sub-document eats the outer terminator", patch(doc({el(0x03, "o", doc({}))}), 7, 6)},
        {"sub-document leaks its terminator", patch(doc({el(0x03, "o", doc({el(0x0A, "n", {})}))}), 7, 5)},
        {"sub-document bad string length", doc({el(0x03, "o", doc({el(0x02, "s", patch(str("x"), 0, 7))}))})},
        {"sub-document key with a NUL", doc({el(0x03, "o", doc({el(0x0A, std::string_view("a\0b", 3), {})}))})},
        {"array last byte not 0", doc({el(0x04, "a", cat({i32(8), bytes{0x0A}, raw("0"), zeros(1), bytes{0x01}}))})},
        {"array eats the outer terminator", patch(doc({el(0x04, "a", doc({}))}), 7, 6)},
        {"array leaks its terminator", patch(doc({el(0x04, "a", doc({el(0x0A, "0", {})}))}), 7, 5)},
        {"array bad string length", doc({el(0x04, "a", doc({el(0x02, "0", patch(str("x"), 0, -1))}))})},
        {"invalid UTF-8 two levels down",
         doc({el(0x03, "o", doc({el(0x04, "a", doc({el(0x02, "0", str("\xC3"))}))}))})},
        // Regular expressions: two C strings, both UTF-8.
        {"regex pattern invalid UTF-8", doc({el(0x0B, "r", cat({raw("a\xFF"), zeros(1), zeros(1)}))})},
        {"regex options invalid UTF-8", doc({el(0x0B, "r", cat({raw("a"), zeros(1), raw("\xC0"), zeros(1)}))})},
        {"regex pattern unterminated", cat({i32(10), bytes{0x0B}, raw("r"), zeros(1), raw("ab"), zeros(1)})},
        {"regex options unterminated", cat({i32(11), bytes{0x0B}, raw("r"), zeros(1), raw("a"), zeros(1), raw("i"), zeros(1)})},
        {"regex embedded NUL in pattern", doc({el(0x0B, "r", cat({raw("a"), zeros(1), raw("c"), zeros(1), raw("im"), zeros(1)}))})},
        // DBPointer: namespace string + 12-byte id.
        {"DBPointer namespace length 0", doc({el(0x0C, "p", cat({i32(0), raw("a"), oid}))})},
        {"DBPointer namespace length -1", doc({el(0x0C, "p", cat({i32(-1), raw("a"), zeros(1), oid}))})},
        {"DBPointer namespace not NUL-terminated", doc({el(0x0C, "p", cat({i32(2), raw("ab"), oid}))})},
        {"DBPointer namespace invalid UTF-8", doc({el(0x0C, "p", cat({str("db.\xE9"), oid}))})},
        {"DBPointer id cut short", doc({el(0x0C, "p", cat({str("db.c"), bytes(11, 1)}))})},
        // Code with scope.
        {"code with scope length 0", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 0, 0))})},
        {"code with scope length -1", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 0, -1))})},
        {"code with scope length below 14", doc({el(0x0F, "w", patch(cws(str(""), doc({})), 0, 13))})},
        {"code with scope length truncates the scope", doc({el(0x0F, "w", patch(cws(str("x"), doc({el(0x0A, "n", {})})), 0, 17))})},
        {"code with scope length clips the outer document", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 0, 16))})},
        {"code with scope length longer than the document", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 0, 40))})},
        {"code with scope code length 0", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 4, 0))})},
        {"code with scope code length -1", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 4, -1))})},
        {"code with scope code length eats the scope", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 4, 4))})},
        {"code with scope code length past the element", doc({el(0x0F, "w", patch(cws(str("x"), doc({})), 4, 100))})},
        {"code with scope code not NUL-terminated", doc({el(0x0F, "w", cws(cat({i32(2), raw("ab")}), doc({})))})},
        {"code with scope empty code but extra NUL", doc({el(0x0F, "w", cws(cat({i32(1), zeros(2)}), doc({})))})},
        {"code with scope empty scope length 0", doc({el(0x0F, "w", cws(str("x"), cat({i32(0), zeros(1)})))})},
        {"code with scope scope last byte not 0", doc({el(0x0F, "w", cws(str("x"), cat({i32(5), bytes{1}})))})},
        {"code with scope scope bad string length", doc({el(0x0F, "w", cws(str("x"), doc({el(0x02, "s", patch(str("y"), 0, 9))})))})},
        {"code with scope code invalid UTF-8", doc({el(0x0F, "w", cws(str("\xED\xBF\xBF"), doc({})))})},
        {"code with scope scope invalid UTF-8", doc({el(0x0F, "w", cws(str("x"), doc({el(0x02, "s", str("\x80"))})))})},
        {"code with scope scope key invalid UTF-8", doc({el(0x0F, "w", cws(str("x"), doc({el(0x0A, "\xFE", {})})))})},
    };
    // Every string-like type (string, JavaScript code, symbol) has the same string rules.
    for (std::uint8_t type : {std::uint8_t{0x02}, std::uint8_t{0x0D}, std::uint8_t{0x0E}}) {
        const char* name = type == 0x02 ? "string" : type == 0x0D ? "code" : "symbol";
        auto add = [&](const char* what, const bytes& value) {
            v.push_back({std::string(name) + ": " + what, doc({el(type, "s", value)})});
        };
        add("length 0 without a NUL", cat({i32(0), raw("ab")}));
        add("length 0 with a NUL", cat({i32(0), zeros(1)}));
        add("length -1", cat({i32(-1), raw("ab"), zeros(1)}));
        add("length min int32", cat({i32(std::numeric_limits<std::int32_t>::min()), raw("ab"), zeros(1)}));
        add("length eats the terminator", cat({i32(4), raw("ab"), zeros(1)}));
        add("length longer than the document", cat({i32(50), raw("ab"), zeros(1)}));
        add("not NUL-terminated", cat({i32(3), raw("abc")}));
        add("empty but an extra NUL", cat({i32(1), zeros(2)}));
        add("invalid UTF-8 (0xff)", str("a\xFF"));
        add("invalid UTF-8 (overlong NUL)", str("\xC0\x80"));
        add("invalid UTF-8 (surrogate)", str("\xED\xA0\x80"));
        add("invalid UTF-8 (above U+10FFFF)", str("\xF5\x80\x80\x80"));
        add("invalid UTF-8 (truncated at the end)", str("abcdefgh\xF0\x9F\x98"));
        add("invalid UTF-8 (after a long ASCII run)", str("abcdefghijklmnopqrstuvwxyz\xE2\x28\xA1"));
    }
    return v;
}

/// `levels` documents nested in each other under key "a" (or arrays under "0").
bytes nested(std::size_t levels, std::uint8_t type = 0x03) {
    const char* key = type == 0x04 ? "0" : "a";
    bytes out;
    out.reserve(levels * 8);
    for (std::size_t i = 0; i < levels; ++i) {
        // Level i (0 = top) holds levels-1-i nested documents of 8 bytes of overhead each.
        std::size_t len = 5 + 8 * (levels - 1 - i);
        auto le = i32(static_cast<std::int32_t>(len));
        out.insert(out.end(), le.begin(), le.end());
        if (i + 1 < levels) {
            out.push_back(type);
            out.push_back(static_cast<std::uint8_t>(key[0]));
            out.push_back(0);
        }
    }
    out.insert(out.end(), levels, 0);
    return out;
}

}  // namespace

TEST_CASE("bson_validate: valid documents of every type are accepted", "[bson_validate]") {
    for (const auto& f : valid_fixtures()) {
        INFO(f.what);
        CHECK(valid(f.data));
        CHECK_NOTHROW(bs::document::from_bytes(f.data.data(), f.data.size()));
    }
}

TEST_CASE("bson_validate: every decode error category is rejected", "[bson_validate]") {
    for (const auto& f : invalid_fixtures()) {
        INFO(f.what);
        CHECK_FALSE(valid(f.data));
        CHECK_THROWS_AS(bs::document::from_bytes(f.data.data(), f.data.size()), morm::error);
    }
}

TEST_CASE("bson_validate: the fixtures are what they claim (fixed up they pass)", "[bson_validate]") {
    // Guards the builders: the same shapes with the defect removed are valid.
    CHECK(valid(doc({el(0x03, "o", doc({}))})));
    CHECK(valid(doc({el(0x0F, "w", cws(str("x"), doc({})))})));
    CHECK(valid(doc({el(0x0C, "p", cat({str("db.c"), bytes(12, 1)}))})));
    CHECK(valid(nested(50)));
    CHECK(valid(nested(50, 0x04)));
}

TEST_CASE("bson_validate: 10000 levels of nesting are refused quickly without a crash", "[bson_validate]") {
    for (std::uint8_t type : {std::uint8_t{0x03}, std::uint8_t{0x04}}) {
        const bytes deep = nested(10'000, type);
        // In a child process: before morm validated on its own, libbson's recursion overflowed
        // the stack, and a crash must fail this test rather than end the test run.
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(10);
            bool v = bs::document_view(deep.data(), deep.size()).valid();
            bool threw = false;
            try {
                (void)bs::document::from_bytes(deep.data(), deep.size());
            } catch (const morm::error&) {
                threw = true;
            }
            _exit(!v && threw ? 0 : 1);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        INFO("child status " << status);
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);
    }
    // The child did not crash: now in this process, timed.
    const bytes deep = nested(10'000);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(bs::document_view(deep.data(), deep.size()).valid());
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("bson_validate: the depth limit is 200 levels", "[bson_validate]") {
    CHECK(valid(nested(200)));
    CHECK(valid(nested(200, 0x04)));
    CHECK_FALSE(valid(nested(201)));
    CHECK_FALSE(valid(nested(201, 0x04)));
    const bytes deep = nested(201);
    try {
        (void)bs::document::from_bytes(deep.data(), deep.size());
        FAIL("no throw");
    } catch (const morm::error& e) {
        CHECK(e.code() == morm::errc::protocol);
        CHECK_THAT(e.what(), Catch::Contains("200"));
    }
}

TEST_CASE("bson_validate: validate() says what is wrong, at which byte and in which field", "[bson_validate]") {
    std::string path = "untouched";
    const bytes good = doc({el(0x10, "a", i32(1))});
    CHECK(bs::validate(good.data(), good.size(), &path).ok());
    CHECK(path == "untouched");  // only written for an invalid document

    // The nested document's last byte (offset 14) is 1.
    const bytes last = doc({el(0x03, "o", cat({i32(8), bytes{0x0A}, raw("a"), zeros(1), bytes{0x01}}))});
    auto v = bs::validate(last.data(), last.size(), &path);
    CHECK_THAT(v.reason, Catch::Equals("document does not end with a 0 byte"));
    CHECK(v.offset == 14);
    CHECK(path == "o");

    // Invalid UTF-8 three levels down: the offset is the bad byte's.
    const bytes utf = doc({el(0x03, "o", doc({el(0x04, "a", doc({el(0x02, "0", str("ab\xC3"))}))}))});
    v = bs::validate(utf.data(), utf.size(), &path);
    CHECK_THAT(v.reason, Catch::Equals("string is not valid UTF-8"));
    CHECK(utf[v.offset] == 0xC3);
    CHECK(path == "o.a.0");
    CHECK(bs::describe(v, path) == fmt::format("string is not valid UTF-8 at byte {} (field 'o.a.0')", v.offset));

    // A key that is not UTF-8 is not echoed into the path.
    const bytes key = doc({el(0x03, "o", doc({el(0x0A, "\xFF", {})}))});
    v = bs::validate(key.data(), key.size(), &path);
    CHECK_THAT(v.reason, Catch::Equals("element key is not valid UTF-8"));
    CHECK(path == "o");

    // Top-level problems have no path.
    v = bs::validate(good.data(), good.size() - 1, &path);
    CHECK_THAT(v.reason, Catch::Equals("document length exceeds the bytes given"));
    CHECK(path.empty());
    CHECK_FALSE(bs::validate(nullptr, 0).ok());
    CHECK(bs::validate(bs::document_view(good.data(), good.size())).ok());
}

// --- network ingress: every reply document is validated when the frame is parsed ----------

namespace {

/// An OP_MSG reply frame: header, no flags, the body section, then `sections` as given.
bytes frame(const bytes& body, std::initializer_list<bytes> sections = {}) {
    bytes f = cat({i32(0), i32(9), i32(7), i32(2013), i32(0), bytes{0}, body});
    for (const auto& s : sections) f.insert(f.end(), s.begin(), s.end());
    return patch(f, 0, static_cast<std::int32_t>(f.size()));
}
/// A kind-1 section: identifier, then the documents.
bytes sequence(std::string_view ident, std::initializer_list<bytes> docs) {
    bytes inner = cat({raw(ident), zeros(1)});
    for (const auto& d : docs) inner.insert(inner.end(), d.begin(), d.end());
    return cat({bytes{1}, i32(static_cast<std::int32_t>(inner.size() + 4)), inner});
}

morm::error_code parse(const bytes& f, morm::diagnostics& diag) {
    morm::wire::op_msg_view v;
    return morm::wire::parse_op_msg(f, v, diag);
}

const bytes ok_doc = doc({el(0x10, "ok", i32(1))});

/// {cursor: {firstBatch: [{name: <name>}], id: 0}, ok: 1}
bytes find_reply(const bytes& name) {
    return doc({el(0x03, "cursor", doc({el(0x04, "firstBatch", doc({el(0x03, "0", doc({el(0x02, "name", name)}))})),
                                        el(0x12, "id", zeros(8))})),
                el(0x10, "ok", i32(1))});
}

}  // namespace

TEST_CASE("bson_validate: a well-formed reply frame parses", "[bson_validate]") {
    morm::diagnostics diag;
    CHECK_FALSE(parse(frame(find_reply(str("ok"))), diag));
    CHECK_FALSE(parse(frame(ok_doc, {sequence("documents", {doc({}), ok_doc})}), diag));
    CHECK_FALSE(parse(frame(ok_doc, {sequence("documents", {})}), diag));
}

TEST_CASE("bson_validate: a corrupt document in a reply body is a protocol error saying where", "[bson_validate]") {
    morm::diagnostics diag;
    auto ec = parse(frame(find_reply(str("J\xC3\x28n"))), diag);
    CHECK(ec == morm::errc::protocol);
    CHECK_THAT(diag.message, Catch::Contains("UTF-8") && Catch::Contains("cursor.firstBatch.0.name") &&
                                 Catch::Contains("body"));

    // A nested document whose last byte is not 0 (libbson's iterator stops before it).
    ec = parse(frame(doc({el(0x03, "o", cat({i32(8), bytes{0x0A}, raw("a"), zeros(1), bytes{0x01}})),
                          el(0x10, "ok", i32(1))})),
               diag);
    CHECK(ec == morm::errc::protocol);
    CHECK_THAT(diag.message, Catch::Contains("0 byte"));

    // 10000 levels: refused, not a stack overflow.
    const bytes deep = nested(10'000);
    ec = parse(frame(deep), diag);
    CHECK(ec == morm::errc::protocol);
    CHECK_THAT(diag.message, Catch::Contains("deeper than 200"));
}

TEST_CASE("bson_validate: a corrupt document in a document sequence is a protocol error", "[bson_validate]") {
    morm::diagnostics diag;
    const bytes bad = doc({el(0x08, "flag", {7})});
    auto ec = parse(frame(ok_doc, {sequence("documents", {ok_doc, bad})}), diag);
    CHECK(ec == morm::errc::protocol);
    CHECK_THAT(diag.message, Catch::Contains("'documents'") && Catch::Contains("document 1") &&
                                 Catch::Contains("boolean") && Catch::Contains("flag"));

    // The last document overruns the section.
    bytes seq = sequence("documents", {ok_doc});
    seq = cat({seq, i32(40), zeros(1)});
    seq = patch(seq, 1, static_cast<std::int32_t>(seq.size() - 1));
    ec = parse(frame(ok_doc, {seq}), diag);
    CHECK(ec == morm::errc::protocol);

    // Bytes after the last document that cannot hold one.
    seq = cat({sequence("documents", {ok_doc}), zeros(3)});
    seq = patch(seq, 1, static_cast<std::int32_t>(seq.size() - 1));
    ec = parse(frame(ok_doc, {seq}), diag);
    CHECK(ec == morm::errc::protocol);

    // The identifier runs to the end of the section.
    seq = cat({bytes{1}, i32(8), raw("docs")});
    ec = parse(frame(ok_doc, {seq}), diag);
    CHECK(ec == morm::errc::protocol);

    // Identifier that is not UTF-8.
    ec = parse(frame(ok_doc, {sequence("d\xFF", {ok_doc})}), diag);
    CHECK(ec == morm::errc::protocol);
}

// --- dates -------------------------------------------------------------------------------

namespace bvt {
struct NsDate {
    std::chrono::system_clock::time_point when{};
};
MORM_STRUCT(NsDate, when);
struct MsDate {
    std::chrono::sys_time<std::chrono::milliseconds> when{};
};
MORM_STRUCT(MsDate, when);
struct SecDate {
    std::chrono::sys_time<std::chrono::seconds> when{};
};
MORM_STRUCT(SecDate, when);
struct Outer {
    std::vector<NsDate> events;
};
MORM_STRUCT(Outer, events);
struct Day {
    std::chrono::year_month_day day{};
};
MORM_STRUCT(Day, day);
}  // namespace bvt

namespace {
bytes date_doc(std::int64_t ms) {
    bytes v(8);
    auto u = static_cast<std::uint64_t>(ms);
    for (int i = 0; i < 8; ++i) v[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(u >> (8 * i));
    return doc({el(0x09, "when", v)});
}
constexpr std::int64_t end_of_9999 = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
}  // namespace

TEST_CASE("bson_validate: sys_time<milliseconds> covers the whole BSON date range", "[bson_validate]") {
    using namespace std::chrono;
    for (std::int64_t ms : {end_of_9999, std::int64_t{-62'135'596'800'000} /* year 1 */,
                            std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(),
                            std::int64_t{0}, std::int64_t{-1}}) {
        INFO(ms);
        const bytes d = date_doc(ms);
        bvt::MsDate m;
        morm::diagnostics diag;
        REQUIRE_FALSE(morm::codec::decode(bs::document_view(d.data(), d.size()), m, &diag));
        CHECK(m.when.time_since_epoch().count() == ms);
        auto back = morm::codec::encode(m);
        CHECK(bytes(back.data(), back.data() + back.size()) == d);
    }
    const bytes d = date_doc(end_of_9999);
    bvt::MsDate m;
    REQUIRE_FALSE(morm::codec::decode(bs::document_view(d.data(), d.size()), m));
    CHECK(year_month_day(floor<days>(m.when)) == year(9999) / December / 31);
}

TEST_CASE("bson_validate: a date outside a nanosecond time_point is a decode error naming the field", "[bson_validate]") {
    for (std::int64_t ms : {end_of_9999, std::numeric_limits<std::int64_t>::max(),
                            std::numeric_limits<std::int64_t>::min(), std::int64_t{-9'300'000'000'000}}) {
        INFO(ms);
        const bytes d = date_doc(ms);
        bvt::NsDate n;
        morm::diagnostics diag;
        CHECK(morm::codec::decode(bs::document_view(d.data(), d.size()), n, &diag) == morm::errc::decode_error);
        CHECK_THAT(diag.message, Catch::StartsWith("when: ") && Catch::Contains("milliseconds"));
    }
    // The path of a nested field.
    const bytes outer = doc({el(0x04, "events", doc({el(0x03, "0", date_doc(0)), el(0x03, "1", date_doc(end_of_9999))}))});
    bvt::Outer o;
    morm::diagnostics diag;
    CHECK(morm::codec::decode(bs::document_view(outer.data(), outer.size()), o, &diag) == morm::errc::decode_error);
    CHECK_THAT(diag.message, Catch::StartsWith("events.1.when: "));
    // In range: 2262-04-11 is the last day a nanosecond time_point holds.
    const bytes fine = date_doc(9'000'000'000'000);
    bvt::NsDate n;
    CHECK_FALSE(morm::codec::decode(bs::document_view(fine.data(), fine.size()), n));
    CHECK(n.when.time_since_epoch() == std::chrono::milliseconds(9'000'000'000'000));
}

TEST_CASE("bson_validate: seconds decode floored and encode beyond int64 milliseconds fails", "[bson_validate]") {
    using namespace std::chrono;
    const bytes d = date_doc(-1500);
    bvt::SecDate s;
    REQUIRE_FALSE(morm::codec::decode(bs::document_view(d.data(), d.size()), s));
    CHECK(s.when.time_since_epoch() == seconds(-2));

    s.when = sys_time<seconds>(seconds(std::numeric_limits<std::int64_t>::max() / 100));
    bs::document out;
    morm::diagnostics diag;
    CHECK(morm::codec::encode_into(out.get(), s, &diag) == morm::errc::encode_error);
    CHECK_THAT(diag.message, Catch::StartsWith("when: "));
    // The largest seconds value that fits.
    s.when = sys_time<seconds>(seconds(std::numeric_limits<std::int64_t>::max() / 1000));
    CHECK_FALSE(morm::codec::encode_into(out.get(), s, &diag));
}

TEST_CASE("bson_validate: a year_month_day outside its year range is a decode error", "[bson_validate]") {
    // Midnight UTC 100,000,000 days before 1970 (about year -271,821): a real date, no year_month_day.
    for (std::int64_t ms : {std::int64_t{-100'000'000} * 86'400'000, std::int64_t{100'000'000} * 86'400'000}) {
        INFO(ms);
        bytes d = date_doc(ms);
        d[5] = 'd', d[6] = 'a', d[7] = 'y', d[8] = 0;  // key "when" -> "day" + NUL
        d.erase(d.begin() + 9);
        d = patch(d, 0, static_cast<std::int32_t>(d.size()));
        bvt::Day y;
        morm::diagnostics diag;
        CHECK(morm::codec::decode(bs::document_view(d.data(), d.size()), y, &diag) == morm::errc::decode_error);
        CHECK_THAT(diag.message, Catch::StartsWith("day: ") && Catch::Contains("out of range"));
    }
    // The extremes of year_month_day still decode.
    using namespace std::chrono;
    for (auto ymd : {year::min() / January / 1, year::max() / December / 31}) {
        const bvt::Day in{ymd};
        auto enc = morm::codec::encode(in);
        bvt::Day out;
        REQUIRE_FALSE(morm::codec::decode(enc.view(), out));
        CHECK(out.day == ymd);
    }
}

// --- cost ----------------------------------------------------------------------------------

namespace {
// Every element of a document read through libbson's iterator, as a decoder would.
std::size_t walk(bson_iter_t* it) {
    std::size_t sum = 0;
    while (bson_iter_next(it)) {
        sum += bson_iter_key_len(it);
        switch (bson_iter_type(it)) {
        case BSON_TYPE_UTF8: {
            std::uint32_t n = 0;
            sum += static_cast<unsigned char>(bson_iter_utf8(it, &n)[0]) + n;
            break;
        }
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            bson_iter_t child;
            if (bson_iter_recurse(it, &child)) sum += walk(&child);
            break;
        }
        case BSON_TYPE_INT32: sum += static_cast<std::size_t>(bson_iter_int32(it)); break;
        case BSON_TYPE_INT64: sum += static_cast<std::size_t>(bson_iter_int64(it)); break;
        case BSON_TYPE_DATE_TIME: sum += static_cast<std::size_t>(bson_iter_date_time(it)); break;
        case BSON_TYPE_DOUBLE: sum += static_cast<std::size_t>(bson_iter_double(it)); break;
        default: break;
        }
    }
    return sum;
}
}  // namespace

// Hidden (run it by tag in an optimised build): MB/s of validate() over ~9 MB of typical
// user documents, next to reading every element of the same bytes with libbson's iterator.
TEST_CASE("bson_validate: throughput of validate next to a libbson iterator walk", "[.][bson_validate_bench]") {
    std::vector<bs::document> docs(20'000);
    std::size_t total = 0;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        docs[i] = bs::document::from_json(fmt::format(
            R"({{"_id": {{"$oid": "65a1b2c3d4e5f60718293a{:02x}"}}, "name": "User {}", "email": "user{}@example.com",
               "age": {}, "score": {}.5, "active": true, "created": {{"$date": {{"$numberLong": "{}"}}}},
               "tags": ["alpha", "beta", "gamma"], "address": {{"street": "12 Rue de la Paix", "city": "Zürich", "zip": "8001"}},
               "bio": "{}", "version": {{"$numberLong": "{}"}}}})",
            i % 256, i, i, 20 + i % 50, i, 1'700'000'000'000 + i, std::string(160, 'x'), i));
        total += docs[i].size();
    }
    auto best = [&](auto&& f) {
        double s = 1e9;
        for (int r = 0; r < 10; ++r) {
            auto t0 = std::chrono::steady_clock::now();
            f();
            s = std::min(s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        return s;
    };
    std::size_t ok = 0, sum = 0;
    const double v = best([&] {
        for (const auto& d : docs) ok += bs::validate(d.view()).ok();
    });
    const double w = best([&] {
        for (const auto& d : docs) {
            bson_iter_t it;
            if (d.view().init_iter(it)) sum += walk(&it);
        }
    });
    CHECK(ok == docs.size() * 10);
    const double mb = static_cast<double>(total) / 1e6;
    WARN(fmt::format("{:.2f} MB in {} documents: validate {:.1f} ms ({:.0f} MB/s), libbson iterator walk {:.1f} ms "
                     "({:.0f} MB/s) [{}]",
                     mb, docs.size(), v * 1e3, mb / v, w * 1e3, mb / w, sum % 10));
}
