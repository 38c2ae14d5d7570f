// Writes the seed corpora that are built with the library's own writers:
//   morm_fuzz_make_seeds <dir>   -> <dir>/fuzz_op_msg, fuzz_bson, fuzz_model_decode,
//                                   fuzz_json, fuzz_scram
// Run once by hand (the output is committed under tests/fuzz/corpus/); hand-written seeds
// (URIs, odd JSON) live next to them. File names are stable so a re-run overwrites in place.
#include "fuzz_models.hpp"

#include <morm/bson.hpp>
#include <morm/codec/encode.hpp>
#include <morm/wire/op_msg.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace morm;

fs::path out_dir;

void write(std::string_view harness, std::string_view name, const void* data, std::size_t size) {
    const fs::path dir = out_dir / harness;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary).write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}
void write(std::string_view harness, std::string_view name, std::string_view s) {
    write(harness, name, s.data(), s.size());
}
void write(std::string_view harness, std::string_view name, const bson::document& d) {
    write(harness, name, d.data(), d.size());
}

// Server replies of every command family (the shapes the unit tests use).
const std::pair<const char*, const char*> replies[] = {
    {"ok", R"({"ok": 1})"},
    {"ok_double", R"({"ok": 1.0})"},
    {"error", R"({"ok": 0, "errmsg": "E11000 duplicate key", "code": 11000, "codeName": "DuplicateKey",
                 "errorLabels": ["RetryableWriteError", "TransientTransactionError"]})"},
    {"write", R"({"n": 3, "nModified": 2, "ok": 1,
                 "upserted": [{"index": 1, "_id": "x"}, {"index": 4, "_id": {"$numberLong": "77"}}],
                 "writeErrors": [{"index": 2, "code": 11000, "codeName": "DuplicateKey", "errmsg": "dup"},
                                 {"index": 0, "code": 121, "errmsg": "validation"}],
                 "writeConcernError": {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "timed out"}})"},
    {"cursor_first", R"({"cursor": {"firstBatch": [{"_id": 1, "name": "a"}, {"_id": 2}],
                        "id": {"$numberLong": "123456789012"}, "ns": "db.coll"}, "ok": 1})"},
    {"cursor_next", R"({"cursor": {"nextBatch": [{"_id": 3}], "id": 0, "ns": "db.coll"}, "ok": 1.0})"},
    {"list_collections", R"({"cursor": {"firstBatch": [{"name": "users", "type": "collection"}],
                            "id": 0, "ns": "db.$cmd.listCollections"}, "ok": 1})"},
    {"count_agg", R"({"cursor": {"firstBatch": [{"n": 42}], "id": 0, "ns": "db.c"}, "ok": 1})"},
    {"count", R"({"n": 7, "ok": 1})"},
    {"distinct", R"({"values": [1, "two", {"three": 3}, null], "ok": 1})"},
    {"find_and_modify", R"({"lastErrorObject": {"n": 1, "updatedExisting": true}, "value": {"_id": 1, "v": 2},
                           "ok": 1})"},
    {"find_and_modify_null", R"({"lastErrorObject": {"n": 0}, "value": null, "ok": 1})"},
    {"list_databases", R"({"databases": [{"name": "admin", "sizeOnDisk": 1, "empty": false}, {"name": "test"}],
                          "totalSize": 1, "ok": 1})"},
    {"kill_cursors", R"({"cursorsKilled": [{"$numberLong": "5"}], "cursorsNotFound": [], "cursorsAlive": [],
                        "cursorsUnknown": [], "ok": 1})"},
    {"sasl", R"({"conversationId": 1, "done": false,
                "payload": {"$binary": {"base64": "cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=", "subType": "00"}},
                "ok": 1})"},
    {"hello_rs", R"({"isWritablePrimary": true, "maxBsonObjectSize": 1048576, "maxMessageSizeBytes": 2000000,
                    "maxWriteBatchSize": 1000, "minWireVersion": 0, "maxWireVersion": 17,
                    "logicalSessionTimeoutMinutes": 30, "setName": "rs0", "setVersion": 3,
                    "electionId": {"$oid": "7fffffff0000000000000001"}, "primary": "a:1",
                    "hosts": ["a:1", "b:2"], "passives": ["c:3"], "arbiters": ["d:4"],
                    "me": "a:1", "tags": {"dc": "east"}, "topologyVersion": {"processId": {"$oid": "000000000000000000000001"},
                    "counter": {"$numberLong": "0"}}, "lastWrite": {"lastWriteDate": {"$date": 1700000000000}},
                    "saslSupportedMechs": ["SCRAM-SHA-1", "SCRAM-SHA-256"], "helloOk": true, "ok": 1})"},
    {"hello_secondary", R"({"isWritablePrimary": false, "secondary": true, "setName": "rs0", "hosts": ["a:1", "b:2"],
                           "maxWireVersion": 17, "ok": 1})"},
    {"hello_mongos", R"({"ismaster": true, "msg": "isdbgrid", "maxWireVersion": 6, "ok": 1})"},
    {"hello_lb", R"({"isWritablePrimary": true, "serviceId": {"$oid": "000000000000000000000002"},
                    "maxWireVersion": 17, "ok": 1})"},
    {"hello_old", R"({"ismaster": true, "maxWireVersion": 5, "ok": 1})"},
    {"cluster_time", R"({"ok": 1, "$clusterTime": {"clusterTime": {"$timestamp": {"t": 1, "i": 2}},
                        "signature": {"hash": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "subType": "00"}},
                        "keyId": {"$numberLong": "0"}}}, "operationTime": {"$timestamp": {"t": 1, "i": 2}}})"},
};

