// The sans-io algorithms (wire/algo/) driven by scripts of expected writes and canned
// reads, with a connection reset and a cancellation injected at every step; then the one
// driver (net/driver.hpp) over a loopback socket. No server.
#include "algo_harness.hpp"

#include <morm/client/batch_write.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/detail/base64.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/batch_splitter.hpp>
#include <morm/wire/algo/command_exchange.hpp>
#include <morm/wire/algo/cursor_iteration.hpp>
#include <morm/wire/algo/frame_reader.hpp>
#include <morm/wire/algo/handshake.hpp>
#include <morm/wire/algo/write_run.hpp>
#include <morm/wire/commands/get_more.hpp>
#include <morm/wire/commands/hello.hpp>
#include <morm/wire/commands/kill_cursors.hpp>
#include <morm/wire/commands/sasl.hpp>
#include <morm/wire/commands/write_commands.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <cstring>

using namespace algo_test;
using namespace morm;
using namespace morm::wire::algo;
using item_state = item_outcome::state;

namespace {

// ---------------------------------------------------------------- handshake fixtures

constexpr std::string_view hello_ok =
    R"({"ok": 1, "isWritablePrimary": true, "maxBsonObjectSize": 16777216, "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000, "minWireVersion": 0, "maxWireVersion": 21})";
constexpr std::string_view hello_with_mechs =
    R"({"ok": 1, "isWritablePrimary": true, "maxWireVersion": 21, "maxWriteBatchSize": 1000,
        "saslSupportedMechs": ["SCRAM-SHA-256", "SCRAM-SHA-1"]})";
constexpr std::string_view hello_sha1_only =
    R"({"ok": 1, "isWritablePrimary": true, "maxWireVersion": 21, "saslSupportedMechs": ["SCRAM-SHA-1"]})";

// RFC 7677 (SCRAM-SHA-256) and the MongoDB Authentication spec (SCRAM-SHA-1) vectors.
constexpr std::string_view sha256_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view sha256_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view sha256_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view sha256_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view sha1_nonce = "fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view sha1_server_first =
    "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000";
constexpr std::string_view sha1_client_final =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=";
constexpr std::string_view sha1_server_final = "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=";

std::string sasl_reply(std::string_view payload, bool done, int conversation = 1) {
    return fmt::format(R"({{"ok": 1, "conversationId": {}, "done": {}, "payload": {{"$binary": {{"base64": "{}", "subType": "00"}}}}}})",
                       conversation, done ? "true" : "false", morm::detail::base64_encode(payload));
}

struct hs_fixture {
    handshake_params p;
    wire::frame_buffer out;
    std::int32_t rid = 0;
    wire::server_description sd;
    handshake_algo algo{p, out, rid, sd};
};

auto make_hs(handshake_params p) {
    return [p] {
        auto f = std::make_unique<hs_fixture>();
        f->p = p;
        return f;
    };
}

handshake_params with_user(std::string mechanism, std::string_view nonce) {
    handshake_params p;
    p.hello.app_name = "algo-tests";
    p.auth = auth_params{"user", "pencil", "admin", std::move(mechanism)};
    p.client_nonce = std::string(nonce);
    return p;
}

void expect_hello(script& s, std::string_view reply, bool sasl_user) {
    s.expect_write([sasl_user](const std::vector<sent_command>& f) {
         REQUIRE(f.size() == 1);
         CHECK(f[0].name == "hello");
         CHECK(f[0].db == "admin");
         CHECK(f[0].request_id == 1);
         CHECK(f[0].has("client.driver.name"));
         CHECK(f[0].has("saslSupportedMechs") == sasl_user);
     }).read(reply_frame(1, reply));
}

/// hello, saslStart, saslContinue(proof) for the given vector.
script scram_script(std::string_view hello, std::string_view mech, std::string_view nonce, std::string_view first,
                    std::string_view client_final, std::string_view final_msg, bool negotiate) {
    script s;
    expect_hello(s, hello, negotiate);
    s.expect_write([mech = std::string(mech), nonce = std::string(nonce)](const std::vector<sent_command>& f) {
         REQUIRE(f.size() == 1);
         CHECK(f[0].name == "saslStart");
         CHECK(f[0].db == "admin");
         CHECK(f[0].str_at("mechanism") == mech);
         CHECK(f[0].binary_at("payload") == "n,,n=user,r=" + nonce);
         CHECK(f[0].has("options.skipEmptyExchange"));
     })
        .read(reply_frame(2, sasl_reply(first, false, 7)))
        .expect_write([cf = std::string(client_final)](const std::vector<sent_command>& f) {
            REQUIRE(f.size() == 1);
            CHECK(f[0].name == "saslContinue");
            CHECK(f[0].int_at("conversationId") == 7);
            CHECK(f[0].binary_at("payload") == cf);
        })
        .read(reply_frame(3, sasl_reply(final_msg, true, 7)));
    return s;
}

// ---------------------------------------------------------------- cursor fixtures

struct gm_fixture {
    wire::frame_buffer out;
    std::int32_t rid = 0;
    get_more_algo algo;
    gm_fixture(std::int64_t id, std::int32_t batch) : algo(out, rid, "db", "items", id, batch) {}
};

std::string next_batch(std::int64_t id, std::string_view docs) {
    return fmt::format(R"({{"ok": 1, "cursor": {{"id": {{"$numberLong": "{}"}}, "ns": "db.items", "nextBatch": [{}]}}}})",
                       id, docs);
}

script::write_check expect_get_more(std::int32_t rid, std::int64_t id, std::int64_t batch) {
    return [=](const std::vector<sent_command>& f) {
        REQUIRE(f.size() == 1);
        CHECK(f[0].request_id == rid);
        CHECK(f[0].name == "getMore");
        CHECK(f[0].db == "db");
        CHECK(f[0].int_at("getMore") == id);
        CHECK(f[0].str_at("collection") == "items");
        if (batch > 0) CHECK(f[0].int_at("batchSize") == batch);
        else CHECK_FALSE(f[0].has("batchSize"));
    };
}

struct kc_fixture {
    wire::frame_buffer out;
    std::int32_t rid = 0;
    kill_cursors_algo algo{out, rid, "db", "items", 42};
};

// ---------------------------------------------------------------- write fixtures

