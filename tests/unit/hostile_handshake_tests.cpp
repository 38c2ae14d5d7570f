// A hostile server during the handshake (issue 13): hello replies with huge, negative, zero
// or wrongly typed limits, incompatible wire versions, garbage host lists, garbage bytes;
// SCRAM conversations with a foreign nonce, bad salts, absurd iteration counts, extensions,
// forged or refused server signatures, endless conversations, a changing conversationId,
// payloads of the wrong type. Each scenario asserts a clear error (code and message) or the
// right behaviour within a bounded time, then that the same client's next operation works
// once the server turns honest.
//
// The mock server (tests/common/mock_server.hpp) does not speak SCRAM: the honest side of
// the conversation is computed here with morm's own SCRAM math (scram.hpp's detail
// functions), and an on_command hook replaces hello / saslStart / saslContinue replies of
// the application connections (monitors' hellos, which carry no saslSupportedMechs, stay
// honest, so the topology keeps the server selectable).
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/mock_server.hpp"

#include <morm/client/client.hpp>
#include <morm/detail/base64.hpp>
#include <morm/net/connection.hpp>
#include <morm/topology/description.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/scram.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using morm::errc;
using morm_test::member_role;
using morm_test::mock_action;
using morm_test::recorded_command;
using doc = morm::bson::document;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr const char* user = "alice";
constexpr const char* password = "secret";  // ASCII: SASLprep leaves it as is

std::string b64(std::string_view s) { return morm::detail::base64_encode(s); }

/// A SASL reply body: {conversationId, done, payload: BinData, ok: 1}.
doc sasl_doc(std::int32_t conversation, bool done, std::string_view payload) {
    doc d;
    bson_append_int32(d.get(), "conversationId", -1, conversation);
    bson_append_bool(d.get(), "done", -1, done);
    bson_append_binary(d.get(), "payload", -1, BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(payload.data()),
                       static_cast<std::uint32_t>(payload.size()));
    bson_append_double(d.get(), "ok", -1, 1.0);
    return d;
}

std::string payload_of(const recorded_command& c) {
    auto it = c.body.find("payload");
    if (!it || !BSON_ITER_HOLDS_BINARY(&*it)) return {};
    bson_subtype_t st;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&*it, &st, &len, &data);
    return std::string(reinterpret_cast<const char*>(data), len);
}

/// The server side of SCRAM-SHA-256 for `user`/`password`, one conversation per
/// connection. Runs on the mock's thread only.
class scram_server {
public:
    struct conversation {
        std::string client_first_bare;
        std::string server_first;
        std::string nonce;  ///< client + server nonce
        std::uint32_t iterations = 4096;
    };

    /// The server-first message answering `client_first` ("n,,n=user,r=nonce").
    std::string first(std::uint64_t connection, std::string_view client_first, std::uint32_t iterations) {
        conversation cv;
        cv.client_first_bare = std::string(client_first.substr(std::min<std::size_t>(3, client_first.size())));
        auto r = cv.client_first_bare.find(",r=");
        cv.nonce = (r == std::string::npos ? std::string() : cv.client_first_bare.substr(r + 3)) + "srvNonce+/=";
        cv.iterations = iterations;
        cv.server_first = "r=" + cv.nonce + ",s=" + b64(salt_) + ",i=" + std::to_string(iterations);
        convs_[connection] = cv;
        return cv.server_first;
    }
    conversation& of(std::uint64_t connection) { return convs_[connection]; }

