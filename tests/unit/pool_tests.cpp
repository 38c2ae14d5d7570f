// net::pool without a server: its opener makes socketless connections (after a delay, to
// hold connections "being established"). The CMAP spec files (tests/spec/cmap_runner.cpp)
// cover the events; these cover what they do not say outright.
#include <morm/net/pool.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace net = morm::net;
using namespace std::chrono_literals;
using morm::errc;

/// Counts the connections being opened at once; each takes `delay`.
struct fake_opener {
    std::chrono::milliseconds delay{0};
    int active = 0;
    int max_active = 0;
    int opened = 0;
};

asio::awaitable<std::unique_ptr<net::connection>> open_after(std::shared_ptr<fake_opener> f, asio::any_io_executor ex,
                                                             net::endpoint ep, morm::error_code& ec,
                                                             morm::diagnostics& diag) {
    f->max_active = std::max(f->max_active, ++f->active);
    asio::steady_timer t(ex, f->delay);
    auto [e] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    --f->active;
    if (e) {
        ec = make_error_code(errc::network);
        diag.message = "interrupted";
        co_return nullptr;
    }
    ++f->opened;
    co_return std::make_unique<net::connection>(ex, ep, net::connection::unconnected_t{});
}

struct fixture {
    std::shared_ptr<fake_opener> opener = std::make_shared<fake_opener>();
    std::vector<std::string> events;  // "type" or "type reason"

    std::shared_ptr<net::pool> make(net::pool_params pp) {
        pp.opener = [f = opener](asio::any_io_executor ex, const net::endpoint& ep, const net::connection_params&,
                                 morm::error_code& ec, morm::diagnostics& diag) {
            return open_after(f, ex, ep, ec, diag);
        };
        pp.listener = [this](const net::pool_event& ev) {
            std::string s(net::to_string(ev.type));
            if (ev.reason != net::pool_event_reason::none) s += " " + std::string(net::to_string(ev.reason));
            events.push_back(s);
        };
        return std::make_shared<net::pool>(net::endpoint{"pool.test", 27017, false},
                                           std::make_shared<net::connection_params>(), pp);
    }
    bool saw(const std::string& e) const { return std::find(events.begin(), events.end(), e) != events.end(); }
};

template <class F>
void run(F body) {
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

TEST_CASE("pool: a pool built with the default params starts ready; start_paused fails check-outs at once",
          "[pool]") {
    fixture fx;
    run([&]() -> asio::awaitable<void> {
        auto p = fx.make({});
        morm::error_code ec;
        morm::diagnostics diag;
        auto c = co_await p->async_acquire(ec, diag);
        CHECK_FALSE(ec);
        CHECK(c.id() == 1);
        CHECK(c.generation() == 0);
        CHECK(fx.events.at(0) == "ConnectionPoolCreated");
        CHECK(fx.events.at(1) == "ConnectionPoolReady");

        net::pool_params paused;
        paused.start_paused = true;
        auto q = fx.make(paused);
        auto d = co_await q->async_acquire(ec, diag);
        CHECK(ec == errc::pool_cleared);
        CHECK(diag.message.find("pool.test:27017") != std::string::npos);
        CHECK(fx.opener->opened == 1);
        q->ready();
        auto e = co_await q->async_acquire(ec, diag);
        CHECK_FALSE(ec);
        CHECK(e.id() == 1);  // ids count per pool
    });
}

TEST_CASE("pool: maxConnecting bounds the connections being established; a waiter takes a returned one",
          "[pool]") {
    fixture fx;
    fx.opener->delay = 30ms;
    run([&]() -> asio::awaitable<void> {
        net::pool_params pp;
        pp.max_size = 10;
        pp.max_connecting = 2;
        auto p = fx.make(pp);
        std::vector<net::pooled_connection> held;
        int done = 0;
        for (int i = 0; i < 5; ++i)
            asio::co_spawn(
                co_await asio::this_coro::executor,
                [&]() -> asio::awaitable<void> {
                    morm::error_code ec;
                    morm::diagnostics diag;
                    auto c = co_await p->async_acquire(ec, diag);
                    CHECK_FALSE(ec);
                    held.push_back(std::move(c));
                    ++done;
                },
                asio::detached);
        co_await sleep_for(5ms);
        CHECK(p->stats().pending == 2);
        CHECK(p->stats().waiting == 3);
        while (done < 5) co_await sleep_for(5ms);
        CHECK(fx.opener->max_active == 2);
        CHECK(fx.opener->opened == 5);
        held.clear();
        CHECK(p->stats().idle == 5);
    });

    fixture slow;
    slow.opener->delay = 200ms;
    run([&]() -> asio::awaitable<void> {
        net::pool_params pp;
        pp.max_connecting = 1;
        auto p = slow.make(pp);
        morm::error_code ec;
        morm::diagnostics diag;
        auto first = co_await p->async_acquire(ec, diag);  // id 1, opened
        REQUIRE_FALSE(ec);
        auto ex = co_await asio::this_coro::executor;
        std::uint64_t second_id = 0, third_id = 0;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            morm::error_code e;
            morm::diagnostics d;
            auto c = co_await p->async_acquire(e, d);  // opens id 2 (200 ms)
            second_id = c.id();
        }, asio::detached);
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            morm::error_code e;
            morm::diagnostics d;
            auto c = co_await p->async_acquire(e, d);  // waits: maxConnecting is reached
            third_id = c.id();
        }, asio::detached);
        co_await sleep_for(20ms);
        CHECK(p->stats().waiting == 1);
        first.release();  // the waiter takes it rather than waiting to open a third
        co_await sleep_for(5ms);
        CHECK(third_id == 1);
        CHECK(second_id == 0);
        co_await sleep_for(250ms);
        CHECK(second_id == 2);
        CHECK(slow.opener->opened == 2);
    });
}

