// Interop with pymongo: documents written by morm read back by pymongo, and the reverse,
// compared byte for byte as BSON (tests/interop/pymongo_roundtrip.py is the other side).
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace morm;
using bson::document;

namespace {

const std::string script = std::string(MORM_SOURCE_DIR) + "/tests/interop/pymongo_roundtrip.py";

/// Runs a shell command, returns its exit status and combined output.
int shell(const std::string& cmd, std::string& output) {
    output.clear();
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return -1;
    char buf[1024];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    int st = ::pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

void require_pymongo() {
    std::string out;
    if (shell("python3 -c 'import pymongo'", out) != 0)
        FAIL("pymongo is not installed for python3: run scripts/deps.sh (it installs \"pymongo>=4,<5\"). " << out);
}

/// Documents covering every BSON type, as canonical Extended JSON; each type group in
/// its own document so a server lacking one type (FerretDB) costs only that document.
const std::vector<std::pair<const char*, const char*>> morm_documents = {
    {"scalars",
     R"({"_id": {"$numberInt": "1"}, "i32": {"$numberInt": "-42"}, "i64": {"$numberLong": "9007199254740993"},
         "dbl": {"$numberDouble": "2.5"}, "neg_dbl": {"$numberDouble": "-1.0E-7"}, "t": true, "f": false,
         "nil": null, "s": "ünïcödé ✓ \u0001 tab\t"})"},
    {"ids and time",
     R"({"_id": {"$numberInt": "2"}, "oid": {"$oid": "65e08a1c2f4b5a6d7e8f9a0b"},
         "when": {"$date": {"$numberLong": "1709214312345"}}, "epoch": {"$date": {"$numberLong": "0"}},
         "before_epoch": {"$date": {"$numberLong": "-14182940000"}},
         "ts": {"$timestamp": {"t": 1700000000, "i": 7}}})"},
    {"decimal128",
     R"({"_id": {"$numberInt": "3"}, "d": {"$numberDecimal": "1234567890.123456789"},
         "small": {"$numberDecimal": "-0.001"}, "big": {"$numberDecimal": "1E+6000"}})"},
    {"binary",
     R"({"_id": {"$numberInt": "4"}, "bin": {"$binary": {"base64": "AAEC/w==", "subType": "00"}},
         "uuid": {"$binary": {"base64": "EjRWeBI0VngSNFZ4EjRWeA==", "subType": "04"}},
         "user": {"$binary": {"base64": "Y3VzdG9t", "subType": "80"}},
         "empty": {"$binary": {"base64": "", "subType": "00"}}})"},
    {"nested documents and arrays",
     R"({"_id": {"$numberInt": "5"}, "doc": {"a": {"b": {"c": [{"$numberInt": "1"}, {"d": "deep"}]}}, "empty": {}},
         "arr": [{"$numberInt": "1"}, "two", {"$numberDouble": "3.5"}, null, {"six": {"$numberInt": "6"}}],
         "empty_arr": []})"},
    {"regex", R"({"_id": {"$numberInt": "6"}, "re": {"$regularExpression": {"pattern": "^ab+c$", "options": "i"}}})"},
    {"nested arrays", R"({"_id": {"$numberInt": "7"}, "arr": [[{"$numberInt": "4"}, [{"$numberInt": "5"}]], []]})"},
    {"min/max keys", R"({"_id": {"$numberInt": "8"}, "min": {"$minKey": 1}, "max": {"$maxKey": 1}})"},
    {"code", R"({"_id": {"$numberInt": "9"}, "code": {"$code": "function() { return 1; }"}})"},
};

struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/morm-interop-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

asio::awaitable<bool> server_is_ferretdb(const client& cl) {
    auto cmd = document::from_json(R"({"buildInfo": 1})");
    auto bi = co_await cl.run_command("admin", cmd);
    co_return bi.find("ferretdbVersion").has_value();
}

}  // namespace