    /// Checks the client proof; on success `server_final` is "v=<signature>" (or, with
    /// `forge`, a signature of another message).
    bool final(std::uint64_t connection, std::string_view client_final, std::string& server_final, bool forge = false) {
        const conversation& cv = convs_[connection];
        auto p = client_final.find(",p=");
        if (p == std::string_view::npos) return false;
        std::string auth = cv.client_first_bare + "," + cv.server_first + "," + std::string(client_final.substr(0, p));
        if (forge) auth += "x";
        morm::wire::detail::scram_keys keys;
        if (!derive(cv.iterations, keys)) return false;
        unsigned char proof[32], sig[32];
        if (!morm::wire::detail::scram_sign(morm::wire::scram_mechanism::sha256, keys, auth, proof, sig)) return false;
        std::string expected;
        morm::detail::base64_encode_append(proof, keys.size, expected);
        if (!forge && expected != client_final.substr(p + 3)) return false;
        server_final = "v=";
        morm::detail::base64_encode_append(sig, keys.size, server_final);
        return true;
    }

private:
    bool derive(std::uint32_t iterations, morm::wire::detail::scram_keys& keys) {
        auto it = keys_.find(iterations);  // PBKDF2 once per iteration count
        if (it == keys_.end()) {
            morm::wire::detail::scram_keys k;
            if (!morm::wire::detail::scram_derive_keys(morm::wire::scram_mechanism::sha256, password, salt_, iterations, k))
                return false;
            it = keys_.emplace(iterations, k).first;
        }
        keys = it->second;
        return true;
    }

    std::string salt_ = "hostile-salt-16b";
    std::map<std::uint64_t, conversation> convs_;
    std::map<std::uint32_t, morm::wire::detail::scram_keys> keys_;
};

bool is_hello(const recorded_command& c) { return c.name == "hello" || c.name == "isMaster" || c.name == "ismaster"; }
/// The application connections' hello asks for the user's mechanisms; a monitor's does not.
bool app_hello(const recorded_command& c) { return is_hello(c) && c.body.find("saslSupportedMechs").has_value(); }

/// A hello reply of a healthy standalone, with `extra` (JSON) fields appended and the
/// fields named in `drop` left out.
doc hello_doc(std::string_view extra_json = "{}", std::vector<std::string> drop = {}) {
    doc base = doc::from_json(
        R"({"isWritablePrimary": true, "maxBsonObjectSize": 16777216, "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000, "logicalSessionTimeoutMinutes": 30, "minWireVersion": 0,
            "maxWireVersion": 17, "saslSupportedMechs": ["SCRAM-SHA-256"], "ok": 1})");
    doc extra = doc::from_json(extra_json);
    doc out;
    for (auto& e : base.view()) {
        std::string k = bson_iter_key(&e);
        bool skip = std::find(drop.begin(), drop.end(), k) != drop.end() || extra.find(k).has_value();
        if (!skip) bson_append_iter(out.get(), k.c_str(), -1, &e);
    }
    for (auto& e : extra.view()) bson_append_iter(out.get(), bson_iter_key(&e), -1, &e);
    return out;
}

/// What the server does: the honest server, plus what a scenario replaces.
struct server_ctx {
    scram_server scram;
    std::atomic<std::uint32_t> iterations{4096};

    /// The honest reply to an application connection's handshake command (nullopt: the
    /// mock's own handling).
    std::optional<mock_action> honest(const recorded_command& c) {
        if (c.name == "saslStart") {
            std::string first = scram.first(c.connection, payload_of(c), iterations.load());
            return mock_action::reply(sasl_doc(1, false, first));
        }
        if (c.name == "saslContinue") {
            std::string payload = payload_of(c);
            if (payload.empty()) return mock_action::reply(sasl_doc(1, true, ""));
            std::string server_final;
            if (!scram.final(c.connection, payload, server_final))
                return mock_action::reply(morm_test::mock_detail::error_reply(18, "AuthenticationFailed", "Authentication failed."));
            return mock_action::reply(sasl_doc(1, true, server_final));
        }
        return std::nullopt;
    }
};

/// A hostile behaviour: the action replacing the honest one, or nullopt to stay honest.
using hostile_fn = std::function<std::optional<mock_action>(const recorded_command&, server_ctx&)>;

struct scenario {
    const char* name;
    hostile_fn act;
    errc expected;                ///< errc::ok: the operation succeeds
    const char* fragment;         ///< in the error message (expected != ok)
    milliseconds bound;           ///< the hostile operation's time limit
    std::function<void(const morm::net::connection&)> check_ok{};  ///< on success: the connection opened
};

// ---- scenario builders ---------------------------------------------------------------

