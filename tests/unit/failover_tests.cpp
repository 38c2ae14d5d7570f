// Failover mid-commit against the scriptable replica set (tests/common/mock_server.hpp):
// a session commits 10,000 objects in one pipelined commit (100 insert commands of 100);
// after the 40th command is applied the primary's connection is cut before its reply and
// member 1 is elected. The commands whose outcome is unknown go to the new primary with
// their txnNumbers; the replica set's transaction table answers the one already applied
// without applying it again.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/mock_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <set>
#include <thread>

namespace asio = boost::asio;
using morm_test::member_role;

namespace fo {
struct Doc {
    std::string id;
    std::int32_t n = 0;
};
MORM_MODEL(Doc, "failover_docs", (id, "_id"), n);
}  // namespace fo

namespace {

template <class F>
auto run_async(F&& f) {
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, std::forward<F>(f)(), asio::use_future);
    ioc.run();
    return fut.get();
}

std::int64_t txn_of(const morm_test::recorded_command& c) {
    bson_iter_t it;
    return bson_iter_init_find(&it, c.body.get(), "txnNumber") ? bson_iter_as_int64(&it) : -1;
}

std::string lsid_of(const morm_test::recorded_command& c) {
    bson_iter_t it, id;
    if (!bson_iter_init_find(&it, c.body.get(), "lsid") || !BSON_ITER_HOLDS_DOCUMENT(&it)) return {};
    if (!bson_iter_recurse(&it, &id) || !bson_iter_find(&id, "id") || !BSON_ITER_HOLDS_BINARY(&id)) return {};
    bson_subtype_t st;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&id, &st, &len, &data);
    return std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace

TEST_CASE("failover mid-commit: 10,000 objects, the primary cut after 40 of 100 commands, a new primary elected",
          "[failover]") {
    morm_test::mock_options mo;
    mo.max_write_batch_size = 100;
    morm_test::mock_cluster rs({member_role::primary, member_role::secondary, member_role::secondary}, mo);
    std::atomic<int> inserts{0};
    std::thread election;
    rs.on_command([&](std::size_t m, const morm_test::recorded_command& c) -> morm_test::mock_action {
        if (m == 0 && c.name == "insert" && ++inserts == 40) {
            rs.close_after_writes(1);  // the 40th is applied, its reply never sent
            // Member 1 wins an election just after the cut (the hook runs before the 40th
            // is applied, so the election must wait for it).
            election = std::thread([&rs] {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                rs.step_down(1, false);
            });
        }
        return morm_test::mock_action::proceed();
    });

    const std::size_t total = 10'000;
    auto result = run_async([&]() -> asio::awaitable<morm::commit_result> {
        // Monitors wait in awaitable hellos (maxAwaitTimeMS = heartbeatFrequencyMS): the
        // election wakes them at once.
        const auto uri = "mongodb://" + rs.seed_list() + "/fodb?replicaSet=rs0";
        auto engine = co_await morm::engine::create(uri);
        morm::session s{engine};
        for (std::size_t i = 0; i < total; ++i) s.add(fo::Doc{fmt::format("d{:05}", i), static_cast<std::int32_t>(i)});
        auto r = co_await s.commit();
        engine.client().close();
        co_return r;
    });
    if (election.joinable()) election.join();

    // Every object's outcome is ok: nothing failed, nothing unknown, nothing left pending.
    CHECK(result.ok());
    CHECK(result.inserted == total);

    // The new primary holds exactly 10,000 documents, none twice.
    auto docs = rs.documents("fodb.failover_docs");
    std::set<std::string> ids;
    for (auto& d : docs) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, d.get(), "_id") && BSON_ITER_HOLDS_UTF8(&it)) ids.insert(bson_iter_utf8(&it, nullptr));
    }
    CHECK(docs.size() == total);
    CHECK(ids.size() == total);
    REQUIRE(rs.primary() == std::optional<std::size_t>(1));

    // Member 0 got 40 inserts before the cut (the 40th applied, unacknowledged); the retry
    // sent the 61 commands whose outcome was unknown to member 1 with the same txnNumbers,
    // under the same lsid; the transaction table answered the one already applied.
    std::vector<std::int64_t> before, after;
    std::set<std::string> lsids;
    for (auto& c : rs.commands_named("insert")) {
        (c.member == 0 ? before : after).push_back(txn_of(c));
        lsids.insert(lsid_of(c));
    }
    CHECK(lsids.size() == 1);
    CHECK_FALSE(lsids.begin()->empty());
    REQUIRE(before.size() >= 40);
    CHECK(after.size() == 100 - 39);
    CHECK(after.front() == before[39]);  // the unacknowledged one, sent again with its number
    std::set<std::int64_t> all(before.begin(), before.begin() + 39);
    all.insert(after.begin(), after.end());
    CHECK(all.size() == 100);            // every command has its own txnNumber
    CHECK(rs.retried_writes() == 1);     // applied once, answered from the table the second time
    std::printf("failover: %zu documents written, %zu commands (%zu objects) re-sent to the new primary, "
                "%zu answered from the transaction table, %zu duplicated, %zu lost\n",
                docs.size(), after.size(), after.size() * 100, rs.retried_writes(), docs.size() - ids.size(),
                total - ids.size());
}

