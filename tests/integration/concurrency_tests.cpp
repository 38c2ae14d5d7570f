// Concurrency: the pool's wait queue, and 10,000 coroutines through one client on one and
// on two threads. These are also the tests scripts/sanitize.sh runs under ThreadSanitizer.
#include "common/test_server.hpp"

#include <morm/bson/document.hpp>
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
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

TEST_CASE("pool: waitQueueTimeoutMS and FIFO waiters", "[concurrency][integration]") {
    morm_test::run([&]() -> asio::awaitable<void> {
        const auto db = morm_test::unique_db("fault_pool");
        auto cl = co_await client::connect(morm_test::uri_via(morm_test::host_port(), db, "maxPoolSize=1&waitQueueTimeoutMS=200"));
        auto ex = co_await asio::this_coro::executor;
        {
            auto held = co_await cl.acquire();
            auto t0 = std::chrono::steady_clock::now();
            bool threw = false;
            try {
                auto second = co_await cl.acquire();
            } catch (const morm::error& e) {
                threw = true;
                CHECK(e.code() == errc::pool_timeout);
                CHECK(std::string(e.what()).find("waitQueueTimeoutMS=200") != std::string::npos);
            }
            CHECK(threw);
            auto took = std::chrono::steady_clock::now() - t0;
            CHECK(took >= 190ms);
            CHECK(took < 4s);  // generous: the test machine is shared
            CHECK(cl.pool_stats().waiting == 0);
        }
        // FIFO: with the only connection held, waiters queue up in order and are served in it.
        auto cl2 = co_await client::connect(morm_test::uri_via(morm_test::host_port(), db, "maxPoolSize=1&waitQueueTimeoutMS=5000"));
        std::vector<int> order;
        int finished = 0;
        {
            auto held = co_await cl2.acquire();
            for (int i = 0; i < 5; ++i) {
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        auto c = co_await cl2.acquire();
                        order.push_back(i);
                        asio::steady_timer t(co_await asio::this_coro::executor);
                        t.expires_after(5ms);
                        co_await t.async_wait(asio::use_awaitable);
                        ++finished;
                    },
                    asio::detached);
                // Let waiter i enqueue before waiter i+1 starts.
                asio::steady_timer t(ex);
                t.expires_after(5ms);
                co_await t.async_wait(asio::use_awaitable);
            }
            CHECK(cl2.pool_stats().waiting == 5);
        }
        asio::steady_timer t(ex);
        for (int i = 0; i < 200 && finished < 5; ++i) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(finished == 5);
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
        CHECK(cl2.pool_stats().created == 1);
    });
}

namespace {

// 10,000 coroutines doing find_one by _id through one client; `threads` run the io_context
// and each coroutine lives on its own strand.
void many_coroutines(int threads) {
    const int n = 10'000;
    const int docs = 100;
    const auto db = morm_test::unique_db("fault_many");
    asio::io_context ioc(threads);
    std::optional<client> cl;
    std::atomic<int> ok{0}, failed{0};
    std::string first_error;
    std::mutex mtx;
    auto setup = [&]() -> asio::awaitable<void> {
        cl = co_await client::connect(morm_test::uri_via(morm_test::host_port(), db, "maxPoolSize=20&connectTimeoutMS=60000"));
        std::vector<bson::document> v;
        for (int i = 0; i < docs; ++i) v.push_back(bson::document::from_json(fmt::format(R"({{"_id": {}, "k": {}}})", i, i * 2)));
        co_await cl->database(db)["c"].insert_many(v);
    };
    auto fut = asio::co_spawn(ioc, setup(), asio::use_future);
    ioc.run();
    fut.get();
    ioc.restart();

    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(
            asio::make_strand(ioc),
            [&, i]() -> asio::awaitable<void> {
                try {
                    auto coll = cl->database(db)["c"];
                    const int id = i % docs;
                    auto filter = bson::document::from_json(fmt::format(R"({{"_id": {}}})", id));
                    auto d = co_await coll.find_one(filter);
                    bson_iter_t it;
                    if (d && bson_iter_init_find(&it, d->get(), "k") && bson_iter_as_int64(&it) == id * 2) {
                        ++ok;
                    } else {
                        ++failed;
                    }
                } catch (const std::exception& e) {
                    std::lock_guard lk(mtx);
                    if (first_error.empty()) first_error = e.what();
                    ++failed;
                }
            },
            asio::detached);
    }
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    INFO("threads=" << threads << " took " << took.count() << " ms; first error: " << first_error);
    CHECK(ok == n);
    CHECK(failed == 0);
    auto st = cl->pool_stats();
    CHECK(st.created <= 20);
    CHECK(st.in_use == 0);
    CHECK(st.waiting == 0);

    ioc.restart();
    auto drop = [&]() -> asio::awaitable<void> { co_await cl->database(db).drop(); };
    auto f2 = asio::co_spawn(ioc, drop(), asio::use_future);
    ioc.run();
    f2.get();
}

}  // namespace

TEST_CASE("pool: 10,000 concurrent coroutines on one io_context", "[concurrency][integration]") { many_coroutines(1); }

TEST_CASE("pool: 10,000 concurrent coroutines on a 2-thread io_context", "[concurrency][integration]") {
    many_coroutines(2);
}
