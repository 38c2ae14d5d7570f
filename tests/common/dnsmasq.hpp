// A throwaway DNS server for the [dns] and [srv] tests: dnsmasq on 127.0.0.1 and a free
// port, serving only the records the test gives (no upstream, no /etc/hosts), killed when
// the fixture goes out of scope.
//
//   if (!morm_test::dnsmasq::available()) { SKIP_NO_DNSMASQ(); }
//   morm_test::dnsmasq dns({"srv-host=_mongodb._tcp.cluster.morm.test,node1.cluster.morm.test,27017",
//                           "host-record=node1.cluster.morm.test,127.0.0.1"});
//   opts.dns_server = dns.server();  // "127.0.0.1:PORT"
//
// Names under morm.test that no record names get an authoritative NXDOMAIN (local=).
// dnsmasq is found on PATH or in /usr/sbin, /sbin (Debian: package dnsmasq-base).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace morm_test {

/// Prints the line ctest reports as Skipped (tests/CMakeLists.txt) and leaves the test.
#define SKIP_NO_DNSMASQ()                                       \
    do {                                                        \
        std::cout << "SKIPPED: dnsmasq is not installed\n";     \
        return;                                                 \
    } while (0)

class dnsmasq {
public:
    /// The dnsmasq binary, or empty if none is installed.
    static std::string binary() {
        std::vector<std::string> dirs;
        if (const char* path = std::getenv("PATH")) {
            std::stringstream ss(path);
            for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d);
        }
        dirs.insert(dirs.end(), {"/usr/sbin", "/sbin", "/usr/local/sbin"});
        for (auto& d : dirs) {
            auto p = std::filesystem::path(d) / "dnsmasq";
            if (::access(p.c_str(), X_OK) == 0) return p.string();
        }
        return {};
    }
    static bool available() { return !binary().empty(); }

    /// Starts dnsmasq with `records` (dnsmasq.conf lines: srv-host=, txt-record=,
    /// host-record=, address=) and waits until it answers. `ttl` is the TTL of every record.
    /// Throws std::runtime_error (with dnsmasq's log) if it does not start.
    explicit dnsmasq(const std::vector<std::string>& records, int ttl = 300) {
        char tmpl[] = "/tmp/morm-dnsmasq.XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("dnsmasq fixture: mkdtemp failed");
        dir_ = tmpl;
        std::string last_log;
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_udp_port();
            write_conf(records, ttl);
            spawn();
            if (wait_ready()) return;
            stop();
            last_log = log();
        }
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("dnsmasq did not start; its log:\n" + last_log);
    }
    ~dnsmasq() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    dnsmasq(const dnsmasq&) = delete;
    dnsmasq& operator=(const dnsmasq&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    /// "127.0.0.1:PORT", the form of dns_options::server and client_options::dns_server.
    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    /// What dnsmasq printed (it logs every query: handy when a test fails).
    std::string log() const {
        std::ifstream f(dir_ / "dnsmasq.log");
        return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    }

private:
    static std::uint16_t free_udp_port() {
        boost::asio::io_context ioc;
        boost::asio::ip::udp::socket s(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
        return s.local_endpoint().port();
    }

    void write_conf(const std::vector<std::string>& records, int ttl) {
        std::ofstream f(dir_ / "dnsmasq.conf");
        f << "port=" << port_ << "\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
          << "local=/morm.test/\nlocal-ttl=" << ttl << "\npid-file=\nlog-facility=-\nlog-queries\n";
        for (auto& r : records) f << r << '\n';
    }

    void spawn() {
        const std::string bin = binary(), conf = "--conf-file=" + (dir_ / "dnsmasq.conf").string();
        const std::string logfile = (dir_ / "dnsmasq.log").string();
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<char*> argv{const_cast<char*>(bin.c_str()), const_cast<char*>("--no-daemon"),
                                const_cast<char*>(conf.c_str()), nullptr};
        char* envp[] = {nullptr};
        if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), envp) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
    }

    /// Sends a real query (A of the probe name) until dnsmasq answers: up to 5 s.
    bool wait_ready() {
        if (pid_ <= 0) return false;
        namespace ip = boost::asio::ip;
        const unsigned char query[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                       5,    'p',  'r',  'o',  'b', 'e', 4, 'm', 'o', 'r', 'm', 4, 't', 'e', 's', 't', 0,
                                       0,    1,    0,    1};
        boost::asio::io_context ioc;
        ip::udp::socket s(ioc, ip::udp::v4());
        s.non_blocking(true);
        const ip::udp::endpoint to(ip::make_address("127.0.0.1"), port_);
        for (int i = 0; i < 100; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;  // exited: port taken, bad config
                return false;
            }
            boost::system::error_code ec;
            s.send_to(boost::asio::buffer(query), to, 0, ec);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            unsigned char reply[512];
            ip::udp::endpoint from;
            if (s.receive_from(boost::asio::buffer(reply), from, 0, ec) >= 2 && !ec && reply[0] == 0x12 &&
                reply[1] == 0x34)
                return true;
        }
        return false;
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace morm_test
