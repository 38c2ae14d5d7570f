// Byte-exact fixtures for the OP_MSG writer and parser, hostile-input parsing, and the
// reply / hello parsers. No server.
#include <morm/bson/document.hpp>
#include <morm/error.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/op_msg.hpp>
#include <morm/wire/reply.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using namespace morm;
using namespace morm::wire;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes to_bytes(const frame_buffer& b, std::size_t from = 0, std::size_t n = std::size_t(-1)) {
    if (n == std::size_t(-1)) n = b.size() - from;
    return bytes(b.data() + from, b.data() + from + n);
}

// Appends little-endian int32.
void put_i32(bytes& b, std::int32_t v) {
    auto u = static_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
}
void set_i32(bytes& b, std::size_t pos, std::int32_t v) {
    auto u = static_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) b[pos + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(u >> (8 * i));
}
void put_str(bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

// Independent bitwise CRC-32C, to cross-check the table-driven one.
std::uint32_t crc32c_slow(const std::uint8_t* p, std::size_t n) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

// {ping: 1, $db: "admin"}: 30 bytes.
const bytes ping_body = {
    0x1E, 0x00, 0x00, 0x00,                                      // document length 30
    0x10, 'p', 'i', 'n', 'g', 0x00, 0x01, 0x00, 0x00, 0x00,      // int32 ping: 1
    0x02, '$', 'd', 'b', 0x00, 0x06, 0x00, 0x00, 0x00,           // string $db, length 6
    'a', 'd', 'm', 'i', 'n', 0x00,                               //   "admin"
    0x00,                                                        // terminator
};

// The whole OP_MSG frame of that body, requestID 7.
bytes ping_frame(std::int32_t request_id = 7, std::int32_t response_to = 0, std::uint32_t flag_bits = 0) {
    bytes f;
    put_i32(f, 51);  // messageLength = 16 + 4 + 1 + 30
    put_i32(f, request_id);
    put_i32(f, response_to);
    f.insert(f.end(), {0xDD, 0x07, 0x00, 0x00});  // opCode 2013
    put_i32(f, static_cast<std::int32_t>(flag_bits));
    f.push_back(0x00);  // kind 0
    f.insert(f.end(), ping_body.begin(), ping_body.end());
    return f;
}

void write_ping(frame_buffer& buf, std::int32_t rid, std::uint32_t flag_bits = 0) {
    op_msg_writer w(buf, rid, flag_bits);
    bson_t* body = w.begin_body();
    BSON_APPEND_INT32(body, "ping", 1);
    BSON_APPEND_UTF8(body, "$db", "admin");
    w.end_body();
    w.finish();
}

error_code parse(const bytes& f, op_msg_view& v, diagnostics& d) { return parse_op_msg(f, v, d); }

error_code parse_hdr(const bytes& f, std::int32_t max_size, diagnostics& d) {
    REQUIRE(f.size() >= header_size);
    message_header h;
    return parse_header(std::span<const std::uint8_t, header_size>(f.data(), header_size), h, max_size, d);
}

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------------------------------
// Writer fixtures
// ---------------------------------------------------------------------------------------

TEST_CASE("op_msg_writer: kind-0 body is byte-exact", "[wire]") {
    frame_buffer buf;
    write_ping(buf, 7);
    CHECK(to_bytes(buf) == ping_frame(7));
    CHECK(buf.size() == 51);

    op_msg_view v;
    diagnostics d;
    bytes f = to_bytes(buf);
    REQUIRE_FALSE(parse(f, v, d));
    CHECK(v.header.request_id == 7);
    CHECK(v.header.op_code == op_msg_opcode);
    CHECK(v.flag_bits == 0);
    CHECK(v.has_body);
    CHECK(v.body.len == 30);
    CHECK(std::memcmp(bson_get_data(&v.body), ping_body.data(), 30) == 0);
}

TEST_CASE("op_msg_writer: kind-1 sequence of three documents", "[wire]") {
    frame_buffer buf;
    op_msg_writer w(buf, 42);
    bson_t* body = w.begin_body();
    BSON_APPEND_UTF8(body, "insert", "c");
    BSON_APPEND_UTF8(body, "$db", "d");
    w.end_body();
    w.begin_sequence("documents");
    for (int i = 0; i < 3; ++i) {
        bson_t* doc = w.begin_document();
        BSON_APPEND_INT32(doc, "a", i);
        CHECK(w.end_document() == 12);
    }
    w.end_sequence();
    CHECK(w.size() == 102);
    CHECK(w.finish() == 102);

    bytes want;
    put_i32(want, 102);
    put_i32(want, 42);
    put_i32(want, 0);
    put_i32(want, 2013);
    put_i32(want, 0);
    want.push_back(0);
    // {insert: "c", $db: "d"}
    put_i32(want, 30);
    want.push_back(0x02);
    put_str(want, std::string_view("insert\0", 7));
    put_i32(want, 2);
    put_str(want, std::string_view("c\0", 2));
    want.push_back(0x02);
    put_str(want, std::string_view("$db\0", 4));
    put_i32(want, 2);
    put_str(want, std::string_view("d\0", 2));
    want.push_back(0);
    // kind 1: size covers itself, the identifier and the documents (not the kind byte)
    want.push_back(1);
    put_i32(want, 4 + 10 + 3 * 12);
    put_str(want, std::string_view("documents\0", 10));
    for (int i = 0; i < 3; ++i) {
        put_i32(want, 12);
        want.push_back(0x10);
        put_str(want, std::string_view("a\0", 2));
        put_i32(want, i);
        want.push_back(0);
    }
    REQUIRE(want.size() == 102);
    CHECK(to_bytes(buf) == want);

    // The parser accepts (and skips) the kind-1 section.
    op_msg_view v;
    diagnostics d;
    REQUIRE_FALSE(parse(want, v, d));
    CHECK(v.body.len == 30);
}

TEST_CASE("crc32c known vectors and checksumPresent frames", "[wire]") {
    const std::string_view s = "123456789";
    CHECK(crc32c(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) == 0xE3069283u);
    CHECK(crc32c(nullptr, 0) == 0u);
    // 32 zero bytes: RFC 3720 B.4 test vector.
    std::uint8_t zeros[32] = {};
    CHECK(crc32c(zeros, 32) == 0x8A9136AAu);
    // Incremental == one-shot.
    auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
    CHECK(crc32c(p + 4, 5, crc32c(p, 4)) == 0xE3069283u);

    frame_buffer buf;
    write_ping(buf, 9, flags::checksum_present);
    REQUIRE(buf.size() == 55);
    bytes want = ping_frame(9, 0, flags::checksum_present);
    set_i32(want, 0, 55);
    const std::uint32_t crc = crc32c_slow(want.data(), want.size());
    put_i32(want, static_cast<std::int32_t>(crc));
    CHECK(to_bytes(buf) == want);

    op_msg_view v;
    diagnostics d;
    REQUIRE_FALSE(parse(want, v, d));
    CHECK(v.flag_bits == flags::checksum_present);
    CHECK(v.body.len == 30);

    // Any flipped byte (here: inside the body) is caught by the checksum.
    bytes bad = want;
    bad[30] ^= 0x01;
    CHECK(parse(bad, v, d) == errc::protocol);
    CHECK(contains(d.message, "checksum"));
    // So is a flipped checksum byte.
    bad = want;
    bad.back() ^= 0x80;
    CHECK(parse(bad, v, d) == errc::protocol);
    CHECK(contains(d.message, "checksum"));
}

TEST_CASE("op_msg_writer: several frames back-to-back in one buffer", "[wire]") {
    frame_buffer buf;
    write_ping(buf, 1);
    write_ping(buf, 2);
    write_ping(buf, 3);
    REQUIRE(buf.size() == 3 * 51);
    for (int i = 0; i < 3; ++i) {
        bytes f = to_bytes(buf, static_cast<std::size_t>(i) * 51, 51);
        CHECK(f == ping_frame(i + 1));
        op_msg_view v;
        diagnostics d;
        REQUIRE_FALSE(parse(f, v, d));
        CHECK(v.header.request_id == i + 1);
    }
    // The buffer as a whole is not one frame.
    op_msg_view v;
    diagnostics d;
    CHECK(parse(to_bytes(buf), v, d) == errc::protocol);
}

TEST_CASE("op_msg_writer: rollback_document leaves earlier bytes untouched", "[wire]") {
    frame_buffer ref, buf;
    auto build = [](frame_buffer& b, bool with_rollback) {
        op_msg_writer w(b, 5);
        bson_t* body = w.begin_body();
        BSON_APPEND_UTF8(body, "insert", "c");
        w.end_body();
        w.begin_sequence("documents");
        bson_t* d0 = w.begin_document();
        BSON_APPEND_INT32(d0, "a", 0);
        w.end_document();
        if (with_rollback) {
            const std::size_t before = w.size();
            bson_t* big = w.begin_document();
            std::string s(1000, 'x');
            BSON_APPEND_UTF8(big, "s", s.c_str());
            CHECK(w.size() > before + 1000);
            w.rollback_document();
            CHECK(w.size() == before);
        }
        bson_t* d1 = w.begin_document();
        BSON_APPEND_INT32(d1, "a", 1);
        w.end_document();
        w.end_sequence();
        w.finish();
    };
    build(ref, false);
    build(buf, true);
    CHECK(to_bytes(buf) == to_bytes(ref));
}

TEST_CASE("op_msg_writer: abandon() removes exactly its frame", "[wire]") {
    frame_buffer buf;
    write_ping(buf, 1);
    const bytes first = to_bytes(buf);
    {
        op_msg_writer w(buf, 2);
        bson_t* body = w.begin_body();
        BSON_APPEND_INT32(body, "insert", 1);
        w.end_body();
        w.begin_sequence("documents");
        bson_t* d = w.begin_document();
        BSON_APPEND_INT32(d, "x", 1);  // left open on purpose
        CHECK(w.start() == 51);
        w.abandon();
    }
    CHECK(to_bytes(buf) == first);
    // The buffer is still usable after the abandoned frame.
    write_ping(buf, 3);
    CHECK(to_bytes(buf, 51) == ping_frame(3));
}

// ---------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------

TEST_CASE("parse_header rejects hostile headers", "[wire]") {
    diagnostics d;
    CHECK_FALSE(parse_hdr(ping_frame(), default_max_message_size, d));

    SECTION("messageLength < 16") {
        for (std::int32_t len : {0, -1, 15, INT32_MIN}) {
            bytes f = ping_frame();
            set_i32(f, 0, len);
            CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
            CHECK(contains(d.message, "smaller than a message header"));
        }
    }
    SECTION("too small for an OP_MSG") {
        bytes f = ping_frame();
        set_i32(f, 0, 20);
        CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
        CHECK(contains(d.message, "too small"));
    }
    SECTION("messageLength > maxMessageSizeBytes") {
        bytes f = ping_frame();
        set_i32(f, 0, 1000);
        CHECK(parse_hdr(f, 999, d) == errc::protocol);
        CHECK(contains(d.message, "exceeds maxMessageSizeBytes 999"));
        set_i32(f, 0, INT32_MAX);
        CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
    }
    SECTION("unknown opcode and OP_COMPRESSED") {
        bytes f = ping_frame();
        set_i32(f, 12, op_compressed_opcode);
        CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
        CHECK(contains(d.message, "OP_COMPRESSED"));
        set_i32(f, 12, op_reply_opcode);
        CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
        CHECK(contains(d.message, "opCode 1"));
        set_i32(f, 12, 0x12345678);
        CHECK(parse_hdr(f, default_max_message_size, d) == errc::protocol);
        CHECK(contains(d.message, "unexpected opCode"));
    }
}

TEST_CASE("parse_op_msg rejects hostile frames", "[wire]") {
    op_msg_view v;
    diagnostics d;
    auto expect_protocol = [&](const bytes& f, std::string_view msg) {
        d.clear();
        auto ec = parse(f, v, d);
        CHECK(ec == errc::protocol);
        INFO("diagnostics: " << d.message << " / wanted: " << msg);
        CHECK(contains(d.message, msg));
    };

    SECTION("shorter than the minimum") {
        bytes f = ping_frame();
        f.resize(25);
        expect_protocol(f, "shorter than the minimum");
        expect_protocol(bytes{}, "shorter than the minimum");
    }
    SECTION("messageLength does not match the bytes") {
        bytes f = ping_frame();
        set_i32(f, 0, 52);
        expect_protocol(f, "does not match");
        set_i32(f, 0, 50);
        expect_protocol(f, "does not match");
        f = ping_frame();
        f.push_back(0);  // trailing garbage
        expect_protocol(f, "does not match");
    }
    SECTION("unknown opcode, OP_COMPRESSED") {
        bytes f = ping_frame();
        set_i32(f, 12, op_compressed_opcode);
        expect_protocol(f, "opCode 2012");
        set_i32(f, 12, 2004);  // OP_QUERY
        expect_protocol(f, "opCode 2004");
    }
    SECTION("unknown section kind") {
        bytes f = ping_frame();
        f[20] = 2;
        expect_protocol(f, "section kind 2");
        f[20] = 0xFF;
        expect_protocol(f, "section kind 255");
    }
    SECTION("truncated body") {
        // Frame whose body section holds only 3 bytes after the kind byte.
        bytes f = ping_frame();
        f.resize(16 + 4 + 1 + 5);
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        // body length 30 but only 5 bytes present
        expect_protocol(f, "overruns");
        // A kind-1 section first, then a kind-0 section with only 2 bytes left.
        bytes g;
        put_i32(g, 0);
        put_i32(g, 1);
        put_i32(g, 0);
        put_i32(g, 2013);
        put_i32(g, 0);
        g.push_back(1);
        put_i32(g, 4 + 2);
        put_str(g, std::string_view("d\0", 2));
        g.insert(g.end(), {0x00, 0x05, 0x00});
        set_i32(g, 0, static_cast<std::int32_t>(g.size()));
        expect_protocol(g, "truncated OP_MSG body");
    }
    SECTION("body length overrun and nonsense lengths") {
        bytes f = ping_frame();
        set_i32(f, 21, 31);
        expect_protocol(f, "overruns");
        set_i32(f, 21, INT32_MAX);
        expect_protocol(f, "overruns");
        set_i32(f, 21, -5);
        expect_protocol(f, "overruns");
        set_i32(f, 21, 4);
        expect_protocol(f, "overruns");
    }
    SECTION("invalid BSON") {
        bytes f = ping_frame();
        f.back() = 0x01;  // document terminator is not 0
        expect_protocol(f, "not a valid BSON");
        // Every document is validated in full when the frame is parsed: an element
        // overrunning its document is refused there, before any reader sees it.
        const bytes body = {23, 0, 0, 0, 0x02, 's', 0, 3, 0, 0, 0, 'a', 'b', 0,
                            0x10, 'o', 'k', 0, 1, 0, 0, 0, 0};
        f = ping_frame();
        f.resize(21);
        f.insert(f.end(), body.begin(), body.end());
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        REQUIRE_FALSE(parse(f, v, d));
        CHECK_FALSE(check_command_reply(&v.body, d));
        f[21 + 7] = 100;  // string length now overruns the document
        expect_protocol(f, "string overruns its document at byte 7 (field 's')");
    }
    SECTION("two bodies") {
        bytes f = ping_frame();
        f.push_back(0);
        f.insert(f.end(), ping_body.begin(), ping_body.end());
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        expect_protocol(f, "more than one body");
    }
    SECTION("no body") {
        // Only a kind-1 section.
        bytes f;
        put_i32(f, 0);
        put_i32(f, 1);
        put_i32(f, 0);
        put_i32(f, 2013);
        put_i32(f, 0);
        f.push_back(1);
        put_i32(f, 4 + 2 + 5);
        put_str(f, std::string_view("d\0", 2));
        f.insert(f.end(), {0x05, 0x00, 0x00, 0x00, 0x00});
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        expect_protocol(f, "no body");
    }
    SECTION("kind-1 length overrun / truncated") {
        bytes f = ping_frame();
        f.push_back(1);
        put_i32(f, 100);
        put_str(f, std::string_view("d\0", 2));
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        expect_protocol(f, "document sequence length 100 overruns");
        bytes g = ping_frame();
        g.push_back(1);
        g.push_back(0);
        set_i32(g, 0, static_cast<std::int32_t>(g.size()));
        expect_protocol(g, "truncated OP_MSG document sequence");
    }
    SECTION("bad checksum") {
        bytes f = ping_frame(7, 0, flags::checksum_present);
        put_i32(f, 0x12345678);
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        expect_protocol(f, "checksum mismatch");
        // checksumPresent on a frame too short to hold one
        bytes g = ping_frame(7, 0, flags::checksum_present);
        expect_protocol(g, "checksum");
    }
    SECTION("unknown required flag bits") {
        bytes f = ping_frame(7, 0, 1u << 2);
        expect_protocol(f, "unknown required flag bits 0x4");
        f = ping_frame(7, 0, 1u << 15);
        expect_protocol(f, "unknown required flag bits 0x8000");
    }
    SECTION("optional flag bits and kind-1 sections are accepted") {
        bytes f = ping_frame(7, 3, flags::exhaust_allowed | (1u << 20));
        f.push_back(1);
        put_i32(f, 4 + 2 + 5 + 5);
        put_str(f, std::string_view("d\0", 2));
        for (int i = 0; i < 2; ++i) f.insert(f.end(), {0x05, 0x00, 0x00, 0x00, 0x00});
        set_i32(f, 0, static_cast<std::int32_t>(f.size()));
        REQUIRE_FALSE(parse(f, v, d));
        CHECK(v.header.response_to == 3);
        CHECK(v.body.len == 30);
        CHECK_FALSE(v.more_to_come());
        bytes g = ping_frame(7, 3, flags::more_to_come);
        REQUIRE_FALSE(parse(g, v, d));
        CHECK(v.more_to_come());
    }
}

TEST_CASE("parse_op_msg survives every truncation and single-byte corruption", "[wire]") {
    // Exhaustive: no crash (ASan builds check for overreads), never success on a wrong length.
    bytes f = ping_frame(7, 0, flags::checksum_present);
    put_i32(f, 0);
    set_i32(f, 0, static_cast<std::int32_t>(f.size()));
    set_i32(f, f.size() - 4, static_cast<std::int32_t>(crc32c(f.data(), f.size() - 4)));
    op_msg_view v;
    diagnostics d;
    REQUIRE_FALSE(parse(f, v, d));
    for (std::size_t n = 0; n < f.size(); ++n) {
        // Copy into an exactly-sized heap buffer so ASan sees any read past the end.
        std::vector<std::uint8_t> cut(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK(parse_op_msg(std::span<const std::uint8_t>(cut.data(), cut.size()), v, d) == errc::protocol);
    }
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
        for (std::uint8_t x : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
            bytes g = f;
            g[i] ^= x;
            if (!parse(g, v, d)) ++accepted;
        }
    }
    // The CRC covers every byte before it, so no single corruption gets through.
    CHECK(accepted == 0);
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

TEST_CASE("check_command_reply: ok:1, ok:0 with code, codeName, errmsg, errorLabels", "[wire]") {
    diagnostics d;
    CHECK_FALSE(check_command_reply(bson::document::from_json(R"({"ok": 1})").get(), d));
    CHECK_FALSE(check_command_reply(bson::document::from_json(R"({"ok": 1.0})").get(), d));
    CHECK_FALSE(check_command_reply(bson::document::from_json(R"({"ok": {"$numberLong": "1"}})").get(), d));
    CHECK_FALSE(check_command_reply(bson::document::from_json(R"({"ok": true})").get(), d));

    auto err = bson::document::from_json(
        R"({"ok": 0, "errmsg": "E11000 duplicate key", "code": 11000, "codeName": "DuplicateKey",
            "errorLabels": ["RetryableWriteError", "TransientTransactionError"]})");
    CHECK(check_command_reply(err.get(), d) == errc::server_error);
    CHECK(d.message == "E11000 duplicate key");
    CHECK(d.server_code == 11000);
    CHECK(d.code_name == "DuplicateKey");
    REQUIRE(d.error_labels.size() == 2);
    CHECK(d.has_label("RetryableWriteError"));
    CHECK(d.has_label("TransientTransactionError"));
    CHECK_FALSE(d.has_label("NoWritesPerformed"));

    // ok:0 without errmsg still says something.
    CHECK(check_command_reply(bson::document::from_json(R"({"ok": 0.0})").get(), d) == errc::server_error);
    CHECK_FALSE(d.message.empty());
    CHECK(d.server_code == 0);
    CHECK(d.error_labels.empty());  // previous labels cleared

    // Malformed.
    CHECK(check_command_reply(bson::document::from_json(R"({"n": 1})").get(), d) == errc::protocol);
    CHECK(contains(d.message, "'ok'"));
    CHECK(check_command_reply(bson::document::from_json(R"({"ok": "yes"})").get(), d) == errc::protocol);
    CHECK(contains(d.message, "not numeric"));
}

TEST_CASE("parse_write_reply: n, nModified, writeErrors, writeConcernError, upserted", "[wire]") {
    write_reply r;
    diagnostics d;
    auto ok = bson::document::from_json(
        R"({"n": 3, "nModified": 2, "ok": 1,
            "upserted": [{"index": 1, "_id": "x"}, {"index": 4, "_id": {"$numberLong": "77"}}],
            "writeErrors": [{"index": 2, "code": 11000, "codeName": "DuplicateKey", "errmsg": "dup"},
                            {"index": 0, "code": 121, "errmsg": "validation"}],
            "writeConcernError": {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting timed out"}})");
    REQUIRE_FALSE(parse_write_reply(ok.get(), r, d));
    CHECK(r.n == 3);
    CHECK(r.n_modified == 2);
    REQUIRE(r.write_errors.size() == 2);
    CHECK(r.write_errors[0].index == 2);
    CHECK(r.write_errors[0].code == 11000);
    CHECK(r.write_errors[0].code_name == "DuplicateKey");
    CHECK(r.write_errors[0].message == "dup");
    CHECK(r.write_errors[1].index == 0);
    CHECK(r.write_errors[1].code == 121);
    CHECK(r.write_errors[1].code_name.empty());
    REQUIRE(r.write_concern_error);
    CHECK(r.write_concern_error->server_code == 64);
    CHECK(r.write_concern_error->code_name == "WriteConcernFailed");
    CHECK(r.write_concern_error->message == "waiting timed out");
    REQUIRE(r.upserted.size() == 2);
    CHECK(r.upserted[0].index == 1);
    CHECK(r.upserted[0].id.value_type == BSON_TYPE_UTF8);
    CHECK(std::string_view(r.upserted[0].id.value.v_utf8.str, r.upserted[0].id.value.v_utf8.len) == "x");
    CHECK(r.upserted[1].index == 4);
    CHECK(r.upserted[1].id.value_type == BSON_TYPE_INT64);
    CHECK(r.upserted[1].id.value.v_int64 == 77);

    // Move keeps the owned ids; the source is empty.
    write_reply moved = std::move(r);
    CHECK(moved.upserted.size() == 2);
    CHECK(r.upserted.empty());

    // Reuse: a second parse clears the previous results.
    REQUIRE_FALSE(parse_write_reply(bson::document::from_json(R"({"n": 1, "ok": 1})").get(), moved, d));
    CHECK(moved.n == 1);
    CHECK(moved.n_modified == 0);
    CHECK(moved.write_errors.empty());
    CHECK_FALSE(moved.write_concern_error);
    CHECK(moved.upserted.empty());

    // ok:0: the whole command failed.
    CHECK(parse_write_reply(bson::document::from_json(R"({"ok": 0, "code": 13, "codeName": "Unauthorized",
                                                          "errmsg": "not authorized"})")
                                .get(),
                            r, d) == errc::server_error);
    CHECK(d.server_code == 13);
    CHECK(d.code_name == "Unauthorized");

    // Malformed.
    CHECK(parse_write_reply(bson::document::from_json(R"({"n": 1, "ok": 1, "writeErrors": 5})").get(), r, d) ==
          errc::protocol);
    CHECK(contains(d.message, "writeErrors is not an array"));
    CHECK(parse_write_reply(bson::document::from_json(R"({"ok": 1, "writeErrors": [7]})").get(), r, d) ==
          errc::protocol);
    CHECK(contains(d.message, "not a document"));
    CHECK(parse_write_reply(bson::document::from_json(R"({"ok": 1, "writeErrors": [{"code": 1}]})").get(), r, d) ==
          errc::protocol);
    CHECK(contains(d.message, "without index"));
    CHECK(parse_write_reply(bson::document::from_json(R"({"n": 1})").get(), r, d) == errc::protocol);
}

TEST_CASE("parse_cursor_reply: firstBatch, nextBatch, malformed", "[wire]") {
    cursor_reply c;
    diagnostics d;
    auto first = bson::document::from_json(
        R"({"cursor": {"firstBatch": [{"_id": 1}, {"_id": 2}], "id": {"$numberLong": "123456789012"},
                       "ns": "db.coll"}, "ok": 1})");
    REQUIRE_FALSE(parse_cursor_reply(first.get(), c, d));
    CHECK(c.id == 123456789012);
    CHECK(c.ns == "db.coll");
    REQUIRE(c.batch_data != nullptr);
    bson_t batch;
    REQUIRE(bson_init_static(&batch, c.batch_data, c.batch_len));
    CHECK(bson_count_keys(&batch) == 2);
    // The batch is a view into the reply.
    CHECK(c.batch_data > bson_get_data(first.get()));
    CHECK(c.batch_data + c.batch_len <= bson_get_data(first.get()) + first.get()->len);

    cursor_reply n;
    auto next = bson::document::from_json(R"({"cursor": {"nextBatch": [], "id": 0, "ns": "db.coll"}, "ok": 1.0})");
    REQUIRE_FALSE(parse_cursor_reply(next.get(), n, d));
    CHECK(n.id == 0);
    REQUIRE(bson_init_static(&batch, n.batch_data, n.batch_len));
    CHECK(bson_count_keys(&batch) == 0);

    CHECK(parse_cursor_reply(bson::document::from_json(R"({"ok": 1})").get(), c, d) == errc::protocol);
    CHECK(contains(d.message, "no 'cursor'"));
    CHECK(parse_cursor_reply(bson::document::from_json(R"({"cursor": 1, "ok": 1})").get(), c, d) == errc::protocol);
    CHECK(parse_cursor_reply(bson::document::from_json(R"({"cursor": {"id": 0}, "ok": 1})").get(), c, d) ==
          errc::protocol);
    CHECK(contains(d.message, "lacks id or batch"));
    CHECK(parse_cursor_reply(bson::document::from_json(R"({"cursor": {"firstBatch": []}, "ok": 1})").get(), c, d) ==
          errc::protocol);
    CHECK(parse_cursor_reply(bson::document::from_json(R"({"cursor": {"firstBatch": {"a": 1}, "id": 0}, "ok": 1})")
                                 .get(),
                             c, d) == errc::protocol);
    CHECK(contains(d.message, "not an array"));
    CHECK(parse_cursor_reply(bson::document::from_json(R"({"ok": 0, "code": 43, "codeName": "CursorNotFound",
                                                           "errmsg": "cursor id 5 not found"})")
                                 .get(),
                             c, d) == errc::server_error);
    CHECK(d.code_name == "CursorNotFound");
}

