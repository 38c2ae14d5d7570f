#include <morm/net/pool.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace morm::net {

using namespace boost::asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

/// "Never" as a timer deadline (time_point::max() overflows in Asio's arithmetic).
clock::time_point far_future() { return clock::now() + std::chrono::hours(24 * 365 * 10); }

std::chrono::nanoseconds since(clock::time_point t0) { return clock::now() - t0; }

pool_event make_event(pool_event_type type, std::uint64_t id = 0) {
    pool_event ev;
    ev.type = type;
    ev.connection_id = id;
    return ev;
}

[[nodiscard]] error_code fail(diagnostics& diag, errc e, std::string msg) {
    diag.clear();
    diag.message = std::move(msg);
    return make_error_code(e);
}

void close_all(std::vector<std::unique_ptr<connection>>& list) noexcept {
    for (auto& c : list)
        if (c) c->close();
    list.clear();
}

asio::awaitable<std::unique_ptr<connection>> default_open(asio::any_io_executor ex, const endpoint& ep,
                                                          const connection_params& cp, error_code& ec,
                                                          diagnostics& diag) {
    auto c = std::make_unique<connection>(ex);
    co_await c->async_connect(ep, cp, ec, diag);
    if (ec) co_return nullptr;
    co_return c;
}
}  // namespace

std::string_view to_string(pool_event_type t) noexcept {
    switch (t) {
        case pool_event_type::pool_created: return "ConnectionPoolCreated";
        case pool_event_type::pool_ready: return "ConnectionPoolReady";
        case pool_event_type::pool_cleared: return "ConnectionPoolCleared";
        case pool_event_type::pool_closed: return "ConnectionPoolClosed";
        case pool_event_type::connection_created: return "ConnectionCreated";
        case pool_event_type::connection_ready: return "ConnectionReady";
        case pool_event_type::connection_closed: return "ConnectionClosed";
        case pool_event_type::check_out_started: return "ConnectionCheckOutStarted";
        case pool_event_type::check_out_failed: return "ConnectionCheckOutFailed";
        case pool_event_type::checked_out: return "ConnectionCheckedOut";
        case pool_event_type::checked_in: return "ConnectionCheckedIn";
    }
    return "unknown";
}

std::string_view to_string(pool_event_reason r) noexcept {
    switch (r) {
        case pool_event_reason::none: return "";
        case pool_event_reason::stale: return "stale";
        case pool_event_reason::idle: return "idle";
        case pool_event_reason::error: return "error";
        case pool_event_reason::pool_closed: return "poolClosed";
        case pool_event_reason::timeout: return "timeout";
        case pool_event_reason::connection_error: return "connectionError";
    }
    return "unknown";
}

struct pool::waiter {
    waiter(asio::any_io_executor ex, clock::time_point d) : timer(std::move(ex)), deadline(d) {}
    asio::steady_timer timer;
    clock::time_point deadline;
    std::optional<idle_entry> handed;  // given by a check-in or a population (already in use)
    errc failed = errc::ok;            // pool_closed / pool_cleared: the queue was emptied
    std::string message;
    bool notified = false;  // a wake-up is posted and not yet seen
};

void pooled_connection::release() noexcept {
    if (conn_ && pool_) pool_->give_back(std::move(conn_), id_, generation_);
    conn_.reset();
    pool_.reset();
}

pool::pool(endpoint ep, std::shared_ptr<const connection_params> cp, pool_params pp)
    : ep_(std::move(ep)),
      address_(ep_.to_string()),
      cp_(std::move(cp)),
      pp_(std::move(pp)),
      state_(pp_.start_paused ? state::paused : state::ready),
      cleared_message_(fmt::format("connection pool for {} is paused: it was not marked ready yet", address_)) {
    auto ev = make_event(pool_event_type::pool_created);
    ev.options = &pp_;
    emit(ev);
    if (state_ == state::ready) emit(make_event(pool_event_type::pool_ready));
}

