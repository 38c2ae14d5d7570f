#include <morm/net/connection.hpp>
#include <morm/detail/text.hpp>
#include <morm/wire/reply.hpp>
#include <morm/wire/scram.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

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
}  // namespace

struct connection::streams {
    std::optional<tcp::socket> plain;
    std::optional<asio::local::stream_protocol::socket> local;
    std::optional<ssl::stream<tcp::socket>> tls;

    template <class Buffers>
    [[nodiscard]] asio::awaitable<std::tuple<error_code, std::size_t>> write(const Buffers& b) {
        if (tls) co_return co_await asio::async_write(*tls, b, nothrow);
        if (local) co_return co_await asio::async_write(*local, b, nothrow);
        co_return co_await asio::async_write(*plain, b, nothrow);
    }
    template <class Buffers>
    [[nodiscard]] asio::awaitable<std::tuple<error_code, std::size_t>> read_some(const Buffers& b) {
        if (tls) co_return co_await tls->async_read_some(b, nothrow);
        if (local) co_return co_await local->async_read_some(b, nothrow);
        co_return co_await plain->async_read_some(b, nothrow);
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

connection::~connection() = default;

bool connection::is_open() const noexcept { return s_->is_open(); }

void connection::close() noexcept { s_->close(); }

asio::awaitable<void> connection::async_connect(const endpoint& ep, const connection_params& params, error_code& ec,
                                                diagnostics& diag) {
    ec.clear();
    remote_ = ep;
    params_ = &params;
    in_.clear();
    in_begin_ = 0;
    asio::steady_timer timer(ex_);
    timer.expires_after(params.connect_timeout.count() > 0 ? params.connect_timeout : std::chrono::hours(24 * 365));

    auto do_connect = [&]() -> asio::awaitable<void> {
        if (ep.unix_socket) {
            s_->local.emplace(ex_);
            auto [e] = co_await s_->local->async_connect(asio::local::stream_protocol::endpoint(ep.host), nothrow);
            if (e) ec = net_error(diag, e, "connect to", ep);
            co_return;
        }
        tcp::resolver resolver(ex_);
        auto [re, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), nothrow);
        if (re) {
            ec = set_diag(diag, errc::network, fmt::format("cannot resolve '{}': {}", ep.host, re.message()));
            co_return;
        }
        tcp::socket sock(ex_);
        auto [ce, connected] = co_await asio::async_connect(sock, results, nothrow);
        if (ce) {
            ec = net_error(diag, ce, "connect to", ep);
            co_return;
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
    co_await handshake(ec, diag);
    if (!ec && params.auth) co_await authenticate(ec, diag);
    if (ec) close();
    last_used_ = std::chrono::steady_clock::now();
}

asio::awaitable<void> connection::handshake(error_code& ec, diagnostics& diag) {
    const auto deadline = params_->connect_timeout;
    co_await async_command(
        "admin", [&](bson_t* body) {
            wire::hello_params hp = params_->hello;
            if (params_->auth && params_->auth->mechanism.empty())
                hp.sasl_user = params_->auth->source + "." + params_->auth->username;
            // build_hello appends $db itself; async_command appends it too, so build without it.
            wire::build_hello(body, hp);
        },
        [&](const bson_t* reply) {
            diagnostics d;
            if (auto e = wire::parse_hello(reply, server_, d)) {
                ec = e;
                diag = std::move(d);
            }
        },
        deadline, ec, diag);
}

asio::awaitable<void> connection::authenticate(error_code& ec, diagnostics& diag) {
    const credentials& cr = *params_->auth;
    wire::scram_mechanism mech = wire::scram_mechanism::sha256;
    if (cr.mechanism == "SCRAM-SHA-1") {
        mech = wire::scram_mechanism::sha1;
    } else if (cr.mechanism.empty()) {
        // Negotiate: SHA-256 when the server lists it for this user (or lists nothing).
        auto& m = server_.sasl_supported_mechs;
        bool has256 = m.empty();
        for (auto& x : m) has256 = has256 || x == "SCRAM-SHA-256";
        if (!has256) mech = wire::scram_mechanism::sha1;
    } else if (cr.mechanism != "SCRAM-SHA-256") {
        ec = set_diag(diag, errc::not_supported,
                      fmt::format("authMechanism {} is not supported by morm (SCRAM-SHA-1/256 are)", cr.mechanism));
        co_return;
    }
    auto fail = [&](std::string why) {
        ec = set_diag(diag, errc::auth_failed,
                      fmt::format("authentication of user '{}' on '{}' with {} failed: {}", cr.username, cr.source,
                                  wire::scram_mechanism_name(mech), why));
    };
    wire::scram_client scram(mech, cr.username, cr.password);
    std::string first = scram.client_first();
    std::int32_t conversation_id = 0;
    std::string server_msg;
    bool done = false;
    auto read_payload = [&](const bson_t* reply) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, reply, "conversationId")) conversation_id = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        if (bson_iter_init_find(&it, reply, "done")) done = bson_iter_as_bool(&it);
        if (bson_iter_init_find(&it, reply, "payload") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_binary(&it, &st, &len, &data);
            server_msg.assign(reinterpret_cast<const char*>(data), len);
        } else {
            server_msg.clear();
        }
    };
    error_code e;
    diagnostics d;
    co_await async_command(
        cr.source,
        [&](bson_t* b) {
            BSON_APPEND_INT32(b, "saslStart", 1);
            auto name = wire::scram_mechanism_name(mech);
            bson_append_utf8(b, "mechanism", -1, name.data(), static_cast<int>(name.size()));
            bson_append_binary(b, "payload", -1, BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(first.data()),
                               static_cast<std::uint32_t>(first.size()));
            BSON_APPEND_BOOL(b, "autoAuthorize", true);
            bson_t opts;
            BSON_APPEND_DOCUMENT_BEGIN(b, "options", &opts);
            BSON_APPEND_BOOL(&opts, "skipEmptyExchange", true);
            bson_append_document_end(b, &opts);
        },
        read_payload, params_->connect_timeout, e, d);
    if (e) {
        if (e == errc::server_error) fail(d.message);
        else { ec = e; diag = d; }
        co_return;
    }
    std::string client_final;
    if (auto se = scram.handle_server_first(server_msg, client_final, d)) {
        fail(d.message);
        co_return;
    }
    for (int round = 0; round < 3 && !(done && round > 0); ++round) {
        const std::string& payload = round == 0 ? client_final : std::string();
        co_await async_command(
            cr.source,
            [&](bson_t* b) {
                BSON_APPEND_INT32(b, "saslContinue", 1);
                BSON_APPEND_INT32(b, "conversationId", conversation_id);
                bson_append_binary(b, "payload", -1, BSON_SUBTYPE_BINARY,
                                   reinterpret_cast<const std::uint8_t*>(payload.data()),
                                   static_cast<std::uint32_t>(payload.size()));
            },
            read_payload, params_->connect_timeout, e, d);
        if (e) {
            if (e == errc::server_error) fail(d.message);
            else { ec = e; diag = d; }
            co_return;
        }
        if (round == 0) {
            if (auto fe = scram.handle_server_final(server_msg, d)) {
                fail(d.message);
                co_return;
            }
        }
        if (done) co_return;
    }
    if (!done) fail("server did not finish the SASL conversation");
}

