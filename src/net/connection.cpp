#include <morm/detail/text.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/dns.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/command_exchange.hpp>
#include <morm/wire/algo/handshake.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <variant>

namespace morm::net {

using namespace boost::asio::experimental::awaitable_operators;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
std::atomic<std::uint64_t> next_connection_id{0};

[[nodiscard]] error_code set_diag(diagnostics& diag, errc e, std::string msg) {
    diag.clear();
    diag.message = std::move(msg);
    return make_error_code(e);
}

/// Maps socket-level errors to morm codes, keeping the system message in diagnostics.
[[nodiscard]] error_code net_error(diagnostics& diag, const error_code& ec, std::string_view what, const endpoint& ep) {
    if (ec == asio::error::operation_aborted)
        return set_diag(diag, errc::timeout, fmt::format("{} {}: timed out or cancelled", what, ep.to_string()));
    if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        return set_diag(diag, errc::connection_closed,
                        fmt::format("{} {}: connection closed by the server ({})", what, ep.to_string(), ec.message()));
    return set_diag(diag, errc::network, fmt::format("{} {}: {}", what, ep.to_string(), ec.message()));
}

/// The addresses of ep: through params.dns_server when one is set, else the system resolver.
asio::awaitable<std::vector<tcp::endpoint>> resolve(asio::any_io_executor ex, const endpoint& ep,
                                                    const connection_params& params, error_code& ec,
                                                    diagnostics& diag) {
    std::vector<tcp::endpoint> out;
    if (params.dns_server.empty()) {
        tcp::resolver resolver(ex);
        auto [re, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), nothrow);
        if (re) ec = set_diag(diag, errc::network, fmt::format("cannot resolve '{}': {}", ep.host, re.message()));
        for (auto& r : results) out.push_back(r.endpoint());
        co_return out;
    }
    error_code not_literal;
    if (auto addr = asio::ip::make_address(ep.host, not_literal); !not_literal) {
        out.emplace_back(addr, ep.port);
        co_return out;
    }
    dns_options opts;
    opts.server = params.dns_server;
    if (params.connect_timeout.count() > 0) opts.timeout = params.connect_timeout;
    auto addrs = co_await async_lookup_a(ep.host, opts, ec, diag);
    for (auto& a : addrs) out.emplace_back(a, ep.port);
    co_return out;
}
/// RFC 1928 reply codes.
std::string_view socks5_reply_text(std::uint8_t rep) {
    switch (rep) {
    case 1: return "general SOCKS server failure";
    case 2: return "connection not allowed by ruleset";
    case 3: return "network unreachable";
    case 4: return "host unreachable";
    case 5: return "connection refused";
    case 6: return "TTL expired";
    case 7: return "command not supported";
    case 8: return "address type not supported";
    default: return "unknown reply code";
    }
}

/// The SOCKS5 CONNECT request for `ep`: an IP literal as such, a name unresolved (ATYP 3).
std::vector<std::uint8_t> socks5_connect_request(const endpoint& ep) {
    std::vector<std::uint8_t> req{5, 1, 0};
    error_code not_literal;
    const auto addr = asio::ip::make_address(ep.host, not_literal);
    if (!not_literal && addr.is_v4()) {
        req.push_back(1);
        for (auto b : addr.to_v4().to_bytes()) req.push_back(b);
    } else if (!not_literal) {
        req.push_back(4);
        for (auto b : addr.to_v6().to_bytes()) req.push_back(b);
    } else {
        req.push_back(3);
        req.push_back(static_cast<std::uint8_t>(ep.host.size()));
        req.insert(req.end(), ep.host.begin(), ep.host.end());
    }
    req.push_back(static_cast<std::uint8_t>(ep.port >> 8));
    req.push_back(static_cast<std::uint8_t>(ep.port & 0xff));
    return req;
}

