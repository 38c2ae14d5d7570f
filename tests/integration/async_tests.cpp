// morm::async: every operation under Asio's completion-token model (callbacks, futures,
// as_tuple for exception-free code), with the server's diagnostics.
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

namespace asio = boost::asio;

namespace async_it {
struct Note {
    std::string id;
    std::string text;
};
MORM_MODEL(Note, "notes", (id, "_id"), text);
}  // namespace async_it

using async_it::Note;

TEST_CASE("morm::async: as_tuple, callbacks and futures with diagnostics", "[async][integration]") {
    std::string uri = morm_test::server_uri() + morm_test::unique_db("async");
    morm_test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto engine = co_await morm::create_engine(uri);
        morm::session s{engine};
        s.add(Note{"n1", "hello"});
        morm::diagnostics diag;
        // Exception-free: the error code comes back in a tuple.
        auto [ec, r] = co_await morm::async(ex, s.commit(), diag, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec);
        CHECK(r.inserted == 1);

        // A duplicate: the server's code and codeName reach diag, no exception.
        morm::session s2{engine};
        s2.add(Note{"n1", "again"});
        auto [ec2, r2] = co_await morm::async(ex, s2.commit(), diag, asio::as_tuple(asio::use_awaitable));
        CHECK(ec2 == morm::errc::write_error);
        CHECK(diag.server_code == 11000);
        CHECK(r2.failures.size() == 0);  // the value is default-constructed on error

        // A server error from the client API keeps code and codeName.
        auto bad = morm::bson::document::from_json(R"({"noSuchCommandAtAll": 1})");
        auto [ec3, reply] =
            co_await morm::async(ex, engine.database().run_command(bad), diag, asio::as_tuple(asio::use_awaitable));
        CHECK(ec3 == morm::errc::server_error);
        CHECK(diag.code_name == "CommandNotFound");

        // A plain callback. The collection and the filter are named: they must outlive the
        // operation, which runs after this statement.
        bool called = false;
        morm::error_code cb_ec = morm::make_error_code(morm::errc::network);
        auto notes = engine.collection<Note>();
        morm::bson::document all;
        morm::count_options co;
        morm::async(ex, notes.count_documents(all, co), [&](morm::error_code e, std::int64_t n) {
            called = true;
            cb_ec = e;
            CHECK(n == 1);
        });
        asio::steady_timer t(ex);
        for (int i = 0; i < 200 && !called; ++i) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(called);
        CHECK_FALSE(cb_ec);
        co_await engine.database().drop();
    });

    // A future from a thread that is not running the io_context.
    asio::io_context ioc;
    auto fut = morm::async(ioc.get_executor(), morm::engine::create(uri), asio::use_future);
    ioc.run();
    auto [ec, engine] = std::make_tuple(morm::error_code{}, morm::engine{});
    CHECK_NOTHROW(engine = fut.get());
    CHECK(engine.state() != nullptr);
}
