// Fault injection against the real server through an in-test TCP proxy: pipelining proof,
// cut / corrupted / stalled replies, recovery through the pool, pool limits and
// many concurrent coroutines.
#include "common/fault_proxy.hpp"
#include "common/test_server.hpp"

#include <morm/bson/document.hpp>
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/pool.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace morm;
using namespace std::chrono_literals;

namespace {

net::endpoint upstream() {
    auto hp = morm_test::host_port();
    auto colon = hp.rfind(':');
    return {hp.substr(0, colon), static_cast<std::uint16_t>(std::stoi(hp.substr(colon + 1))), false};
}

net::endpoint via(const morm_test::fault_proxy& p) { return {"127.0.0.1", p.port(), false}; }


// `groups` unordered insert groups of `per_group` documents each (one frame per group).
std::vector<write_group> insert_groups(const std::string& db, const std::string& coll, int groups, int per_group) {
    std::vector<write_group> v;
    for (int g = 0; g < groups; ++g) {
        write_group wg;
        wg.db = db;
        wg.collection = coll;
        wg.kind = write_kind::insert;
        wg.ordered = false;
        wg.count = static_cast<std::size_t>(per_group);
        wg.encode = [g](std::size_t i, bson_t* dst, diagnostics&) -> error_code {
            BSON_APPEND_INT32(dst, "_id", g * 1000 + static_cast<int>(i));
            BSON_APPEND_UTF8(dst, "v", "x");
            return {};
        };
        v.push_back(std::move(wg));
    }
    return v;
}

asio::awaitable<void> connect(net::connection& c, const net::endpoint& ep, const net::connection_params& p) {
    error_code ec;
    diagnostics diag;
    co_await c.async_connect(ep, p, ec, diag);
    INFO(diag.message);
    REQUIRE_FALSE(ec);
}

asio::awaitable<void> drop_db(net::connection& c, const std::string& db) {
    error_code ec;
    diagnostics diag;
    co_await c.async_command(
        db, [](bson_t* b) { BSON_APPEND_INT32(b, "dropDatabase", 1); }, nullptr, 5s, ec, diag);
}

// The span is a named local: no converted temporaries inside a co_await expression
// (g++ 12 mishandles those).
asio::awaitable<void> pipeline(net::connection& c, std::vector<write_group>& v, std::chrono::milliseconds deadline,
                               error_code& ec, diagnostics& diag, pipeline_stats* st = nullptr) {
    std::span<write_group> groups(v);
    co_await run_write_pipeline(c, groups, deadline, ec, diag, st);
}

// Appends a ping frame to the connection's buffer; returns its request id.
std::int32_t append_ping(net::connection& c) {
    std::int32_t rid = c.next_request_id();
    wire::op_msg_writer w(c.out_buffer(), rid);
    bson_t* b = w.begin_body();
    BSON_APPEND_INT32(b, "ping", 1);
    BSON_APPEND_UTF8(b, "$db", "admin");
    w.end_body();
    w.finish();
    return rid;
}

}  // namespace

TEST_CASE("pipelining: all frames go out before any reply is read", "[fault][integration]") {
    auto up = upstream();
    morm_test::fault_proxy proxy(up.host, up.port);
    const auto db = morm_test::unique_db("fault_pipe");
    morm_test::run([&]() -> asio::awaitable<void> {
        net::connection_params params;
        net::connection c(co_await asio::this_coro::executor);
        co_await connect(c, via(proxy), params);

        // The proxy withholds every reply until it has seen 5 complete request frames.
        // A client that waits for reply k before sending request k+1 deadlocks here and
        // hits the 5 s deadline instead.
        morm_test::fault_rules hold;
        hold.hold_until_frames = 5;
        proxy.arm(hold);
        auto groups = insert_groups(db, "c", 5, 3);
        error_code ec;
        diagnostics diag;
        pipeline_stats st;
        auto t0 = std::chrono::steady_clock::now();
        co_await pipeline(c, groups, 5000ms, ec, diag, &st);
        INFO(diag.message);
        REQUIRE_FALSE(ec);
        CHECK(std::chrono::steady_clock::now() - t0 < 4s);
        CHECK(st.frames == 5);
        CHECK(st.writes == 1);
        for (auto& g : groups) {
            CHECK(g.count_in(item_outcome::state::ok) == 3);
            CHECK(g.n == 3);
        }
        CHECK(c.is_open());

        // Same with raw async_exchange of 5 pings.
        proxy.arm(hold);
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 5; ++i) ids.push_back(append_ping(c));
        std::vector<std::size_t> seen;
        co_await c.async_exchange(
            ids, [&](std::size_t i, const wire::op_msg_view& r) {
                CHECK(r.header.response_to == ids[i]);
                seen.push_back(i);
            },
            5000ms, ec, diag);
        INFO(diag.message);
        REQUIRE_FALSE(ec);
        CHECK(seen == std::vector<std::size_t>{0, 1, 2, 3, 4});

        // Control: hold for one frame more than is sent. The proxy really withholds, so
        // the exchange can only end by its deadline, and every item is unacknowledged.
        morm_test::fault_rules hold6;
        hold6.hold_until_frames = 6;
        proxy.arm(hold6);
        auto more = insert_groups(db, "d", 5, 2);
        t0 = std::chrono::steady_clock::now();
        co_await pipeline(c, more, 500ms, ec, diag);
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(ec == errc::timeout);
        CHECK(took >= 450ms);
        CHECK(took < 3s);
        CHECK_FALSE(c.is_open());
        for (auto& g : more) CHECK(g.count_in(item_outcome::state::unacknowledged) == 2);
        proxy.disarm();

        net::connection c2(co_await asio::this_coro::executor);
        co_await connect(c2, up, params);
        co_await drop_db(c2, db);
    });
}

