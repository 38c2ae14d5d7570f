// Completion tokens on the client, engine, session and queries: as_tuple, futures,
// callbacks, morm::with_diagnostics for the server's error without exceptions, and
// per-operation cancellation through the token's cancellation slot.
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>

namespace asio = boost::asio;

namespace async_it {
struct Note {
    std::string id;
    std::string text;
};
MORM_MODEL(Note, "notes", (id, "_id"), text);

/// Suspends until `done` or about two seconds have passed.
asio::awaitable<void> wait_for(const bool& done) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 200 && !done; ++i) {
        t.expires_after(std::chrono::milliseconds(10));
        co_await t.async_wait(asio::use_awaitable);
    }
}
}  // namespace async_it

using async_it::Note;

TEST_CASE("tokens: as_tuple, with_diagnostics and callbacks on session, query and client", "[async][integration]") {
    std::string uri = morm_test::server_uri() + morm_test::unique_db("async");
    morm_test::run([&]() -> asio::awaitable<void> {
        auto engine = co_await morm::create_engine(uri);
        morm::session s{engine};
        s.add(Note{"n1", "hello"});
        // Exception-free: the error code comes back in a tuple.
        auto [ec, r] = co_await s.commit(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec);
        CHECK(r.inserted == 1);

        // A duplicate key: the server's code and codeName reach diag, no exception, and the
        // result still says which object was not written.
        morm::session s2{engine};
        s2.add(Note{"n1", "again"});
        morm::diagnostics diag;
        auto [ec2, r2] = co_await s2.commit(morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == morm::errc::write_error);
        CHECK(diag.server_code == 11000);
        REQUIRE(r2.failures.size() == 1);
        CHECK(r2.failures[0].code == 11000);

        // A server error from the client API keeps code and codeName.
        auto bad = morm::bson::document::from_json(R"({"noSuchCommandAtAll": 1})");
        auto [ec3, reply] = co_await engine.client().run_command(
            engine.database().name(), bad, morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec3 == morm::errc::server_error);
        CHECK(diag.code_name == "CommandNotFound");
        CHECK(reply.empty());

        // A callback on a temporary query: the token form copies the query, so only the
        // session must outlive the operation.
        bool called = false;
        morm::error_code cb_ec = morm::make_error_code(morm::errc::network);
        std::size_t found = 0;
        s.query<Note>().filter(morm::field(&Note::text) == "hello").all(
            [&](morm::error_code e, std::vector<std::shared_ptr<Note>> notes) {
                called = true;
                cb_ec = e;
                found = notes.size();
            });
        co_await async_it::wait_for(called);
        CHECK(called);
        CHECK_FALSE(cb_ec);
        CHECK(found == 1);

        // A query error without exceptions: one() with no match.
        auto [ec4, none] = co_await s.query<Note>()
                               .filter(morm::field(&Note::text) == "nobody")
                               .one(morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec4 == morm::errc::not_found);
        CHECK(none == nullptr);
        CHECK(diag.message.find("matched no document") != std::string::npos);

        // The other query forms, and get() from the identity map and from the server.
        auto [ec5, n] = co_await s.query<Note>().count(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec5);
        CHECK(n == 1);
        morm::session s3{engine};
        auto [ec6, got] = co_await s3.get<Note>("n1", asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec6);
        REQUIRE(got);
        CHECK(got->text == "hello");
        got->text = "changed";
        auto [ec7] = co_await s3.refresh(got, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec7);
        CHECK(got->text == "hello");
        auto [ec8, stream] = co_await s3.query<Note>().stream(asio::as_tuple(asio::use_awaitable));
        REQUIRE_FALSE(ec8);
        auto [ec9, first] = co_await stream.next(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec9);
        REQUIRE(first);
        CHECK(first->id == "n1");
        auto [ec10, updated] = co_await s3.query<Note>().update(morm::set(morm::field(&Note::text), "x"),
                                                                 asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec10);
        CHECK(updated == 1);
        auto [ec11, removed] = co_await s3.query<Note>().remove(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec11);
        CHECK(removed == 1);

        auto [ec12] = co_await engine.drop_all(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec12);
        co_await engine.database().drop();
    });
}