/// A group whose item i is {_id: i, pad: "<pad bytes>"}.
write_group make_group(write_kind kind, std::size_t count, bool ordered, std::size_t pad = 0,
                       std::string coll = "items") {
    write_group g;
    g.db = "db";
    g.collection = std::move(coll);
    g.kind = kind;
    g.ordered = ordered;
    g.count = count;
    g.encode = [kind, pad](std::size_t i, bson_t* dst, diagnostics&) -> error_code {
        if (kind == write_kind::insert) {
            bson_append_int64(dst, "_id", 3, static_cast<std::int64_t>(i));
            if (pad) {
                std::string s(pad, 'x');
                bson_append_utf8(dst, "pad", 3, s.data(), static_cast<int>(s.size()));
            }
        } else {
            bson_t q;
            bson_append_document_begin(dst, "q", 1, &q);
            bson_append_int64(&q, "_id", 3, static_cast<std::int64_t>(i));
            bson_append_document_end(dst, &q);
            if (kind == write_kind::update) {
                bson_t u, set;
                bson_append_document_begin(dst, "u", 1, &u);
                bson_append_document_begin(&u, "$set", 4, &set);
                bson_append_int32(&set, "v", 1, 1);
                bson_append_document_end(&u, &set);
                bson_append_document_end(dst, &u);
            } else {
                bson_append_int32(dst, "limit", 5, 1);
            }
        }
        return {};
    };
    return g;
}

struct wr_fixture {
    std::vector<write_group> groups;
    wire::frame_buffer out;
    std::int32_t rid = 0;
    write_limits limits;
    pipeline_stats stats;
    std::optional<write_run_algo> run;
    write_run_algo& algo_ref() { return *run; }
    void start() { run.emplace(groups, out, rid, limits, &stats); }
};

/// Adapts wr_fixture to the harness's `fx->algo` convention.
struct wr_holder {
    std::unique_ptr<wr_fixture> f;
    write_run_algo& algo;
    explicit wr_holder(std::unique_ptr<wr_fixture> x) : f(std::move(x)), algo((f->start(), *f->run)) {}
};

std::string ok_n(std::size_t n) { return fmt::format(R"({{"ok": 1, "n": {}}})", n); }

script::write_check expect_frames(std::vector<std::pair<std::string, std::size_t>> names_and_sizes,
                                  std::int32_t first_rid) {
    return [=](const std::vector<sent_command>& f) {
        REQUIRE(f.size() == names_and_sizes.size());
        for (std::size_t i = 0; i < f.size(); ++i) {
            CHECK(f[i].name == names_and_sizes[i].first);
            CHECK(f[i].request_id == first_rid + static_cast<std::int32_t>(i));
            const char* seq = f[i].name == "insert" ? "documents" : f[i].name == "update" ? "updates" : "deletes";
            CHECK(f[i].array_size(seq) == names_and_sizes[i].second);
        }
    };
}

std::vector<item_state> states(const write_group& g) {
    std::vector<item_state> v;
    for (auto& o : g.outcomes) v.push_back(o.st);
    return v;
}

}  // namespace

// ====================================================================== handshake

TEST_CASE("algo: handshake without credentials is one hello", "[algo]") {
    handshake_params p;
    p.hello.app_name = "algo-tests";
    script s;
    expect_hello(s, hello_ok, false);
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK_FALSE(r.ec);
    CHECK(fx->sd.max_wire_version == 21);
    CHECK(fx->sd.max_write_batch_size == 100000);
    CHECK(fx->sd.is_writable_primary);
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake negotiates SCRAM-SHA-256 and verifies the server", "[algo]") {
    auto p = with_user("", sha256_nonce);
    auto s = scram_script(hello_with_mechs, "SCRAM-SHA-256", sha256_nonce, sha256_server_first, sha256_client_final,
                          sha256_server_final, true);
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK_FALSE(r.ec);
    CHECK(fx->algo.mechanism() == wire::scram_mechanism::sha256);
    CHECK(fx->sd.max_write_batch_size == 1000);
    check_network_errors(make_hs(p), s, [](hs_fixture& f, std::size_t step) {
        CHECK(f.algo.diag().message == "injected I/O failure");  // the driver's words, passed through
        if (step >= 2) CHECK(f.sd.max_wire_version == 21);       // hello was applied before the cut
    });
    check_cancellation(make_hs(p), s, [](hs_fixture&, std::size_t) {});
}