/// The application connections' hello (with `monitors_too`, every hello) is answered
/// with `body`.
hostile_fn hello_reply(doc body, bool monitors_too = false) {
    return [body, monitors_too](const recorded_command& c, server_ctx&) -> std::optional<mock_action> {
        if (app_hello(c) || (monitors_too && is_hello(c))) return mock_action::reply(body);
        return std::nullopt;
    };
}

/// The saslStart reply's server-first message is `make(client_nonce)`.
hostile_fn server_first(std::function<std::string(const std::string& client_nonce)> make) {
    return [make](const recorded_command& c, server_ctx&) -> std::optional<mock_action> {
        if (c.name != "saslStart") return std::nullopt;
        std::string cf = payload_of(c);
        auto r = cf.find(",r=");
        std::string nonce = r == std::string::npos ? std::string() : cf.substr(r + 3);
        return mock_action::reply(sasl_doc(1, false, make(nonce)));
    };
}

/// The saslContinue carrying the client proof is answered by `make(honest server-final)`;
/// later (empty) saslContinues by `after` (nullopt: honest).
hostile_fn server_final(std::function<doc(const std::string& honest_final)> make,
                        std::function<std::optional<doc>()> after = {}) {
    return [make, after](const recorded_command& c, server_ctx& ctx) -> std::optional<mock_action> {
        if (c.name != "saslContinue") return std::nullopt;
        std::string payload = payload_of(c);
        if (payload.empty()) {
            if (after)
                if (auto d = after()) return mock_action::reply(*d);
            return std::nullopt;
        }
        std::string honest;
        if (!ctx.scram.final(c.connection, payload, honest)) return std::nullopt;
        return mock_action::reply(make(honest));
    };
}

const std::string salt_b64 = b64("hostile-salt-16b");