asio::awaitable<void> connection::write_all(error_code& ec) {
    ++writes_;
    auto [e, n] = co_await s_->write(asio::buffer(out_.data(), out_.size()));
    ec = e;
}

asio::awaitable<void> connection::read_some(error_code& ec) {
    // Keep the unread window at the front so the buffer does not grow without bound.
    if (in_begin_ > 0 && (in_begin_ == in_.size() || in_begin_ > in_.capacity() / 2)) {
        std::size_t rest = in_.size() - in_begin_;
        std::memmove(in_.data(), in_.data() + in_begin_, rest);
        in_.set_size_unchecked(rest);
        in_begin_ = 0;
    }
    std::size_t want = std::max<std::size_t>(64 * 1024, in_.capacity() - in_.size());
    std::size_t old = in_.size();
    in_.reserve(old + want);
    in_.set_size_unchecked(in_.capacity());
    auto buf = asio::buffer(in_.data() + old, in_.capacity() - old);
    std::tuple<error_code, std::size_t> r;
    if (params_ && params_->socket_timeout.count() > 0) {
        asio::steady_timer t(ex_);
        t.expires_after(params_->socket_timeout);
        auto v = co_await (s_->read_some(buf) || t.async_wait(asio::use_awaitable));
        if (v.index() == 1) r = {make_error_code(errc::timeout), 0};
        else r = std::get<0>(v);
    } else {
        r = co_await s_->read_some(buf);
    }
    auto [e, n] = r;
    in_.set_size_unchecked(old + n);
    ec = e;
}

asio::awaitable<void> connection::read_frame(std::span<const std::uint8_t>& frame, error_code& ec, diagnostics& diag) {
    const std::int32_t max_size = server_.max_message_size_bytes > 0 ? server_.max_message_size_bytes
                                                                      : wire::default_max_message_size;
    auto read_error = [&](const error_code& e, std::string_view what) {
        if (e == errc::timeout)
            return set_diag(diag, errc::timeout, fmt::format("{} {} timed out after {} ms", what, remote_.to_string(),
                                                             params_->socket_timeout.count()));
        return net_error(diag, e, what, remote_);
    };
    while (in_.size() - in_begin_ < wire::header_size) {
        error_code e;
        co_await read_some(e);
        if (e) {
            ec = read_error(e, "read from");
            co_return;
        }
    }
    wire::message_header h;
    if (auto e = wire::parse_header(std::span<const std::uint8_t, wire::header_size>(in_.data() + in_begin_,
                                                                                     wire::header_size),
                                    h, max_size, diag)) {
        ec = e;
        co_return;
    }
    const auto len = static_cast<std::size_t>(h.message_length);
    in_.reserve(in_begin_ + len);
    while (in_.size() - in_begin_ < len) {
        error_code e;
        co_await read_some(e);
        if (e) {
            ec = read_error(e, "read from (mid-reply)");
            co_return;
        }
    }
    frame = {in_.data() + in_begin_, len};
    in_begin_ += len;
}

