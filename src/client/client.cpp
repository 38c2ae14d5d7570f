#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/net/dns.hpp>
#include <morm/wire/reply.hpp>

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

namespace detail {

asio::awaitable<void> client_state::command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                            const std::function<void(const struct _bson_t*)>& on_reply,
                                            error_code& ec, diagnostics& diag) {
    auto conn = co_await pool->async_acquire(ec, diag);
    if (ec) co_return;
    co_await conn->async_command(db, build, on_reply, op_timeout, ec, diag);
}

asio::awaitable<void> client_state::command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                            const std::function<void(const struct _bson_t*)>& on_reply) {
    error_code ec;
    diagnostics diag;
    co_await command(db, build, on_reply, ec, diag);
    throw_on_error(ec, diag);
}

}  // namespace detail

namespace {
net::endpoint to_endpoint(const host& h) {
    return {h.name, h.port, h.type == host::kind::unix_socket};
}
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

/// "host:port" from a hello reply's host list; nullopt if the port is not a number.
std::optional<net::endpoint> parse_host_port(const std::string& hs) {
    auto colon = hs.rfind(':');
    if (colon == std::string::npos) return net::endpoint{hs, 27017, false};
    unsigned port = 0;
    const char* first = hs.data() + colon + 1;
    const char* last = hs.data() + hs.size();
    auto [ptr, err] = std::from_chars(first, last, port);
    if (err != std::errc{} || ptr != last || port == 0 || port > 65535) return std::nullopt;
    return net::endpoint{hs.substr(0, colon), static_cast<std::uint16_t>(port), false};
}

}  // namespace

asio::awaitable<client> client::connect_body(connection_string cs, client_options opts, error_code& ec,
                                             diagnostics& diag) {
    // mongodb+srv://: the SRV and TXT lookups turn cs into the equivalent mongodb:// string.
    const auto dns = net::make_dns_options(opts.dns_server, cs.connect_timeout);
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

    net::pool_params pp;
    pp.max_size = static_cast<std::size_t>(cs.max_pool_size);
    pp.min_size = static_cast<std::size_t>(cs.min_pool_size);
    pp.max_idle_time = cs.max_idle_time.value_or(std::chrono::milliseconds(0));
    pp.wait_queue_timeout = cs.wait_queue_timeout.value_or(std::chrono::milliseconds(0));

    // Server selection: the first host that is a writable primary, a mongos or a
    // standalone. Replica-set members reported by hello are tried too.
    std::vector<net::endpoint> candidates;
    for (auto& h : cs.hosts) candidates.push_back(to_endpoint(h));
    std::string failures;
    error_code last_ec;
    diagnostics last_diag;
    for (std::size_t i = 0; i < candidates.size() && i < 64; ++i) {
        auto ep = candidates[i];
        auto p = std::make_shared<net::pool>(ep, params, pp);
        error_code aec;
        diagnostics adiag;
        auto conn = co_await p->async_acquire(aec, adiag);
        if (aec) {
            // A cancelled connect stops here: the other hosts are not tried.
            if (aec == asio::error::operation_aborted) {
                ec = aec;
                diag = std::move(adiag);
                co_return client{};
            }
            failures += fmt::format("{}{}: {}", failures.empty() ? "" : "; ", ep.to_string(), adiag.message);
            last_ec = aec;
            last_diag = adiag;
            // Authentication and TLS failures are not about this host: stop here.
            if (aec == errc::auth_failed || aec == errc::tls_error || aec == errc::server_too_old) break;
            continue;
        }
        const auto& sd = conn->server();
        if (cs.replica_set && !sd.set_name.empty() && sd.set_name != *cs.replica_set) {
            failures += fmt::format("{}{}: replica set '{}' is not '{}'", failures.empty() ? "" : "; ", ep.to_string(),
                                    sd.set_name, *cs.replica_set);
            conn.discard();
            continue;
        }
        const bool direct = cs.direct_connection.value_or(false) || (cs.hosts.size() == 1 && !cs.replica_set);
        if (!sd.is_writable_primary && !direct) {
            for (auto& hs : sd.hosts) {
                auto e = parse_host_port(hs);
                if (!e) continue;  // a member we could not reach anyway
                bool known = false;
                for (auto& c : candidates) known = known || (c.host == e->host && c.port == e->port);
                if (!known) candidates.push_back(*e);
            }
            failures += fmt::format("{}{}: not a writable primary", failures.empty() ? "" : "; ", ep.to_string());
            continue;
        }
        st->server = sd;
        st->pool = p;
        st->uri = std::move(cs);
        st->conn_params = params;
        conn.release();
        error_code wec;
        diagnostics wdiag;
        co_await p->async_warm_up(wec, wdiag);
        client c;
        c.state_ = std::move(st);
        co_return c;
    }
    if (!last_ec) last_ec = make_error_code(errc::network);
    last_diag.message = fmt::format("no suitable server for {}: {}", cs.redacted(), failures);
    ec = last_ec;
    diag = std::move(last_diag);
    co_return client{};
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
    auto conn = co_await state_->pool->async_acquire(ec, diag);
    if (ec) co_return;  // nothing was sent: every outcome stays pending
    co_await run_write_pipeline(*conn, groups, state_->op_timeout, ec, diag, stats);
}

asio::awaitable<net::pooled_connection> client::acquire() const {
    error_code ec;
    diagnostics diag;
    auto c = co_await acquire(ec, diag);
    throw_on_error(ec, diag);
    co_return c;
}

asio::awaitable<net::pooled_connection> client::acquire(error_code& ec, diagnostics& diag) const {
    co_return co_await state_->pool->async_acquire(ec, diag);
}

void client::close() {
    if (state_ && state_->pool) state_->pool->close();
}

}  // namespace morm