TEST_CASE("tokens: use_future for engine::create and session::commit", "[async][integration]") {
    std::string uri = morm_test::server_uri() + morm_test::unique_db("asyncfut");
    asio::io_context ioc;
    std::future<morm::engine> fe = morm::engine::create(ioc.get_executor(), uri, asio::use_future);
    ioc.run();
    morm::engine engine;
    REQUIRE_NOTHROW(engine = fe.get());
    REQUIRE(engine.state() != nullptr);

    morm::session s{engine};
    s.add(Note{"f1", "future"});
    std::future<morm::commit_result> f = s.commit(asio::use_future);
    ioc.restart();
    ioc.run();
    auto r = f.get();
    CHECK(r.inserted == 1);

    // A failed commit through a future throws (the future's convention), with the code.
    morm::session s2{engine};
    s2.add(Note{"f1", "duplicate"});
    std::future<morm::commit_result> f2 = s2.commit(asio::use_future);
    ioc.restart();
    ioc.run();
    try {
        f2.get();
        FAIL("a duplicate key must fail the commit");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == morm::errc::write_error);
    }

    std::future<void> fd = engine.drop_all(asio::use_future);
    ioc.restart();
    ioc.run();
    CHECK_NOTHROW(fd.get());
    auto fdb = asio::co_spawn(ioc, engine.database().drop(), asio::use_future);
    ioc.restart();
    ioc.run();
    CHECK_NOTHROW(fdb.get());
}

TEST_CASE("tokens: a get waiting for a pooled connection is cancelled by a timer", "[async][cancel][integration]") {
    using namespace asio::experimental::awaitable_operators;
    const std::string db = morm_test::unique_db("asynccancel");
    // One connection, and a wait-queue timeout as a backstop: if the wait were not
    // cancellable, the get would end with pool_timeout after 5 s instead of hanging.
    std::string uri = morm_test::server_uri() + db + "?maxPoolSize=1&waitQueueTimeoutMS=5000";
    morm_test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto engine = co_await morm::create_engine(uri);
        {
            morm::session w{engine};
            w.add(Note{"c1", "cancel me"});
            co_await w.commit();
        }
        morm::session s{engine};
        auto held = co_await engine.client().acquire();  // the only connection

        // `||`: the timer wins, so the get (waiting in the pool) is cancelled.
        asio::steady_timer timer(ex, std::chrono::milliseconds(100));
        const auto t0 = std::chrono::steady_clock::now();
        auto winner = co_await (s.get<Note>("c1", asio::as_tuple(asio::use_awaitable)) ||
                                timer.async_wait(asio::use_awaitable));
        CHECK(winner.index() == 1);
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));

        // The same through an explicit slot, to see the completion code.
        asio::cancellation_signal sig;
        bool done = false;
        morm::error_code got_ec;
        s.get<Note>("c1", asio::bind_cancellation_slot(sig.slot(), [&](morm::error_code e, std::shared_ptr<Note>) {
            got_ec = e;
            done = true;
        }));
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::use_awaitable);
        CHECK_FALSE(done);
        sig.emit(asio::cancellation_type::terminal);
        co_await async_it::wait_for(done);
        CHECK(done);
        CHECK(got_ec == asio::error::operation_aborted);

        // A commit cancelled while it waits for the connection sends nothing: every staged
        // object stays pending, reported as not sent.
        s.add(Note{"c2", "pending"});
        bool committed = false;
        morm::error_code commit_ec;
        morm::commit_result cr;
        s.commit(asio::bind_cancellation_slot(sig.slot(), [&](morm::error_code e, morm::commit_result r) {
            commit_ec = e;
            cr = std::move(r);
            committed = true;
        }));
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::use_awaitable);
        sig.emit(asio::cancellation_type::terminal);
        co_await async_it::wait_for(committed);
        CHECK(commit_ec == asio::error::operation_aborted);
        REQUIRE(cr.failures.size() == 1);
        CHECK(cr.failures[0].state == morm::item_outcome::state::pending);
        CHECK(s.dirty());

        // Released: the next operations get the connection and work.
        held.release();
        auto c = co_await s.get<Note>("c1");
        REQUIRE(c);
        CHECK(c->text == "cancel me");
        auto r = co_await s.commit();
        CHECK(r.inserted == 1);
        co_await engine.database().drop();
    });
}