TEST_CASE("algo: handshake with SCRAM-SHA-1 named explicitly", "[algo]") {
    auto p = with_user("SCRAM-SHA-1", sha1_nonce);
    auto s = scram_script(hello_ok, "SCRAM-SHA-1", sha1_nonce, sha1_server_first, sha1_client_final, sha1_server_final,
                          false);
    auto fx = make_hs(p)();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK(fx->algo.mechanism() == wire::scram_mechanism::sha1);
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake falls back to SCRAM-SHA-1 when the user only has it", "[algo]") {
    auto p = with_user("", sha1_nonce);
    auto s = scram_script(hello_sha1_only, "SCRAM-SHA-1", sha1_nonce, sha1_server_first, sha1_client_final,
                          sha1_server_final, true);
    auto fx = make_hs(p)();
    CHECK_FALSE(s.run(fx->algo).ec);
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake sends an empty saslContinue while the server is not done", "[algo]") {
    auto p = with_user("SCRAM-SHA-256", sha256_nonce);
    script s;
    expect_hello(s, hello_ok, false);
    s.expect_write([](const std::vector<sent_command>& f) { CHECK(f[0].name == "saslStart"); })
        .read(reply_frame(2, sasl_reply(sha256_server_first, false)))
        .expect_write([](const std::vector<sent_command>& f) { CHECK(f[0].name == "saslContinue"); })
        .read(reply_frame(3, sasl_reply(sha256_server_final, false)))
        .expect_write([](const std::vector<sent_command>& f) {
            REQUIRE(f.size() == 1);
            CHECK(f[0].name == "saslContinue");
            CHECK(f[0].request_id == 4);
            CHECK(f[0].binary_at("payload").empty());
        })
        .read(reply_frame(4, sasl_reply("", true)));
    auto fx = make_hs(p)();
    CHECK_FALSE(s.run(fx->algo).ec);
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake gives up on a SASL conversation that never finishes", "[algo]") {
    auto p = with_user("SCRAM-SHA-256", sha256_nonce);
    script s;
    expect_hello(s, hello_ok, false);
    s.expect_write([](auto&) {}).read(reply_frame(2, sasl_reply(sha256_server_first, false)));
    s.expect_write([](auto&) {}).read(reply_frame(3, sasl_reply(sha256_server_final, false)));
    s.expect_write([](auto&) {}).read(reply_frame(4, sasl_reply("", false)));
    s.expect_write([](auto&) {}).read(reply_frame(5, sasl_reply("", false)));
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK(r.ec == errc::auth_failed);
    CHECK_THAT(r.diag.message, Catch::Contains("did not finish"));
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake reports a rejected saslStart as auth_failed", "[algo]") {
    auto p = with_user("SCRAM-SHA-256", sha256_nonce);
    script s;
    expect_hello(s, hello_ok, false);
    s.expect_write([](auto&) {})
        .read(reply_frame(2, R"({"ok": 0, "code": 18, "codeName": "AuthenticationFailed", "errmsg": "bad user"})"));
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK(r.ec == errc::auth_failed);
    CHECK_THAT(r.diag.message, Catch::Contains("user 'user'") && Catch::Contains("SCRAM-SHA-256") &&
                                   Catch::Contains("bad user") && !Catch::Contains("pencil"));
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake rejects a wrong server signature", "[algo]") {
    auto p = with_user("SCRAM-SHA-256", sha256_nonce);
    script s;
    expect_hello(s, hello_ok, false);
    s.expect_write([](auto&) {})
        .read(reply_frame(2, sasl_reply(sha256_server_first, false)))
        .expect_write([](auto&) {})
        .read(reply_frame(3, sasl_reply("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true)));
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK(r.ec == errc::auth_failed);
    CHECK_THAT(r.diag.message, Catch::Contains("signature"));
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake rejects a server nonce that does not extend ours", "[algo]") {
    auto p = with_user("SCRAM-SHA-256", sha256_nonce);
    script s;
    expect_hello(s, hello_ok, false);
    s.expect_write([](auto&) {}).read(reply_frame(2, sasl_reply("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", false)));
    auto fx = make_hs(p)();
    CHECK(s.run(fx->algo).ec == errc::auth_failed);
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake fails on hello ok:0 and on a server too old", "[algo]") {
    handshake_params p;
    SECTION("ok:0") {
        script s;
        expect_hello(s, R"({"ok": 0, "code": 13, "codeName": "Unauthorized", "errmsg": "no"})", false);
        auto fx = make_hs(p)();
        auto r = s.run(fx->algo);
        CHECK(r.ec == errc::server_error);
        CHECK(r.diag.server_code == 13);
        check_io_failures(make_hs(p), s);
    }
    SECTION("wire version 5") {
        script s;
        expect_hello(s, R"({"ok": 1, "maxWireVersion": 5})", false);
        auto fx = make_hs(p)();
        CHECK(s.run(fx->algo).ec == errc::server_too_old);
        check_io_failures(make_hs(p), s);
    }
}

TEST_CASE("algo: handshake refuses an unsupported mechanism after hello, sending nothing more", "[algo]") {
    auto p = with_user("PLAIN", "");
    script s;
    expect_hello(s, hello_ok, false);
    auto fx = make_hs(p)();
    auto r = s.run(fx->algo);
    CHECK(r.ec == errc::not_supported);
    CHECK_THAT(r.diag.message, Catch::Contains("PLAIN"));
    check_io_failures(make_hs(p), s);
}

TEST_CASE("algo: handshake protocol errors: wrong responseTo, garbage frame, moreToCome", "[algo]") {
    handshake_params p;
    auto run_with = [&](bytes frame) {
        script s;
        s.expect_write([](auto&) {}).read(std::move(frame));
        auto fx = make_hs(p)();
        return s.run(fx->algo);
    };
    auto r = run_with(reply_frame(77, hello_ok));
    CHECK(r.ec == errc::protocol);
    CHECK_THAT(r.diag.message, Catch::Contains("responseTo 77"));
    bytes garbage = reply_frame(1, hello_ok);
    garbage[20] = 7;  // an unknown section kind
    CHECK(run_with(garbage).ec == errc::protocol);
    CHECK(run_with(reply_frame(1, hello_ok, wire::flags::more_to_come)).ec == errc::protocol);
}

// ====================================================================== cursors

TEST_CASE("algo: getMore returns the first non-empty batch", "[algo]") {
    script s;
    s.expect_write(expect_get_more(1, 42, 10)).read(reply_frame(1, next_batch(42, R"({"a": 1}, {"a": 2})")));
    auto make = [] { return std::make_unique<gm_fixture>(42, 10); };
    auto fx = make();
    auto r = s.run(fx->algo);
    CHECK_FALSE(r.ec);
    CHECK(fx->algo.cursor_id() == 42);
    CHECK(fx->algo.batch_count() == 2);
    CHECK(fx->algo.round_trips() == 1);
    check_network_errors(make, s, [](gm_fixture& f, std::size_t) { CHECK(f.algo.cursor_id() == 42); });
    check_cancellation(make, s, [](gm_fixture& f, std::size_t) { CHECK(f.algo.cursor_id() == 42); });
}

TEST_CASE("algo: getMore asks again after an empty batch of a live cursor", "[algo]") {
    script s;
    s.expect_write(expect_get_more(1, 42, 0))
        .read(reply_frame(1, next_batch(42, "")))
        .expect_write(expect_get_more(2, 42, 0))
        .read(reply_frame(2, next_batch(42, "")))
        .expect_write(expect_get_more(3, 42, 0))
        .read(reply_frame(3, next_batch(0, R"({"a": 3})")));
    auto make = [] { return std::make_unique<gm_fixture>(42, 0); };
    auto fx = make();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK(fx->algo.cursor_id() == 0);
    CHECK(fx->algo.batch_count() == 1);
    CHECK(fx->algo.round_trips() == 3);
    check_io_failures(make, s);
}

TEST_CASE("algo: getMore stops at an exhausted cursor with an empty batch", "[algo]") {
    script s;
    s.expect_write(expect_get_more(1, 42, 5)).read(reply_frame(1, next_batch(0, "")));
    auto make = [] { return std::make_unique<gm_fixture>(42, 5); };
    auto fx = make();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK(fx->algo.cursor_id() == 0);
    CHECK(fx->algo.batch_count() == 0);
    check_io_failures(make, s);
}

TEST_CASE("algo: getMore of cursor id 0 does no I/O", "[algo]") {
    script s;
    gm_fixture fx(0, 5);
    CHECK_FALSE(s.run(fx.algo).ec);
    CHECK(fx.out.size() == 0);
}

TEST_CASE("algo: getMore CursorNotFound forgets the cursor", "[algo]") {
    script s;
    s.expect_write(expect_get_more(1, 42, 0))
        .read(reply_frame(1, R"({"ok": 0, "code": 43, "codeName": "CursorNotFound", "errmsg": "cursor id 42 not found"})"));
    auto make = [] { return std::make_unique<gm_fixture>(42, 0); };
    auto fx = make();
    auto r = s.run(fx->algo);
    CHECK(r.ec == errc::server_error);
    CHECK(r.diag.server_code == 43);
    CHECK(fx->algo.cursor_id() == 0);
    check_io_failures(make, s);
}

TEST_CASE("algo: getMore protocol errors: wrong responseTo, reply without cursor", "[algo]") {
    auto run_with = [](bytes frame) {
        script s;
        s.expect_write(expect_get_more(1, 42, 0)).read(std::move(frame));
        gm_fixture fx(42, 0);
        auto r = s.run(fx.algo);
        CHECK(fx.algo.cursor_id() == 42);  // still the server's to free
        return r;
    };
    CHECK(run_with(reply_frame(2, next_batch(42, "{}"))).ec == errc::protocol);
    CHECK(run_with(reply_frame(1, R"({"ok": 1})")).ec == errc::protocol);
}

TEST_CASE("algo: killCursors sends the id and reads the reply", "[algo]") {
    script s;
    s.expect_write([](const std::vector<sent_command>& f) {
         REQUIRE(f.size() == 1);
         CHECK(f[0].name == "killCursors");
         CHECK(f[0].str_at("killCursors") == "items");
         CHECK(f[0].int_at("cursors.0") == 42);
         CHECK(f[0].db == "db");
     }).read(reply_frame(1, R"({"ok": 1, "cursorsKilled": [{"$numberLong": "42"}], "cursorsNotFound": []})"));
    auto make = [] { return std::make_unique<kc_fixture>(); };
    auto fx = make();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK(fx->algo.killed() == 1);
    check_io_failures(make, s);
}

TEST_CASE("algo: killCursors errors: ok:0, moreToCome, wrong responseTo", "[algo]") {
    auto run_with = [](bytes frame) {
        script s;
        s.expect_write([](auto&) {}).read(std::move(frame));
        kc_fixture fx;
        return s.run(fx.algo).ec;
    };
    CHECK(run_with(reply_frame(1, R"({"ok": 0, "errmsg": "no", "code": 2})")) == errc::server_error);
    CHECK(run_with(reply_frame(1, R"({"ok": 1})", wire::flags::more_to_come)) == errc::protocol);
    CHECK(run_with(reply_frame(3, R"({"ok": 1})")) == errc::protocol);
}

// ====================================================================== batch splitting

TEST_CASE("algo: batch splitting by maxWriteBatchSize", "[algo]") {
    auto g = make_group(write_kind::insert, 10, false);
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 0;
    write_limits lim;
    lim.max_write_batch_size = 4;
    std::vector<write_frame> frames;
    CHECK(split_write_group(out, rid, lim, g, 0, 0, 0, frames) == 10);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].items.size() == 4);
    CHECK(frames[2].items == std::vector<std::uint32_t>{8, 9});
    auto sent = parse_write({out.data(), out.size()});
    REQUIRE(sent.size() == 3);
    CHECK(sent[1].request_id == 2);
    CHECK(sent[1].int_at("documents.0._id") == 4);
    CHECK(sent[0].has("ordered"));
    // max_batch of the group lowers it further; max_frames stops early.
    frames.clear();
    out.clear();
    g.max_batch = 1;
    CHECK(split_write_group(out, rid, lim, g, 0, 3, 2, frames) == 5);
    CHECK(frames.size() == 2);
    CHECK(frames[0].items == std::vector<std::uint32_t>{3});
}

TEST_CASE("algo: batch splitting by maxMessageSizeBytes", "[algo]") {
    auto g = make_group(write_kind::insert, 6, false, 1000);
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 0;
    write_limits lim;
    lim.max_message_size = 2600;  // two ~1 KB documents per frame
    std::vector<write_frame> frames;
    split_write_group(out, rid, lim, g, 0, 0, 0, frames);
    REQUIRE(frames.size() == 3);
    std::size_t off = 0;
    for (auto& f : frames) {
        CHECK(f.items.size() == 2);
        std::int32_t len;
        std::memcpy(&len, out.data() + off, 4);
        CHECK(static_cast<std::size_t>(len) <= lim.max_message_size);
        off += static_cast<std::size_t>(len);
    }
    CHECK(off == out.size());
    // A single document larger than the message limit still goes alone.
    lim.max_message_size = 500;
    frames.clear();
    out.clear();
    split_write_group(out, rid, lim, g, 0, 0, 0, frames);
    CHECK(frames.size() == 6);
}

TEST_CASE("algo: batch splitting rejects oversized and unencodable items without sending them", "[algo]") {
    auto g = make_group(write_kind::insert, 5, false, 0);
    auto base = g.encode;
    g.encode = [base](std::size_t i, bson_t* dst, diagnostics& d) -> error_code {
        if (i == 1) {
            d.message = "cannot encode item 1";
            return make_error_code(errc::invalid_argument);
        }
        if (i == 3) {
            std::string big(2000, 'y');
            bson_append_utf8(dst, "big", 3, big.data(), static_cast<int>(big.size()));
        }
        return base(i, dst, d);
    };
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 0;
    write_limits lim;
    lim.max_bson_object_size = 1024;
    std::vector<write_frame> frames;
    split_write_group(out, rid, lim, g, 0, 0, 0, frames);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].items == std::vector<std::uint32_t>{0, 2, 4});
    CHECK(g.outcomes[1].st == item_state::failed);
    CHECK(g.outcomes[1].error == errc::invalid_argument);
    CHECK(g.outcomes[1].message == "cannot encode item 1");
    CHECK(g.outcomes[3].st == item_state::failed);
    CHECK(g.outcomes[3].error == errc::document_too_large);
    CHECK(parse_write({out.data(), out.size()})[0].array_size("documents") == 3);
}

