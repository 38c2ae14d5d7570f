// Completion tokens: the same operations as a future, a callback, a tuple without
// exceptions, and cancelled by a timer.
//   MORM_URI=mongodb://127.0.0.1:27017/mydatabase ./build/examples/tokens
#include <morm/morm.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <future>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

struct Task {
    std::string id;
    std::string title;
    bool done = false;
};
MORM_MODEL(Task, "tasks", (id, "_id"), title, done);

asio::awaitable<int> run(morm::engine engine) {
    morm::session session{engine};
    session.merge(Task{"t1", "write the report"});
    session.merge(Task{"t2", "review the pull request"});

    // as_tuple: no exception, the error code comes back with the result.
    morm::diagnostics diag;
    auto [ec, r] = co_await session.commit(morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
    if (ec) {
        fmt::print(stderr, "commit failed: {} ({})\n", diag.message, ec.message());
        co_return 1;
    }
    fmt::print("committed: {} inserted, {} updated\n", r.inserted, r.updated);

    // A callback. The query is copied into the operation; the session must outlive it.
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer done(ex, std::chrono::steady_clock::time_point::max());
    session.query<Task>().all([&](morm::error_code e, std::vector<std::shared_ptr<Task>> tasks) {
        if (e) fmt::print(stderr, "query failed: {}\n", e.message());
        else fmt::print("callback: {} task(s)\n", tasks.size());
        done.cancel();
    });
    co_await done.async_wait(asio::as_tuple(asio::use_awaitable));

    // A deadline: whichever finishes first wins; a cancelled count completes with
    // asio::error::operation_aborted and its connection is never reused mid-reply.
    asio::steady_timer deadline(ex, std::chrono::seconds(5));
    auto winner = co_await (session.query<Task>().count(asio::as_tuple(asio::use_awaitable)) ||
                            deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (winner.index() == 0) {
        auto [cec, n] = std::get<0>(winner);
        fmt::print("count before the deadline: {}{}\n", n, cec ? " (failed: " + cec.message() + ")" : "");
    } else {
        fmt::print("the deadline won: the count was cancelled\n");
    }
    co_return 0;
}

int main() {
    const char* env = std::getenv("MORM_URI");
    std::string uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    asio::io_context ioc;

    // A future: handy at the edge of a program, from a thread that runs no io_context.
    std::future<morm::engine> fe = morm::engine::create(ioc.get_executor(), uri, asio::use_future);
    ioc.run();
    morm::engine engine;
    try {
        engine = fe.get();
    } catch (const std::exception& e) {
        fmt::print(stderr, "tokens failed to connect: {}\n", e.what());
        return 1;
    }

    ioc.restart();
    std::future<int> rc = asio::co_spawn(ioc, run(engine), asio::use_future);
    ioc.run();
    try {
        return rc.get();
    } catch (const std::exception& e) {
        fmt::print(stderr, "tokens failed: {}\n", e.what());
        return 1;
    }
}
