// A pool of connections to one server, safe to share between coroutines and threads, as the
// Connection Monitoring and Pooling specification (CMAP) describes it:
//  - states: paused (check-outs fail at once with errc::pool_cleared), ready, closed. A pool
//    built with the default pool_params starts ready (the single-server client needs no
//    ready() call); the topology runtime sets `start_paused` and calls ready() after each
//    successful server check.
//  - generations: every connection records the generation it was created in; clear() bumps
//    it, pauses the pool, fails the waiters and closes the idle connections; connections of
//    an older generation are closed when checked in (or found idle).
//  - at most max_size connections, at most max_connecting of them being established; waiters
//    are served first-come first-served and take a connection checked in meanwhile rather
//    than opening one.
//  - the CMAP events go to pool_params::listener; an optional background task keeps
//    min_size connections and closes perished idle ones.
#pragma once

#include <morm/net/connection.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace morm::net {

struct pool_params;

/// The CMAP event types; to_string() gives the specification's names ("ConnectionPoolCreated", ...).
enum class pool_event_type : std::uint8_t {
    pool_created,
    pool_ready,
    pool_cleared,
    pool_closed,
    connection_created,
    connection_ready,
    connection_closed,
    check_out_started,
    check_out_failed,
    checked_out,
    checked_in,
};

/// Why a connection was closed (stale, idle, error, pool_closed) or a check-out failed
/// (pool_closed, timeout, connection_error); to_string() gives the specification's words.
enum class pool_event_reason : std::uint8_t { none, stale, idle, error, pool_closed, timeout, connection_error };

std::string_view to_string(pool_event_type t) noexcept;
std::string_view to_string(pool_event_reason r) noexcept;

/// One CMAP event. Only the fields its type has in the specification are set.
struct pool_event {
    pool_event_type type = pool_event_type::pool_created;
    std::string_view address;                    ///< "host:port" of the pool
    std::uint64_t connection_id = 0;             ///< per pool, from 1 (connection_* and checked_* events)
    std::chrono::nanoseconds duration{0};        ///< connection_ready, checked_out, check_out_failed
    pool_event_reason reason = pool_event_reason::none;  ///< connection_closed, check_out_failed
    bool interrupt_in_use = false;               ///< pool_cleared
    const pool_params* options = nullptr;        ///< pool_created
    error_code error;                            ///< connection_closed (error), check_out_failed
};

/// Receives the pool's events, synchronously and under the pool's lock: it must be cheap and
/// must not call the pool.
using pool_listener = std::function<void(const pool_event&)>;

/// Makes and establishes one connection (connect, TLS, handshake, auth). Empty: a
/// net::connection and its async_connect. A test passes one that builds socketless
/// connections (connection::unconnected_t). On failure it sets `ec`/`diag` and returns null.
/// Cancellation of the calling coroutine (a clear() interrupting it) must end it.
using connection_opener = std::function<asio::awaitable<std::unique_ptr<connection>>(
    asio::any_io_executor ex, const endpoint& ep, const connection_params& cp, error_code& ec, diagnostics& diag)>;

/// Called (outside the pool's lock) when the background task failed to establish a
/// connection, with the pool generation it was created in: SDAM's "handle pre-handshake
/// error" for connections no operation is waiting for. It may call clear().
using pool_error_handler = std::function<void(const error_code& ec, const diagnostics& diag, std::uint64_t generation)>;

struct pool_params {
    std::size_t max_size = 100;                   ///< maxPoolSize (0 = unlimited)
    std::size_t min_size = 0;                     ///< minPoolSize: kept by the background task, or opened by async_warm_up()
    std::chrono::milliseconds max_idle_time{0};   ///< maxIdleTimeMS (0 = forever)
    std::chrono::milliseconds wait_queue_timeout{0};  ///< waitQueueTimeoutMS (0 = wait forever)
    std::size_t max_connecting = 2;               ///< maxConnecting: connections being established at once (0 counts as 1)
    bool start_paused = false;                    ///< CMAP's initial state: check-outs fail until ready()
    pool_listener listener;                       ///< optional CMAP events
    connection_opener opener;                     ///< optional; see connection_opener
    /// Executor of the background task (populating min_size, closing perished idle
    /// connections); empty: no background task. Use a strand if it runs on several threads.
    asio::any_io_executor background;
    /// Pause between two background runs (ready(), clear() and a finished connection start
    /// one at once); negative: never run.
    std::chrono::milliseconds background_interval{1000};
    pool_error_handler on_background_error;       ///< optional
};