std::vector<scenario> scenarios() {
    auto limits_clamped = [](const morm::net::connection& c) {
        CHECK(c.server().max_message_size_bytes == 48'000'000);
        CHECK(c.server().max_bson_object_size == 16 * 1024 * 1024);
        CHECK(c.server().max_write_batch_size == 100'000);
    };
    std::vector<scenario> s;
    // ---- hello ----
    s.push_back({"hello: maxMessageSizeBytes 2^31-1 is clamped to 48,000,000",
                 hello_reply(hello_doc(R"({"maxMessageSizeBytes": 2147483647})")), errc::ok, "", 3s, limits_clamped});
    s.push_back({"hello: int64 and double limits far above MongoDB's are clamped",
                 hello_reply(hello_doc(R"({"maxBsonObjectSize": {"$numberLong": "1099511627776"},
                                          "maxWriteBatchSize": 1e300, "maxMessageSizeBytes": 4294967297})")),
                 errc::ok, "", 3s, limits_clamped});
    s.push_back({"hello: negative maxMessageSizeBytes", hello_reply(hello_doc(R"({"maxMessageSizeBytes": -1})")),
                 errc::protocol, "maxMessageSizeBytes is -1", 3s});
    s.push_back({"hello: zero maxWriteBatchSize", hello_reply(hello_doc(R"({"maxWriteBatchSize": 0})")), errc::protocol,
                 "maxWriteBatchSize is 0", 3s});
    s.push_back({"hello: maxBsonObjectSize is a string", hello_reply(hello_doc(R"({"maxBsonObjectSize": "16MB"})")),
                 errc::protocol, "maxBsonObjectSize is not a number", 3s});
    s.push_back({"hello: maxWireVersion NaN", hello_reply(hello_doc(R"({"maxWireVersion": {"$numberDouble": "NaN"}})")),
                 errc::protocol, "maxWireVersion is not a number", 3s});
    s.push_back({"hello: maxWireVersion 5 (older than OP_MSG)", hello_reply(hello_doc(R"({"maxWireVersion": 5})")),
                 errc::server_too_old, "maxWireVersion 5", 3s});
    s.push_back({"hello: minWireVersion above what morm speaks",
                 hello_reply(hello_doc(R"({"minWireVersion": 99, "maxWireVersion": 100})")), errc::not_supported,
                 "requires wire version 99", 3s});
    s.push_back({"hello: minWireVersion above maxWireVersion",
                 hello_reply(hello_doc(R"({"minWireVersion": 20, "maxWireVersion": 17})")), errc::protocol,
                 "exceeds maxWireVersion", 3s});
    s.push_back({"hello: no ok field", hello_reply(hello_doc("{}", {"ok"})), errc::protocol, "no 'ok' field", 3s});
    s.push_back({"hello: garbage host lists, me, primary, mechanisms, compression are survived",
                 hello_reply(hello_doc(
                     R"({"hosts": ["h:notaport", "[::1", "", ":", "a:99999", 7, null], "passives": [{"a": 1}, "h:-1"],
                         "arbiters": ["[]:5", "x:y:z"], "me": "::::", "primary": "h:65536",
                         "saslSupportedMechs": [1, null, "SCRAM-SHA-256"], "compression": ["zstd", 5],
                         "speculativeAuthenticate": {"payload": "garbage"}, "setVersion": "x",
                         "electionId": 3, "topologyVersion": "tv", "logicalSessionTimeoutMinutes": -7})"),
                             true),
                 errc::ok, "", 3s});
    s.push_back({"hello: answered with bytes that are no frame",
                 [](const recorded_command& c, server_ctx&) -> std::optional<mock_action> {
                     if (!app_hello(c)) return std::nullopt;
                     std::vector<std::uint8_t> junk = {0xff, 0xff, 0xff, 0x7f, 'g', 'a', 'r', 'b', 'a', 'g', 'e',
                                                       0,    0,    0,    0,    0,   0,   0,   0,   0};
                     return mock_action::raw(junk, true);
                 },
                 errc::protocol, "messageLength 2147483647", 3s});
    // ---- SCRAM server-first ----
    s.push_back({"scram: server nonce does not extend the client nonce",
                 server_first([](const std::string&) { return "r=someoneElsesNonce,s=" + salt_b64 + ",i=4096"; }),
                 errc::auth_failed, "nonce does not extend", 3s});
    s.push_back({"scram: salt is not base64",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=!!notbase64!!,i=4096"; }),
                 errc::auth_failed, "salt", 3s});
    s.push_back({"scram: empty salt", server_first([](const std::string& n) { return "r=" + n + "x,s=,i=4096"; }),
                 errc::auth_failed, "salt", 3s});
    s.push_back({"scram: no iteration count",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=" + salt_b64; }), errc::auth_failed,
                 "malformed server-first", 3s});
    s.push_back({"scram: garbage iteration count",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=" + salt_b64 + ",i=4k"; }),
                 errc::auth_failed, "not a number", 3s});
    s.push_back({"scram: i=2147483647 is refused at once",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=" + salt_b64 + ",i=2147483647"; }),
                 errc::auth_failed, "above the maximum of 1000000", 2s});
    s.push_back({"scram: i below 4096",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=" + salt_b64 + ",i=4095"; }),
                 errc::auth_failed, "below the minimum", 3s});
    s.push_back({"scram: a second nonce after i=",
                 server_first([](const std::string& n) { return "r=" + n + "x,s=" + salt_b64 + ",i=4096,r=again"; }),
                 errc::auth_failed, "after i=", 3s});
    s.push_back({"scram: mandatory extension m=",
                 server_first([](const std::string& n) { return "m=channel,r=" + n + "x,s=" + salt_b64 + ",i=4096"; }),
                 errc::auth_failed, "(m=)", 3s});
    s.push_back({"scram: payload is a string, not BinData",
                 [](const recorded_command& c, server_ctx&) -> std::optional<mock_action> {
                     if (c.name != "saslStart") return std::nullopt;
                     return mock_action::reply(doc::from_json(R"({"conversationId": 1, "done": false,
                                                                  "payload": "r=abc,s=c2FsdA==,i=4096", "ok": 1})"));
                 },
                 errc::auth_failed, "payload is missing or not BinData", 3s});
    s.push_back({"scram: saslStart refused by the server",
                 [](const recorded_command& c, server_ctx&) -> std::optional<mock_action> {
                     if (c.name != "saslStart") return std::nullopt;
                     return mock_action::reply(
                         morm_test::mock_detail::error_reply(18, "AuthenticationFailed", "no such user here"));
                 },
                 errc::auth_failed, "no such user here", 3s});
    // ---- SCRAM server-final and the rest of the conversation ----
    s.push_back({"scram: server signature forged",
                 [](const recorded_command& c, server_ctx& ctx) -> std::optional<mock_action> {
                     if (c.name != "saslContinue") return std::nullopt;
                     std::string forged;
                     if (!ctx.scram.final(c.connection, payload_of(c), forged, true)) return std::nullopt;
                     return mock_action::reply(sasl_doc(1, true, forged));
                 },
                 errc::auth_failed, "server signature mismatch", 3s});
    s.push_back({"scram: server-final e= error",
                 server_final([](const std::string&) { return sasl_doc(1, true, "e=other-error"); }), errc::auth_failed,
                 "server error: other-error", 3s});
    s.push_back({"scram: done never set",
                 server_final([](const std::string& f) { return sasl_doc(1, false, f); },
                              [] { return std::optional<doc>(sasl_doc(1, false, "")); }),
                 errc::auth_failed, "did not finish", 3s});
    s.push_back({"scram: conversationId changes mid-conversation",
                 server_final([](const std::string& f) { return sasl_doc(2, true, f); }), errc::auth_failed,
                 "conversationId from 1 to 2", 3s});
    s.push_back({"scram: conversationId of the wrong type",
                 [](const recorded_command& c, server_ctx& ctx) -> std::optional<mock_action> {
                     auto honest = ctx.honest(c);
                     if (c.name != "saslStart") return honest;
                     doc d = doc::from_json(R"({"conversationId": "one", "done": false})");
                     std::string first = ctx.scram.of(c.connection).server_first;
                     bson_append_binary(d.get(), "payload", -1, BSON_SUBTYPE_BINARY,
                                        reinterpret_cast<const std::uint8_t*>(first.data()),
                                        static_cast<std::uint32_t>(first.size()));
                     bson_append_int32(d.get(), "ok", -1, 1);
                     return mock_action::reply(d);
                 },
                 errc::auth_failed, "no integer conversationId", 3s});
    s.push_back({"scram: a payload after the server-final",
                 server_final([](const std::string& f) { return sasl_doc(1, false, f); },
                              [] { return std::optional<doc>(sasl_doc(1, true, "v=again")); }),
                 errc::auth_failed, "payload after its final", 3s});
    s.push_back({"scram: well-formed extensions after i= are ignored (RFC 5802)",
                 [](const recorded_command& c, server_ctx& ctx) -> std::optional<mock_action> {
                     auto honest = ctx.honest(c);
                     if (c.name != "saslStart" || !honest) return honest;
                     // The honest conversation, with an extension the client must ignore
                     // (it is part of the AuthMessage both sides sign).
                     auto& cv = ctx.scram.of(c.connection);
                     cv.server_first += ",x=future-extension";
                     return mock_action::reply(sasl_doc(1, false, cv.server_first));
                 },
                 errc::ok, "", 3s});
    return s;
}

/// Runs `body` on its own io_context in a thread; fails (instead of hanging) when it has
/// not finished within `bound`. A timed-out run is abandoned (its thread detached).
void run_bounded(milliseconds bound, std::function<asio::awaitable<void>()> body) {
    auto ioc = std::make_shared<asio::io_context>();
    auto fut = asio::co_spawn(*ioc, body(), asio::use_future);
    std::promise<void> ran;
    auto ran_fut = ran.get_future();
    std::thread th([ioc, p = std::move(ran)]() mutable {
        ioc->run();
        p.set_value();
    });
    const auto deadline = steady_clock::now() + bound;
    if (ran_fut.wait_until(deadline) != std::future_status::ready) {
        ioc->stop();
        th.detach();
        FAIL("the run did not finish within " << bound.count() << " ms (a hang)");
    }
    th.join();
    fut.get();
}

std::string uri_for(const morm_test::mock_cluster& cl, std::string_view extra = {}) {
    std::string u = std::string("mongodb://") + user + ":" + password + "@" + cl.address(0) +
                    "/?directConnection=true&maxIdleTimeMS=20&serverSelectionTimeoutMS=3000&heartbeatFrequencyMS=500";
    if (!extra.empty()) u.append("&").append(extra);
    return u;
}

/// A server whose application connections' handshakes go through `ctx` and `*active`.
void install(morm_test::mock_cluster& cl, server_ctx& ctx, std::shared_ptr<std::atomic<const scenario*>> active) {
    cl.on_command([&ctx, active](std::size_t, const recorded_command& c) -> mock_action {
        const scenario* sc = active->load();
        if (sc && (is_hello(c) || c.name == "saslStart" || c.name == "saslContinue"))
            if (auto a = sc->act(c, ctx)) return *a;
        if (auto a = ctx.honest(c)) return *a;
        return mock_action::proceed();
    });
}

struct outcome {
    errc code = errc::ok;
    std::string message;
    milliseconds took{0};
    bool other_exception = false;
};

/// Opens a new pooled connection (the idle one has expired) and pings on it.
asio::awaitable<outcome> fresh_connection_op(morm::client cl, const scenario* sc) {
    outcome o;
    // Past maxIdleTimeMS: the pool's idle connection is discarded, the next one is new.
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(60ms);
    co_await t.async_wait(asio::use_awaitable);
    const auto t0 = steady_clock::now();
    try {
        {
            auto conn = co_await cl.acquire();
            if (sc && sc->check_ok) sc->check_ok(*conn);
        }
        doc ping = doc::from_json(R"({"ping": 1})");
        std::string db = "admin";
        auto reply = co_await cl.run_command(db, ping);
        (void)reply;
    } catch (const morm::error& e) {
        o.code = static_cast<errc>(e.code().value());
        o.message = e.diag().message;
    } catch (const std::exception& e) {
        o.other_exception = true;
        o.message = e.what();
    }
    o.took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
    co_return o;
}

}  // namespace