TEST_CASE("algo: batch splitting refuses a namespace with NUL, sending nothing", "[algo]") {
    auto g = make_group(write_kind::remove, 3, false, 0, std::string("ite\0ms", 6));
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 0;
    std::vector<write_frame> frames;
    CHECK(split_write_group(out, rid, write_limits{}, g, 0, 0, 0, frames) == 3);
    CHECK(frames.empty());
    CHECK(out.size() == 0);
    for (auto& o : g.outcomes) CHECK(o.error == errc::invalid_argument);
}

TEST_CASE("algo: batch splitting of raw-encoded documents", "[algo]") {
    auto g = make_group(write_kind::insert, 7, false);
    g.encode_raw = [](std::size_t i, bson::byte_buffer& out, diagnostics&) -> error_code {
        bson_t* d = bson_new();
        bson_append_int64(d, "_id", 3, static_cast<std::int64_t>(i));
        out.append(bson_get_data(d), d->len);
        bson_destroy(d);
        return {};
    };
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 0;
    write_limits lim;
    lim.max_write_batch_size = 3;
    std::vector<write_frame> frames;
    split_write_group(out, rid, lim, g, 0, 0, 0, frames);
    REQUIRE(frames.size() == 3);
    auto sent = parse_write({out.data(), out.size()});
    CHECK(sent[2].int_at("documents.0._id") == 6);
}

// ====================================================================== write run

