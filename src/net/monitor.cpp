#include "monitor.hpp"

#include <morm/net/topology.hpp>
#include <morm/topology/selection.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include <bson/bson.h>

#include <charconv>

namespace morm::net {

namespace {
using clock = std::chrono::steady_clock;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch()).count();
}
}  // namespace

std::optional<endpoint> endpoint_of(const std::string& address) {
    if (!address.empty() && (address.front() == '/' || address.ends_with(".sock"))) return endpoint{address, 0, true};
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.back() == ']') return endpoint{address, 27017, false};
    // The address may come from a server's hello (hosts, me, primary): a port that is not a
    // number in 1..65535 is refused, never truncated or defaulted (it would reach another port).
    unsigned port = 0;
    const char* first = address.data() + colon + 1;
    const char* last = address.data() + address.size();
    auto [ptr, err] = std::from_chars(first, last, port);
    if (err != std::errc{} || ptr != last || port == 0 || port > 65535) return std::nullopt;
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return std::nullopt;
    return endpoint{host, static_cast<std::uint16_t>(port), false};
}

monitor::monitor(asio::any_io_executor ex, monitor_params p, std::weak_ptr<topology> topo)
    : ex_(ex), p_(std::move(p)), topo_(std::move(topo)), timer_(ex), rtt_timer_(ex) {}

void monitor::start() {
    const auto gen = gen_.load();
    asio::co_spawn(ex_, [self = shared_from_this(), gen]() { return self->run(gen); }, asio::detached);
}

void monitor::park() {
    asio::post(ex_, [self = shared_from_this()] {
        auto topo = self->topo_.lock();
        if (!topo || !topo->idle() || self->parked_.exchange(true)) return;
        ++self->gen_;
        self->rtt_running_ = false;
        self->timer_.cancel();
        self->rtt_timer_.cancel();
        if (self->conn_) self->conn_->close();
        if (self->rtt_conn_) self->rtt_conn_->close();
    });
}

void monitor::resume() {
    if (stopped_ || !parked_.exchange(false)) return;
    start();
}

void monitor::stop() {
    stopped_ = true;
    asio::post(ex_, [self = shared_from_this()] {
        self->timer_.cancel();
        self->rtt_timer_.cancel();
        if (self->conn_) self->conn_->close();
        if (self->rtt_conn_) self->rtt_conn_->close();
    });
}

void monitor::request_check() {
    check_requested_ = true;
    asio::post(ex_, [self = shared_from_this()] { self->timer_.cancel(); });
}

std::optional<double> monitor::rtt_ms() const {
    std::lock_guard lk(mtx_);
    return rtt_;
}

void monitor::add_rtt(double ms) {
    std::lock_guard lk(mtx_);
    rtt_ = morm::topology::average_rtt(rtt_, ms);
}

asio::awaitable<void> monitor::check(morm::topology::server_description& sd, bool& awaited, error_code& ec) {
    ec.clear();
    diagnostics diag;
    auto t0 = clock::now();
    if (!conn_ || !conn_->is_open()) {
        tv_.reset();
        conn_ = std::make_unique<connection>(ex_);
        co_await conn_->async_connect(p_.ep, *p_.conn, ec, diag);
    }
    // The polling protocol ignores the server's topologyVersion: every check is a plain hello.
    awaited = !ec && tv_.has_value() && p_.streaming;
    auto topo = topo_.lock();
    morm::topology::sdam_event ev;
    ev.address = p_.address;
    ev.awaited = awaited;
    if (topo) {
        ev.what = morm::topology::sdam_event::kind::heartbeat_started;
        topo->emit(ev);
    }
    bson_t reply_copy = BSON_INITIALIZER;
    if (!ec) {
        const auto tv = p_.streaming ? tv_ : std::nullopt;
        const auto wait = p_.heartbeat;
        auto build = [&](bson_t* b) {
            BSON_APPEND_INT32(b, "hello", 1);
            if (tv) {
                bson_t t;
                BSON_APPEND_DOCUMENT_BEGIN(b, "topologyVersion", &t);
                bson_oid_t oid;
                bson_oid_init_from_data(&oid, tv->process_id.bytes().data());
                BSON_APPEND_OID(&t, "processId", &oid);
                BSON_APPEND_INT64(&t, "counter", tv->counter);
                bson_append_document_end(b, &t);
                BSON_APPEND_INT64(b, "maxAwaitTimeMS", wait.count());
            }
        };
        auto on_reply = [&](const bson_t* r) { bson_copy_to(r, &reply_copy); };
        const auto deadline = p_.conn->connect_timeout + (tv ? wait : std::chrono::milliseconds(0));
        co_await conn_->async_command("admin", build, on_reply, deadline, ec, diag);
    }
    const double elapsed = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    if (topo) {
        ev.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0);
        ev.what = ec ? morm::topology::sdam_event::kind::heartbeat_failed
                     : morm::topology::sdam_event::kind::heartbeat_succeeded;
        if (ec) ev.failure = diag.message.empty() ? ec.message() : diag.message;
        else ev.reply = &reply_copy;
        topo->emit(ev);
    }
    if (ec) {
        if (conn_) conn_->close();
        conn_.reset();
        tv_.reset();
        sd = morm::topology::unknown_server(p_.address, diag.message.empty() ? ec.message() : diag.message, now_ms());
    } else {
        if (!awaited) add_rtt(elapsed);
        sd = morm::topology::parse_hello(p_.address, &reply_copy, rtt_ms(), now_ms());
        tv_ = sd.topology_version;
    }
    bson_destroy(&reply_copy);
}