TEST_CASE("pool: clear() fails the waiters with a retryable pool_cleared and pauses the pool", "[pool]") {
    fixture fx;
    run([&]() -> asio::awaitable<void> {
        net::pool_params pp;
        pp.max_size = 1;
        auto p = fx.make(pp);
        morm::error_code ec;
        morm::diagnostics diag;
        auto held = co_await p->async_acquire(ec, diag);
        REQUIRE_FALSE(ec);
        morm::error_code waiter_ec;
        std::string waiter_message;
        bool waiter_done = false;
        asio::co_spawn(co_await asio::this_coro::executor, [&]() -> asio::awaitable<void> {
            morm::diagnostics d;
            auto c = co_await p->async_acquire(waiter_ec, d);
            waiter_message = d.message;
            waiter_done = true;
        }, asio::detached);
        co_await sleep_for(10ms);
        CHECK(p->stats().waiting == 1);
        p->clear(false, "connection reset");
        co_await sleep_for(1ms);
        CHECK(waiter_done);
        CHECK(waiter_ec == errc::pool_cleared);
        CHECK(waiter_message.find("pool.test:27017") != std::string::npos);
        CHECK(waiter_message.find("connection reset") != std::string::npos);
        CHECK(p->stats().waiting == 0);
        CHECK(p->current_state() == net::pool::state::paused);
        CHECK(p->generation() == 1);

        auto refused = co_await p->async_acquire(ec, diag);  // paused: fails at once
        CHECK(ec == errc::pool_cleared);
        p->ready();
        held.release();  // of generation 0: closed, not made available
        CHECK(fx.saw("ConnectionClosed stale"));
        CHECK(p->stats().idle == 0);
        auto fresh = co_await p->async_acquire(ec, diag);
        CHECK_FALSE(ec);
        CHECK(fresh.id() == 2);
        CHECK(fresh.generation() == 1);
    });
}

TEST_CASE("pool: a stale idle connection is closed, not reused", "[pool]") {
    fixture fx;
    run([&]() -> asio::awaitable<void> {
        auto p = fx.make({});
        morm::error_code ec;
        morm::diagnostics diag;
        auto c = co_await p->async_acquire(ec, diag);
        net::connection* raw = c.get();
        c.release();
        CHECK(p->stats().idle == 1);
        CHECK(raw->is_open());
        p->clear();
        CHECK(fx.saw("ConnectionPoolCleared"));
        CHECK(fx.saw("ConnectionClosed stale"));
        CHECK(p->stats().idle == 0);
        CHECK(p->stats().open == 0);
        p->ready();
        auto d = co_await p->async_acquire(ec, diag);
        CHECK_FALSE(ec);
        CHECK(d.id() == 2);
        CHECK(d.generation() == 1);
        CHECK(fx.opener->opened == 2);
    });
}

TEST_CASE("pool: clear(true) closes the connections in use and those being established", "[pool]") {
    fixture fx;
    run([&]() -> asio::awaitable<void> {
        auto p = fx.make({});
        morm::error_code ec;
        morm::diagnostics diag;
        auto in_use = co_await p->async_acquire(ec, diag);
        REQUIRE_FALSE(ec);
        fx.opener->delay = 10s;
        morm::error_code pending_ec;
        bool pending_done = false;
        asio::co_spawn(co_await asio::this_coro::executor, [&]() -> asio::awaitable<void> {
            morm::diagnostics d;
            auto c = co_await p->async_acquire(pending_ec, d);
            pending_done = true;
        }, asio::detached);
        co_await sleep_for(5ms);
        CHECK(p->stats().pending == 1);
        p->clear(true);
        CHECK_FALSE(in_use->is_open());
        co_await sleep_for(5ms);
        CHECK(pending_done);
        CHECK(pending_ec == errc::pool_cleared);
        CHECK(fx.saw("ConnectionCheckOutFailed connectionError"));
        in_use.release();
        CHECK(p->stats().open == 0);
    });
}

TEST_CASE("pool: cancelling a waiter takes it out of the queue", "[pool]") {
    fixture fx;
    run([&]() -> asio::awaitable<void> {
        net::pool_params pp;
        pp.max_size = 1;
        auto p = fx.make(pp);
        morm::error_code ec;
        morm::diagnostics diag;
        auto held = co_await p->async_acquire(ec, diag);
        asio::cancellation_signal sig;
        morm::error_code waiter_ec;
        bool done = false;
        asio::co_spawn(co_await asio::this_coro::executor,
                       [&]() -> asio::awaitable<void> {
                           morm::diagnostics d;
                           auto c = co_await p->async_acquire(waiter_ec, d);
                       },
                       asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr) { done = true; }));
        co_await sleep_for(5ms);
        CHECK(p->stats().waiting == 1);
        sig.emit(asio::cancellation_type::terminal);
        co_await sleep_for(5ms);
        CHECK(done);
        CHECK(waiter_ec == asio::error::operation_aborted);
        CHECK(p->stats().waiting == 0);
        held.release();
        CHECK(p->stats().idle == 1);  // nobody was handed it
    });
}