TEST_CASE("algo: write run pipelines unordered groups in one write", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 2;
        f->groups.push_back(make_group(write_kind::insert, 3, false));
        f->groups.push_back(make_group(write_kind::update, 2, false));
        f->groups.push_back(make_group(write_kind::remove, 1, false));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"insert", 2}, {"insert", 1}, {"update", 2}, {"delete", 1}}, 1))
        .read(reply_frame(1, ok_n(2)))
        .read(reply_frame(2, ok_n(1)))
        .read(reply_frame(3, R"({"ok": 1, "n": 2, "nModified": 1})"))
        .read(reply_frame(4, ok_n(1)));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    auto& g = h->f->groups;
    CHECK(g[0].n == 3);
    CHECK(g[1].n_modified == 1);
    CHECK(g[0].count_in(item_state::ok) == 3);
    CHECK(g[2].outcomes[0].n == 1);  // alone in its command
    CHECK(h->f->stats.frames == 4);
    CHECK(h->f->stats.writes == 1);
    CHECK(h->f->stats.bytes > 0);
    auto verify = [](wr_holder& x, std::size_t step) {
        // Step 0 is the write; step k >= 1 is the reply to frame k-1. Replies applied before
        // the cut keep their outcome; frames written but unanswered are unacknowledged.
        const std::size_t answered = step == 0 ? 0 : step - 1;
        std::vector<std::vector<item_state>> want = {
            {answered > 0 ? item_state::ok : item_state::unacknowledged,
             answered > 0 ? item_state::ok : item_state::unacknowledged,
             answered > 1 ? item_state::ok : item_state::unacknowledged},
            {answered > 2 ? item_state::ok : item_state::unacknowledged,
             answered > 2 ? item_state::ok : item_state::unacknowledged},
            {item_state::unacknowledged}};
        for (std::size_t gi = 0; gi < 3; ++gi) CHECK(states(x.f->groups[gi]) == want[gi]);
        for (auto& g : x.f->groups)
            for (auto& o : g.outcomes)
                if (o.st == item_state::unacknowledged) {
                    CHECK(o.error == errc::outcome_unknown);
                    CHECK(o.message == "injected I/O failure");
                }
    };
    check_network_errors(make, s, verify);
    check_cancellation(make, s, verify);
}

TEST_CASE("algo: write run sends an ordered group frame by frame", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 2;
        f->groups.push_back(make_group(write_kind::insert, 5, true));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"insert", 2}}, 1))
        .read(reply_frame(1, ok_n(2)))
        .expect_write(expect_frames({{"insert", 2}}, 2))
        .read(reply_frame(2, ok_n(2)))
        .expect_write(expect_frames({{"insert", 1}}, 3))
        .read(reply_frame(3, ok_n(1)));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    CHECK(h->f->groups[0].count_in(item_state::ok) == 5);
    CHECK(h->f->stats.writes == 3);
    auto verify = [](wr_holder& x, std::size_t step) {
        // Frame k (items 2k, 2k+1) is written at step 2k and answered at step 2k+1.
        const std::size_t frame = step / 2;
        auto st = states(x.f->groups[0]);
        for (std::size_t i = 0; i < 5; ++i) {
            const std::size_t fi = i / 2;
            item_state want = fi < frame ? item_state::ok : fi == frame ? item_state::unacknowledged : item_state::pending;
            CHECK(st[i] == want);
        }
    };
    check_network_errors(make, s, verify);
    check_cancellation(make, s, verify);
}

TEST_CASE("algo: write run stops an ordered group at the first write error", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 3;
        f->groups.push_back(make_group(write_kind::insert, 6, true));
        f->groups.push_back(make_group(write_kind::remove, 1, false));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"insert", 3}}, 1))
        .read(reply_frame(1, R"({"ok": 1, "n": 1, "writeErrors": [{"index": 1, "code": 11000, "codeName": "DuplicateKey", "errmsg": "dup"}]})"));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    auto& g = h->f->groups[0];
    CHECK(states(g) == std::vector<item_state>{item_state::ok, item_state::failed, item_state::pending,
                                               item_state::pending, item_state::pending, item_state::pending});
    CHECK(g.outcomes[1].code == 11000);
    CHECK(g.outcomes[1].code_name == "DuplicateKey");
    CHECK(g.outcomes[1].error == errc::write_error);
    CHECK(states(h->f->groups[1]) == std::vector<item_state>{item_state::pending});
    check_io_failures(make, s);
}

TEST_CASE("algo: write run maps unordered writeErrors and upserted ids to their items", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 2;
        f->groups.push_back(make_group(write_kind::update, 4, false));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"update", 2}, {"update", 2}}, 1))
        .read(reply_frame(1, R"({"ok": 1, "n": 2, "nModified": 1, "upserted": [{"index": 1, "_id": "u1"}]})"))
        .read(reply_frame(2, R"({"ok": 1, "n": 1, "nModified": 1, "writeErrors": [{"index": 0, "code": 121, "errmsg": "invalid"}]})"));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    auto& g = h->f->groups[0];
    CHECK(states(g) == std::vector<item_state>{item_state::ok, item_state::ok, item_state::failed, item_state::ok});
    REQUIRE(g.upserted.size() == 1);
    CHECK(g.upserted[0].index == 1);
    CHECK(g.n == 3);
    CHECK(g.n_modified == 2);
    check_io_failures(make, s);
}

TEST_CASE("algo: write run fails a whole frame on ok:0 and keeps going", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 1;
        f->groups.push_back(make_group(write_kind::insert, 2, false));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"insert", 1}, {"insert", 1}}, 1))
        .read(reply_frame(1, R"({"ok": 0, "code": 13, "codeName": "Unauthorized", "errmsg": "not allowed"})"))
        .read(reply_frame(2, ok_n(1)));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    auto& g = h->f->groups[0];
    CHECK(g.outcomes[0].st == item_state::failed);
    CHECK(g.outcomes[0].error == errc::server_error);
    CHECK(g.outcomes[0].code == 13);
    CHECK(g.outcomes[1].st == item_state::ok);
    check_io_failures(make, s);
}

TEST_CASE("algo: write run protocol errors leave the rest unacknowledged", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 1;
        f->groups.push_back(make_group(write_kind::insert, 3, false));
        return std::make_unique<wr_holder>(std::move(f));
    };
    SECTION("wrong responseTo") {
        script s;
        s.expect_write(expect_frames({{"insert", 1}, {"insert", 1}, {"insert", 1}}, 1))
            .read(reply_frame(1, ok_n(1)))
            .read(reply_frame(3, ok_n(1)));
        auto h = make();
        auto r = s.run(h->algo);
        CHECK(r.ec == errc::protocol);
        CHECK(states(h->f->groups[0]) ==
              std::vector<item_state>{item_state::ok, item_state::unacknowledged, item_state::unacknowledged});
        CHECK_THAT(h->f->groups[0].outcomes[1].message, Catch::Contains("responseTo 3"));
    }
    SECTION("truncated frame") {
        bytes bad = reply_frame(2, ok_n(1));
        bad.resize(bad.size() - 3);
        script s;
        s.expect_write([](auto&) {}).read(reply_frame(1, ok_n(1))).read(bad);
        auto h = make();
        CHECK(s.run(h->algo).ec == errc::protocol);
        CHECK(h->f->groups[0].outcomes[0].st == item_state::ok);
        CHECK(h->f->groups[0].outcomes[2].st == item_state::unacknowledged);
    }
}