TEST_CASE("cut mid-reply: clear error, connection closed, per-item outcomes", "[fault][integration]") {
    auto up = upstream();
    morm_test::fault_proxy proxy(up.host, up.port);
    const auto db = morm_test::unique_db("fault_cut");
    morm_test::run([&]() -> asio::awaitable<void> {
        net::connection_params params;
        error_code ec;
        diagnostics diag;

        // Learn the reply sizes of this pipeline in pass-through mode.
        std::vector<std::size_t> sizes;
        {
            net::connection c(co_await asio::this_coro::executor);
            co_await connect(c, via(proxy), params);
            proxy.clear_reply_frame_sizes();
            auto groups = insert_groups(db, "probe", 5, 2);
            co_await pipeline(c, groups, 5000ms, ec, diag);
            REQUIRE_FALSE(ec);
            sizes = proxy.reply_frame_sizes();
            REQUIRE(sizes.size() == 5);
        }

        net::connection c(co_await asio::this_coro::executor);
        co_await connect(c, via(proxy), params);
        // Two whole replies, then 10 bytes of the third.
        morm_test::fault_rules cut;
        cut.cut_after_bytes = sizes[0] + sizes[1] + 10;
        proxy.arm(cut);
        auto groups = insert_groups(db, "c", 5, 2);
        auto t0 = std::chrono::steady_clock::now();
        co_await pipeline(c, groups, 5000ms, ec, diag);
        CHECK(std::chrono::steady_clock::now() - t0 < 3s);
        INFO(diag.message);
        CHECK((ec == errc::connection_closed || ec == errc::network));
        CHECK_FALSE(diag.message.empty());
        CHECK(diag.message.find("127.0.0.1") != std::string::npos);
        CHECK_FALSE(c.is_open());
        CHECK(groups[0].count_in(item_outcome::state::ok) == 2);
        CHECK(groups[1].count_in(item_outcome::state::ok) == 2);
        for (int g = 2; g < 5; ++g) {
            CHECK(groups[static_cast<std::size_t>(g)].count_in(item_outcome::state::unacknowledged) == 2);
            CHECK(groups[static_cast<std::size_t>(g)].outcomes[0].error == errc::outcome_unknown);
        }
        // A closed connection refuses further exchanges right away.
        append_ping(c);
        std::int32_t rid = 0;
        co_await c.async_exchange(std::span<const std::int32_t>(&rid, 1), [](std::size_t, const wire::op_msg_view&) {},
                                  1000ms, ec, diag);
        CHECK(ec == errc::connection_closed);

        // Cut inside the header of the very first reply.
        proxy.disarm();
        net::connection c3(co_await asio::this_coro::executor);
        co_await connect(c3, via(proxy), params);
        morm_test::fault_rules cut3;
        cut3.cut_after_bytes = 3;
        proxy.arm(cut3);
        co_await c3.async_command(
            "admin", [](bson_t* b) { BSON_APPEND_INT32(b, "ping", 1); }, nullptr, 5000ms, ec, diag);
        CHECK((ec == errc::connection_closed || ec == errc::network));
        CHECK_FALSE(c3.is_open());
        proxy.disarm();

        net::connection c2(co_await asio::this_coro::executor);
        co_await connect(c2, up, params);
        co_await drop_db(c2, db);
    });
}

