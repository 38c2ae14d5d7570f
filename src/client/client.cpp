#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/net/dns.hpp>
#include <morm/topology/description.hpp>
#include <morm/wire/commands/end_sessions.hpp>
#include <morm/wire/reply.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace morm {

void write_concern::append_to(bson_t* cmd) const {
    if (empty()) return;
    bson_t wc;
    bson_append_document_begin(cmd, "writeConcern", 12, &wc);
    if (w) {
        if (auto* n = std::get_if<std::int32_t>(&*w)) bson_append_int32(&wc, "w", 1, *n);
        else {
            auto& s = std::get<std::string>(*w);
            bson_append_utf8(&wc, "w", 1, s.data(), static_cast<int>(s.size()));
        }
    }
    if (journal) bson_append_bool(&wc, "j", 1, *journal);
    if (wtimeout) bson_append_int64(&wc, "wtimeout", 8, wtimeout->count());
    bson_append_document_end(cmd, &wc);
}

void read_preference::append_to(bson_t* cmd) const {
    if (mode == read_mode::primary) return;  // the default; never sent
    bson_t rp;
    bson_append_document_begin(cmd, "$readPreference", -1, &rp);
    auto m = to_string(mode);
    bson_append_utf8(&rp, "mode", 4, m.data(), static_cast<int>(m.size()));
    if (!tags.empty()) {
        bson_t arr;
        bson_append_array_begin(&rp, "tags", 4, &arr);
        std::size_t i = 0;
        for (auto& set : tags) {
            char key[16];
            const char* k;
            bson_uint32_to_string(static_cast<std::uint32_t>(i++), &k, key, sizeof key);
            bson_t t;
            bson_append_document_begin(&arr, k, -1, &t);
            for (auto& [tk, tv] : set)
                bson_append_utf8(&t, tk.data(), static_cast<int>(tk.size()), tv.data(), static_cast<int>(tv.size()));
            bson_append_document_end(&arr, &t);
        }
        bson_append_array_end(&rp, &arr);
    }
    if (max_staleness_seconds) bson_append_int32(&rp, "maxStalenessSeconds", -1, *max_staleness_seconds);
    bson_append_document_end(cmd, &rp);
}


namespace {
}  // namespace

asio::awaitable<client> client::connect(std::string_view uri, client_options opts) {
    error_code ec;
    diagnostics diag;
    auto c = co_await connect(uri, std::move(opts), ec, diag);
    throw_on_error(ec, diag);
    co_return c;
}

asio::awaitable<client> client::connect(connection_string cs, client_options opts) {
    error_code ec;
    diagnostics diag;
    auto c = co_await connect_body(std::move(cs), std::move(opts), ec, diag);
    throw_on_error(ec, diag);
    co_return c;
}

asio::awaitable<client> client::connect(std::string_view uri, client_options opts, error_code& ec, diagnostics& diag) {
    auto cs = connection_string::parse(uri, ec, diag);
    if (ec) co_return client{};
    co_return co_await connect_body(std::move(cs), std::move(opts), ec, diag);
}

namespace {

/// Connection parameters from the connection string; errc::not_supported for an
/// authentication mechanism morm does not speak.
std::shared_ptr<net::connection_params> make_params(const connection_string& cs, client_options& opts, error_code& ec,
                                                    diagnostics& diag) {
    auto params = std::make_shared<net::connection_params>();
    params->connect_timeout = cs.connect_timeout;
    params->proxy = cs.proxy;
    params->socket_timeout = cs.socket_timeout.value_or(std::chrono::milliseconds(0));
    params->hello.app_name = cs.app_name.value_or("");
    params->hello.load_balanced = cs.load_balanced;
    params->listener = std::move(opts.command_listener);
    if (cs.tls_enabled()) {
        params->tls.enabled = true;
        params->tls.ca_file = cs.tls_ca_file.value_or("");
        params->tls.certificate_key_file = cs.tls_certificate_key_file.value_or("");
        params->tls.certificate_key_password = cs.tls_certificate_key_file_password.value_or("");
        params->tls.allow_invalid_certificates = cs.tls_skip_certificate_check();
        params->tls.allow_invalid_hostnames = cs.tls_skip_hostname_check();
        params->ssl_context = net::make_ssl_context(params->tls, ec, diag);
        if (ec) return nullptr;
    }
    if (cs.auth) {
        const auto& a = *cs.auth;
        net::credentials cr;
        cr.username = a.username;
        cr.password = a.password.value_or("");
        cr.source = cs.auth_database();
        if (a.mechanism) {
            if (*a.mechanism != auth_mechanism::scram_sha_1 && *a.mechanism != auth_mechanism::scram_sha_256) {
                ec = make_error_code(errc::not_supported);
                diag.message = fmt::format("authMechanism {} is not supported by morm (SCRAM-SHA-1 and SCRAM-SHA-256 are)",
                                           to_string(*a.mechanism));
                return nullptr;
            }
            cr.mechanism = std::string(to_string(*a.mechanism));
        }
        params->auth = std::move(cr);
    }
    return params;
}

}  // namespace

