#include "monitor.hpp"

#include <morm/net/topology.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <random>

namespace morm::net {

namespace tp = morm::topology;

selected_server::selected_server(std::shared_ptr<pool> p, tp::server_description sd,
                                 std::shared_ptr<std::atomic<std::size_t>> ops, std::shared_ptr<topology> topo)
    : pool_(std::move(p)), sd_(std::move(sd)), ops_(std::move(ops)), topo_(std::move(topo)) {
    if (ops_) ++*ops_;
    if (topo_) topo_->enter();
}

selected_server& selected_server::operator=(selected_server&& o) noexcept {
    if (this != &o) {
        done();
        pool_ = std::move(o.pool_);
        sd_ = std::move(o.sd_);
        ops_ = std::move(o.ops_);
        topo_ = std::move(o.topo_);
    }
    return *this;
}

selected_server::~selected_server() { done(); }

void selected_server::done() noexcept {
    if (ops_) --*ops_;
    ops_.reset();
    if (topo_) topo_->leave();
    topo_.reset();
}

void topology::enter() noexcept {
    if (active_++ != 0) return;
    maybe_rescan_srv();
    std::vector<std::shared_ptr<monitor>> mons;
    {
        std::lock_guard lk(mtx_);
        for (auto& [a, e] : servers_)
            if (e.mon) mons.push_back(e.mon);
    }
    for (auto& m : mons) m->resume();
}

void topology::leave() noexcept {
    if (--active_ != 0) return;
    std::vector<std::shared_ptr<monitor>> mons;
    {
        std::lock_guard lk(mtx_);
        for (auto& [a, e] : servers_)
            if (e.mon) mons.push_back(e.mon);
    }
    for (auto& m : mons) m->park();
}

topology::topology(asio::any_io_executor ex, topology_params p) : ex_(std::move(ex)), p_(std::move(p)) {}

topology::~topology() { close(); }

void topology::emit(const tp::sdam_event& ev) const {
    if (p_.listener) p_.listener(ev);
}

void topology::start() {
    std::vector<std::function<void()>> after;
    {
        std::lock_guard lk(mtx_);
        state_ = std::make_unique<tp::sdam_state>(p_.sdam, p_.listener);
        for (auto& [address, sd] : state_->description().servers) add_server(address, after);
    }
    for (auto& f : after) f();
    srv_next_ = std::chrono::steady_clock::now() + std::chrono::seconds(60);
}

asio::awaitable<void> topology::rescan_srv() {
    // One rescan, started by activity once rescanSRVIntervalMS has passed (no timer of its
    // own: an idle client keeps no work pending on its executor).
    auto self = shared_from_this();
    std::chrono::milliseconds next{60'000};
    auto hosts = co_await p_.srv_rescan(next);
    std::vector<std::function<void()>> after;
    {
        std::lock_guard lk(mtx_);
        srv_next_ = std::chrono::steady_clock::now() + next;
        srv_running_ = false;
        if (closed_ || !state_ || !hosts) co_return;
        const auto type = state_->description().type;
        if (type == tp::topology_type::sharded || type == tp::topology_type::unknown)
            after = apply(state_->on_srv_hosts(std::move(*hosts)));
    }
    for (auto& f : after) f();
}

void topology::maybe_rescan_srv() {
    if (!p_.srv_rescan) return;
    {
        std::lock_guard lk(mtx_);
        if (closed_ || srv_running_ || std::chrono::steady_clock::now() < srv_next_ || !state_) return;
        const auto type = state_->description().type;
        // Polling is for sharded clusters (and until the type is known).
        if (type != tp::topology_type::sharded && type != tp::topology_type::unknown) return;
        srv_running_ = true;
    }
    asio::co_spawn(ex_, rescan_srv(), asio::detached);
}

void topology::add_server(const std::string& address, std::vector<std::function<void()>>& after) {
    if (servers_.count(address)) return;
    auto parsed = endpoint_of(address);
    if (!parsed) {
        // A host list with an address that cannot be connected to: the server stays Unknown,
        // with the reason, and gets no monitor or pool.
        after.push_back([self = shared_from_this(), address] {
            self->on_check(tp::unknown_server(address, "invalid address (the port must be a number in 1..65535)"),
                           make_error_code(errc::protocol));
        });
        return;
    }
    const auto& ep = *parsed;
    server_entry e;
    pool_params pp = p_.pool;
    // A load balancer has no monitor: its pool is ready from the start (load-balancers.md).
    pp.start_paused = !p_.sdam.load_balanced;
    // minPoolSize and idle pruning run in the background; a connection it fails to open is
    // a pre-handshake application error like any other.
    if (pp.min_size > 0) pp.background = asio::make_strand(ex_);
    pp.on_background_error = [w = weak_from_this(), address](const error_code& ec, const diagnostics& diag,
                                                             std::uint64_t generation) {
        if (auto t = w.lock()) t->on_operation_error(address, generation, true, ec, diag);
    };
    e.conns = std::make_shared<pool>(ep, p_.conn, pp);
    if (!p_.sdam.load_balanced) {
        auto mp = std::make_shared<connection_params>(*p_.conn);
        mp->auth.reset();
        mp->listener = nullptr;
        mp->error_observer = nullptr;
        // SDAM: a monitoring socket's timeout is connectTimeoutMS (each check sets its own
        // deadline, the awaited wait included); socketTimeoutMS is for application reads
        // and, if small, would cut every awaitable hello.
        mp->socket_timeout = std::chrono::milliseconds(0);
        monitor_params m{address, ep, std::move(mp), p_.heartbeat_frequency, p_.min_heartbeat_frequency,
                         p_.streaming_monitoring};
        e.mon = std::make_shared<monitor>(ex_, std::move(m), weak_from_this());
        after.push_back([mon = e.mon] { mon->start(); });
    }
    servers_.emplace(address, std::move(e));
}

std::vector<std::function<void()>> topology::apply(const tp::sdam_actions& a) {
    std::vector<std::function<void()>> after;
    for (auto& address : a.added) add_server(address, after);
    for (auto& address : a.removed) {
        auto it = servers_.find(address);
        if (it == servers_.end()) continue;
        auto e = std::move(it->second);
        servers_.erase(it);
        after.push_back([e] {
            if (e.mon) e.mon->stop();
            e.conns->close();
        });
    }
    for (auto& address : a.cleared) {
        auto it = servers_.find(address);
        if (it == servers_.end()) continue;
        after.push_back([p = it->second.conns] { p->clear(); });
    }
    for (auto& address : a.check_now) {
        auto it = servers_.find(address);
        if (it != servers_.end() && it->second.mon) after.push_back([m = it->second.mon] { m->request_check(); });
    }
    // A server known to be usable gets a ready pool; an Unknown one stays paused (cleared).
    for (auto& [address, e] : servers_) {
        auto sit = state_->description().servers.find(address);
        if (sit != state_->description().servers.end() && sit->second.is_data_bearing())
            after.push_back([p = e.conns] { p->ready(); });
    }
    if (a.changed) after.push_back([this] { wake_waiters(); });
    return after;
}

void topology::on_check(tp::server_description sd, error_code ec) {
    std::vector<std::function<void()>> after;
    {
        std::lock_guard lk(mtx_);
        if (closed_ || !state_) return;
        check_errors_[sd.address] = ec;
        after = apply(state_->on_server_description(std::move(sd)));
    }
    for (auto& f : after) f();
}

void topology::on_operation_error(const std::string& address, std::uint64_t generation, bool before_handshake,
                                  const error_code& ec, const diagnostics& diag) {
    tp::app_error e;
    e.address = address;
    e.generation = generation;
    e.before_handshake_completed = before_handshake;
    e.message = diag.message;
    if (ec == errc::timeout) e.what = tp::app_error::kind::timeout;
    else if (ec == errc::server_error) {
        e.what = tp::app_error::kind::command;
        e.code = diag.server_code;
    } else if (ec == errc::network || ec == errc::connection_closed || ec == errc::protocol ||
               ec.category() != morm_category()) {
        if (ec == asio::error::operation_aborted) return;  // the caller gave up: says nothing about the server
        e.what = tp::app_error::kind::network;
    } else {
        return;  // auth, TLS, decode, ... say nothing about the server's state
    }
    std::vector<std::function<void()>> after;
    {
        std::lock_guard lk(mtx_);
        if (closed_ || !state_) return;
        auto it = state_->description().servers.find(address);
        if (it != state_->description().servers.end()) e.max_wire_version = it->second.max_wire_version;
        after = apply(state_->on_application_error(e));
    }
    for (auto& f : after) f();
}

void topology::on_server_error_code(const std::string& address, std::uint64_t generation, std::int32_t code,
                                    const diagnostics& diag) {
    if (!tp::is_state_change_error(code)) return;
    diagnostics d = diag;
    d.server_code = code;
    on_operation_error(address, generation, false, make_error_code(errc::server_error), d);
}

tp::topology_type topology::type() const {
    std::lock_guard lk(mtx_);
    return state_ ? state_->description().type : tp::topology_type::unknown;
}

std::optional<std::int64_t> topology::logical_session_timeout() const {
    std::lock_guard lk(mtx_);
    return state_ ? state_->description().logical_session_timeout_minutes : std::nullopt;
}

tp::topology_description topology::description() const {
    std::lock_guard lk(mtx_);
    return state_ ? state_->description() : tp::topology_description{};
}

std::shared_ptr<pool> topology::pool_for(const std::string& address) const {
    std::lock_guard lk(mtx_);
    auto it = servers_.find(address);
    return it == servers_.end() ? nullptr : it->second.conns;
}

void topology::request_check() {
    std::vector<std::shared_ptr<monitor>> mons;
    {
        std::lock_guard lk(mtx_);
        for (auto& [a, e] : servers_)
            if (e.mon) mons.push_back(e.mon);
    }
    for (auto& m : mons) m->request_check();
}

void topology::wake_waiters() {
    std::vector<std::shared_ptr<asio::steady_timer>> w;
    {
        std::lock_guard lk(mtx_);
        w.swap(waiters_);
    }
    for (auto& t : w) asio::post(t->get_executor(), [t] { t->cancel(); });
}

selected_server topology::try_select(bool for_write, const read_preference& rp,
                                     std::span<const std::string> deprioritized, error_code& ec,
                                     diagnostics& diag) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::lock_guard lk(mtx_);
    if (closed_ || !state_) {
        ec = make_error_code(errc::pool_closed);
        diag.message = "the client is closed";
        return {};
    }
    tp::selection_params sp{p_.heartbeat_frequency, p_.local_threshold};
    auto count = [&](const std::string& a) -> std::size_t {
        auto it = servers_.find(a);
        return it == servers_.end() ? 0 : it->second.ops->load();
    };
    auto random = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    auto* sd = tp::select_server(state_->description(), for_write, rp, sp, deprioritized, count, random, ec, diag);
    if (ec || !sd) return {};
    auto it = servers_.find(sd->address);
    if (it == servers_.end()) return {};
    return selected_server(it->second.conns, *sd, it->second.ops, shared_from_this());
}

bool topology::first_round_failed(error_code& ec, diagnostics& diag) const {
    std::lock_guard lk(mtx_);
    if (!state_) return false;
    const tp::server_description* first = nullptr;
    for (auto& [a, sd] : state_->description().servers) {
        if (sd.is_known() || !sd.error) return false;  // usable, or not checked yet
        if (!first) first = &sd;
    }
    if (!first) return false;
    auto it = check_errors_.find(first->address);
    ec = it != check_errors_.end() && it->second ? it->second : make_error_code(errc::network);
    diag.clear();
    diag.message = fmt::format("no server is reachable: {}", state_->description().summary());
    return true;
}

asio::awaitable<selected_server> topology::async_select(bool for_write, const read_preference& rp, error_code& ec,
                                                        diagnostics& diag,
                                                        std::span<const std::string> deprioritized, bool fail_fast) {
    const auto deadline = std::chrono::steady_clock::now() + p_.server_selection_timeout;
    auto ex = co_await asio::this_coro::executor;
    struct activity {
        topology& t;
        explicit activity(topology& x) : t(x) { t.enter(); }
        ~activity() { t.leave(); }
    } busy(*this);
    for (;;) {
        auto s = try_select(for_write, rp, deprioritized, ec, diag);
        if (ec || s) co_return s;
        if (fail_fast && first_round_failed(ec, diag)) co_return s;
        if (std::chrono::steady_clock::now() >= deadline) break;
        auto t = std::make_shared<asio::steady_timer>(ex);
        t->expires_at(deadline);
        {
            std::lock_guard lk(mtx_);
            waiters_.push_back(t);
        }
        request_check();
        auto [e] = co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) {
            ec = asio::error::operation_aborted;
            diag.message = "server selection was cancelled";
            co_return selected_server{};
        }
        (void)e;
    }
    ec = make_error_code(errc::timeout);
    diag.message = fmt::format("no server suits a {} within serverSelectionTimeoutMS={} ms; topology: {}",
                               for_write ? "write" : fmt::format("read ({})", to_string(rp.mode)),
                               p_.server_selection_timeout.count(), description().summary());
    co_return selected_server{};
}

void topology::close() {
    std::map<std::string, server_entry> servers;
    {
        std::lock_guard lk(mtx_);
        if (closed_) return;
        closed_ = true;
        servers.swap(servers_);
    }
    for (auto& [a, e] : servers) {
        if (e.mon) e.mon->stop();
        e.conns->close();
    }
    wake_waiters();
    std::lock_guard lk(mtx_);
    if (state_) state_->close();
}

}  // namespace morm::net
