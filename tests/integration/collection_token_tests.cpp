// collection and database operations under Asio completion tokens: as_tuple, callbacks,
// futures, with_diagnostics (the server's code without exceptions) and cancellation of an
// operation waiting for a pooled connection.
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <thread>
#include <variant>

namespace asio = boost::asio;
using namespace morm;
using bson::document;

namespace {
document J(std::string_view json) { return document::from_json(json); }

std::string test_uri(std::string_view query = "") {
    std::string u = morm_test::server_uri() + morm_test::unique_db("tokens");
    if (!query.empty()) u += "?" + std::string(query);
    return u;
}
}  // namespace

TEST_CASE("collection ops: as_tuple, callback and with_diagnostics, without exceptions", "[tokens][integration]") {
    morm_test::run([&]() -> asio::awaitable<void> {
        auto cl = co_await client::connect(test_uri());
        auto coll = cl.default_database()["notes"];

        const auto doc = J(R"({"_id": 1, "text": "hello"})");
        auto [ec, r] = co_await coll.insert_one(doc, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec);
        CHECK(r.inserted_id.to_json() == "1");

        // A duplicate: the code and codeName reach diag through the token, no exception.
        diagnostics diag;
        auto [ec2, r2] =
            co_await coll.insert_one(doc, with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == errc::write_error);
        CHECK(diag.server_code == 11000);
        // MongoDB names it; FerretDB 1.24 sends writeErrors without a codeName.
        if (!diag.code_name.empty()) CHECK(diag.code_name == "DuplicateKey");

        // bulk: the per-index errors travel in the result.
        std::vector<document> docs{J(R"({"_id": 2})"), J(R"({"_id": 1})"), J(R"({"_id": 3})")};
        insert_options unordered;
        unordered.ordered = false;
        auto [ec3, br] = co_await coll.insert_many(docs, unordered, asio::as_tuple(asio::use_awaitable));
        CHECK(ec3 == errc::write_error);
        CHECK(br.inserted_count == 2);
        REQUIRE(br.errors.size() == 1);
        CHECK(br.errors[0].index == 1);
        CHECK(br.errors[0].code == 11000);

        // A server error of a command: code and codeName, no exception.
        const auto bad = J(R"({"noSuchCommandAtAll": 1})");
        auto [ec4, reply] = co_await cl.default_database().run_command(
            bad, with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec4 == errc::server_error);
        CHECK(diag.code_name == "CommandNotFound");

        // A refused option: nothing sent, invalid_argument with the option's name.
        find_options neg;
        neg.skip = -1;
        const document all;
        auto [ec5, none] = co_await coll.find_one(all, neg, with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec5 == errc::invalid_argument);
        CHECK(diag.message.find("skip") != std::string::npos);
        CHECK_FALSE(none);

        // A plain callback; the filter must outlive the operation, the handle need not.
        const auto filter = J(R"({"_id": 1})");
        bool called = false;
        cl.default_database()["notes"].find_one(filter, [&](error_code e, std::optional<document> d) {
            called = true;
            CHECK_FALSE(e);
            REQUIRE(d);
            CHECK(d->find("text").has_value());
        });
        asio::steady_timer t(co_await asio::this_coro::executor);
        for (int i = 0; i < 200 && !called; ++i) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(called);

        // deferred, then awaited; count and the index ops with a token.
        auto op = coll.count_documents(all, asio::deferred);
        auto [ec6, n] = co_await std::move(op)(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec6);
        CHECK(n == 3);
        auto [ec7, name] = co_await coll.create_index(J(R"({"text": 1})"), asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec7);
        CHECK(name == "text_1");
        auto [ec8, ixs] = co_await coll.list_indexes(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec8);
        CHECK(ixs.size() == 2);
        auto [ec9] = co_await cl.default_database().drop(asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec9);
    });
}

TEST_CASE("collection ops: asio::use_future from another thread", "[tokens][integration]") {
    asio::io_context ioc;
    const std::string uri = test_uri();  // connect(string_view) keeps a view: name it
    auto fut_client = asio::co_spawn(ioc, client::connect(uri), asio::use_future);
    auto work = asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run_for(std::chrono::seconds(30)); });
    struct joiner {
        asio::io_context& ioc;
        std::thread& t;
        ~joiner() {
            ioc.stop();
            t.join();
        }
    } join_at_exit{ioc, runner};
    auto cl = fut_client.get();
    auto coll = cl.default_database()["futures"];
    const auto doc = J(R"({"_id": "f1", "v": 1})");
    std::future<insert_one_result> f = coll.insert_one(doc, asio::use_future);
    CHECK(f.get().inserted_id.to_json() == R"("f1")");
    const document all;
    std::future<std::int64_t> n = coll.count_documents(all, asio::use_future);
    CHECK(n.get() == 1);
    // The future carries the error as morm::error... as a system_error with the code.
    std::future<insert_one_result> dup = coll.insert_one(doc, asio::use_future);
    try {
        dup.get();
        FAIL("a duplicate must fail");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == errc::write_error);
    }
    std::future<void> dropped = cl.default_database().drop(asio::use_future);
    dropped.get();
}

TEST_CASE("collection ops: cancellation while waiting for a pooled connection", "[tokens][integration]") {
    using namespace asio::experimental::awaitable_operators;
    morm_test::run([&]() -> asio::awaitable<void> {
        auto cl = co_await client::connect(test_uri("maxPoolSize=1"));
        auto coll = cl.default_database()["cancel"];
        const document all;
        {
            // The only connection is checked out: find_one waits in the pool; the timer wins.
            auto held = co_await cl.acquire();
            asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
            auto t0 = std::chrono::steady_clock::now();
            auto res = co_await (coll.find_one(all, asio::as_tuple(asio::use_awaitable)) ||
                                 timer.async_wait(asio::use_awaitable));
            CHECK(res.index() == 1);  // the timer
            CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
            // The find's own completion, cancelled through its slot: operation_aborted.
            asio::cancellation_signal sig;
            error_code seen;
            bool done = false;
            coll.find_one(all, asio::bind_cancellation_slot(sig.slot(), [&](error_code e, std::optional<document>) {
                              seen = e;
                              done = true;
                          }));
            asio::steady_timer t2(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
            co_await t2.async_wait(asio::use_awaitable);
            sig.emit(asio::cancellation_type::terminal);
            for (int i = 0; i < 100 && !done; ++i) {
                t2.expires_after(std::chrono::milliseconds(10));
                co_await t2.async_wait(asio::use_awaitable);
            }
            CHECK(done);
            CHECK(seen == asio::error::operation_aborted);
        }
        // The connection is back: the next operation on the same client works.
        const auto doc = J(R"({"_id": 1})");
        auto [ec, r] = co_await coll.insert_one(doc, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec);
        auto found = co_await coll.find_one(all);
        CHECK(found.has_value());
        co_await cl.default_database().drop();
    });
}