namespace {

net::topology_params make_topology_params(const connection_string& cs, const client_options& opts,
                                          std::shared_ptr<net::connection_params> params) {
    net::topology_params tp;
    for (auto& h : cs.hosts)
        tp.sdam.seeds.push_back(h.type == host::kind::unix_socket ? h.name : topology::normalize_address(h.to_string()));
    tp.sdam.replica_set = cs.replica_set;
    tp.sdam.direct_connection = cs.direct_connection;
    tp.sdam.load_balanced = cs.load_balanced;
    tp.sdam.srv = cs.srv;
    tp.sdam.srv_max_hosts = cs.srv_max_hosts.value_or(0);
    tp.heartbeat_frequency = cs.heartbeat_frequency;
    tp.streaming_monitoring = cs.streaming_monitoring();
    tp.server_selection_timeout = cs.server_selection_timeout;
    tp.local_threshold = cs.local_threshold;
    tp.conn = std::move(params);
    tp.pool.max_size = static_cast<std::size_t>(cs.max_pool_size);
    tp.pool.min_size = static_cast<std::size_t>(cs.min_pool_size);
    tp.pool.max_idle_time = cs.max_idle_time.value_or(std::chrono::milliseconds(0));
    tp.pool.wait_queue_timeout = cs.wait_queue_timeout.value_or(std::chrono::milliseconds(0));
    tp.pool.max_connecting = static_cast<std::size_t>(cs.max_connecting);
    tp.listener = opts.sdam_listener;
    return tp;
}

/// SRV polling: one rescan of the SRV name, the hosts it found (srvMaxHosts is applied by
/// SDAM when it merges them).
net::srv_rescanner srv_rescanner(connection_string srv_uri, net::dns_options dns) {
    return [srv_uri = std::move(srv_uri), dns = std::move(dns)](
               std::chrono::milliseconds& next) -> asio::awaitable<std::optional<std::vector<std::string>>> {
        error_code ec;
        diagnostics diag;
        auto r = co_await net::async_rescan_srv(srv_uri, dns, ec, diag);
        if (!r) co_return std::nullopt;  // a failed lookup keeps the hosts (and the interval)
        next = r->next_interval();
        co_return std::move(r->hosts);
    };
}

/// Operations report their errors to the topology through the connection parameters. A
/// weak reference: the topology owns the pools that own the parameters.
void observe_errors(net::connection_params& params, const std::shared_ptr<net::topology>& topo) {
    params.error_observer = [w = std::weak_ptr<net::topology>(topo)](const net::connection& c, const error_code& ec,
                                                                    const diagnostics& diag) {
        if (!c.established()) return;  // handshake errors come back through the pool checkout
        if (auto t = w.lock()) t->on_operation_error(c.remote().to_string(), c.generation(), false, ec, diag);
    };
}

}  // namespace

