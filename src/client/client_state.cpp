// How one command reaches a server: selection (topology), a pooled connection, the session
// fields (lsid, $clusterTime), one retry for retryable reads, and the reply's cluster time.
#include <morm/client/client.hpp>
#include <morm/topology/sdam.hpp>

#include <fmt/format.h>

namespace morm::detail {

client_state::~client_state() {
    if (topo) topo->close();
}

std::shared_ptr<server_session> client_state::implicit_session() const {
    if (!topo) return nullptr;
    auto minutes = topo->logical_session_timeout();
    if (!minutes) return nullptr;
    return sessions->acquire(*minutes);
}

bool client_state::retryable_writes_on(const net::connection& conn) const {
    if (!uri.retry_writes) return false;
    const auto& sd = conn.server();
    // Standalone servers have no transaction table: a txnNumber is refused there.
    if (sd.set_name.empty() && !sd.is_mongos && !uri.load_balanced) return false;
    return sd.logical_session_timeout_minutes >= 0;
}

asio::awaitable<net::pooled_connection> client_state::checkout(bool for_write, const read_preference& rp,
                                                               error_code& ec, diagnostics& diag,
                                                               std::span<const std::string> deprioritized) {
    auto sel = co_await topo->async_select(for_write, rp, ec, diag, deprioritized);
    if (ec) co_return net::pooled_connection{};
    co_return co_await checkout(sel.server_pool(), ec, diag);
}

asio::awaitable<net::pooled_connection> client_state::checkout(const std::shared_ptr<net::pool>& p, error_code& ec,
                                                               diagnostics& diag) {
    const auto generation = p->generation();
    auto conn = co_await p->async_acquire(ec, diag);
    if (ec) topo->on_operation_error(p->target().to_string(), generation, true, ec, diag);
    co_return conn;
}

namespace {

bool retryable_read_error(const error_code& ec, const diagnostics& diag) {
    if (ec == errc::network || ec == errc::connection_closed || ec == errc::pool_timeout) return true;
    if (ec != errc::server_error) return false;
    switch (diag.server_code) {
        case 6: case 7: case 89: case 91: case 189: case 262: case 9001: case 10107: case 11600: case 11602:
        case 13435: case 13436: case 63: case 150: case 134: return true;
        default: return false;
    }
}

/// $readPreference for a read (server-selection.md, "Passing read preference to mongos and
/// load balancers" and OP_MSG): a direct connection to a replica-set member reads with
/// primaryPreferred so a secondary answers; otherwise a non-primary mode is sent as is.
void append_read_preference(bson_t* b, const read_preference& rp, const net::pooled_connection& conn,
                            topology::topology_type type) {
    if (bson_has_field(b, "$readPreference")) return;  // the command set its own (find)
    const auto& sd = conn->server();
    if (type == topology::topology_type::single && !sd.is_mongos) {
        if (sd.set_name.empty()) return;  // a standalone takes any read
        read_preference pp = rp;
        if (pp.mode == read_mode::primary) pp.mode = read_mode::primary_preferred;
        pp.append_to(b);
        return;
    }
    rp.append_to(b);
}

}  // namespace

asio::awaitable<void> client_state::command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                            const std::function<void(const struct _bson_t*)>& on_reply,
                                            const command_route& route, error_code& ec, diagnostics& diag) {
    const read_preference& rp = route.rp ? *route.rp : default_rp;
    std::vector<std::string> tried;
    const int attempts = route.retryable_read && uri.retry_reads && !route.pinned ? 2 : 1;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        ec.clear();
        diag.clear();
        // No co_await inside ?: (g++ 12 destroys such temporaries twice).
        net::pooled_connection conn;
        if (route.pinned) conn = co_await checkout(route.pinned, ec, diag);
        else conn = co_await checkout(route.write, rp, ec, diag, tried);
        if (!ec) {
            auto session = route.session ? route.session : implicit_session();
            const auto type = route.write ? topology::topology_type::unknown : topo->type();
            auto with_session = [&](bson_t* b) {
                build(b);
                if (!route.write) append_read_preference(b, rp, conn, type);
                if (session) session->append_lsid(b);
                clock.append_to(b);
            };
            auto observe = [&](const bson_t* r) {
                clock.observe(r);
                if (on_reply) on_reply(r);
            };
            co_await conn->async_command(db, with_session, observe, op_timeout, ec, diag);
            if (session && (ec == errc::network || ec == errc::connection_closed)) session->dirty = true;
            if (!ec && route.used_pool) *route.used_pool = conn.owner();
            if (!ec && route.used_session) *route.used_session = session;
            if (conn) tried.push_back(conn->remote().to_string());
        }
        if (!ec || !retryable_read_error(ec, diag)) co_return;
    }
}

asio::awaitable<void> client_state::command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                            const std::function<void(const struct _bson_t*)>& on_reply,
                                            error_code& ec, diagnostics& diag) {
    const command_route route;
    co_await command(db, build, on_reply, route, ec, diag);
}

asio::awaitable<void> client_state::command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                            const std::function<void(const struct _bson_t*)>& on_reply) {
    error_code ec;
    diagnostics diag;
    co_await command(db, build, on_reply, ec, diag);
    throw_on_error(ec, diag);
}

}  // namespace morm::detail