TEST_CASE("hostile handshake: every scenario fails clearly or works, in bounded time, and the client recovers",
          "[hostile]") {
    auto all = scenarios();
    REQUIRE(all.size() >= 12);
    morm_test::mock_cluster cl({member_role::standalone});
    server_ctx ctx;
    auto active = std::make_shared<std::atomic<const scenario*>>(nullptr);
    install(cl, ctx, active);
    const std::string uri = uri_for(cl, "connectTimeoutMS=5000");
    run_bounded(milliseconds(10'000 + 6'000 * static_cast<long>(all.size())), [&]() -> asio::awaitable<void> {
        std::string u = uri;
        morm::client_options opts;
        auto client = co_await morm::client::connect(u, opts);
        for (const auto& sc : all) {
            INFO("scenario: " << sc.name);
            const scenario* hostile = &sc;
            const scenario* none = nullptr;
            active->store(hostile);
            outcome bad = co_await fresh_connection_op(client, hostile);
            active->store(nullptr);
            INFO("hostile outcome: " << static_cast<int>(bad.code) << " " << bad.message << " in " << bad.took.count()
                                     << " ms");
            if (std::getenv("MORM_HOSTILE_VERBOSE")) WARN(sc.name << " -> " << static_cast<int>(bad.code) << " " << bad.message << " (" << bad.took.count() << " ms)");
            CHECK_FALSE(bad.other_exception);
            CHECK(bad.code == sc.expected);
            if (sc.expected != errc::ok) CHECK_THAT(bad.message, Catch::Contains(sc.fragment));
            CHECK(bad.message.find(password) == std::string::npos);
            CHECK(bad.took < sc.bound);
            // The server turns honest: the same client's next operation works.
            outcome good = co_await fresh_connection_op(client, none);
            INFO("next outcome: " << static_cast<int>(good.code) << " " << good.message);
            CHECK(good.code == errc::ok);
            CHECK(good.took < 5s);
        }
    });
}