asio::awaitable<client> client::connect_body(connection_string cs, client_options opts, error_code& ec,
                                             diagnostics& diag) {
    // mongodb+srv://: the SRV and TXT lookups turn cs into the equivalent mongodb:// string.
    const auto dns = net::make_dns_options(opts.dns_server, cs.connect_timeout);
    const auto srv_uri = cs;  // as given: SRV polling looks the name up again
    co_await net::resolve_srv(cs, dns, ec, diag);
    if (ec) co_return client{};
    auto st = std::make_shared<detail::client_state>();
    st->ex = co_await asio::this_coro::executor;
    auto params = make_params(cs, opts, ec, diag);
    if (ec) co_return client{};
    params->dns_server = dns.server;
    if (cs.w || cs.journal || cs.wtimeout) {
        if (cs.w) st->default_wc.w = *cs.w;
        st->default_wc.journal = cs.journal;
        st->default_wc.wtimeout = cs.wtimeout;
    }
    st->default_rp.mode = cs.effective_read_preference();
    st->default_rp.tags = cs.read_preference_tags;
    st->default_rp.max_staleness_seconds = cs.max_staleness_seconds;
    st->op_timeout = opts.operation_timeout.count() > 0 ? opts.operation_timeout : cs.timeout.value_or(std::chrono::milliseconds(0));
    auto tparams = make_topology_params(cs, opts, params);
    if (srv_uri.srv) tparams.srv_rescan = srv_rescanner(srv_uri, dns);
    st->topo = std::make_shared<net::topology>(st->ex, std::move(tparams));
    observe_errors(*params, st->topo);
    st->conn_params = params;
    st->uri = std::move(cs);
    st->topo->start();

    // A first connection to a server that suits the default read preference: it proves
    // the address, TLS and the credentials, and gives the limits. Unlike later operations,
    // connect() gives up as soon as every server has failed once.
    auto sel = co_await st->topo->async_select(false, st->default_rp, ec, diag, {}, true);
    if (ec) {
        if (ec != asio::error::operation_aborted)
            diag.message = fmt::format("no suitable server for {}: {}", st->uri.redacted(), diag.message);
        st->topo->close();
        co_return client{};
    }
    auto conn = co_await st->checkout(sel.server_pool(), ec, diag);
    if (ec) {
        st->topo->close();
        co_return client{};
    }
    st->server = conn->server();
    conn.release();
    error_code wec;
    diagnostics wdiag;
    co_await sel.server_pool()->async_warm_up(wec, wdiag);
    client c;
    c.state_ = std::move(st);
    co_return c;
}

database client::database(std::string_view name) const { return {state_, std::string(name)}; }

database client::default_database() const {
    if (!state_->uri.database || state_->uri.database->empty())
        throw error(errc::invalid_argument, fmt::format("the connection string {} names no database", state_->uri.redacted()));
    return database(*state_->uri.database);
}

asio::awaitable<bson::document> client::run_command(std::string_view db, const bson::document& cmd) const {
    error_code ec;
    diagnostics diag;
    auto r = co_await run_command(db, cmd, ec, diag);
    throw_on_error(ec, diag);
    co_return r;
}

asio::awaitable<bson::document> client::run_command(std::string_view db, const bson::document& cmd, error_code& ec,
                                                    diagnostics& diag) const {
    bson::document out;
    bool appended = true;
    co_await state_->command(
        db, [&](bson_t* b) { appended = bson_concat(b, cmd.get()); },
        [&](const bson_t* r) { out.assign(bson::document_view(bson_get_data(r), r->len)); }, ec, diag);
    if (!ec && !appended) {
        // Not expected to happen after a reply: the builder is called before sending.
        ec = make_error_code(errc::invalid_argument);
        diag.message = "the command cannot be appended";
    }
    co_return out;
}

asio::awaitable<std::vector<std::string>> client::list_database_names() const {
    error_code ec;
    diagnostics diag;
    auto r = co_await list_database_names(ec, diag);
    throw_on_error(ec, diag);
    co_return r;
}

