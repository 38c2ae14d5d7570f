// The non-throwing commit: failures come back as error_code + diagnostics + the same
// per-object result; nothing is lost when the engine cannot even reach the server.
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace nothrow_it {
struct Item {
    std::string id;
    std::string label;
};
MORM_MODEL(Item, "items", (id, "_id"), label);
}  // namespace nothrow_it

using nothrow_it::Item;

TEST_CASE("commit(ec, diag) reports per-object failures without throwing", "[orm][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        std::string uri = morm_test::server_uri() + morm_test::unique_db("nothrow");
        auto engine = co_await morm::create_engine(uri);
        {
            morm::session first{engine};
            first.add(Item{"dup", "already there"});
            co_await first.commit();
        }
        morm::session s{engine};
        s.add(Item{"a", "one"});
        s.add(Item{"dup", "clash"});
        s.add(Item{"b", "two"});
        morm::error_code ec;
        morm::diagnostics diag;
        auto r = co_await s.commit(ec, diag);
        CHECK(ec == morm::errc::write_error);
        CHECK(diag.server_code == 11000);
        CHECK(r.inserted == 2);
        REQUIRE(r.failures.size() == 1);
        CHECK(r.failures[0].id == "\"dup\"");
        CHECK(r.failures[0].code == 11000);
        // The rejected object stays pending: fix it and commit again, only it is sent.
        auto pending = std::static_pointer_cast<Item>(r.failures[0].object);
        pending->id = "c";
        auto r2 = co_await s.commit(ec, diag);
        CHECK_FALSE(ec);
        CHECK(r2.inserted == 1);
        CHECK(r2.frames == 1);
        auto count = co_await engine.collection<Item>().count_documents();
        CHECK(count == 4);

        // A disposed engine: nothing can be sent, every staged object is reported as
        // not sent, and it stays in the session.
        s.add(Item{"d", "late"});
        co_await engine.database().drop();
        co_await engine.dispose();
        auto r3 = co_await s.commit(ec, diag);
        CHECK(ec == morm::errc::pool_closed);
        REQUIRE(r3.failures.size() == 1);
        CHECK(r3.failures[0].state == morm::item_outcome::state::pending);
        CHECK(r3.failures[0].message.find("not sent") != std::string::npos);
        CHECK(s.dirty());

        // The token forms report the same without throwing: commit, a query, create_all.
        auto [ec4, r4] = co_await s.commit(asio::as_tuple(asio::use_awaitable));
        CHECK(ec4 == morm::errc::pool_closed);
        CHECK(r4.failures.size() == 1);
        morm::diagnostics qdiag;
        auto [ec5, items] =
            co_await s.query<Item>().all(morm::with_diagnostics(qdiag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec5 == morm::errc::pool_closed);
        CHECK(items.empty());
        CHECK_FALSE(qdiag.message.empty());
        auto [ec6] = co_await engine.create_all(asio::as_tuple(asio::use_awaitable));
        CHECK(ec6 == morm::errc::pool_closed);
    });
}

TEST_CASE("objects staged for deletion are gone from get() and queries before the commit", "[orm][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        std::string uri = morm_test::server_uri() + morm_test::unique_db("pendingdel");
        auto engine = co_await morm::create_engine(uri);
        {
            morm::session w{engine};
            w.add(Item{"x", "keep"});
            w.add(Item{"y", "drop"});
            co_await w.commit();
        }
        morm::session s{engine};
        auto y = co_await s.get<Item>("y");
        REQUIRE(y);
        s.remove(y);
        std::string id = "y";
        auto again = co_await s.get<Item>(id);
        CHECK_FALSE(again);  // staged for deletion: no object, and no round trip needed
        auto all = co_await s.query<Item>().all();
        REQUIRE(all.size() == 1);
        CHECK(all[0]->id == "x");
        auto r = co_await s.commit();
        CHECK(r.deleted == 1);
        auto after = co_await s.get<Item>(id);
        CHECK_FALSE(after);
        co_await engine.database().drop();
    });
}