TEST_CASE("algo: write run alternates ordered and unordered exchanges in group order", "[algo]") {
    auto make = [] {
        auto f = std::make_unique<wr_fixture>();
        f->groups.push_back(make_group(write_kind::insert, 2, false));
        f->groups.push_back(make_group(write_kind::update, 1, false));
        f->groups.push_back(make_group(write_kind::remove, 2, true));
        f->groups.push_back(make_group(write_kind::insert, 1, false, 0, "other"));
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write(expect_frames({{"insert", 2}, {"update", 1}}, 1))
        .read(reply_frame(1, ok_n(2)))
        .read(reply_frame(2, ok_n(1)))
        .expect_write(expect_frames({{"delete", 2}}, 3))
        .read(reply_frame(3, ok_n(2)))
        .expect_write([](const std::vector<sent_command>& f) {
            REQUIRE(f.size() == 1);
            CHECK(f[0].str_at("insert") == "other");
        })
        .read(reply_frame(4, ok_n(1)));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    for (auto& g : h->f->groups) CHECK(g.count_in(item_state::ok) == g.count);
    CHECK(h->f->stats.writes == 3);
    auto verify = [](wr_holder& x, std::size_t step) {
        auto& g = x.f->groups;
        // Groups of exchanges that never started stay pending.
        if (step < 3) CHECK(g[2].count_in(item_state::pending) == 2);
        if (step < 5) CHECK(g[3].count_in(item_state::pending) == 1);
        if (step >= 3) CHECK(g[0].count_in(item_state::ok) == 2);
    };
    check_network_errors(make, s, verify);
    check_cancellation(make, s, verify);
}

TEST_CASE("algo: write run keeps a write concern error and an empty run does no I/O", "[algo]") {
    {
        wr_fixture f;
        f.groups.push_back(make_group(write_kind::insert, 1, false));
        f.start();
        script s;
        s.expect_write([](auto&) {})
            .read(reply_frame(1, R"({"ok": 1, "n": 1, "writeConcernError": {"code": 64, "errmsg": "waiting"}})"));
        CHECK_FALSE(s.run(*f.run).ec);
        REQUIRE(f.groups[0].write_concern_error);
        CHECK(f.groups[0].write_concern_error->server_code == 64);
    }
    {
        wr_fixture f;
        f.groups.push_back(make_group(write_kind::insert, 0, false));
        f.groups.push_back(make_group(write_kind::insert, 0, true));
        f.start();
        script s;
        CHECK_FALSE(s.run(*f.run).ec);
        CHECK(f.stats.writes == 0);
    }
}

TEST_CASE("algo: write run write concern is sent in every frame", "[algo]") {
    write_concern wc = write_concern::majority();
    auto make = [&wc] {
        auto f = std::make_unique<wr_fixture>();
        f->limits.max_write_batch_size = 1;
        f->groups.push_back(make_group(write_kind::insert, 2, false));
        f->groups[0].wc = &wc;
        f->groups[0].bypass_document_validation = true;
        return std::make_unique<wr_holder>(std::move(f));
    };
    script s;
    s.expect_write([](const std::vector<sent_command>& f) {
         REQUIRE(f.size() == 2);
         for (auto& c : f) {
             CHECK(c.str_at("writeConcern.w") == "majority");
             CHECK(c.has("bypassDocumentValidation"));
         }
     })
        .read(reply_frame(1, ok_n(1)))
        .read(reply_frame(2, ok_n(1)));
    auto h = make();
    CHECK_FALSE(s.run(h->algo).ec);
    check_io_failures(make, s);
}

// ====================================================================== simple exchanges

TEST_CASE("algo: command exchange checks ok and responseTo", "[algo]") {
    wire::frame_buffer out;
    encode_command(out, 5, wire::commands::get_more{7, "c", "db", 0});
    bytes fixture(out.data(), out.data() + out.size());
    std::string seen;
    command_algo::reply_fn on_reply = [&](const bson_t* b) { seen = bson::document_view(bson_get_data(b), b->len).to_json(); };
    struct fixture_t {
        std::span<const std::uint8_t> f;
        command_algo::reply_fn* r;
        command_algo algo{f, 5, r};
    };
    auto make = [&] { return std::make_unique<fixture_t>(fixture_t{{out.data(), out.size()}, &on_reply}); };
    script s;
    s.expect_write_bytes(fixture).read(reply_frame(5, R"({"ok": 1, "x": 2})"));
    auto fx = make();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK_THAT(seen, Catch::Contains("\"x\" : 2"));
    check_io_failures(make, s);

    script bad;
    bad.expect_write_bytes(fixture).read(reply_frame(5, R"({"ok": 0, "code": 59, "errmsg": "no such command"})"));
    auto fx2 = make();
    auto r = bad.run(fx2->algo);
    CHECK(r.ec == errc::server_error);
    CHECK(r.diag.server_code == 59);
}

TEST_CASE("algo: pipelined exchange hands replies over in request order", "[algo]") {
    wire::frame_buffer out;
    encode_command(out, 1, wire::commands::kill_cursors{"c", "db", {}});
    encode_command(out, 2, wire::commands::kill_cursors{"c", "db", {}});
    std::vector<std::int32_t> ids{1, 2};
    std::vector<std::size_t> seen;
    exchange_algo::reply_fn on_reply = [&](std::size_t i, const wire::op_msg_view&) { seen.push_back(i); };
    struct fixture_t {
        std::span<const std::uint8_t> f;
        std::span<const std::int32_t> ids;
        const exchange_algo::reply_fn& r;
        exchange_algo algo{f, ids, r};
    };
    auto make = [&] { return std::make_unique<fixture_t>(fixture_t{{out.data(), out.size()}, ids, on_reply}); };
    script s;
    s.expect_write([](const std::vector<sent_command>& f) { CHECK(f.size() == 2); })
        .read(reply_frame(1, R"({"ok": 1})"))
        .read(reply_frame(2, R"({"ok": 0})"));  // ok:0 is the caller's to judge here
    auto fx = make();
    CHECK_FALSE(s.run(fx->algo).ec);
    CHECK(seen == std::vector<std::size_t>{0, 1});
    CHECK(fx->algo.replies_done() == 2);
    check_network_errors(make, s, [](fixture_t& f, std::size_t step) {
        CHECK(f.algo.replies_done() == (step == 0 ? 0 : step - 1));
    });
    check_cancellation(make, s, [](fixture_t&, std::size_t) {});
}

// ====================================================================== frames

TEST_CASE("algo: frame reader reassembles a reply split across reads", "[algo]") {
    bytes a = reply_frame(1, R"({"ok": 1, "cursor": {"id": 0, "ns": "db.items", "nextBatch": []}})");
    bytes b = reply_frame(2, R"({"ok": 1})");
    bytes stream = a;
    stream.insert(stream.end(), b.begin(), b.end());
    for (std::size_t chunk : {std::size_t(1), std::size_t(3), std::size_t(17), stream.size()}) {
        INFO("chunk " << chunk);
        frame_reader rd;
        std::vector<bytes> got;
        for (std::size_t off = 0; off < stream.size(); off += chunk) {
            const std::size_t n = std::min(chunk, stream.size() - off);
            auto into = rd.prepare(n);
            REQUIRE(into.size() >= n);
            std::memcpy(into.data(), stream.data() + off, n);
            rd.commit(n);
            for (;;) {
                bool ready = false;
                frame_ref ref;
                diagnostics d;
                REQUIRE_FALSE(rd.next_frame(1 << 20, ready, ref, d));
                if (!ready) break;
                auto f = rd.frame(ref);
                got.emplace_back(f.begin(), f.end());
            }
        }
        REQUIRE(got.size() == 2);
        CHECK(got[0] == a);
        CHECK(got[1] == b);
        // The split frames drive an algorithm exactly like whole ones.
        gm_fixture fx(42, 0);
        script s;
        s.expect_write(expect_get_more(1, 42, 0)).read(got[0]);
        CHECK_FALSE(s.run(fx.algo).ec);
        CHECK(fx.algo.cursor_id() == 0);
        rd.discard_taken();
        CHECK(rd.buffered() == 0);
    }
}

TEST_CASE("algo: frame reader rejects a hostile length before buffering it", "[algo]") {
    frame_reader rd;
    bytes hdr = reply_frame(1, R"({"ok": 1})");
    hdr[3] = 0x7f;  // messageLength ~2 GB
    auto into = rd.prepare(hdr.size());
    std::memcpy(into.data(), hdr.data(), hdr.size());
    rd.commit(hdr.size());
    bool ready = false;
    frame_ref ref;
    diagnostics d;
    CHECK(rd.next_frame(48'000'000, ready, ref, d) == errc::protocol);
    CHECK_FALSE(ready);
}

TEST_CASE("algo: command_from_frame rebuilds body and sequences for monitoring", "[algo]") {
    auto g = make_group(write_kind::insert, 3, false);
    g.outcomes.assign(g.count, {});
    wire::frame_buffer out;
    std::int32_t rid = 10;
    std::vector<write_frame> frames;
    split_write_group(out, rid, write_limits{}, g, 0, 0, 0, frames);
    std::size_t replies = for_each_frame({out.data(), out.size()}, [](const frame_info& fi) {
        CHECK(fi.request_id == 11);
        CHECK(fi.expects_reply);
    });
    CHECK(replies == 1);
    auto sent = parse_write({out.data(), out.size()});
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].name == "insert");
    CHECK(sent[0].db == "db");
    CHECK(sent[0].array_size("documents") == 3);
    CHECK(sent[0].int_at("documents.2._id") == 2);
}