asio::awaitable<std::vector<std::string>> client::list_database_names(error_code& ec, diagnostics& diag) const {
    std::vector<std::string> names;
    co_await state_->command(
        "admin",
        [](bson_t* b) {
            BSON_APPEND_INT32(b, "listDatabases", 1);
            BSON_APPEND_BOOL(b, "nameOnly", true);
        },
        [&](const bson_t* r) {
            bson_iter_t it, arr, d;
            if (!bson_iter_init_find(&it, r, "databases") || !BSON_ITER_HOLDS_ARRAY(&it)) return;
            bson_iter_recurse(&it, &arr);
            while (bson_iter_next(&arr))
                if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &d) && bson_iter_find(&d, "name") &&
                    BSON_ITER_HOLDS_UTF8(&d))
                    names.emplace_back(bson_iter_utf8(&d, nullptr));
        },
        ec, diag);
    co_return names;
}

asio::awaitable<void> client::write_groups(std::span<write_group> groups, error_code& ec, diagnostics& diag,
                                           pipeline_stats* stats) const {
    // Sized before the wait: callers read one outcome per item even when nothing is sent.
    for (auto& g : groups) g.outcomes.assign(g.count, item_outcome{});
    co_await run_retryable_writes(*state_, groups, ec, diag, stats);
}

asio::awaitable<void> client::write_groups_in_transaction(std::span<write_group> groups, error_code& ec,
                                                          diagnostics& diag, pipeline_stats* stats) const {
    co_await run_transaction(*state_, groups, ec, diag, stats);
}

asio::awaitable<net::pooled_connection> client::acquire() const {
    error_code ec;
    diagnostics diag;
    auto c = co_await acquire(ec, diag);
    throw_on_error(ec, diag);
    co_return c;
}

asio::awaitable<net::pooled_connection> client::acquire(error_code& ec, diagnostics& diag) const {
    co_return co_await state_->checkout(true, state_->default_rp, ec, diag);
}

net::pool_stats client::pool_stats() const {
    net::pool_stats sum;
    for (auto& [address, sd] : state_->topo->description().servers) {
        auto p = state_->topo->pool_for(address);
        if (!p) continue;
        auto s = p->stats();
        sum.open += s.open;
        sum.idle += s.idle;
        sum.in_use += s.in_use;
        sum.waiting += s.waiting;
        sum.created += s.created;
        sum.discarded += s.discarded;
    }
    return sum;
}

namespace {

/// endSessions for the pooled server sessions, on a connection of its own (the client's pools
/// are closed at once): best effort, as the spec allows; the server reaps them anyway.
asio::awaitable<void> end_sessions(std::shared_ptr<const net::connection_params> params, net::endpoint ep,
                                   std::vector<bson::document> ids) {
    net::connection c(co_await asio::this_coro::executor);
    error_code ec;
    diagnostics diag;
    co_await c.async_connect(ep, *params, ec, diag);
    for (std::size_t i = 0; !ec && i < ids.size(); i += wire::commands::end_sessions::max_per_command) {
        const auto last = std::min(ids.size(), i + wire::commands::end_sessions::max_per_command);
        const std::vector<bson::document> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                                ids.begin() + static_cast<std::ptrdiff_t>(last));
        const wire::commands::end_sessions cmd{chunk};
        bson::document body;
        if ((ec = cmd.serialize(body.get(), diag))) break;
        co_await c.async_command(
            "admin", [&](bson_t* b) { (void)bson_concat(b, body.get()); }, [](const bson_t*) {},
            params->connect_timeout, ec, diag);
    }
    c.close();
}

}  // namespace

void client::close() {
    if (!state_ || !state_->topo) return;
    auto ids = state_->sessions->drain();
    std::optional<net::endpoint> target;
    for (auto& [address, sd] : state_->topo->description().servers)
        if (sd.is_data_bearing() && (!target || sd.type == topology::server_type::rs_primary))
            if (auto ep = net::endpoint_of(address)) target = *ep;
    state_->topo->close();
    if (ids.empty() || !target) return;
    std::vector<bson::document> lsids;
    for (auto& id : ids) {
        bson::document d;
        bson_append_binary(d.get(), "id", 2, BSON_SUBTYPE_UUID, id.data(), 16);
        lsids.push_back(std::move(d));
    }
    asio::co_spawn(state_->ex, end_sessions(state_->conn_params, *target, std::move(lsids)), asio::detached);
}

}  // namespace morm
