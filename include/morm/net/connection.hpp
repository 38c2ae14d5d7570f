// One connection to one server: connect (TCP, unix socket, TLS), handshake, SCRAM auth,
// and pipelined exchanges of OP_MSG frames.
//
// A connection is used by one logical operation at a time (it is checked out of a pool),
// and MongoDB executes the requests of one connection in order. Within one operation
// morm pipelines: all frames of a batch go out in a single write while a concurrent
// reader already consumes replies, each matched to its request by `responseTo`. So N
// requests are on the wire before the first reply is read, and a large reply can never
// deadlock against a large request.
//
// The socket I/O of every exchange (handshake and auth included) is done by the one
// driver, net/driver.hpp, running a sans-io algorithm from wire/algo/.
//
// All functions are coroutines on the connection's executor. A connection that hits a
// network error, a protocol error or a timeout mid-exchange is closed (`is_open()` turns
// false) because its stream position is unknown; every request of that exchange fails.
#pragma once

#include <morm/error.hpp>
#include <morm/uri.hpp>
#include <morm/wire/algo/frame_reader.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>

namespace morm::net {

namespace asio = boost::asio;

/// Where to connect: a TCP host (name or IP literal) and port, or a unix socket path.
struct endpoint {
    std::string host;
    std::uint16_t port = 27017;
    bool unix_socket = false;
    std::string to_string() const { return unix_socket ? host : host + ":" + std::to_string(port); }
};

struct tls_params {
    bool enabled = false;
    std::string ca_file;
    std::string certificate_key_file;
    std::string certificate_key_password;
    bool allow_invalid_certificates = false;
    bool allow_invalid_hostnames = false;
};

struct credentials {
    std::string username;
    std::string password;
    std::string source = "admin";
    std::string mechanism;  ///< "SCRAM-SHA-256", "SCRAM-SHA-1", or empty = negotiate
};

/// Called around every command (command monitoring). Events are synchronous callbacks on
/// the connection's executor; keep them cheap.
struct command_event {
    enum kind_t { started, succeeded, failed } kind = started;
    std::int32_t request_id = 0;
    std::string_view command_name;
    std::string_view database;
    const bson_t* document = nullptr;  ///< the command on `started`, the reply otherwise (may be null)
    std::chrono::nanoseconds duration{0};
    const diagnostics* failure = nullptr;
    std::string_view server;  ///< "host:port"
    std::uint64_t connection_id = 0;
};
using command_listener = std::function<void(const command_event&)>;

struct connection_params {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds socket_timeout{0};  ///< 0: no per-read deadline
    wire::hello_params hello;
    tls_params tls;
    std::optional<credentials> auth;
    std::shared_ptr<asio::ssl::context> ssl_context;  ///< built once per client from `tls`
    command_listener listener;                        ///< optional
    /// "ip:port" of a DNS server: host names are resolved through it (c-ares, net/dns.hpp)
    /// instead of the system resolver. Empty: the system resolver.
    std::string dns_server;
    /// SOCKS5 proxy (proxyHost...): TCP connections go through it, the server's host name
    /// sent unresolved (RFC 1928 ATYP 3; IP literals as ATYP 1/4), with RFC 1929
    /// username/password authentication when both are set. Unix sockets connect directly.
    std::optional<proxy_options> proxy;
    /// Called by the driver when a run on a connection ends in an error (network, timeout,
    /// protocol, or a server error): how the topology learns of application errors.
    std::function<void(const class connection&, const error_code&, const diagnostics&)> error_observer;
};

/// Builds an SSL context from tls_params (CA file, client certificate, verification mode).
std::shared_ptr<asio::ssl::context> make_ssl_context(const tls_params& p, error_code& ec, diagnostics& diag);

class connection {
public:
    using executor_type = asio::any_io_executor;

    explicit connection(executor_type ex);
    /// Tag of the socketless constructor below.
    struct unconnected_t {
        explicit unconnected_t() = default;
    };
    /// For tests of the pool (net/pool.hpp's opener) only: a connection to `remote` with no
    /// socket. It reports open until close() and does no I/O (an exchange on it fails).
    connection(executor_type ex, endpoint remote, unconnected_t);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    executor_type get_executor() const noexcept { return ex_; }

