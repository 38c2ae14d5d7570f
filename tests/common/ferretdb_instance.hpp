// A FerretDB instance of a test's own (scripts/ferretdb.sh start DIR [PORT] -- flags), in a
// temp dir, that the test can stop and start again on the same port; plus the process
// helpers it needs. For tests that need server flags (auth, TLS, --repl-set-name) or a
// server to kill mid-run.
#pragma once

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace morm_test {

namespace fs = std::filesystem;
namespace asio = boost::asio;

inline std::uint16_t free_port() {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// Runs argv (no shell) and returns its stdout; the exit status goes to `status`.
/// The child is ours directly, so the harness' guard (which watches its parent)
/// keeps the server alive for as long as this test process runs.
inline std::string run_capture(const std::vector<std::string>& args, int& status) {
    int fds[2];
    // CLOEXEC: the server the script starts in the background must not inherit the
    // write end, or the read below would wait for the server to exit.
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    std::string out;
    if (rc == 0) {
        char buf[512];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
        ::waitpid(pid, &status, 0);
    } else {
        status = -1;
    }
    ::close(fds[0]);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

/// A FerretDB instance with extra flags, in its own temp dir; stopped and removed on scope exit.
class ferretdb_instance {
public:
    explicit ferretdb_instance(const std::vector<std::string>& flags, fs::path dir = {}) : flags_(flags) {
        if (dir.empty()) {
            char tmpl[] = "/tmp/morm-client-auth-XXXXXX";
            REQUIRE(::mkdtemp(tmpl));
            dir = tmpl;
            owns_dir_ = true;
        }
        dir_ = dir / "server";
        start();
    }
    /// Starts the server (again, after stop(): same data directory, same port).
    void start() {
        std::vector<std::string> args{"bash", std::string(MORM_SOURCE_DIR) + "/scripts/ferretdb.sh", "start",
                                      dir_.string()};
        if (port_) args.push_back(std::to_string(port_));
        args.push_back("--");
        args.insert(args.end(), flags_.begin(), flags_.end());
        int status = 0;
        uri_ = run_capture(args, status);
        if (status != 0 || uri_.rfind("mongodb://", 0) != 0) {
            std::string log;
            if (FILE* f = std::fopen((dir_ / "server.log").c_str(), "r")) {
                char buf[4096];
                std::size_t n = std::fread(buf, 1, sizeof buf, f);
                log.assign(buf, n);
                std::fclose(f);
            }
            FAIL("FerretDB did not start with the extra flags; log: " << log);
        }
        // "mongodb://127.0.0.1:PORT/"
        auto p = uri_.rfind(':');
        port_ = static_cast<std::uint16_t>(std::stoi(uri_.substr(p + 1)));
    }
    /// Stops the server (its data stays).
    void stop() {
        int status = 0;
        run_capture({"bash", std::string(MORM_SOURCE_DIR) + "/scripts/ferretdb.sh", "stop", dir_.string()}, status);
    }
    ~ferretdb_instance() {
        stop();
        std::error_code ec;
        fs::remove_all(owns_dir_ ? dir_.parent_path() : dir_, ec);
    }
    ferretdb_instance(const ferretdb_instance&) = delete;
    ferretdb_instance& operator=(const ferretdb_instance&) = delete;

    std::uint16_t port() const { return port_; }

private:
    std::vector<std::string> flags_;
    fs::path dir_;
    std::string uri_;
    std::uint16_t port_ = 0;
    bool owns_dir_ = false;
};


}  // namespace morm_test