// A reply frame answering request 7 (what the harness's parse_reply_frame expects).
std::vector<std::uint8_t> reply_frame(const bson::document& body, std::uint32_t flags, bool with_sequence) {
    wire::frame_buffer buf;
    {
        wire::op_msg_writer w(buf, 99, flags);
        bson_concat(w.begin_body(), body.get());
        w.end_body();
        if (with_sequence) {
            w.begin_sequence("documents");
            bson_append_int32(w.begin_document(), "_id", 3, 1);
            w.end_document();
            bson_append_utf8(w.begin_document(), "s", 1, "x", 1);
            w.end_document();
            w.end_sequence();
        }
        w.finish();
    }
    std::vector<std::uint8_t> f(buf.data(), buf.data() + buf.size());
    f[8] = 7;  // responseTo
    if (flags & wire::flags::checksum_present) {
        const std::uint32_t crc = wire::crc32c(f.data(), f.size() - 4);
        for (int i = 0; i < 4; ++i) f[f.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    }
    return f;
}

void op_msg_seeds() {
    for (const auto& [name, json] : replies) {
        const auto body = bson::document::from_json(json);
        const std::string n(name);
        write("fuzz_op_msg", "body_" + n, body);
        auto f = reply_frame(body, 0, false);
        write("fuzz_op_msg", "frame_" + n, f.data(), f.size());
        write("fuzz_json", "reply_" + n, body.to_json(bson::json_mode::canonical));
    }
    const auto body = bson::document::from_json(replies[0].second);
    auto crc = reply_frame(body, wire::flags::checksum_present, false);
    write("fuzz_op_msg", "frame_checksum", crc.data(), crc.size());
    auto seq = reply_frame(body, 0, true);
    write("fuzz_op_msg", "frame_sequence", seq.data(), seq.size());
    auto both = reply_frame(bson::document::from_json(replies[3].second), wire::flags::checksum_present, true);
    write("fuzz_op_msg", "frame_sequence_checksum", both.data(), both.size());
    auto more = reply_frame(body, wire::flags::more_to_come, false);
    write("fuzz_op_msg", "frame_more_to_come", more.data(), more.size());
}

// One document holding every BSON type, written with libbson's appenders (the JSON reader
// cannot express all of them), plus nesting.
bson::document every_type() {
    bson::document d;
    bson_t* b = d.get();
    bson_append_double(b, "double", -1, 1.5);
    bson_append_utf8(b, "string", -1, "h\xC3\xA9llo", -1);
    bson_t child;
    bson_append_document_begin(b, "doc", -1, &child);
    bson_append_int32(&child, "a", -1, 1);
    bson_t grand;
    bson_append_array_begin(&child, "arr", -1, &grand);
    bson_append_utf8(&grand, "0", -1, "x", -1);
    bson_append_bool(&grand, "1", -1, true);
    bson_append_array_end(&child, &grand);
    bson_append_document_end(b, &child);
    bson_append_array_begin(b, "array", -1, &child);
    bson_append_int64(&child, "0", -1, 1);
    bson_append_null(&child, "1", -1);
    bson_append_array_end(b, &child);
    const std::uint8_t bin[] = {0, 1, 2, 0xFF};
    bson_append_binary(b, "binary", -1, BSON_SUBTYPE_BINARY, bin, sizeof bin);
    bson_append_binary(b, "uuid", -1, BSON_SUBTYPE_UUID, reinterpret_cast<const std::uint8_t*>("0123456789abcdef"), 16);
    bson_append_binary(b, "binary_old", -1, BSON_SUBTYPE_BINARY_DEPRECATED, bin, sizeof bin);
    bson_append_undefined(b, "undefined", -1);
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, "5f43a1b2c3d4e5f601234567");
    bson_append_oid(b, "oid", -1, &oid);
    bson_append_bool(b, "bool", -1, false);
    bson_append_date_time(b, "date", -1, 1700000000123);
    bson_append_null(b, "null", -1);
    bson_append_regex(b, "regex", -1, "^a.*b$", "imsx");
    bson_append_dbpointer(b, "dbpointer", -1, "db.coll", &oid);
    bson_append_code(b, "code", -1, "function() { return 1; }");
    bson_append_symbol(b, "symbol", -1, "sym", -1);
    bson::document scope;
    bson_append_int32(scope.get(), "x", -1, 1);
    bson::append_code_w_scope(b, "code_w_scope", "function() { return x; }", scope.view());
    bson_append_int32(b, "int32", -1, -7);
    bson_append_timestamp(b, "timestamp", -1, 1700000000, 5);
    bson_append_int64(b, "int64", -1, INT64_MIN);
    bson_decimal128_t dec;
    bson_decimal128_from_string("-1.2345E+6000", &dec);
    bson_append_decimal128(b, "decimal", -1, &dec);
    bson_append_minkey(b, "minkey", -1);
    bson_append_maxkey(b, "maxkey", -1);
    return d;
}