asio::awaitable<void> connection::async_exchange(std::span<const std::int32_t> request_ids,
                                                 const reply_handler& on_reply, std::chrono::milliseconds deadline,
                                                 error_code& ec, diagnostics& diag, std::size_t* replies_done) {
    ec.clear();
    std::size_t done = 0;
    if (replies_done) *replies_done = 0;
    if (!is_open()) {
        ec = set_diag(diag, errc::connection_closed, fmt::format("connection to {} is closed", remote_.to_string()));
        co_return;
    }
    error_code wec, rec;
    diagnostics rdiag;
    auto writer = [&]() -> asio::awaitable<void> {
        co_await write_all(wec);
        if (wec) close();  // wakes the reader
    };
    auto reader = [&]() -> asio::awaitable<void> {
        for (; done < request_ids.size(); ++done) {
            std::span<const std::uint8_t> frame;
            co_await read_frame(frame, rec, rdiag);
            if (rec) break;
            wire::op_msg_view msg;
            if (auto e = wire::parse_op_msg(frame, msg, rdiag)) {
                rec = e;
                break;
            }
            if (msg.header.response_to != request_ids[done]) {
                rec = set_diag(rdiag, errc::protocol,
                               fmt::format("reply responseTo {} does not match request {}", msg.header.response_to,
                                           request_ids[done]));
                break;
            }
            if (msg.more_to_come()) {
                rec = set_diag(rdiag, errc::protocol, "unexpected moreToCome reply");
                break;
            }
            on_reply(done, msg);
        }
        if (rec) close();  // stream position unknown: never reuse
    };
    if (deadline.count() > 0) {
        asio::steady_timer timer(ex_);
        timer.expires_after(deadline);
        auto r = co_await ((writer() && reader()) || timer.async_wait(asio::use_awaitable));
        if (r.index() == 1) {
            close();
            ec = set_diag(diag, errc::timeout,
                          fmt::format("operation on {} timed out after {} ms ({} of {} replies received)",
                                      remote_.to_string(), deadline.count(), done, request_ids.size()));
        }
    } else {
        co_await (writer() && reader());
    }
    if (replies_done) *replies_done = done;
    last_used_ = std::chrono::steady_clock::now();
    out_.clear();
    if (ec) co_return;
    if (rec) {
        ec = rec;
        diag = std::move(rdiag);
    } else if (wec) {
        ec = net_error(diag, wec, "write to", remote_);
    }
}

asio::awaitable<void> connection::async_command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                                const std::function<void(const struct _bson_t*)>& on_reply,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag) {
    if (!morm::detail::valid_text(db)) {
        // Cut short at the NUL by the server, the name would be another database.
        ec = set_diag(diag, errc::invalid_argument, "the database name is not valid UTF-8 or contains NUL; nothing was sent");
        co_return;
    }
    out_.clear();
    std::int32_t rid = next_request_id();
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
    // Monitoring: the command name is the first key of the body.
    std::string_view name;
    bson_t cmd;
    const bool listening = params_ && params_->listener;
    std::chrono::steady_clock::time_point t0;
    std::string server = remote_.to_string();
    if (listening) {
        bson_init_static(&cmd, out_.data() + wire::header_size + 5, out_.size() - wire::header_size - 5);
        bson_iter_t it;
        if (bson_iter_init(&it, &cmd) && bson_iter_next(&it)) name = bson_iter_key(&it);
        command_event ev{command_event::started, rid, name, db, &cmd, {}, nullptr, server, id_};
        params_->listener(ev);
        t0 = std::chrono::steady_clock::now();
    }
    std::string name_copy(name);  // out_ is cleared by the exchange
    error_code cec;
    diagnostics cdiag;
    co_await async_exchange(
        std::span<const std::int32_t>(&rid, 1),
        [&](std::size_t, const wire::op_msg_view& reply) {
            if (auto e = wire::check_command_reply(&reply.body, cdiag)) {
                cec = e;
            } else if (on_reply) {
                on_reply(&reply.body);
            }
            if (listening) {
                command_event ev{cec ? command_event::failed : command_event::succeeded, rid, name_copy, db,
                                 &reply.body, std::chrono::steady_clock::now() - t0, cec ? &cdiag : nullptr, server,
                                 id_};
                params_->listener(ev);
            }
        },
        deadline, ec, diag);
    if (ec) {
        if (listening) {
            command_event ev{command_event::failed, rid, name_copy, db, nullptr, std::chrono::steady_clock::now() - t0,
                             &diag, server, id_};
            params_->listener(ev);
        }
        co_return;
    }
    if (cec) {
        ec = cec;
        diag = std::move(cdiag);
    }
}

}  // namespace morm::net