/// Asks the proxy connected on `sock` to connect to `ep` (RFC 1928, RFC 1929). Failures are
/// network errors (socks5.md: like a refused connection), naming the proxy and the reason.
asio::awaitable<void> socks5_handshake(tcp::socket& sock, const endpoint& ep, const proxy_options& px,
                                       error_code& ec, diagnostics& diag) {
    const std::string where = fmt::format("SOCKS5 proxy {}:{} (to {})", px.host, px.port, ep.to_string());
    auto fail = [&](std::string why) { ec = set_diag(diag, errc::network, fmt::format("{}: {}", where, why)); };
    auto io_fail = [&](const error_code& e) { fail(e == asio::error::eof ? "closed the connection" : e.message()); };
    if (ep.host.size() > 255) {
        fail("the host name is longer than 255 bytes");
        co_return;
    }
    const bool creds = px.username && px.password;
    std::vector<std::uint8_t> hello = creds ? std::vector<std::uint8_t>{5, 2, 0, 2} : std::vector<std::uint8_t>{5, 1, 0};
    std::array<std::uint8_t, 2> choice{};
    auto [we, wn] = co_await asio::async_write(sock, asio::buffer(hello), nothrow);
    if (we) co_return io_fail(we);
    auto [re, rn] = co_await asio::async_read(sock, asio::buffer(choice), nothrow);
    if (re) co_return io_fail(re);
    if (choice[0] != 5) co_return fail("not a SOCKS5 server");
    if (choice[1] == 2 && creds) {
        std::vector<std::uint8_t> auth{1, static_cast<std::uint8_t>(px.username->size())};
        auth.insert(auth.end(), px.username->begin(), px.username->end());
        auth.push_back(static_cast<std::uint8_t>(px.password->size()));
        auth.insert(auth.end(), px.password->begin(), px.password->end());
        std::array<std::uint8_t, 2> status{};
        auto [ae, an] = co_await asio::async_write(sock, asio::buffer(auth), nothrow);
        if (ae) co_return io_fail(ae);
        auto [se, sn] = co_await asio::async_read(sock, asio::buffer(status), nothrow);
        if (se) co_return io_fail(se);
        // The user name may appear; the password never does.
        if (status[1] != 0) co_return fail(fmt::format("authentication as '{}' was refused", *px.username));
    } else if (choice[1] != 0) {
        co_return fail(creds ? "accepts neither no authentication nor username/password"
                             : "requires authentication (set proxyUsername and proxyPassword)");
    }
    const auto req = socks5_connect_request(ep);
    std::array<std::uint8_t, 5> head{};  // VER REP RSV ATYP and the first address byte
    auto [ce, cn] = co_await asio::async_write(sock, asio::buffer(req), nothrow);
    if (ce) co_return io_fail(ce);
    auto [he, hn] = co_await asio::async_read(sock, asio::buffer(head), nothrow);
    if (he) co_return io_fail(he);
    if (head[0] != 5) co_return fail("not a SOCKS5 reply");
    if (head[1] != 0) co_return fail(std::string(socks5_reply_text(head[1])));
    // The rest of the bound address and the port, which the client does not need.
    const std::size_t rest = head[3] == 1 ? 4 - 1 + 2 : head[3] == 4 ? 16 - 1 + 2 : head[3] == 3 ? head[4] + 2u : 0;
    if (rest == 0) co_return fail("bad address type in the reply");
    std::array<std::uint8_t, 258> skip{};
    auto [ke, kn] = co_await asio::async_read(sock, asio::buffer(skip.data(), rest), nothrow);
    if (ke) co_return io_fail(ke);
}
}  // namespace

struct connection::streams {
    std::optional<tcp::socket> plain;
    std::optional<asio::local::stream_protocol::socket> local;
    std::optional<ssl::stream<tcp::socket>> tls;

    template <class Buffers>
    [[nodiscard]] asio::awaitable<std::tuple<error_code, std::size_t>> write(const Buffers& b) {
        if (tls) co_return co_await asio::async_write(*tls, b, nothrow);
        if (local) co_return co_await asio::async_write(*local, b, nothrow);
        if (!plain) co_return std::tuple<error_code, std::size_t>{asio::error::not_connected, 0};  // socketless
        co_return co_await asio::async_write(*plain, b, nothrow);
    }
    template <class Buffers>
    [[nodiscard]] asio::awaitable<std::tuple<error_code, std::size_t>> read_some(const Buffers& b) {
        if (tls) co_return co_await tls->async_read_some(b, nothrow);
        if (local) co_return co_await local->async_read_some(b, nothrow);
        if (!plain) co_return std::tuple<error_code, std::size_t>{asio::error::not_connected, 0};  // socketless
        co_return co_await plain->async_read_some(b, nothrow);
    }
    /// Bytes readable now without blocking. TLS: only records OpenSSL already decrypted;
    /// raw bytes may be a TLS 1.3 session ticket, which is no reply.
    std::size_t readable() const {
        error_code ignored;
        if (tls) {
            const int n = SSL_pending(const_cast<ssl::stream<tcp::socket>&>(*tls).native_handle());
            return n > 0 ? static_cast<std::size_t>(n) : 0;
        }
        if (local && local->is_open()) return local->available(ignored);
        if (plain && plain->is_open()) return plain->available(ignored);
        return 0;
    }
    bool is_open() const {
        if (tls) return tls->lowest_layer().is_open();
        if (local) return local->is_open();
        return plain && plain->is_open();
    }
    void close() {
        error_code ignored;
        if (tls) {
            tls->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
            tls->lowest_layer().close(ignored);
        }
        if (local) local->close(ignored);
        if (plain) {
            plain->shutdown(tcp::socket::shutdown_both, ignored);
            plain->close(ignored);
        }
    }
};