TEST_CASE("a transactional commit against the replica set: one txnNumber, autocommit:false, committed at once",
          "[failover][transactions]") {
    morm_test::mock_options mo;
    mo.max_write_batch_size = 10;
    morm_test::mock_cluster rs({member_role::primary, member_role::secondary}, mo);
    auto result = run_async([&]() -> asio::awaitable<morm::commit_result> {
        const auto uri = "mongodb://" + rs.seed_list() + "/fodb?replicaSet=rs0";
        auto engine = co_await morm::engine::create(uri);
        morm::session_options so;
        so.transactional = true;
        morm::session s{engine, so};
        for (int i = 0; i < 35; ++i) s.add(fo::Doc{fmt::format("t{:02}", i), i});
        auto r = co_await s.commit();
        engine.client().close();
        co_return r;
    });
    CHECK(result.ok());
    CHECK(rs.documents("fodb.failover_docs").size() == 35);
    auto finds = rs.commands_named("delete");  // the probe that starts the transaction
    REQUIRE(finds.size() == 1);
    CHECK(morm_test::mock_detail::get_bool(finds[0].body, "startTransaction", false));
    auto inserts = rs.commands_named("insert");
    REQUIRE(inserts.size() == 4);  // 35 objects in commands of at most 10
    for (auto& c : inserts) {
        CHECK(txn_of(c) == txn_of(finds[0]));
        CHECK_FALSE(morm_test::mock_detail::get_bool(c.body, "autocommit", true));
        CHECK(lsid_of(c) == lsid_of(finds[0]));
    }
    auto commits = rs.commands_named("commitTransaction");
    REQUIRE(commits.size() == 1);
    CHECK(txn_of(commits[0]) == txn_of(finds[0]));
}

TEST_CASE("a transactional commit with a duplicate key writes nothing and keeps every object pending",
          "[failover][transactions]") {
    morm_test::mock_cluster rs({member_role::primary, member_role::secondary});
    rs.insert_document("fodb.failover_docs", morm::bson::document::from_json(R"({"_id": "t03", "n": 0})"));
    auto result = run_async([&]() -> asio::awaitable<morm::commit_result> {
        const auto uri = "mongodb://" + rs.seed_list() + "/fodb?replicaSet=rs0";
        auto engine = co_await morm::engine::create(uri);
        morm::session_options so;
        so.transactional = true;
        morm::session s{engine, so};
        for (int i = 0; i < 6; ++i) s.add(fo::Doc{fmt::format("t{:02}", i), i});
        morm::error_code ec;
        morm::diagnostics diag;
        auto r = co_await s.commit(ec, diag);
        engine.client().close();
        co_return r;
    });
    CHECK_FALSE(result.ok());
    CHECK(result.inserted == 0);
    CHECK(result.failures.size() == 6);  // the duplicate, and the five rolled back with it
    CHECK(rs.documents("fodb.failover_docs").size() == 1);
    CHECK(rs.count_named("abortTransaction") == 1);
    CHECK(rs.count_named("commitTransaction") == 0);
}

TEST_CASE("a host list with a bad port: that member stays Unknown with the reason, nothing connects elsewhere",
          "[failover][hostile]") {
    morm_test::mock_cluster rs({member_role::primary});
    const auto self = rs.address(0);
    rs.on_command([&](std::size_t, const morm_test::recorded_command& c) -> morm_test::mock_action {
        if (c.name != "hello" && c.name != "isMaster") return morm_test::mock_action::proceed();
        // 70000 would be port 4464 if truncated to 16 bits; "notaport" would be 27017 if defaulted.
        return morm_test::mock_action::reply(morm::bson::document::from_json(fmt::format(
            R"({{"isWritablePrimary": true, "setName": "rs0", "hosts": ["{}", "h.invalid:notaport", "127.0.0.1:70000"],
                "minWireVersion": 0, "maxWireVersion": 17, "logicalSessionTimeoutMinutes": 30, "ok": 1}})",
            self)));
    });
    auto td = run_async([&]() -> asio::awaitable<morm::topology::topology_description> {
        auto cl = co_await morm::client::connect("mongodb://" + self + "/db?replicaSet=rs0");
        auto coll = cl.database("db")["c"];
        auto doc = morm::bson::document::from_json(R"({"_id": 1})");
        co_await coll.insert_one(doc);  // the primary is still usable
        auto out = cl.topology_description();
        cl.close();
        co_return out;
    });
    REQUIRE(td.servers.count("127.0.0.1:70000") == 1);
    REQUIRE(td.servers.count("h.invalid:notaport") == 1);
    for (const auto* bad : {"127.0.0.1:70000", "h.invalid:notaport"}) {
        const auto& sd = td.servers.at(bad);
        CHECK(sd.type == morm::topology::server_type::unknown);
        REQUIRE(sd.error.has_value());
        CHECK(sd.error->find("invalid address") != std::string::npos);
    }
    CHECK(td.type == morm::topology::topology_type::replica_set_with_primary);
    CHECK(rs.documents("db.c").size() == 1);
}
