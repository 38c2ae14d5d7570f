#include <morm/net/pool.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace morm::net {

struct pool::waiter {
    explicit waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    std::unique_ptr<connection> conn;  // handed over by give_back
    bool granted_slot = false;         // may open a new connection (a slot was freed)
    bool failed = false;               // pool closed
    bool done = false;
};

void pooled_connection::release() noexcept {
    if (conn_ && pool_) pool_->give_back(std::move(conn_));
    conn_.reset();
    pool_.reset();
}

pool::pool(endpoint ep, std::shared_ptr<const connection_params> cp, pool_params pp)
    : ep_(std::move(ep)), cp_(std::move(cp)), pp_(pp) {}

pool::~pool() = default;

pool_stats pool::stats() const {
    std::lock_guard lk(mtx_);
    return {total_, idle_.size(), in_use_, waiters_.size(), created_, discarded_};
}

void pool::wake(const std::shared_ptr<waiter>& w) {
    w->done = true;
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

void pool::close() {
    std::deque<std::unique_ptr<connection>> idle;
    std::deque<std::shared_ptr<waiter>> waiters;
    {
        std::lock_guard lk(mtx_);
        closed_ = true;
        idle.swap(idle_);
        waiters.swap(waiters_);
        total_ -= idle.size();
        for (auto& w : waiters) {
            w->failed = true;
            wake(w);
        }
    }
    for (auto& c : idle) c->close();
}

void pool::give_back(std::unique_ptr<connection> c) noexcept {
    std::unique_lock lk(mtx_);
    --in_use_;
    const bool broken = !c->is_open() || closed_;
    if (broken) {
        --total_;
        ++discarded_;
        if (!waiters_.empty() && !closed_) {
            auto w = std::move(waiters_.front());
            waiters_.pop_front();
            w->granted_slot = true;
            ++total_;
            ++in_use_;
            wake(w);
        }
        lk.unlock();
        c->close();
        return;
    }
    if (!waiters_.empty()) {
        auto w = std::move(waiters_.front());
        waiters_.pop_front();
        w->conn = std::move(c);
        ++in_use_;
        wake(w);
        return;
    }
    idle_.push_back(std::move(c));
}

asio::awaitable<pooled_connection> pool::async_acquire(error_code& ec, diagnostics& diag) {
    ec.clear();
    auto ex = co_await asio::this_coro::executor;
    std::unique_ptr<connection> conn;
    bool may_open = false;
    std::vector<std::unique_ptr<connection>> stale;
    std::shared_ptr<waiter> w;
    {
        std::lock_guard lk(mtx_);
        if (closed_) {
            ec = make_error_code(errc::pool_closed);
            diag.clear();
            diag.message = "the client was closed";
            co_return pooled_connection{};
        }
        const auto now = std::chrono::steady_clock::now();
        while (!idle_.empty()) {
            // Most recently used first (LIFO keeps a warm working set); the front ages out.
            auto c = std::move(idle_.back());
            idle_.pop_back();
            if (!c->is_open() ||
                (pp_.max_idle_time.count() > 0 && now - c->last_used() > pp_.max_idle_time)) {
                --total_;
                ++discarded_;
                stale.push_back(std::move(c));
                continue;
            }
            conn = std::move(c);
            break;
        }
        if (conn) {
            ++in_use_;
        } else if (pp_.max_size == 0 || total_ < pp_.max_size) {
            ++total_;
            ++in_use_;
            may_open = true;
        } else {
            w = std::make_shared<waiter>(ex);
            w->timer.expires_after(pp_.wait_queue_timeout.count() > 0 ? pp_.wait_queue_timeout
                                                                       : std::chrono::hours(24 * 365 * 10));
            waiters_.push_back(w);
        }
    }
    for (auto& c : stale) c->close();
    if (w) {
        auto [wait_ec] = co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        std::lock_guard lk(mtx_);
        if (!w->done && wait_ec == asio::error::operation_aborted) {
            // The caller's cancellation slot fired (wake() sets `done` before it cancels).
            std::erase(waiters_, w);
            ec = asio::error::operation_aborted;
            diag.clear();
            diag.message = fmt::format("waiting for a connection to {} was cancelled", ep_.to_string());
            co_return pooled_connection{};
        }
        if (!w->done) {
            // Timed out: leave the queue.
            std::erase(waiters_, w);
            ec = make_error_code(errc::pool_timeout);
            diag.clear();
            diag.message = fmt::format("no connection to {} became free within waitQueueTimeoutMS={} (maxPoolSize={})",
                                       ep_.to_string(), pp_.wait_queue_timeout.count(), pp_.max_size);
            co_return pooled_connection{};
        }
        if (w->failed) {
            ec = make_error_code(errc::pool_closed);
            diag.clear();
            diag.message = "the client was closed while waiting for a connection";
            co_return pooled_connection{};
        }
        if (w->conn) conn = std::move(w->conn);
        else may_open = w->granted_slot;
    }
    if (conn) co_return pooled_connection(shared_from_this(), std::move(conn));
    if (may_open) {
        auto c = std::make_unique<connection>(ex);
        co_await c->async_connect(ep_, *cp_, ec, diag);
        if (ec) {
            // Free the slot: give_back sees it closed, frees the slot and wakes a waiter.
            give_back(std::move(c));
            co_return pooled_connection{};
        }
        {
            std::lock_guard lk(mtx_);
            ++created_;
        }
        co_return pooled_connection(shared_from_this(), std::move(c));
    }
    ec = make_error_code(errc::pool_closed);
    co_return pooled_connection{};
}

asio::awaitable<void> pool::async_warm_up(error_code& ec, diagnostics& diag) {
    std::vector<pooled_connection> held;
    for (std::size_t i = 0; i < pp_.min_size; ++i) {
        auto c = co_await async_acquire(ec, diag);
        if (ec) co_return;
        held.push_back(std::move(c));
    }
}

}  // namespace morm::net