// ---------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------

TEST_CASE("parse_hello: limits, wire version, setName, isdbgrid", "[wire]") {
    server_description sd;
    diagnostics d;
    auto rs = bson::document::from_json(
        R"({"isWritablePrimary": true, "maxBsonObjectSize": 1048576, "maxMessageSizeBytes": 2000000,
            "maxWriteBatchSize": 1000, "minWireVersion": 0, "maxWireVersion": 17,
            "logicalSessionTimeoutMinutes": 30, "setName": "rs0", "hosts": ["a:1", "b:2"],
            "saslSupportedMechs": ["SCRAM-SHA-1", "SCRAM-SHA-256"], "ok": 1})");
    REQUIRE_FALSE(parse_hello(rs.get(), sd, d));
    CHECK(sd.max_bson_object_size == 1048576);
    CHECK(sd.max_message_size_bytes == 2000000);
    CHECK(sd.max_write_batch_size == 1000);
    CHECK(sd.min_wire_version == 0);
    CHECK(sd.max_wire_version == 17);
    CHECK(sd.is_writable_primary);
    CHECK_FALSE(sd.is_mongos);
    CHECK(sd.set_name == "rs0");
    CHECK(sd.hosts == std::vector<std::string>{"a:1", "b:2"});
    CHECK(sd.sasl_supported_mechs == std::vector<std::string>{"SCRAM-SHA-1", "SCRAM-SHA-256"});
    CHECK(sd.logical_session_timeout_minutes == 30);

    // mongos; legacy ismaster; defaults for missing limits; previous values reset.
    auto mongos = bson::document::from_json(R"({"ismaster": true, "msg": "isdbgrid", "maxWireVersion": 6, "ok": 1})");
    REQUIRE_FALSE(parse_hello(mongos.get(), sd, d));
    CHECK(sd.is_mongos);
    CHECK(sd.is_writable_primary);
    CHECK(sd.set_name.empty());
    CHECK(sd.hosts.empty());
    CHECK(sd.max_bson_object_size == 16 * 1024 * 1024);
    CHECK(sd.max_message_size_bytes == 48'000'000);
    CHECK(sd.max_write_batch_size == 100'000);
    CHECK(sd.logical_session_timeout_minutes == -1);

    // Too old.
    auto old = bson::document::from_json(R"({"ismaster": true, "maxWireVersion": 5, "ok": 1})");
    CHECK(parse_hello(old.get(), sd, d) == errc::server_too_old);
    CHECK(contains(d.message, "maxWireVersion 5"));
    CHECK(parse_hello(bson::document::from_json(R"({"ok": 1})").get(), sd, d) == errc::server_too_old);

    // Hostile limits.
    CHECK(parse_hello(bson::document::from_json(R"({"maxWireVersion": 17, "maxMessageSizeBytes": 0, "ok": 1})").get(),
                      sd, d) == errc::protocol);
    CHECK(parse_hello(bson::document::from_json(R"({"maxWireVersion": 17, "maxBsonObjectSize": -1, "ok": 1})").get(),
                      sd, d) == errc::protocol);
    // ok:0 is a server error, not a parse.
    CHECK(parse_hello(bson::document::from_json(R"({"ok": 0, "errmsg": "no"})").get(), sd, d) == errc::server_error);
}