struct pool_stats {
    std::size_t open = 0;     ///< connections that exist (idle + in use + being opened)
    std::size_t idle = 0;
    std::size_t in_use = 0;   ///< checked out
    std::size_t waiting = 0;  ///< coroutines queued for a connection
    std::uint64_t created = 0;    ///< connections established
    std::uint64_t discarded = 0;  ///< connections closed as stale, idle or broken
    std::size_t pending = 0;      ///< connections being established
};

class pool;

/// A checked-out connection; returns to the pool when destroyed. Call `discard()` (or
/// let the connection close) when its state is unknown, so it is not reused.
class pooled_connection {
public:
    pooled_connection() = default;
    pooled_connection(std::shared_ptr<pool> p, std::unique_ptr<connection> c, std::uint64_t id = 0,
                      std::uint64_t generation = 0)
        : pool_(std::move(p)), conn_(std::move(c)), id_(id), generation_(generation) {}
    pooled_connection(pooled_connection&&) noexcept = default;
    pooled_connection& operator=(pooled_connection&& o) noexcept {
        if (this != &o) {
            release();
            pool_ = std::move(o.pool_);
            conn_ = std::move(o.conn_);
            id_ = o.id_;
            generation_ = o.generation_;
        }
        return *this;
    }
    ~pooled_connection() { release(); }

    connection* operator->() const noexcept { return conn_.get(); }
    connection& operator*() const noexcept { return *conn_; }
    connection* get() const noexcept { return conn_.get(); }
    explicit operator bool() const noexcept { return conn_ != nullptr; }
    /// The CMAP connection id: per pool, increasing from 1.
    std::uint64_t id() const noexcept { return id_; }
    /// The pool generation this connection was created in (for SDAM's stale-error check).
    std::uint64_t generation() const noexcept { return generation_; }
    /// The pool (server) this connection belongs to.
    const std::shared_ptr<pool>& owner() const noexcept { return pool_; }
    void discard() noexcept {
        if (conn_) conn_->close();
    }
    /// Checks the connection in now (closed instead when broken, stale or the pool is closed).
    void release() noexcept;

private:
    std::shared_ptr<pool> pool_;
    std::unique_ptr<connection> conn_;
    std::uint64_t id_ = 0;
    std::uint64_t generation_ = 0;
};

class pool : public std::enable_shared_from_this<pool> {
public:
    enum class state : std::uint8_t { paused, ready, closed };

    /// Emits PoolCreated (and PoolReady unless pp.start_paused).
    pool(endpoint ep, std::shared_ptr<const connection_params> cp, pool_params pp);
    ~pool();

    /// Checks out a connection: an idle one, else a new one if below max_size and
    /// max_connecting, else waits in line. Fails at once with errc::pool_closed after close()
    /// and errc::pool_cleared while paused; waiting, with errc::pool_timeout after
    /// wait_queue_timeout and errc::pool_cleared when clear() empties the queue; with the
    /// connect error when establishing fails (errc::pool_cleared if a clear(true)
    /// interrupted it). Cancellation (the coroutine's cancellation slot) removes a waiter
    /// from the queue and completes with asio::error::operation_aborted.
    asio::awaitable<pooled_connection> async_acquire(error_code& ec, diagnostics& diag);

    /// Opens min_size connections up front (the single-server client's warm-up; a pool with
    /// a background task keeps min_size by itself).
    asio::awaitable<void> async_warm_up(error_code& ec, diagnostics& diag);

    /// Paused -> ready (emits PoolReady); no-op when ready or closed.
    void ready();
    /// Bumps the generation and, when ready, pauses the pool (emits PoolCleared); fails
    /// every waiter with errc::pool_cleared and closes the idle connections. With
    /// `interrupt_in_use`, connections checked out (their operations then fail) and being
    /// established are closed at once. `cause` (the error that cleared it) goes into the
    /// waiters' message. Closing in-use connections touches their sockets from the caller's
    /// thread: call it on the connections' executor. No-op once closed.
    void clear(bool interrupt_in_use = false, std::string_view cause = {});
    /// Closes idle connections and fails all waiters; in-use ones close on return.
    void close();