void bson_seeds() {
    const auto all = every_type();
    write("fuzz_bson", "every_type", all);
    write("fuzz_json", "every_type_canonical", all.to_json(bson::json_mode::canonical));
    write("fuzz_json", "every_type_relaxed", all.to_json(bson::json_mode::relaxed));
    write("fuzz_bson", "empty", bson::document());
    // Nesting, 50 levels.
    bson::document deep = bson::document::from_json(R"({"leaf": 1})");
    for (int i = 0; i < 50; ++i) {
        bson::document outer;
        bson_append_document(outer.get(), "d", -1, deep.get());
        deep = std::move(outer);
    }
    write("fuzz_bson", "deep50", deep);
    for (const auto& [name, json] : replies) write("fuzz_bson", std::string("reply_") + name, bson::document::from_json(json));
}

fz::Everything populated() {
    using namespace std::chrono;
    fz::Everything e;
    e.id = bson::object_id::from_hex("5f43a1b2c3d4e5f601234567");
    e.s = "h\xC3\xA9llo";
    e.b = true;
    e.i8 = -8;
    e.i16 = -1600;
    e.i32 = -320000;
    e.i64 = 6400000000;
    e.u8 = 200;
    e.u16 = 60000;
    e.u32 = 4000000000u;
    e.u64 = 9000000000000000000ull;
    e.f = 1.25f;
    e.d = -2.5e300;
    e.color = fz::Color::blue;
    e.level = fz::Level::high;
    e.small = fz::Small::b;
    e.plain = fz::plain_c;
    e.opt_i = 5;
    e.opt_when = system_clock::time_point(milliseconds(1700000000123));
    e.nums = {1, -2, 3};
    e.reals = {0.5, -0.0};
    e.nested_vec = {{"a", "b"}, {}};
    e.flags = {true, std::nullopt, false};
    e.counts = {{"x", 1}, {"y", 2}};
    e.weights = {{"w", 0.25}};
    e.bags = {{"bag", {bson::value(std::int32_t(1)), bson::value("two"), bson::value()}}};
    e.when = system_clock::time_point(milliseconds(1700000000123));
    e.when_ms = sys_time<milliseconds>(milliseconds(-62135596800000));  // year 1
    e.when_s = sys_time<seconds>(seconds(253402300799));                 // 9999-12-31T23:59:59
    e.day = year_month_day(year(2024), February, day(29));
    e.bin.subtype = BSON_SUBTYPE_UUID;
    e.bin.data.assign(16, 0xAB);
    e.dec = bson::decimal128::from_string("1.10");
    e.raw = bson::document::from_json(R"({"k": [1, {"z": null}]})");
    e.any = bson::value(bson::document::from_json(R"({"nested": true})"));
    e.node.leaf = {1, "one"};
    e.node.leaves = {{2, std::nullopt}, {3, "three"}};
    e.node.maybe = fz::Leaf{4, std::nullopt};
    e.node.by_name = {{"five", {5, "v"}}};
    e.nodes.resize(2);
    return e;
}