TEST_CASE("hostile handshake: PBKDF2 runs off the I/O thread, other coroutines keep running", "[hostile]") {
    // How long the client's PBKDF2 takes here: the test is only meaningful when it is long.
    morm::wire::detail::scram_keys k;
    const auto p0 = steady_clock::now();
    REQUIRE(morm::wire::detail::scram_derive_keys(morm::wire::scram_mechanism::sha256, password, "hostile-salt-16b",
                                                  morm::wire::scram_client::max_iterations, k));
    const auto pbkdf2 = steady_clock::now() - p0;
    INFO("PBKDF2 with i=1,000,000: " << std::chrono::duration_cast<milliseconds>(pbkdf2).count() << " ms");
    REQUIRE(pbkdf2 > 100ms);

    morm_test::mock_cluster cl({member_role::standalone});
    server_ctx ctx;
    ctx.iterations = morm::wire::scram_client::max_iterations;  // large but allowed
    auto active = std::make_shared<std::atomic<const scenario*>>(nullptr);
    install(cl, ctx, active);
    const std::string uri = uri_for(cl, "connectTimeoutMS=30000");

    std::atomic<int> ticks_during{0};
    milliseconds max_gap{0};
    std::atomic<bool> connecting{true};  // outlives both coroutines
    run_bounded(60s, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // A coroutine on the same io_context that ticks every 5 ms while the client connects.
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                asio::steady_timer t(ex);
                auto last = steady_clock::now();
                while (connecting) {
                    t.expires_after(5ms);
                    co_await t.async_wait(asio::use_awaitable);
                    auto now = steady_clock::now();
                    if (connecting) {
                        ++ticks_during;
                        max_gap = std::max(max_gap, std::chrono::duration_cast<milliseconds>(now - last));
                    }
                    last = now;
                }
            },
            asio::detached);
        std::string u = uri;
        morm::client_options opts;
        auto client = co_await morm::client::connect(u, opts);
        connecting = false;
        doc ping = doc::from_json(R"({"ping": 1})");
        std::string db = "admin";
        auto reply = co_await client.run_command(db, ping);
        (void)reply;
    });
    INFO("ticks while connecting: " << ticks_during.load() << ", longest gap " << max_gap.count() << " ms");
    // Synchronous PBKDF2 on the I/O thread would stall the ticker for the whole derivation.
    CHECK(ticks_during.load() >= 10);
    CHECK(max_gap < std::chrono::duration_cast<milliseconds>(pbkdf2) / 2);
}