std::shared_ptr<ssl::context> make_ssl_context(const tls_params& p, error_code& ec, diagnostics& diag) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1 | ssl::context::default_workarounds);
    if (!p.ca_file.empty()) {
        ctx->load_verify_file(p.ca_file, ec);
        if (ec) {
            ec = set_diag(diag, errc::tls_error, fmt::format("cannot load tlsCAFile '{}': {}", p.ca_file, ec.message()));
            return nullptr;
        }
    } else {
        ctx->set_default_verify_paths(ec);
        ec.clear();
    }
    if (!p.certificate_key_file.empty()) {
        if (!p.certificate_key_password.empty()) {
            std::string pw = p.certificate_key_password;
            ctx->set_password_callback([pw](std::size_t, ssl::context::password_purpose) { return pw; });
        }
        ctx->use_certificate_chain_file(p.certificate_key_file, ec);
        if (!ec) ctx->use_private_key_file(p.certificate_key_file, ssl::context::pem, ec);
        if (ec) {
            ec = set_diag(diag, errc::tls_error,
                          fmt::format("cannot load tlsCertificateKeyFile '{}': {}", p.certificate_key_file, ec.message()));
            return nullptr;
        }
    }
    ctx->set_verify_mode(p.allow_invalid_certificates ? ssl::verify_none : ssl::verify_peer);
    return ctx;
}

connection::connection(executor_type ex) : ex_(std::move(ex)), s_(std::make_unique<streams>()), id_(++next_connection_id) {}

connection::connection(executor_type ex, endpoint remote, unconnected_t) : connection(std::move(ex)) {
    remote_ = std::move(remote);
    socketless_open_ = true;
    last_used_ = std::chrono::steady_clock::now();
}

connection::~connection() = default;

bool connection::is_open() const noexcept { return socketless_open_ || s_->is_open(); }

bool connection::has_unsolicited_input() const noexcept {
    if (!is_open()) return false;
    return in_.buffered() > 0 || s_->readable() > 0;
}

void connection::close() noexcept {
    socketless_open_ = false;
    s_->close();
}

