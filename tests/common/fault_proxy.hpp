// A small TCP proxy for fault-injection tests: sits between the client under test and
// the real server and, on command, holds back, cuts, corrupts or stalls the server's
// replies. It runs its own io_context on its own thread, so a test can stall the proxy
// without stalling the client it is testing.
//
// Rules apply to traffic after `arm()`: counters (client frames seen, reply bytes
// forwarded) restart at zero on every connection, so a test connects through the proxy
// in pass-through mode, then arms a fault for the next operation only.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdint>
#include <cstring>
#include <future>
#include <iterator>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace morm_test {

namespace fp_asio = boost::asio;

struct fault_rules {
    /// Withhold every server->client byte until this many complete client->server frames
    /// have been seen since arm() (0 = off).
    std::size_t hold_until_frames = 0;
    /// Close both sides after forwarding this many reply bytes (unset = off).
    std::optional<std::size_t> cut_after_bytes;
    /// Overwrite the reply byte at this offset (counted since arm()) with `corrupt_value`.
    std::optional<std::size_t> corrupt_at;
    std::uint8_t corrupt_value = 0xFF;
    /// Stop forwarding replies altogether (sockets stay open).
    bool stall = false;
};

class fault_proxy {
public:
    fault_proxy(std::string upstream_host, std::uint16_t upstream_port)
        : up_host_(std::move(upstream_host)), up_port_(upstream_port), acceptor_(ioc_) {
        using fp_asio::ip::tcp;
        tcp::endpoint ep(fp_asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        fp_asio::co_spawn(ioc_, accept_loop(), fp_asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;
    ~fault_proxy() {
        on_proxy([this] {
            error_code_t ignored;
            acceptor_.close(ignored);
            for (auto& c : conns_) c->shutdown();
            ioc_.stop();
        });
        thread_.join();
    }

    std::uint16_t port() const noexcept { return port_; }
    std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }

    /// Installs `r` and restarts every connection's counters at zero.
    void arm(const fault_rules& r) {
        on_proxy([this, r] {
            rules_ = r;
            for (auto& c : conns_) {
                c->frames_seen = 0;
                c->reply_bytes = 0;
                c->wake();
            }
        });
    }
    /// Back to pass-through (held bytes are released).
    void disarm() { arm(fault_rules{}); }

    /// Cuts one live connection at once (the `pick % open`-th), both sides, mid-stream if
    /// traffic is in flight: what a reset by a middlebox looks like. False if none was open.
    bool cut_one(std::size_t pick = 0) {
        bool cut = false;
        on_proxy([&] {
            if (conns_.empty()) return;
            auto c = *std::next(conns_.begin(), static_cast<std::ptrdiff_t>(pick % conns_.size()));
            forget(c);
            cut = true;
        });
        return cut;
    }

    /// Connections accepted so far.
    std::size_t accepted() {
        std::size_t n = 0;
        on_proxy([&] { n = accepted_; });
        return n;
    }
    /// Complete reply frames forwarded to the client, per connection, sizes in order
    /// (all connections together, in forwarding order).
    std::vector<std::size_t> reply_frame_sizes() {
        std::vector<std::size_t> v;
        on_proxy([&] { v = reply_sizes_; });
        return v;
    }
    void clear_reply_frame_sizes() {
        on_proxy([&] { reply_sizes_.clear(); });
    }

private:
    using error_code_t = boost::system::error_code;
    using tcp = fp_asio::ip::tcp;

    // Tracks frame boundaries in a byte stream from the messageLength prefixes.
    struct frame_counter {
        std::uint8_t len_bytes[4] = {};
        std::size_t have_len = 0;
        std::size_t remaining = 0;  // bytes left in the current frame after its length
        std::size_t frame_len = 0;
        // Feeds bytes; calls on_frame(len) for each completed frame.
        template <class F>
        void feed(const std::uint8_t* p, std::size_t n, F&& on_frame) {
            while (n > 0) {
                if (have_len < 4) {
                    len_bytes[have_len++] = *p++;
                    --n;
                    if (have_len == 4) {
                        std::uint32_t u = std::uint32_t(len_bytes[0]) | std::uint32_t(len_bytes[1]) << 8 |
                                          std::uint32_t(len_bytes[2]) << 16 | std::uint32_t(len_bytes[3]) << 24;
                        frame_len = u;
                        remaining = u >= 4 ? u - 4 : 0;
                        if (remaining == 0) {
                            on_frame(frame_len);
                            have_len = 0;
                        }
                    }
                    continue;
                }
                std::size_t k = std::min(n, remaining);
                p += k;
                n -= k;
                remaining -= k;
                if (remaining == 0) {
                    on_frame(frame_len);
                    have_len = 0;
                }
            }
        }
    };

    struct conn : std::enable_shared_from_this<conn> {
        explicit conn(fp_asio::io_context& ioc) : client(ioc), server(ioc), signal(ioc) {
            signal.expires_at(fp_asio::steady_timer::time_point::max());
        }
        tcp::socket client;
        tcp::socket server;
        fp_asio::steady_timer signal;  // cancelled to wake a waiting reply pump
        std::size_t frames_seen = 0;
        std::size_t reply_bytes = 0;
        frame_counter reply_frames;
        bool dead = false;
        void wake() { signal.cancel(); }
        void shutdown() {
            dead = true;
            error_code_t ignored;
            client.shutdown(tcp::socket::shutdown_both, ignored);
            client.close(ignored);
            server.shutdown(tcp::socket::shutdown_both, ignored);
            server.close(ignored);
            signal.cancel();
        }
    };

    template <class F>
    void on_proxy(F&& f) {
        if (thread_.get_id() == std::this_thread::get_id()) {
            f();
            return;
        }
        std::promise<void> done;
        fp_asio::post(ioc_, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }

    fp_asio::awaitable<void> accept_loop() {
        constexpr auto nothrow = fp_asio::as_tuple(fp_asio::use_awaitable);
        for (;;) {
            auto c = std::make_shared<conn>(ioc_);
            auto [e] = co_await acceptor_.async_accept(c->client, nothrow);
            if (e) co_return;
            ++accepted_;
            c->client.set_option(tcp::no_delay(true));
            tcp::endpoint up(fp_asio::ip::make_address(up_host_ == "localhost" ? "127.0.0.1" : up_host_), up_port_);
            auto [ce] = co_await c->server.async_connect(up, nothrow);
            if (ce) {
                c->shutdown();
                continue;
            }
            c->server.set_option(tcp::no_delay(true));
            conns_.push_back(c);
            fp_asio::co_spawn(ioc_, client_to_server(c), fp_asio::detached);
            fp_asio::co_spawn(ioc_, server_to_client(c), fp_asio::detached);
        }
    }

    void forget(const std::shared_ptr<conn>& c) {
        c->shutdown();
        conns_.remove(c);
    }

    fp_asio::awaitable<void> client_to_server(std::shared_ptr<conn> c) {
        constexpr auto nothrow = fp_asio::as_tuple(fp_asio::use_awaitable);
        std::vector<std::uint8_t> buf(64 * 1024);
        frame_counter fc;
        for (;;) {
            auto [e, n] = co_await c->client.async_read_some(fp_asio::buffer(buf), nothrow);
            if (e) break;
            fc.feed(buf.data(), n, [&](std::size_t) { ++c->frames_seen; });
            c->wake();
            auto [we, wn] = co_await fp_asio::async_write(c->server, fp_asio::buffer(buf.data(), n), nothrow);
            if (we) break;
        }
        forget(c);
    }

    bool holding(const conn& c) const {
        return rules_.stall || (rules_.hold_until_frames > 0 && c.frames_seen < rules_.hold_until_frames);
    }

    fp_asio::awaitable<void> server_to_client(std::shared_ptr<conn> c) {
        constexpr auto nothrow = fp_asio::as_tuple(fp_asio::use_awaitable);
        std::vector<std::uint8_t> buf(64 * 1024);
        std::vector<std::uint8_t> pending;  // read from the server, not yet forwarded
        bool server_open = true;
        auto wait_for_signal = [&]() -> fp_asio::awaitable<void> {
            c->signal.expires_at(fp_asio::steady_timer::time_point::max());
            co_await c->signal.async_wait(nothrow);
        };
        for (;;) {
            if (c->dead) break;
            const bool hold = holding(*c);
            if (!hold && !pending.empty()) {
                std::size_t n = pending.size();
                bool cut = false;
                if (rules_.cut_after_bytes) {
                    std::size_t limit = *rules_.cut_after_bytes;
                    std::size_t left = limit > c->reply_bytes ? limit - c->reply_bytes : 0;
                    if (n >= left) {
                        n = left;
                        cut = true;
                    }
                }
                if (rules_.corrupt_at && *rules_.corrupt_at >= c->reply_bytes &&
                    *rules_.corrupt_at < c->reply_bytes + n)
                    pending[*rules_.corrupt_at - c->reply_bytes] = rules_.corrupt_value;
                if (n > 0) {
                    c->reply_frames.feed(pending.data(), n, [&](std::size_t len) { reply_sizes_.push_back(len); });
                    // Count before writing: the client may see the bytes (and the test re-arm,
                    // resetting the counter) before this coroutine resumes.
                    c->reply_bytes += n;
                    auto [we, wn] =
                        co_await fp_asio::async_write(c->client, fp_asio::buffer(pending.data(), n), nothrow);
                    if (we) break;
                    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
                }
                if (cut) break;
                continue;
            }
            if (!server_open) {
                if (pending.empty()) break;
                co_await wait_for_signal();  // held bytes wait for release or shutdown
                continue;
            }
            if (hold && !pending.empty()) {
                co_await wait_for_signal();
                continue;
            }
            auto [e, n] = co_await c->server.async_read_some(fp_asio::buffer(buf), nothrow);
            if (e) server_open = false;
            else pending.insert(pending.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        }
        forget(c);
    }

    std::string up_host_;
    std::uint16_t up_port_;
    fp_asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::list<std::shared_ptr<conn>> conns_;
    fault_rules rules_;
    std::size_t accepted_ = 0;
    std::vector<std::size_t> reply_sizes_;
};

}  // namespace morm_test