    pool_stats stats() const;
    std::uint64_t generation() const;
    state current_state() const;

    const endpoint& target() const noexcept { return ep_; }
    const connection_params& conn_params() const noexcept { return *cp_; }
    const pool_params& params() const noexcept { return pp_; }

private:
    friend class pooled_connection;
    struct waiter;
    struct idle_entry {
        std::unique_ptr<connection> conn;
        std::uint64_t id = 0;
        std::uint64_t generation = 0;
        std::chrono::steady_clock::time_point since{};  // available since
    };
    struct in_use_entry {
        connection* conn = nullptr;
        std::uint64_t generation = 0;
    };
    struct pending_entry {
        std::uint64_t generation = 0;
        std::chrono::steady_clock::time_point created{};
        bool interrupted = false;
        std::shared_ptr<asio::steady_timer> interrupt;  // cancelled by clear(true)
    };
    /// What a check-out step got: an idle connection, the right to open one (id), or nothing.
    struct take_result {
        enum kind_t { none, idle, create } kind = none;
        idle_entry conn;
        std::uint64_t id = 0;
    };
    using close_list = std::vector<std::unique_ptr<connection>>;

    void give_back(std::unique_ptr<connection> c, std::uint64_t id, std::uint64_t generation) noexcept;
    void emit(pool_event ev) const;
    pool_event_reason perished(const idle_entry& e, std::chrono::steady_clock::time_point now) const;
    void close_locked(std::unique_ptr<connection> c, std::uint64_t id, pool_event_reason why, close_list& out);
    bool can_create_locked() const;
    std::uint64_t begin_create_locked();
    take_result try_take_locked(close_list& out);
    void checked_out_locked(std::uint64_t id, std::chrono::steady_clock::time_point t0);
    void make_available_locked(idle_entry e);
    void dispatch_locked();
    void notify(const std::shared_ptr<waiter>& w);
    void fail_waiters_locked(errc why, const std::string& message);
    void wake_background_locked();
    bool refuse_locked(std::chrono::steady_clock::time_point t0, error_code& ec, diagnostics& diag);
    void fail_checkout_locked(pool_event_reason why, std::chrono::steady_clock::time_point t0, const error_code& ec);
    asio::awaitable<void> wait_turn(std::shared_ptr<waiter> w, take_result& got, std::chrono::steady_clock::time_point t0,
                                    error_code& ec, diagnostics& diag);
    asio::awaitable<pooled_connection> open_new(std::uint64_t id, std::chrono::steady_clock::time_point t0,
                                                error_code& ec, diagnostics& diag);
    asio::awaitable<std::unique_ptr<connection>> establish(std::uint64_t id, error_code& ec, diagnostics& diag);
    void start_background();
    bool background_run();
    static asio::awaitable<void> background_loop(std::weak_ptr<pool> self, std::shared_ptr<asio::steady_timer> timer,
                                                 std::chrono::milliseconds interval);
    static asio::awaitable<void> populate(std::shared_ptr<pool> self, std::uint64_t id);
    void finish_populate(std::uint64_t id, std::unique_ptr<connection> c, const error_code& ec, const diagnostics& diag);

    endpoint ep_;
    std::string address_;
    std::shared_ptr<const connection_params> cp_;
    pool_params pp_;
    mutable std::mutex mtx_;
    state state_ = state::ready;
    std::uint64_t generation_ = 0;
    std::uint64_t next_id_ = 0;
    std::deque<idle_entry> idle_;
    std::map<std::uint64_t, in_use_entry> in_use_;
    std::map<std::uint64_t, pending_entry> pending_;
    std::deque<std::shared_ptr<waiter>> waiters_;
    std::size_t total_ = 0;
    std::uint64_t created_ = 0, discarded_ = 0;
    std::string cleared_message_;
    bool background_started_ = false;
    std::weak_ptr<asio::steady_timer> background_timer_;
};

}  // namespace morm::net