TEST_CASE("documents written by morm read back identically by pymongo", "[interop][integration]") {
    require_pymongo();
    temp_dir tmp;
    const auto uri = morm_test::server_uri();
    const auto dbname = morm_test::unique_db("interop");
    // Written with morm one by one, so a type the server rejects fails only its document.
    auto written = morm_test::run([&]() -> asio::awaitable<std::vector<document>> {
        client_options o;
        auto cl = co_await client::connect(uri, o);
        const bool ferret = co_await server_is_ferretdb(cl);
        auto coll = cl.database(dbname).collection("from_morm");
        std::vector<document> ok;
        for (auto& [kind, json] : morm_documents) {
            auto d = document::from_json(json);
            insert_options io;
            std::string failure;
            try {
                co_await coll.insert_one(d, io);
                ok.push_back(std::move(d));
            } catch (const morm::error& e) {
                failure = e.what();
            }
            if (!failure.empty()) {
                if (!ferret) FAIL("server rejected the " << kind << " document: " << failure);
                WARN("skipped on FerretDB: " << kind << " document rejected by the server (" << failure << ")");
            }
        }
        co_return ok;
    });
    REQUIRE(written.size() >= 5);  // every server stores scalars, ids, time, binary, nested docs

    const fs::path expected = tmp.path / "expected.json";
    {
        std::ofstream f(expected);
        f << "[";
        for (std::size_t i = 0; i < written.size(); ++i)
            f << (i ? ",\n" : "") << written[i].to_json(bson::json_mode::canonical);
        f << "]\n";
    }
    std::string out;
    int rc = shell(fmt::format("python3 {} read {} {} from_morm {}", quote(script), quote(uri), quote(dbname),
                               quote(expected.string())),
                   out);
    INFO(out);
    CHECK(rc == 0);

    // The comparison can fail: a changed document is noticed.
    {
        std::ofstream f(expected);
        f << "[";
        for (std::size_t i = 0; i < written.size(); ++i) {
            auto d = written[i];
            if (i == 1) BSON_APPEND_INT32(d.get(), "extra", 1);
            f << (i ? ",\n" : "") << d.to_json(bson::json_mode::canonical);
        }
        f << "]\n";
    }
    rc = shell(fmt::format("python3 {} read {} {} from_morm {}", quote(script), quote(uri), quote(dbname),
                           quote(expected.string())),
               out);
    CHECK(rc == 1);
    CHECK(out.find("document 1 differs") != std::string::npos);

    morm_test::run([&]() -> asio::awaitable<void> {
        client_options o;
        auto cl = co_await client::connect(uri, o);
        auto db = cl.database(dbname);
        co_await db.drop();
    });
}

TEST_CASE("documents written by pymongo read back identically by morm", "[interop][integration]") {
    require_pymongo();
    temp_dir tmp;
    const auto uri = morm_test::server_uri();
    const auto dbname = morm_test::unique_db("interop");
    const fs::path written = tmp.path / "written.json";
    std::string out;
    int rc = shell(fmt::format("python3 {} write {} {} from_pymongo {}", quote(script), quote(uri), quote(dbname),
                               quote(written.string())),
                   out);
    INFO(out);
    REQUIRE(rc == 0);
    std::stringstream ss;
    ss << std::ifstream(written).rdbuf();
    // The file is a JSON array; wrap it so libbson parses it as one document.
    auto wrapped = document::from_json("{\"docs\": " + ss.str() + "}");

    morm_test::run([&]() -> asio::awaitable<void> {
        client_options o;
        auto cl = co_await client::connect(uri, o);
        const bool ferret = co_await server_is_ferretdb(cl);
        auto coll = cl.database(dbname).collection("from_pymongo");
        document all;
        find_options fo;
        fo.sort = document::from_json(R"({"_id": 1})");
        auto cur = co_await coll.find(all, fo);
        auto got = co_await cur.to_vector();

        std::vector<bson::document_view> expected;
        auto arr = wrapped.find("docs");
        REQUIRE(arr);
        bson_iter_t it;
        REQUIRE(bson_iter_recurse(&*arr, &it));
        while (bson_iter_next(&it)) {
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&it, &len, &data);
            expected.emplace_back(data, len);
        }
        // pymongo writes 9 documents; only FerretDB may have refused some (reported above).
        if (expected.size() < 9) {
            if (!ferret) FAIL("pymongo could not write every document: " << out);
            WARN("skipped on FerretDB: " << 9 - expected.size() << " pymongo documents rejected by the server:\n" << out);
        }
        REQUIRE(expected.size() >= 5);
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            INFO("document " << i << "\n  morm read: " << got[i].to_json(bson::json_mode::canonical)
                             << "\n  pymongo wrote: " << expected[i].to_json(bson::json_mode::canonical));
            CHECK(got[i].view() == expected[i]);
        }
        // Spot checks through morm's typed views, so equal-but-wrong bytes cannot pass.
        auto when = got[1].find("when");
        REQUIRE(when);
        REQUIRE(BSON_ITER_HOLDS_DATE_TIME(&*when));
        CHECK(bson_iter_date_time(&*when) == 1709214312345);
        auto i64 = got[0].find("i64");
        REQUIRE(i64);
        CHECK(BSON_ITER_HOLDS_INT64(&*i64));
        auto uuid = got[2].find("uuid");  // index 2 = _id 4 when decimal is missing, else _id 3
        if (!(uuid && BSON_ITER_HOLDS_BINARY(&*uuid))) uuid = got[3].find("uuid");
        REQUIRE(uuid);
        bson_subtype_t st;
        std::uint32_t blen;
        const std::uint8_t* bdata;
        bson_iter_binary(&*uuid, &st, &blen, &bdata);
        CHECK(st == BSON_SUBTYPE_UUID);
        CHECK(blen == 16);
        auto db = cl.database(dbname);
        co_await db.drop();
    });
}