TEST_CASE("build_hello: command first, client metadata, $db admin", "[wire]") {
    bson::document body;
    hello_params p;
    p.app_name = std::string(200, 'a');
    p.sasl_user = "admin.bob";
    build_hello(body.get(), p);
    bson_iter_t it;
    REQUIRE(bson_iter_init(&it, body.get()));
    REQUIRE(bson_iter_next(&it));
    CHECK(std::string_view(bson_iter_key(&it)) == "hello");
    bson_iter_t f;
    REQUIRE(bson_iter_init_find(&f, body.get(), "saslSupportedMechs"));
    CHECK(std::string_view(bson_iter_utf8(&f, nullptr)) == "admin.bob");
    REQUIRE(bson_iter_init_find(&f, body.get(), "$db"));
    CHECK(std::string_view(bson_iter_utf8(&f, nullptr)) == "admin");
    REQUIRE(bson_iter_init(&f, body.get()));
    bson_iter_t app;
    REQUIRE(bson_iter_find_descendant(&f, "client.application.name", &app));
    std::uint32_t len = 0;
    bson_iter_utf8(&app, &len);
    CHECK(len == 128);  // appName truncated to the spec's limit
    REQUIRE(bson_iter_init(&f, body.get()));
    REQUIRE(bson_iter_find_descendant(&f, "client.driver.name", &app));
    CHECK(std::string_view(bson_iter_utf8(&app, nullptr)) == "morm");
    REQUIRE(bson_iter_init(&f, body.get()));
    CHECK_FALSE(bson_iter_find_descendant(&f, "loadBalanced", &app));
}