TEST_CASE("hostile handshake: connectTimeoutMS fires while PBKDF2 computes, the next connection works", "[hostile]") {
    // The connect timeout is a quarter of what the client's PBKDF2 takes on this machine.
    morm::wire::detail::scram_keys k;
    const auto p0 = steady_clock::now();
    REQUIRE(morm::wire::detail::scram_derive_keys(morm::wire::scram_mechanism::sha256, password, "hostile-salt-16b",
                                                  morm::wire::scram_client::max_iterations, k));
    const auto pbkdf2 = std::chrono::duration_cast<milliseconds>(steady_clock::now() - p0);
    INFO("PBKDF2 with i=1,000,000: " << pbkdf2.count() << " ms");
    REQUIRE(pbkdf2 > 200ms);
    const milliseconds connect_timeout = pbkdf2 / 4;

    morm_test::mock_cluster cl({member_role::standalone});
    server_ctx ctx;
    auto active = std::make_shared<std::atomic<const scenario*>>(nullptr);
    install(cl, ctx, active);
    const std::string uri = uri_for(cl, "connectTimeoutMS=" + std::to_string(connect_timeout.count()));
    run_bounded(30s, [&]() -> asio::awaitable<void> {
        std::string u = uri;
        morm::client_options opts;
        auto client = co_await morm::client::connect(u, opts);
        // The next connection's server asks for a million iterations.
        ctx.iterations = morm::wire::scram_client::max_iterations;
        const scenario* none = nullptr;
        outcome bad = co_await fresh_connection_op(client, none);
        ctx.iterations = 4096;
        INFO(bad.message << " after " << bad.took.count() << " ms");
        CHECK(bad.code == errc::timeout);
        CHECK_THAT(bad.message, Catch::Contains("deriving the SCRAM keys"));
        // The timeout, not the end of PBKDF2, ended the attempt.
        CHECK(bad.took < connect_timeout + (pbkdf2 - connect_timeout) / 2);
        outcome good = co_await fresh_connection_op(client, none);
        INFO(good.message);
        CHECK(good.code == errc::ok);
    });
}

