// instant_server: an in-memory MongoDB wire-protocol server for CLIENT-BOUND benchmarks.
// A measuring instrument, not a database: it answers from memory at once so that a
// benchmark measures the client (driver, ODM, codec), not the server. What it implements and
// refuses is listed in store.hpp. Tests of behaviour use FerretDB, never this.
//
//   instant_server [--port N] [--host 127.0.0.1]
// Prints "listening on PORT" on stdout once it accepts connections (port 0: a free one);
// logs each refused command name once on stderr; stops on SIGINT/SIGTERM.
// One thread: run it beside the client on another core (benchmarks/suites pin nothing).
#include "store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;
using morm_bench::instant::store;

namespace {

constexpr std::size_t max_frame = 48'000'000 + 16 * 1024 * 1024;

void log_refusals(store& st) {
    for (auto& name : st.take_new_refusals()) std::cerr << "instant_server: refused command '" << name << "'\n";
}

// Reads whole frames, answers every frame of one read with one write (pipelined requests
// cost one syscall per read).
asio::awaitable<void> serve(tcp::socket s, store& st) {
    std::vector<std::uint8_t> in(1 << 20);
    std::size_t have = 0;
    morm::wire::frame_buffer out(1 << 16);
    for (;;) {
        if (have == in.size()) in.resize(in.size() * 2);
        auto [ec, n] = co_await s.async_read_some(asio::buffer(in.data() + have, in.size() - have),
                                                  asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        have += n;
        std::size_t pos = 0;
        while (have - pos >= 16) {
            std::int32_t len;
            std::memcpy(&len, in.data() + pos, 4);
            if (len < 16 || static_cast<std::size_t>(len) > max_frame) co_return;
            auto ulen = static_cast<std::size_t>(len);
            if (have - pos < ulen) {
                if (ulen > in.size()) {
                    std::memmove(in.data(), in.data() + pos, have - pos);
                    have -= pos;
                    pos = 0;
                    in.resize(ulen);
                }
                break;
            }
            if (!st.handle(in.data() + pos, ulen, out)) {
                std::cerr << "instant_server: closing a connection: a frame it cannot parse\n";
                co_return;
            }
            pos += ulen;
        }
        if (pos) {
            std::memmove(in.data(), in.data() + pos, have - pos);
            have -= pos;
        }
        log_refusals(st);
        if (!out.empty()) {
            auto [wec, wn] = co_await asio::async_write(s, asio::buffer(out.data(), out.size()),
                                                        asio::as_tuple(asio::use_awaitable));
            (void)wn;
            if (wec) co_return;
            out.clear();
        }
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, store& st) {
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        sock.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), serve(std::move(sock), st), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::stoi(argv[++i]));
        else if (a == "--host" && i + 1 < argc) host = argv[++i];
        else {
            std::cerr << "usage: instant_server [--port N] [--host ADDR]\n";
            return 2;
        }
    }
    asio::io_context ioc(1);
    store st;
    tcp::endpoint ep(asio::ip::make_address(host), port);
    tcp::acceptor acceptor(ioc);
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { ioc.stop(); });
    asio::co_spawn(ioc, accept_loop(acceptor, st), asio::detached);
    std::printf("listening on %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    ioc.run();
    return 0;
}