asio::awaitable<void> connection::async_connect(const endpoint& ep, const connection_params& params, error_code& ec,
                                                diagnostics& diag) {
    ec.clear();
    remote_ = ep;
    params_ = &params;
    in_.reset();
    asio::steady_timer timer(ex_);
    timer.expires_after(params.connect_timeout.count() > 0 ? params.connect_timeout : std::chrono::hours(24 * 365));

    auto do_connect = [&]() -> asio::awaitable<void> {
        if (ep.unix_socket) {
            s_->local.emplace(ex_);
            auto [e] = co_await s_->local->async_connect(asio::local::stream_protocol::endpoint(ep.host), nothrow);
            if (e) ec = net_error(diag, e, "connect to", ep);
            co_return;
        }
        // Through a proxy, only the proxy's name is resolved here; the server's goes to it.
        const endpoint proxy_ep = params.proxy ? endpoint{params.proxy->host, params.proxy->port, false} : ep;
        auto results = co_await resolve(ex_, proxy_ep, params, ec, diag);
        if (ec) co_return;
        tcp::socket sock(ex_);
        auto [ce, connected] = co_await asio::async_connect(sock, results, nothrow);
        if (ce) {
            ec = net_error(diag, ce, params.proxy ? "connect to the SOCKS5 proxy" : "connect to", proxy_ep);
            co_return;
        }
        if (params.proxy) {
            co_await socks5_handshake(sock, ep, *params.proxy, ec, diag);
            if (ec) co_return;
        }
        sock.set_option(tcp::no_delay(true));
        if (params.tls.enabled) {
            if (!params.ssl_context) {
                ec = set_diag(diag, errc::tls_error, "tls=true but no SSL context was configured");
                co_return;
            }
            s_->tls.emplace(std::move(sock), *params.ssl_context);
            if (!params.tls.allow_invalid_hostnames && !params.tls.allow_invalid_certificates)
                s_->tls->set_verify_callback(ssl::host_name_verification(ep.host));
            SSL_set_tlsext_host_name(s_->tls->native_handle(), ep.host.c_str());
            auto [he] = co_await s_->tls->async_handshake(ssl::stream_base::client, nothrow);
            if (he) {
                ec = set_diag(diag, errc::tls_error,
                              fmt::format("TLS handshake with {} failed: {}", ep.to_string(), he.message()));
                co_return;
            }
        } else {
            s_->plain.emplace(std::move(sock));
        }
    };

    auto r = co_await (do_connect() || timer.async_wait(asio::use_awaitable));
    if (r.index() == 1) {
        close();
        ec = set_diag(diag, errc::timeout,
                      fmt::format("connect to {} timed out after {} ms", ep.to_string(), params.connect_timeout.count()));
        co_return;
    }
    if (ec) {
        close();
        co_return;
    }
    wire::algo::handshake_params hp;
    hp.hello = params.hello;
    if (params.auth)
        hp.auth = wire::algo::auth_params{params.auth->username, params.auth->password, params.auth->source,
                                          params.auth->mechanism};
    wire::algo::handshake_algo hs(hp, out_, request_id_, server_);
    co_await async_run(*this, hs, params.connect_timeout, ec, diag);
    out_.clear();
    if (ec) close();
    established_ = !ec;
    last_used_ = std::chrono::steady_clock::now();
}

asio::awaitable<std::tuple<error_code, std::size_t>> connection::raw_write(std::span<const std::uint8_t> bytes) {
    co_return co_await s_->write(asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::tuple<error_code, std::size_t>> connection::raw_read_some(std::span<std::uint8_t> into) {
    co_return co_await s_->read_some(asio::buffer(into.data(), into.size()));
}

asio::awaitable<void> connection::async_exchange(std::span<const std::int32_t> request_ids,
                                                 const reply_handler& on_reply, std::chrono::milliseconds deadline,
                                                 error_code& ec, diagnostics& diag, std::size_t* replies_done) {
    ec.clear();
    if (replies_done) *replies_done = 0;
    if (!is_open()) {
        out_.clear();
        ec = set_diag(diag, errc::connection_closed, fmt::format("connection to {} is closed", remote_.to_string()));
        co_return;
    }
    wire::algo::exchange_algo algo({out_.data(), out_.size()}, request_ids, on_reply);
    co_await async_run(*this, algo, deadline, ec, diag);
    if (replies_done) *replies_done = algo.replies_done();
    out_.clear();
}

asio::awaitable<void> connection::async_command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                                const std::function<void(const struct _bson_t*)>& on_reply,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag) {
    ec.clear();
    if (!morm::detail::valid_text(db)) {
        // Cut short at the NUL by the server, the name would be another database.
        ec = set_diag(diag, errc::invalid_argument, "the database name is not valid UTF-8 or contains NUL; nothing was sent");
        co_return;
    }
    out_.clear();
    const std::int32_t rid = next_request_id();
    {
        wire::op_msg_writer w(out_, rid);
        bson_t* body = w.begin_body();
        build(body);  // throws (before any I/O) when the caller's data cannot be appended
        bson_iter_t probe;
        if (!bson_iter_init_find(&probe, body, "$db") &&
            !bson_append_utf8(body, "$db", 3, db.data(), static_cast<int>(db.size()))) {
            w.abandon();
            ec = set_diag(diag, errc::invalid_argument, "the command cannot hold $db; nothing was sent");
            co_return;
        }
        w.end_body();
        w.finish();
    }
    if (!is_open()) {
        out_.clear();
        ec = set_diag(diag, errc::connection_closed, fmt::format("connection to {} is closed", remote_.to_string()));
        co_return;
    }
    wire::algo::command_algo algo({out_.data(), out_.size()}, rid, &on_reply);
    co_await async_run(*this, algo, deadline, ec, diag);
    out_.clear();
}

}  // namespace morm::net