asio::awaitable<void> monitor::wait_next(clock::time_point last_start, std::uint64_t gen) {
    // A requested check still waits out minHeartbeatFrequencyMS since the last one started.
    auto next = last_start + p_.heartbeat;
    for (;;) {
        if (!current(gen)) co_return;
        if (check_requested_.exchange(false)) next = std::min(next, last_start + p_.min_heartbeat);
        if (clock::now() >= next) co_return;
        timer_.expires_at(next);
        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> monitor::run(std::uint64_t gen) {
    bool known = false;
    if (const auto last = last_start_.load(); last != 0) {
        // Resumed after a pause: the last check may still be fresh.
        co_await wait_next(clock::time_point(clock::duration(last)), gen);
        known = true;
    }
    while (current(gen)) {
        auto start = clock::now();
        last_start_ = start.time_since_epoch().count();
        morm::topology::server_description sd;
        bool awaited = false;
        error_code ec;
        co_await check(sd, awaited, ec);
        if (!current(gen)) break;  // parked or stopped meanwhile: the result says nothing
        auto topo = topo_.lock();
        if (!topo) break;
        const bool failed = !sd.is_known() && sd.error;
        topo->on_check(sd, ec);
        if (failed && known) {
            // A known server that fails once is retried at once (it may have just closed an
            // idle connection); only a second failure leaves it Unknown until the next beat.
            known = false;
            co_await check(sd, awaited, ec);
            if (!current(gen)) break;
            topo->on_check(sd, ec);
        }
        known = sd.is_known();
        if (topo->idle()) park();  // nothing waits for this server's state: pause
        if (p_.streaming && sd.topology_version && !rtt_running_) {
            rtt_running_ = true;
            asio::co_spawn(ex_, [self = shared_from_this(), gen]() { return self->rtt_loop(gen); }, asio::detached);
        }
        // The awaitable hello already waited for a change (or maxAwaitTimeMS): go again.
        if (awaited && known) continue;
        co_await wait_next(start, gen);
    }
}

asio::awaitable<void> monitor::rtt_loop(std::uint64_t gen) {
    // With the awaitable hello the main connection cannot time a round trip: a second
    // connection does, with a plain hello every heartbeat.
    while (current(gen)) {
        error_code ec;
        diagnostics diag;
        auto t0 = clock::now();
        if (!rtt_conn_ || !rtt_conn_->is_open()) {
            rtt_conn_ = std::make_unique<connection>(ex_);
            co_await rtt_conn_->async_connect(p_.ep, *p_.conn, ec, diag);
            t0 = clock::now();
        }
        if (!ec) {
            auto build = [](bson_t* b) { BSON_APPEND_INT32(b, "hello", 1); };
            auto on_reply = [](const bson_t*) {};
            co_await rtt_conn_->async_command("admin", build, on_reply, p_.conn->connect_timeout, ec, diag);
        }
        if (!current(gen)) break;
        if (!ec) add_rtt(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
        else if (rtt_conn_) rtt_conn_->close();
        rtt_timer_.expires_after(p_.heartbeat);
        co_await rtt_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

}  // namespace morm::net