TEST_CASE("garbage reply: protocol error, connection closed", "[fault][integration]") {
    auto up = upstream();
    morm_test::fault_proxy proxy(up.host, up.port);
    morm_test::run([&]() -> asio::awaitable<void> {
        net::connection_params params;
        error_code ec;
        diagnostics diag;
        struct corruption {
            std::size_t at;
            std::uint8_t value;
            const char* what;
        };
        // opCode byte -> unexpected opCode; messageLength MSB -> over maxMessageSizeBytes;
        // section kind byte -> unknown kind; responseTo -> mismatch.
        const corruption cases[] = {{12, 0x01, "opCode"},
                                    {3, 0x7F, "maxMessageSizeBytes"},
                                    {20, 0x07, "section kind"},
                                    {8, 0xEE, "responseTo"}};
        for (const auto& k : cases) {
            proxy.disarm();
            net::connection c(co_await asio::this_coro::executor);
            co_await connect(c, via(proxy), params);
            morm_test::fault_rules r;
            r.corrupt_at = k.at;
            r.corrupt_value = k.value;
            proxy.arm(r);
            co_await c.async_command(
                "admin", [](bson_t* b) { BSON_APPEND_INT32(b, "ping", 1); }, nullptr, 3000ms, ec, diag);
            INFO(k.what << ": " << diag.message);
            CHECK(ec == errc::protocol);
            CHECK(diag.message.find(k.what) != std::string::npos);
            CHECK_FALSE(c.is_open());
        }
    });
}

TEST_CASE("stalled server: timeout within the deadline, connection closed", "[fault][integration]") {
    auto up = upstream();
    morm_test::fault_proxy proxy(up.host, up.port);
    morm_test::run([&]() -> asio::awaitable<void> {
        error_code ec;
        diagnostics diag;
        morm_test::fault_rules stall;
        stall.stall = true;
        {
            // socketTimeoutMS
            net::connection_params params;
            params.socket_timeout = 300ms;
            net::connection c(co_await asio::this_coro::executor);
            co_await connect(c, via(proxy), params);
            proxy.arm(stall);
            auto t0 = std::chrono::steady_clock::now();
            co_await c.async_command(
                "admin", [](bson_t* b) { BSON_APPEND_INT32(b, "ping", 1); }, nullptr, 0ms, ec, diag);
            auto took = std::chrono::steady_clock::now() - t0;
            INFO(diag.message);
            CHECK(ec == errc::timeout);
            CHECK(diag.message.find("300 ms") != std::string::npos);
            CHECK(took >= 280ms);
            CHECK(took < 4s);  // generous: the test machine is shared
            CHECK_FALSE(c.is_open());
            proxy.disarm();
        }
        {
            // Operation deadline, no socket timeout; stall in the middle of a pipeline.
            net::connection_params params;
            net::connection c(co_await asio::this_coro::executor);
            co_await connect(c, via(proxy), params);
            proxy.arm(stall);
            std::vector<std::int32_t> ids;
            for (int i = 0; i < 3; ++i) ids.push_back(append_ping(c));
            std::size_t done = 99;
            auto t0 = std::chrono::steady_clock::now();
            co_await c.async_exchange(ids, [](std::size_t, const wire::op_msg_view&) {}, 400ms, ec, diag, &done);
            auto took = std::chrono::steady_clock::now() - t0;
            INFO(diag.message);
            CHECK(ec == errc::timeout);
            CHECK(done == 0);
            CHECK(diag.message.find("0 of 3 replies") != std::string::npos);
            CHECK(took >= 380ms);
            CHECK(took < 4s);  // generous: the test machine is shared
            CHECK_FALSE(c.is_open());
            proxy.disarm();
        }
    });
}

TEST_CASE("recovery: the pool discards a broken connection and opens a fresh one", "[fault][integration]") {
    auto up = upstream();
    morm_test::fault_proxy proxy(up.host, up.port);
    const auto db = morm_test::unique_db("fault_recover");
    morm_test::run([&]() -> asio::awaitable<void> {
        auto cl = co_await client::connect(morm_test::uri_via(proxy.host_port(), db, "maxPoolSize=1"));
        auto coll = cl.database(db)["c"];
        auto doc1 = bson::document::from_json(R"({"_id": 1})");
        co_await coll.insert_one(doc1);
        auto s0 = cl.pool_stats();
        CHECK(s0.created == 1);
        CHECK(s0.discarded == 0);

        morm_test::fault_rules cut;
        cut.cut_after_bytes = 5;
        proxy.arm(cut);
        auto doc2 = bson::document::from_json(R"({"_id": 2})");
        bool threw = false;
        try {
            co_await coll.insert_one(doc2);
        } catch (const morm::error& e) {
            threw = true;
            CHECK((e.code() == errc::connection_closed || e.code() == errc::network));
        }
        CHECK(threw);
        proxy.disarm();
        auto s1 = cl.pool_stats();
        CHECK(s1.discarded == 1);
        CHECK(s1.open == 0);

        // The next operation runs on a fresh connection; _id 2 may or may not have been
        // written before the cut, so use a new id.
        auto doc3 = bson::document::from_json(R"({"_id": 3})");
        co_await coll.insert_one(doc3);
        auto found = co_await coll.find_one(doc3);
        CHECK(found.has_value());
        auto s2 = cl.pool_stats();
        CHECK(s2.created == 2);
        CHECK(s2.open == 1);
        CHECK(s2.idle == 1);
        CHECK(proxy.accepted() >= 2);  // + the server monitor's connections, through the proxy too
        co_await cl.database(db).drop();
    });
}