// ====================================================================== command values

TEST_CASE("commands: byte fixtures of getMore, killCursors and saslContinue", "[algo][commands]") {
    auto body_of = [](auto&& cmd) {
        bson_t b = BSON_INITIALIZER;
        cmd.serialize(&b);
        std::string j = bson::document_view(bson_get_data(&b), b.len).to_json();
        bson_destroy(&b);
        return j;
    };
    CHECK(body_of(wire::commands::get_more{42, "items", "db", 5}) ==
          R"({ "getMore" : 42, "collection" : "items", "batchSize" : 5, "$db" : "db" })");
    const std::int64_t ids[] = {7, 8};
    CHECK(body_of(wire::commands::kill_cursors{"items", "db", ids}) ==
          R"({ "killCursors" : "items", "cursors" : [ 7, 8 ], "$db" : "db" })");
    CHECK(body_of(wire::commands::sasl_continue{3, "ab", "admin"}) ==
          R"({ "saslContinue" : 1, "conversationId" : 3, "payload" : { "$binary" : { "base64" : "YWI=", "subType" : "00" } }, "$db" : "admin" })");
    write_concern wc = write_concern::majority();
    CHECK(body_of(wire::commands::write_command{write_kind::remove, "items", "db", false, false, &wc}) ==
          R"({ "delete" : "items", "ordered" : false, "writeConcern" : { "w" : "majority" }, "$db" : "db" })");
    bson_t r = BSON_INITIALIZER;
    wire::commands::sasl_reply sr;
    diagnostics d;
    auto doc = bson::document::from_json(sasl_reply("xyz", true, 9));
    REQUIRE_FALSE(wire::commands::parse_sasl_reply(doc.get(), sr, d));
    CHECK(sr.conversation_id == 9);
    CHECK(sr.done);
    CHECK(sr.payload == "xyz");
    bson_destroy(&r);
}

// ====================================================================== the driver

namespace {

namespace asio = boost::asio;

/// A loopback peer for the driver: answers hello, then each request with `answer(request)`
/// (no answer when it returns an empty frame), one connection at a time.
struct loopback {
    using answer_fn = std::function<bytes(const sent_command&)>;
    loopback(asio::io_context& ioc, answer_fn a)
        : acc(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), answer(std::move(a)) {}
    asio::ip::tcp::acceptor acc;
    answer_fn answer;
    std::size_t requests = 0;
    std::size_t close_after = std::size_t(-1);  ///< requests (hello included) answered before closing

    std::uint16_t port() const { return acc.local_endpoint().port(); }

