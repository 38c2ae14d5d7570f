// A tiny SOCKS5 proxy for tests (RFC 1928 CONNECT, RFC 1929 username/password): it listens
// on loopback, on its own thread, and relays each accepted connection to the address the
// client asks for. It records what clients asked (address type, host, port) so that a test
// can check that a host name reached the proxy unresolved.
//
//   morm_test::socks5_proxy proxy;                      // no authentication
//   morm_test::socks5_proxy strict("user", "secret");   // username/password required
//   auto uri = "mongodb://localhost:27017/?proxyHost=127.0.0.1&proxyPort=" + std::to_string(proxy.port());
//   proxy.requests();  // {{3, "localhost", 27017}, ...}
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace morm_test {

class socks5_proxy {
public:
    /// One CONNECT request as the proxy received it.
    struct request {
        std::uint8_t atyp = 0;  ///< 1 IPv4, 3 domain name, 4 IPv6
        std::string host;       ///< the name as sent, or the address in text
        std::uint16_t port = 0;
        bool operator==(const request&) const = default;
    };

    /// Without credentials: accepts "no authentication" only. With: requires them.
    explicit socks5_proxy(std::optional<std::string> user = std::nullopt, std::optional<std::string> pass = std::nullopt)
        : user_(std::move(user)), pass_(std::move(pass)),
          acceptor_(ioc_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~socks5_proxy() {
        ioc_.stop();
        thread_.join();
    }
    socks5_proxy(const socks5_proxy&) = delete;
    socks5_proxy& operator=(const socks5_proxy&) = delete;

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::vector<request> requests() const {
        std::lock_guard lk(mtx_);
        return requests_;
    }
    /// Handshakes refused (bad credentials, no acceptable method).
    std::size_t refusals() const {
        std::lock_guard lk(mtx_);
        return refusals_;
    }

private:
    using tcp = boost::asio::ip::tcp;
    static constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

    boost::asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [e, sock] = co_await acceptor_.async_accept(nothrow);
            if (e) co_return;
            auto s = std::make_shared<tcp::socket>(std::move(sock));
            boost::asio::co_spawn(ioc_, serve(s), boost::asio::detached);
        }
    }

    void refused() {
        std::lock_guard lk(mtx_);
        ++refusals_;
    }

    // Reads exactly n bytes into `out`; false on error.
    static boost::asio::awaitable<bool> read_n(tcp::socket& s, std::uint8_t* out, std::size_t n) {
        auto [e, got] = co_await boost::asio::async_read(s, boost::asio::buffer(out, n), nothrow);
        co_return !e;
    }
    static boost::asio::awaitable<bool> write_all(tcp::socket& s, const std::vector<std::uint8_t>& bytes) {
        auto [e, n] = co_await boost::asio::async_write(s, boost::asio::buffer(bytes), nothrow);
        co_return !e;
    }

    // Method negotiation and, if required, RFC 1929 authentication.
    boost::asio::awaitable<bool> negotiate(tcp::socket& c) {
        std::array<std::uint8_t, 257> buf{};
        if (!co_await read_n(c, buf.data(), 2) || buf[0] != 5) co_return false;
        const std::size_t nmethods = buf[1];
        if (!co_await read_n(c, buf.data(), nmethods)) co_return false;
        const std::uint8_t want = user_ ? 2 : 0;
        bool offered = false;
        for (std::size_t i = 0; i < nmethods; ++i) offered = offered || buf[i] == want;
        if (!offered) {
            refused();
            std::vector<std::uint8_t> no_method{5, 0xff};
            co_await write_all(c, no_method);
            co_return false;
        }
        std::vector<std::uint8_t> chosen{5, want};
        if (!co_await write_all(c, chosen)) co_return false;
        if (!user_) co_return true;
        if (!co_await read_n(c, buf.data(), 2) || buf[0] != 1) co_return false;
        std::string u(buf[1], '\0');
        if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(u.data()), u.size())) co_return false;
        if (!co_await read_n(c, buf.data(), 1)) co_return false;
        std::string p(buf[0], '\0');
        if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(p.data()), p.size())) co_return false;
        const bool ok = u == *user_ && p == *pass_;
        if (!ok) refused();
        std::vector<std::uint8_t> status{1, static_cast<std::uint8_t>(ok ? 0 : 1)};
        co_await write_all(c, status);
        co_return ok;
    }

    // The CONNECT request; nullopt on a malformed one.
    boost::asio::awaitable<std::optional<request>> read_request(tcp::socket& c) {
        std::array<std::uint8_t, 256> buf{};
        if (!co_await read_n(c, buf.data(), 4) || buf[0] != 5 || buf[1] != 1) co_return std::nullopt;
        request r;
        r.atyp = buf[3];
        if (r.atyp == 1 || r.atyp == 4) {
            const std::size_t n = r.atyp == 1 ? 4 : 16;
            if (!co_await read_n(c, buf.data(), n)) co_return std::nullopt;
            if (n == 4) {
                boost::asio::ip::address_v4::bytes_type b;
                std::copy_n(buf.begin(), 4, b.begin());
                r.host = boost::asio::ip::address_v4(b).to_string();
            } else {
                boost::asio::ip::address_v6::bytes_type b;
                std::copy_n(buf.begin(), 16, b.begin());
                r.host = boost::asio::ip::address_v6(b).to_string();
            }
        } else if (r.atyp == 3) {
            if (!co_await read_n(c, buf.data(), 1)) co_return std::nullopt;
            r.host.assign(buf[0], '\0');
            if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(r.host.data()), r.host.size()))
                co_return std::nullopt;
        } else {
            co_return std::nullopt;
        }
        if (!co_await read_n(c, buf.data(), 2)) co_return std::nullopt;
        r.port = static_cast<std::uint16_t>(buf[0] << 8 | buf[1]);
        co_return r;
    }

    boost::asio::awaitable<void> serve(std::shared_ptr<tcp::socket> c) {
        if (!co_await negotiate(*c)) co_return;
        auto r = co_await read_request(*c);
        if (!r) co_return;
        {
            std::lock_guard lk(mtx_);
            requests_.push_back(*r);
        }
        // The proxy, not the client, resolves the name.
        tcp::resolver resolver(ioc_);
        auto [re, results] = co_await resolver.async_resolve(r->host, std::to_string(r->port), nothrow);
        auto up = std::make_shared<tcp::socket>(ioc_);
        bool connected = false;
        if (!re) {
            auto [ce, ep] = co_await boost::asio::async_connect(*up, results, nothrow);
            connected = !ce;
        }
        // Reply: success (bound address 0.0.0.0:0) or "connection refused".
        std::vector<std::uint8_t> reply{5, static_cast<std::uint8_t>(connected ? 0 : 5), 0, 1, 0, 0, 0, 0, 0, 0};
        if (!co_await write_all(*c, reply) || !connected) co_return;
        using namespace boost::asio::experimental::awaitable_operators;
        co_await (pump(c, up) && pump(up, c));
    }

    static boost::asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
        std::array<std::uint8_t, 16384> buf{};
        for (;;) {
            auto [e, n] = co_await from->async_read_some(boost::asio::buffer(buf), nothrow);
            if (e) break;
            auto [we, wn] = co_await boost::asio::async_write(*to, boost::asio::buffer(buf.data(), n), nothrow);
            if (we) break;
        }
        boost::system::error_code ignored;
        to->shutdown(tcp::socket::shutdown_send, ignored);
        from->close(ignored);
    }

    std::optional<std::string> user_, pass_;
    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    mutable std::mutex mtx_;
    std::vector<request> requests_;
    std::size_t refusals_ = 0;
};

}  // namespace morm_test
