// A bounded pool of connections to one server, safe to share between coroutines and
// threads. Waiters are served first-come first-served; a broken connection is discarded
// (and its slot given to a waiter, which then opens a fresh one).
#pragma once

#include <morm/net/connection.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

namespace morm::net {

struct pool_params {
    std::size_t max_size = 100;                   ///< maxPoolSize (0 = unlimited)
    std::size_t min_size = 0;                     ///< minPoolSize, opened by warm_up()
    std::chrono::milliseconds max_idle_time{0};   ///< maxIdleTimeMS (0 = forever)
    std::chrono::milliseconds wait_queue_timeout{0};  ///< waitQueueTimeoutMS (0 = wait forever)
};

struct pool_stats {
    std::size_t open = 0;     ///< connections that exist (idle + in use + being opened)
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t waiting = 0;  ///< coroutines queued for a connection
    std::uint64_t created = 0;
    std::uint64_t discarded = 0;
};

class pool;

/// A checked-out connection; returns to the pool when destroyed. Call `discard()` (or
/// let the connection close) when its state is unknown, so it is not reused.
class pooled_connection {
public:
    pooled_connection() = default;
    pooled_connection(std::shared_ptr<pool> p, std::unique_ptr<connection> c) : pool_(std::move(p)), conn_(std::move(c)) {}
    pooled_connection(pooled_connection&&) noexcept = default;
    pooled_connection& operator=(pooled_connection&& o) noexcept {
        if (this != &o) {
            release();
            pool_ = std::move(o.pool_);
            conn_ = std::move(o.conn_);
        }
        return *this;
    }
    ~pooled_connection() { release(); }

    connection* operator->() const noexcept { return conn_.get(); }
    connection& operator*() const noexcept { return *conn_; }
    connection* get() const noexcept { return conn_.get(); }
    explicit operator bool() const noexcept { return conn_ != nullptr; }
    void discard() noexcept {
        if (conn_) conn_->close();
    }
    void release() noexcept;

private:
    std::shared_ptr<pool> pool_;
    std::unique_ptr<connection> conn_;
};

class pool : public std::enable_shared_from_this<pool> {
public:
    pool(endpoint ep, std::shared_ptr<const connection_params> cp, pool_params pp);
    ~pool();

    /// Checks out a connection, opening one if below max_size, else waiting in line.
    /// Fails with errc::pool_timeout after wait_queue_timeout, errc::pool_closed after close().
    /// Cancellation (the coroutine's cancellation slot, any type) removes a waiter from the
    /// queue and completes with asio::error::operation_aborted.
    asio::awaitable<pooled_connection> async_acquire(error_code& ec, diagnostics& diag);

    /// Opens min_size connections up front.
    asio::awaitable<void> async_warm_up(error_code& ec, diagnostics& diag);

    pool_stats stats() const;
    /// Closes idle connections and fails all waiters; in-use ones close on return.
    void close();

    const endpoint& target() const noexcept { return ep_; }
    const connection_params& conn_params() const noexcept { return *cp_; }
    const pool_params& params() const noexcept { return pp_; }

private:
    friend class pooled_connection;
    struct waiter;
    void give_back(std::unique_ptr<connection> c) noexcept;
    void wake(const std::shared_ptr<waiter>& w);

    endpoint ep_;
    std::shared_ptr<const connection_params> cp_;
    pool_params pp_;
    mutable std::mutex mtx_;
    std::deque<std::unique_ptr<connection>> idle_;
    std::deque<std::shared_ptr<waiter>> waiters_;
    std::size_t total_ = 0;
    std::size_t in_use_ = 0;
    std::uint64_t created_ = 0, discarded_ = 0;
    bool closed_ = false;
};

}  // namespace morm::net