pool::~pool() {
    // Ends the background loop now rather than at its next run.
    if (auto t = background_timer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
}

void pool::emit(pool_event ev) const {
    if (!pp_.listener) return;
    ev.address = address_;
    pp_.listener(ev);
}

pool_stats pool::stats() const {
    std::lock_guard lk(mtx_);
    return {total_, idle_.size(), in_use_.size(), waiters_.size(), created_, discarded_, pending_.size()};
}

std::uint64_t pool::generation() const {
    std::lock_guard lk(mtx_);
    return generation_;
}

pool::state pool::current_state() const {
    std::lock_guard lk(mtx_);
    return state_;
}

pool_event_reason pool::perished(const idle_entry& e, clock::time_point now) const {
    if (e.generation != generation_) return pool_event_reason::stale;
    if (pp_.max_idle_time.count() > 0 && now - e.since > pp_.max_idle_time) return pool_event_reason::idle;
    // Bytes that arrived while the connection sat idle answer no request of ours.
    if (!e.conn->is_open() || e.conn->has_unsolicited_input()) return pool_event_reason::error;
    return pool_event_reason::none;
}

void pool::close_locked(std::unique_ptr<connection> c, std::uint64_t id, pool_event_reason why, close_list& out) {
    --total_;
    if (why != pool_event_reason::pool_closed) ++discarded_;
    auto ev = make_event(pool_event_type::connection_closed, id);
    ev.reason = why;
    emit(ev);
    out.push_back(std::move(c));  // the socket is closed once the lock is released
}

bool pool::can_create_locked() const {
    return (pp_.max_size == 0 || total_ < pp_.max_size) && pending_.size() < std::max<std::size_t>(1, pp_.max_connecting);
}

std::uint64_t pool::begin_create_locked() {
    const auto id = ++next_id_;
    ++total_;
    pending_[id] = pending_entry{generation_, clock::now(), false, nullptr};
    emit(make_event(pool_event_type::connection_created, id));
    return id;
}

pool::take_result pool::try_take_locked(close_list& out) {
    const auto now = clock::now();
    while (!idle_.empty()) {
        // Most recently used first (LIFO keeps a warm working set); the front ages out.
        idle_entry e = std::move(idle_.back());
        idle_.pop_back();
        if (auto why = perished(e, now); why != pool_event_reason::none) {
            close_locked(std::move(e.conn), e.id, why, out);
            continue;
        }
        in_use_[e.id] = {e.conn.get(), e.generation};
        take_result r;
        r.kind = take_result::idle;
        r.conn = std::move(e);
        return r;
    }
    take_result r;
    if (can_create_locked()) {
        r.kind = take_result::create;
        r.id = begin_create_locked();
    }
    return r;
}

void pool::checked_out_locked(std::uint64_t id, clock::time_point t0) {
    auto ev = make_event(pool_event_type::checked_out, id);
    ev.duration = since(t0);
    emit(ev);
}

void pool::make_available_locked(idle_entry e) {
    if (waiters_.empty()) {
        idle_.push_back(std::move(e));
        return;
    }
    // The head of the queue gets it directly: first come, first served.
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    in_use_[e.id] = {e.conn.get(), e.generation};
    w->handed = std::move(e);
    notify(w);
}

void pool::dispatch_locked() {
    // Only the head may act; it re-checks what it can take when it wakes.
    if (!waiters_.empty() && (!idle_.empty() || can_create_locked())) notify(waiters_.front());
}

void pool::notify(const std::shared_ptr<waiter>& w) {
    if (w->notified) return;
    w->notified = true;
    // On the waiter's executor (its strand, if any), where its timer lives.
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

void pool::fail_waiters_locked(errc why, const std::string& message) {
    for (auto& w : waiters_) {
        w->failed = why;
        w->message = message;
        notify(w);
    }
    waiters_.clear();
}

void pool::wake_background_locked() {
    if (auto t = background_timer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
}

void pool::fail_checkout_locked(pool_event_reason why, clock::time_point t0, const error_code& ec) {
    auto ev = make_event(pool_event_type::check_out_failed);
    ev.reason = why;
    ev.duration = since(t0);
    ev.error = ec;
    emit(ev);
}

bool pool::refuse_locked(clock::time_point t0, error_code& ec, diagnostics& diag) {
    if (state_ == state::closed) {
        ec = fail(diag, errc::pool_closed,
                  fmt::format("attempted to check out a connection from closed connection pool {} (the client was closed)",
                              address_));
        fail_checkout_locked(pool_event_reason::pool_closed, t0, ec);
        return true;
    }
    if (state_ == state::paused) {
        ec = fail(diag, errc::pool_cleared, cleared_message_);
        fail_checkout_locked(pool_event_reason::connection_error, t0, ec);
        return true;
    }
    return false;
}

asio::awaitable<pooled_connection> pool::async_acquire(error_code& ec, diagnostics& diag) {
    ec.clear();
    auto ex = co_await asio::this_coro::executor;
    const auto t0 = clock::now();
    take_result got;
    std::shared_ptr<waiter> w;
    close_list perished_conns;
    {
        std::lock_guard lk(mtx_);
        emit(make_event(pool_event_type::check_out_started));
        if (refuse_locked(t0, ec, diag)) co_return pooled_connection{};
        if (waiters_.empty()) got = try_take_locked(perished_conns);
        if (got.kind == take_result::idle) {
            checked_out_locked(got.conn.id, t0);
        } else if (got.kind == take_result::none) {
            const auto deadline = pp_.wait_queue_timeout.count() > 0 ? t0 + pp_.wait_queue_timeout : far_future();
            w = std::make_shared<waiter>(ex, deadline);
            waiters_.push_back(w);
        }
    }
    close_all(perished_conns);
    start_background();
    if (w) {
        co_await wait_turn(w, got, t0, ec, diag);
        if (ec) co_return pooled_connection{};
    }
    if (got.kind == take_result::create) co_return co_await open_new(got.id, t0, ec, diag);
    co_return pooled_connection(shared_from_this(), std::move(got.conn.conn), got.conn.id, got.conn.generation);
}

asio::awaitable<void> pool::wait_turn(std::shared_ptr<waiter> w, take_result& got, clock::time_point t0, error_code& ec,
                                      diagnostics& diag) {
    // A cancellation already seen by this coroutine before it queued is not this wait's.
    const auto cancelled_before = (co_await asio::this_coro::cancellation_state).cancelled();
    for (;;) {
        w->timer.expires_at(w->deadline);
        co_await w->timer.async_wait(nothrow);
        const bool cancelled = cancelled_before == asio::cancellation_type::none &&
                               (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
        close_list perished_conns;
        {
            std::lock_guard lk(mtx_);
            w->notified = false;
            if (w->handed) {
                got.kind = take_result::idle;
                got.conn = std::move(*w->handed);
                checked_out_locked(got.conn.id, t0);
                co_return;
            }
            if (w->failed != errc::ok) {
                ec = fail(diag, w->failed, w->message);
                fail_checkout_locked(w->failed == errc::pool_closed ? pool_event_reason::pool_closed
                                                                    : pool_event_reason::connection_error,
                                     t0, ec);
                co_return;
            }
            if (!cancelled && !waiters_.empty() && waiters_.front() == w) {
                got = try_take_locked(perished_conns);
                if (got.kind != take_result::none) {
                    waiters_.pop_front();
                    if (got.kind == take_result::idle) checked_out_locked(got.conn.id, t0);
                    dispatch_locked();
                }
            }
            if (got.kind == take_result::none && (cancelled || clock::now() >= w->deadline)) {
                std::erase(waiters_, w);
                dispatch_locked();
                if (cancelled) {
                    ec = asio::error::operation_aborted;
                    diag.clear();
                    diag.message = fmt::format("waiting for a connection to {} was cancelled", address_);
                } else {
                    ec = fail(diag, errc::pool_timeout,
                              fmt::format("timed out while checking out a connection from connection pool {}: none "
                                          "became free within waitQueueTimeoutMS={} (maxPoolSize={}, maxConnecting={})",
                                          address_, pp_.wait_queue_timeout.count(), pp_.max_size, pp_.max_connecting));
                }
                fail_checkout_locked(pool_event_reason::timeout, t0, ec);
            }
        }
        close_all(perished_conns);
        if (got.kind != take_result::none || ec) co_return;
    }
}

asio::awaitable<std::unique_ptr<connection>> pool::establish(std::uint64_t id, error_code& ec, diagnostics& diag) {
    auto ex = co_await asio::this_coro::executor;
    auto interrupt = std::make_shared<asio::steady_timer>(ex, far_future());
    {
        std::lock_guard lk(mtx_);
        auto& p = pending_.at(id);
        if (p.interrupted) {
            ec = fail(diag, errc::pool_cleared, fmt::format("connection to {} interrupted: the pool was cleared", address_));
            co_return nullptr;
        }
        p.interrupt = interrupt;
    }
    const auto cancelled_before = (co_await asio::this_coro::cancellation_state).cancelled();
    auto open = pp_.opener ? pp_.opener(ex, ep_, *cp_, ec, diag) : default_open(ex, ep_, *cp_, ec, diag);
    auto interrupted = interrupt->async_wait(nothrow);
    auto r = co_await (std::move(open) || std::move(interrupted));
    if (r.index() == 0) {
        auto c = std::move(std::get<0>(r));
        if (c && !ec) co_return c;
        if (c) c->close();
        if (!ec) ec = fail(diag, errc::network, fmt::format("connecting to {} failed", address_));
        co_return nullptr;
    }
    // The interrupt timer finished first: clear(true), or the caller's cancellation.
    if (cancelled_before == asio::cancellation_type::none &&
        (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
        ec = asio::error::operation_aborted;
        diag.clear();
        diag.message = fmt::format("connecting to {} was cancelled", address_);
    } else {
        ec = fail(diag, errc::pool_cleared, fmt::format("connection to {} interrupted: the pool was cleared", address_));
    }
    co_return nullptr;
}

asio::awaitable<pooled_connection> pool::open_new(std::uint64_t id, clock::time_point t0, error_code& ec,
                                                  diagnostics& diag) {
    auto c = co_await establish(id, ec, diag);
    std::lock_guard lk(mtx_);
    auto it = pending_.find(id);
    const auto generation = it->second.generation;
    const auto created_at = it->second.created;
    pending_.erase(it);
    if (!c) {
        --total_;
        ++discarded_;
        auto ev = make_event(pool_event_type::connection_closed, id);
        ev.reason = pool_event_reason::error;
        ev.error = ec;
        emit(ev);
        fail_checkout_locked(pool_event_reason::connection_error, t0, ec);
        dispatch_locked();
        co_return pooled_connection{};
    }
    ++created_;
    auto ev = make_event(pool_event_type::connection_ready, id);
    ev.duration = since(created_at);
    emit(ev);
    in_use_[id] = {c.get(), generation};
    c->set_generation(generation);  // errors seen later by the driver carry it to SDAM
    checked_out_locked(id, t0);
    dispatch_locked();
    co_return pooled_connection(shared_from_this(), std::move(c), id, generation);
}

void pool::give_back(std::unique_ptr<connection> c, std::uint64_t id, std::uint64_t generation) noexcept {
    close_list out;
    {
        std::lock_guard lk(mtx_);
        auto it = in_use_.find(id);
        if (it == in_use_.end() || it->second.conn != c.get()) {
            out.push_back(std::move(c));  // not checked out of this pool: just close it
        } else {
            in_use_.erase(it);
            emit(make_event(pool_event_type::checked_in, id));
            const auto why = state_ == state::closed  ? pool_event_reason::pool_closed
                             : generation != generation_ ? pool_event_reason::stale
                             : !c->is_open()             ? pool_event_reason::error
                                                         : pool_event_reason::none;
            if (why != pool_event_reason::none) close_locked(std::move(c), id, why, out);
            else make_available_locked({std::move(c), id, generation, clock::now()});
            dispatch_locked();
        }
    }
    close_all(out);
}

void pool::ready() {
    {
        std::lock_guard lk(mtx_);
        if (state_ != state::paused) return;
        state_ = state::ready;
        emit(make_event(pool_event_type::pool_ready));
        wake_background_locked();
    }
    start_background();
}

void pool::clear(bool interrupt_in_use, std::string_view cause) {
    close_list out;
    {
        std::lock_guard lk(mtx_);
        if (state_ == state::closed) return;
        const auto old = generation_++;
        const bool was_ready = state_ == state::ready;
        state_ = state::paused;
        cleared_message_ = fmt::format("connection pool for {} was cleared{}{}", address_,
                                       cause.empty() ? "" : " because another operation failed with: ", cause);
        if (was_ready) {
            auto ev = make_event(pool_event_type::pool_cleared);
            ev.interrupt_in_use = interrupt_in_use;
            emit(ev);
        }
        fail_waiters_locked(errc::pool_cleared, cleared_message_);
        while (!idle_.empty()) {
            auto e = std::move(idle_.front());
            idle_.pop_front();
            close_locked(std::move(e.conn), e.id, pool_event_reason::stale, out);
        }
        if (interrupt_in_use) {
            for (auto& [id, u] : in_use_)
                if (u.generation <= old) u.conn->close();  // its operation fails; check-in closes it as stale
            for (auto& [id, p] : pending_) {
                if (p.generation > old) continue;
                p.interrupted = true;
                if (auto t = p.interrupt) asio::post(t->get_executor(), [t] { t->cancel(); });
            }
        }
        wake_background_locked();
    }
    close_all(out);
}

void pool::close() {
    close_list out;
    {
        std::lock_guard lk(mtx_);
        if (state_ == state::closed) return;
        state_ = state::closed;
        while (!idle_.empty()) {
            auto e = std::move(idle_.front());
            idle_.pop_front();
            close_locked(std::move(e.conn), e.id, pool_event_reason::pool_closed, out);
        }
        fail_waiters_locked(errc::pool_closed,
                            fmt::format("attempted to check out a connection from closed connection pool {} "
                                        "(the client was closed while waiting for a connection)",
                                        address_));
        emit(make_event(pool_event_type::pool_closed));
        wake_background_locked();
    }
    close_all(out);
}

asio::awaitable<void> pool::async_warm_up(error_code& ec, diagnostics& diag) {
    std::vector<pooled_connection> held;
    for (std::size_t i = 0; i < pp_.min_size; ++i) {
        auto c = co_await async_acquire(ec, diag);
        if (ec) co_return;
        held.push_back(std::move(c));
    }
}

// --- the background task: one "run" per wake-up or interval -----------------------------

void pool::start_background() {
    std::shared_ptr<asio::steady_timer> t;
    {
        std::lock_guard lk(mtx_);
        if (background_started_ || !pp_.background || pp_.background_interval.count() < 0 || state_ == state::closed)
            return;
        background_started_ = true;
        t = std::make_shared<asio::steady_timer>(pp_.background);
        background_timer_ = t;
    }
    auto interval = std::max(pp_.background_interval, std::chrono::milliseconds(1));
    asio::co_spawn(pp_.background, background_loop(weak_from_this(), t, interval), asio::detached);
}

asio::awaitable<void> pool::background_loop(std::weak_ptr<pool> self, std::shared_ptr<asio::steady_timer> timer,
                                            std::chrono::milliseconds interval) {
    for (;;) {
        {
            auto p = self.lock();  // not held while sleeping: the loop does not keep the pool alive
            if (!p || !p->background_run()) co_return;
        }
        timer->expires_after(interval);
        co_await timer->async_wait(nothrow);
    }
}

bool pool::background_run() {
    close_list out;
    std::vector<std::uint64_t> to_populate;
    {
        std::lock_guard lk(mtx_);
        if (state_ == state::closed) return false;
        const auto now = clock::now();
        bool removed = false;
        for (auto it = idle_.begin(); it != idle_.end();) {
            if (auto why = perished(*it, now); why != pool_event_reason::none) {
                close_locked(std::move(it->conn), it->id, why, out);
                it = idle_.erase(it);
                removed = true;
            } else {
                ++it;
            }
        }
        // Does what it can now: beyond max_connecting it waits for the next run.
        if (state_ == state::ready)
            while (total_ < pp_.min_size && can_create_locked()) to_populate.push_back(begin_create_locked());
        if (removed) dispatch_locked();
    }
    close_all(out);
    for (auto id : to_populate) asio::co_spawn(pp_.background, populate(shared_from_this(), id), asio::detached);
    return true;
}

asio::awaitable<void> pool::populate(std::shared_ptr<pool> self, std::uint64_t id) {
    error_code ec;
    diagnostics diag;
    auto c = co_await self->establish(id, ec, diag);
    self->finish_populate(id, std::move(c), ec, diag);
}

void pool::finish_populate(std::uint64_t id, std::unique_ptr<connection> c, const error_code& ec,
                           const diagnostics& diag) {
    close_list out;
    std::uint64_t generation = 0;
    const bool ok = c != nullptr;
    {
        std::lock_guard lk(mtx_);
        auto it = pending_.find(id);
        generation = it->second.generation;
        const auto created_at = it->second.created;
        pending_.erase(it);
        if (ok) {
            ++created_;
            auto ev = make_event(pool_event_type::connection_ready, id);
            ev.duration = since(created_at);
            emit(ev);
            const auto why = state_ == state::closed     ? pool_event_reason::pool_closed
                             : generation != generation_ ? pool_event_reason::stale
                                                         : pool_event_reason::none;
            if (why != pool_event_reason::none) close_locked(std::move(c), id, why, out);
            else make_available_locked({std::move(c), id, generation, clock::now()});
            wake_background_locked();  // more to populate, maybe
        } else {
            --total_;
            ++discarded_;
        }
        dispatch_locked();
    }
    close_all(out);
    if (ok) return;
    // SDAM first (it may clear the pool), then the ConnectionClosed event, as the CMAP tests order them.
    const bool interrupted = ec == errc::pool_cleared || ec == asio::error::operation_aborted;
    if (pp_.on_background_error && !interrupted) pp_.on_background_error(ec, diag, generation);
    std::lock_guard lk(mtx_);
    auto ev = make_event(pool_event_type::connection_closed, id);
    ev.reason = pool_event_reason::error;
    ev.error = ec;
    emit(ev);
}

}  // namespace morm::net