void model_seeds() {
    const auto e = populated();
    write("fuzz_model_decode", "everything", codec::encode(e));
    fz::Everything defaults;
    write("fuzz_model_decode", "everything_defaults", codec::encode(defaults));
    write("fuzz_model_decode", "node", codec::encode(e.node));
    fz::Flagged f;
    f.id = "x";
    f.renamed = "r";
    f.must = 1;
    f.strict = {1, "b"};
    f.rest = bson::document::from_json(R"({"extra": 1, "more": {"a": [1]}})");
    write("fuzz_model_decode", "flagged", codec::encode(f));
    // The alias: stored under its former name.
    write("fuzz_model_decode", "flagged_alias",
          bson::document::from_json(R"({"_id": "y", "old_name": "r", "must": null, "strict": {"a": 2, "b": ""}})"));
    write("fuzz_json", "everything_model", codec::encode(e).to_json(bson::json_mode::canonical));
}

void scram_seeds() {
    // byte 0: mode bits (see fuzz_scram.cpp), then server-first "\n" server-final.
    const std::string first256 = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const std::string final256 = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    const std::string first1 = "r=rOprNGfwEbeRWgbNEkqOHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=4096";
    auto seed = [](std::string_view name, char mode, const std::string& a, const std::string& b) {
        write("fuzz_scram", name, std::string(1, mode) + a + "\n" + b);
    };
    seed("sha256_rfc7677", 0, first256, final256);
    seed("sha256_honest", 4, first256, "");
    seed("sha256_cached_honest", 6, first256, "");
    seed("sha1_honest", 5, first1, "");
    seed("sha1_fuzzed_final", 1, first1, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    seed("server_error", 0, first256, "e=other-error");
    seed("extension", 0, first256 + ",x=ext", final256 + ",y=ext");
    seed("mandatory_extension", 0, "m=ext," + first256, "");
    seed("out_of_order", 8, "", final256);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    op_msg_seeds();
    bson_seeds();
    model_seeds();
    scram_seeds();
    return 0;
}