    asio::awaitable<void> serve() {
        auto sock = co_await acc.async_accept(asio::use_awaitable);
        for (;;) {
            bytes frame(16);
            auto [e1, n1] = co_await asio::async_read(sock, asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
            if (e1) co_return;
            std::int32_t len;
            std::memcpy(&len, frame.data(), 4);
            frame.resize(static_cast<std::size_t>(len));
            auto [e2, n2] = co_await asio::async_read(sock, asio::buffer(frame.data() + 16, frame.size() - 16),
                                                      asio::as_tuple(asio::use_awaitable));
            if (e2) co_return;
            auto cmd = parse_write(frame);
            REQUIRE(cmd.size() == 1);
            ++requests;
            bytes reply = cmd[0].name == "hello" ? reply_frame(cmd[0].request_id, hello_ok) : answer(cmd[0]);
            if (reply.empty()) continue;
            auto [e3, n3] = co_await asio::async_write(sock, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
            if (e3) co_return;
            if (requests == close_after) {
                // Unread requests still queued: the client sees a reset, mid-write or mid-read.
                error_code ignored;
                sock.close(ignored);
                co_return;
            }
        }
    }
};

struct recorded_event {
    net::command_event::kind_t kind;
    std::int32_t request_id;
    std::string name;
};

template <class Body>
void with_driver(loopback::answer_fn answer, Body body, std::size_t close_after = std::size_t(-1)) {
    asio::io_context ioc;
    loopback peer(ioc, std::move(answer));
    peer.close_after = close_after;
    asio::co_spawn(ioc, peer.serve(), asio::detached);
    auto events = std::make_shared<std::vector<recorded_event>>();
    net::connection_params params;
    params.listener = [events](const net::command_event& e) {
        events->push_back({e.kind, e.request_id, std::string(e.command_name)});
    };
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            net::connection c(co_await asio::this_coro::executor);
            error_code ec;
            diagnostics diag;
            // A named endpoint: g++ 12 destroys aggregate temporaries of a co_await expression twice.
            net::endpoint ep{"127.0.0.1", peer.port()};
            co_await c.async_connect(ep, params, ec, diag);
            REQUIRE_FALSE(ec);
            events->clear();  // the handshake's own events are not what these tests look at
            co_await body(c, *events);
            finished = true;
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    ioc.run_for(std::chrono::seconds(10));
    CHECK(finished);
}

}  // namespace

TEST_CASE("algo: driver runs a pipelined write run over a socket and monitors each frame once", "[algo][driver]") {
    with_driver([](const sent_command& c) { return reply_frame(c.request_id, ok_n(c.array_size("documents"))); },
                [](net::connection& c, std::vector<recorded_event>& ev) -> asio::awaitable<void> {
                    std::vector<write_group> groups;
                    groups.push_back(make_group(write_kind::insert, 5, false));
                    groups[0].max_batch = 2;
                    error_code ec;
                    diagnostics diag;
                    pipeline_stats stats;
                    co_await run_write_pipeline(c, groups, std::chrono::milliseconds(5000), ec, diag, &stats);
                    CHECK_FALSE(ec);
                    CHECK(groups[0].count_in(item_state::ok) == 5);
                    CHECK(stats.writes == 1);
                    CHECK(c.writes_issued() == 2);  // hello, then one write of three frames
                    REQUIRE(ev.size() == 6);
                    for (std::size_t i = 0; i < 3; ++i) {
                        CHECK(ev[i].kind == net::command_event::started);
                        CHECK(ev[i + 3].kind == net::command_event::succeeded);
                        CHECK(ev[i + 3].request_id == ev[i].request_id);
                        CHECK(ev[i].name == "insert");
                    }
                    CHECK(c.is_open());
                });
}

TEST_CASE("algo: driver cancellation completes with operation_aborted and closes the connection", "[algo][driver]") {
    using namespace asio::experimental::awaitable_operators;
    with_driver([](const sent_command& c) {
        // The first frame is answered, the second never: the caller cancels while waiting.
        return c.int_at("documents.0._id") == 0 ? reply_frame(c.request_id, ok_n(1)) : bytes{};
    },
                [](net::connection& c, std::vector<recorded_event>& ev) -> asio::awaitable<void> {
                    std::vector<write_group> groups;
                    groups.push_back(make_group(write_kind::insert, 2, false));
                    groups[0].max_batch = 1;
                    error_code ec;
                    diagnostics diag;
                    asio::steady_timer timer(c.get_executor(), std::chrono::milliseconds(200));
                    auto r = co_await (run_write_pipeline(c, groups, std::chrono::milliseconds(0), ec, diag) ||
                                       timer.async_wait(asio::use_awaitable));
                    CHECK(r.index() == 1);
                    CHECK(ec == asio::error::operation_aborted);
                    CHECK_FALSE(c.is_open());  // never back to a pool mid-reply
                    CHECK(states(groups[0]) == std::vector<item_state>{item_state::ok, item_state::unacknowledged});
                    std::size_t started = 0, succeeded = 0, failed = 0;
                    for (auto& e : ev) {
                        started += e.kind == net::command_event::started;
                        succeeded += e.kind == net::command_event::succeeded;
                        failed += e.kind == net::command_event::failed;
                    }
                    CHECK(started == 2);
                    CHECK(succeeded == 1);
                    CHECK(failed == 1);
                });
}

TEST_CASE("algo: driver deadline ends a run with timeout and closes the connection", "[algo][driver]") {
    with_driver([](const sent_command&) { return bytes{}; },
                [](net::connection& c, std::vector<recorded_event>& ev) -> asio::awaitable<void> {
                    error_code ec;
                    diagnostics diag;
                    get_more_algo algo(c.out_buffer(), c.request_id_counter(), "db", "items", 42, 0);
                    co_await net::async_run(c, algo, std::chrono::milliseconds(100), ec, diag);
                    CHECK(ec == errc::timeout);
                    CHECK_THAT(diag.message, Catch::Contains("timed out after 100 ms"));
                    CHECK_FALSE(c.is_open());
                    REQUIRE(ev.size() == 2);
                    CHECK(ev[1].kind == net::command_event::failed);
                    // A closed connection fails at once, without I/O.
                    kill_cursors_algo k(c.out_buffer(), c.request_id_counter(), "db", "items", 42);
                    co_await net::async_run(c, k, std::chrono::milliseconds(0), ec, diag);
                    CHECK(ec == errc::connection_closed);
                });
}

TEST_CASE("algo: driver hands a server error reply to the algorithm and keeps the connection", "[algo][driver]") {
    with_driver([](const sent_command& c) {
        return reply_frame(c.request_id, R"({"ok": 0, "code": 43, "codeName": "CursorNotFound", "errmsg": "gone"})");
    },
                [](net::connection& c, std::vector<recorded_event>& ev) -> asio::awaitable<void> {
                    error_code ec;
                    diagnostics diag;
                    get_more_algo algo(c.out_buffer(), c.request_id_counter(), "db", "items", 42, 0);
                    co_await net::async_run(c, algo, std::chrono::milliseconds(0), ec, diag);
                    CHECK(ec == errc::server_error);
                    CHECK(diag.server_code == 43);
                    CHECK(c.is_open());  // a whole reply was read: the stream is in step
                    REQUIRE(ev.size() == 2);
                    CHECK(ev[1].kind == net::command_event::failed);
                    CHECK(ev[1].name == "getMore");
                });
}

TEST_CASE("algo: driver hands over the replies that came before a connection reset", "[algo][driver]") {
    with_driver([](const sent_command& c) { return reply_frame(c.request_id, ok_n(1)); },
                [](net::connection& c, std::vector<recorded_event>& ev) -> asio::awaitable<void> {
                    // Eight 1 MB frames in one write; the peer answers the first and resets.
                    std::vector<write_group> groups;
                    groups.push_back(make_group(write_kind::insert, 8, false, 1 << 20));
                    groups[0].max_batch = 1;
                    error_code ec;
                    diagnostics diag;
                    co_await run_write_pipeline(c, groups, std::chrono::milliseconds(5000), ec, diag);
                    CHECK(ec == errc::connection_closed);
                    CHECK_FALSE(c.is_open());
                    auto st = states(groups[0]);
                    CHECK(st[0] == item_state::ok);
                    for (std::size_t i = 1; i < st.size(); ++i) CHECK(st[i] == item_state::unacknowledged);
                    std::size_t failed = 0;
                    for (auto& e : ev) failed += e.kind == net::command_event::failed;
                    CHECK(failed == 7);
                },
                2);
}