    /// Resolves, connects (trying every resolved address), runs TLS and the hello
    /// handshake, then authenticates when `params.auth` is set.
    asio::awaitable<void> async_connect(const endpoint& ep, const connection_params& params, error_code& ec,
                                        diagnostics& diag);

    /// Fresh request id for a frame about to be written into out_buffer().
    std::int32_t next_request_id() noexcept { return ++request_id_; }
    /// The request id counter, for algorithms that number their own frames.
    std::int32_t& request_id_counter() noexcept { return request_id_; }

    /// The buffer outgoing frames are encoded into; cleared by every exchange.
    wire::frame_buffer& out_buffer() noexcept { return out_; }

    /// Reply callback: index of the request within the exchange, the parsed reply.
    /// Return a non-empty error_code to abort the exchange (it then closes the connection
    /// only if replies are still outstanding).
    using reply_handler = std::function<void(std::size_t index, const wire::op_msg_view& reply)>;

    /// Pipelined exchange: writes every frame in out_buffer() (whose request ids are
    /// `request_ids`, in order) in one write, reading replies concurrently; calls
    /// `on_reply` once per request, in request order. `deadline` (0 = none) bounds the
    /// whole exchange. On failure `replies_done` tells how many replies were processed —
    /// the caller reports the rest as unacknowledged.
    asio::awaitable<void> async_exchange(std::span<const std::int32_t> request_ids, const reply_handler& on_reply,
                                         std::chrono::milliseconds deadline, error_code& ec, diagnostics& diag,
                                         std::size_t* replies_done = nullptr);

    /// Convenience: one command built by `build(body)` against database `db`; the reply
    /// body goes to `on_reply`. Checks ok:1 (server errors come back as errc::server_error).
    asio::awaitable<void> async_command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                        const std::function<void(const struct _bson_t*)>& on_reply,
                                        std::chrono::milliseconds deadline, error_code& ec, diagnostics& diag);

    const wire::server_description& server() const noexcept { return server_; }
    const endpoint& remote() const noexcept { return remote_; }
    std::uint64_t id() const noexcept { return id_; }
    /// The generation of the pool that made this connection (CMAP): errors on connections of
    /// an older generation are stale.
    std::uint64_t generation() const noexcept { return generation_; }
    void set_generation(std::uint64_t g) noexcept { generation_ = g; }
    /// The handshake (and authentication) completed: later errors are "after handshake".
    bool established() const noexcept { return established_; }
    bool is_open() const noexcept;
    /// Bytes arrived that no request asked for: a frame left in the read buffer after an
    /// exchange, or (plain TCP and unix sockets, and TLS records already decrypted) data
    /// readable while no request is in flight. Such a connection is out of step with the
    /// server (a second reply to one request would be taken as the answer to the next):
    /// the driver closes it after an exchange and a pool never hands it out.
    bool has_unsolicited_input() const noexcept;
    /// Closes the socket; in-flight operations complete with an error.
    void close() noexcept;

    std::chrono::steady_clock::time_point last_used() const noexcept { return last_used_; }
    const connection_params* params() const noexcept { return params_; }

    /// Emits a monitoring event; the driver calls it for the frames it sends and receives.
    void notify(const command_event& ev) const {
        if (params_ && params_->listener) params_->listener(ev);
    }

    /// Test hook: count of async_write calls and bytes written since connect.
    std::uint64_t writes_issued() const noexcept { return writes_; }

private:
    friend struct driver_access;  // the driver (net/driver.hpp) does all socket I/O
    struct streams;
    asio::awaitable<std::tuple<error_code, std::size_t>> raw_write(std::span<const std::uint8_t> bytes);
    asio::awaitable<std::tuple<error_code, std::size_t>> raw_read_some(std::span<std::uint8_t> into);

    executor_type ex_;
    std::unique_ptr<streams> s_;
    endpoint remote_;
    const connection_params* params_ = nullptr;
    wire::server_description server_;
    wire::frame_buffer out_;
    wire::algo::frame_reader in_;
    std::int32_t request_id_ = 0;
    std::uint64_t id_;
    std::uint64_t writes_ = 0;
    std::uint64_t generation_ = 0;
    bool established_ = false;
    std::chrono::steady_clock::time_point last_used_{};
    bool socketless_open_ = false;  // the unconnected_t constructor's open state
};

}  // namespace morm::net