TEST_CASE("hostile hello limits: the handshake clamps or refuses, the monitor's description clamps or defaults",
          "[hostile]") {
    struct row {
        const char* fields;      // JSON fields added to a healthy hello
        errc handshake;          // wire::parse_hello's verdict
        std::int32_t message;    // the maxMessageSizeBytes both keep (when accepted)
        std::int32_t batch;      // maxWriteBatchSize
        std::int32_t bson;       // maxBsonObjectSize
    };
    const row rows[] = {
        {R"({"maxMessageSizeBytes": 2147483647})", errc::ok, 48'000'000, 100'000, 16 << 20},
        {R"({"maxMessageSizeBytes": {"$numberLong": "9223372036854775807"}})", errc::ok, 48'000'000, 100'000, 16 << 20},
        {R"({"maxWriteBatchSize": 1e300, "maxBsonObjectSize": 4294967297})", errc::ok, 48'000'000, 100'000, 16 << 20},
        {R"({"maxWriteBatchSize": 2.9, "maxMessageSizeBytes": 2000000, "maxBsonObjectSize": 1048576})", errc::ok,
         2'000'000, 2, 1 << 20},
        {R"({"maxMessageSizeBytes": -1})", errc::protocol, 48'000'000, 100'000, 16 << 20},
        {R"({"maxWriteBatchSize": -1e300})", errc::protocol, 48'000'000, 100'000, 16 << 20},
        {R"({"maxBsonObjectSize": 0})", errc::protocol, 48'000'000, 100'000, 16 << 20},
        {R"({"maxBsonObjectSize": true})", errc::protocol, 48'000'000, 100'000, 16 << 20},
        {R"({"maxMessageSizeBytes": {"$numberDouble": "Infinity"}})", errc::protocol, 48'000'000, 100'000, 16 << 20},
        // Wire versions saturate instead of wrapping (2^32 + 17 is not 17).
        {R"({"maxWireVersion": {"$numberLong": "4294967313"}})", errc::ok, 48'000'000, 100'000, 16 << 20},
        {R"({"minWireVersion": {"$numberLong": "4294967313"}, "maxWireVersion": {"$numberLong": "4294967313"}})",
         errc::not_supported, 48'000'000, 100'000, 16 << 20},
    };
    for (const auto& r : rows) {
        INFO(r.fields);
        doc hello = hello_doc(r.fields);
        morm::wire::server_description wsd;
        morm::diagnostics d;
        auto ec = morm::wire::parse_hello(hello.get(), wsd, d);
        if (r.handshake == errc::ok) CHECK_FALSE(ec);
        else CHECK(ec == make_error_code(r.handshake));
        if (!ec) {
            CHECK(wsd.max_message_size_bytes == r.message);
            CHECK(wsd.max_write_batch_size == r.batch);
            CHECK(wsd.max_bson_object_size == r.bson);
        } else {
            CHECK_FALSE(d.message.empty());
        }
        // The monitor's description never fails: the same clamps, defaults for the rest.
        auto tsd = morm::topology::parse_hello("h:1", hello.get(), std::nullopt, 0);
        CHECK(tsd.max_message_size_bytes == r.message);
        CHECK(tsd.max_write_batch_size == r.batch);
        CHECK(tsd.max_bson_object_size == r.bson);
        CHECK((tsd.max_wire_version == 17 || tsd.max_wire_version == INT32_MAX));
    }
}
