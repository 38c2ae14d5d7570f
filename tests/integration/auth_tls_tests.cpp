// SCRAM authentication and TLS against dedicated FerretDB instances started by the test
// (scripts/ferretdb.sh start DIR -- flags) in a temp dir, with a self-signed CA made by
// the openssl CLI.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace morm;

namespace {

std::uint16_t free_port() {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// Runs argv (no shell) and returns its stdout; the exit status goes to `status`.
/// The child is ours directly, so the harness' guard (which watches its parent)
/// keeps the server alive for as long as this test process runs.
std::string run_capture(const std::vector<std::string>& args, int& status) {
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
    explicit ferretdb_instance(const std::vector<std::string>& flags, fs::path dir = {}) {
        if (dir.empty()) {
            char tmpl[] = "/tmp/morm-client-auth-XXXXXX";
            REQUIRE(::mkdtemp(tmpl));
            dir = tmpl;
            owns_dir_ = true;
        }
        dir_ = dir / "server";
        std::vector<std::string> args{"bash", std::string(MORM_SOURCE_DIR) + "/scripts/ferretdb.sh", "start",
                                      dir_.string(), "--"};
        args.insert(args.end(), flags.begin(), flags.end());
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
    ~ferretdb_instance() {
        int status = 0;
        run_capture({"bash", std::string(MORM_SOURCE_DIR) + "/scripts/ferretdb.sh", "stop", dir_.string()}, status);
        std::error_code ec;
        fs::remove_all(owns_dir_ ? dir_.parent_path() : dir_, ec);
    }
    ferretdb_instance(const ferretdb_instance&) = delete;
    ferretdb_instance& operator=(const ferretdb_instance&) = delete;

    std::uint16_t port() const { return port_; }

private:
    fs::path dir_;
    std::string uri_;
    std::uint16_t port_ = 0;
    bool owns_dir_ = false;
};

/// Connects and runs a write + read through the whole stack.
asio::awaitable<std::int64_t> roundtrip(std::string uri) {
    client_options o;
    auto cl = co_await client::connect(uri, o);
    auto coll = cl.database("authdb").collection("c");
    auto d = bson::document::from_json(R"({"x": 1})");
    insert_options io;
    co_await coll.insert_one(d, io);
    bson::document all;
    count_options co;
    auto n = co_await coll.count_documents(all, co);
    co_await coll.drop();
    co_return n;
}

/// Connects and returns the failure (or success).
asio::awaitable<std::pair<error_code, std::string>> try_connect(std::string uri) {
    try {
        client_options o;
        auto cl = co_await client::connect(uri, o);
        auto ping = bson::document::from_json(R"({"listCollections": 1})");
        co_await cl.run_command("authdb", ping);
        co_return std::pair{error_code{}, std::string{}};
    } catch (const morm::error& e) {
        co_return std::pair{e.code(), std::string(e.what())};
    }
}

const char* const user = "morm_admin";
const char* const password = "pw-Xq7!zz";

}  // namespace

TEST_CASE("SCRAM authentication against FerretDB", "[auth][integration]") {
    ferretdb_instance srv({"--test-enable-new-auth", "--setup-database=admin", std::string("--setup-username=") + user,
                           std::string("--setup-password=") + password});
    const std::string base = fmt::format("mongodb://{}:{}@127.0.0.1:{}/authdb?authSource=admin", user, password, srv.port());

    SECTION("negotiated mechanism") { CHECK(morm_test::run([&] { return roundtrip(base); }) == 1); }
    SECTION("SCRAM-SHA-256") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&authMechanism=SCRAM-SHA-256"); }) == 1);
    }
    SECTION("SCRAM-SHA-1") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&authMechanism=SCRAM-SHA-1"); }) == 1);
    }
    SECTION("no credentials: the server refuses commands") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(fmt::format("mongodb://127.0.0.1:{}/authdb", srv.port())); });
        CHECK(ec == errc::server_error);
        INFO(msg);
        CHECK(msg.find("authentication") != std::string::npos);
    }
    SECTION("bad password: auth_failed naming mechanism and user, never the password") {
        for (std::string mech : {"SCRAM-SHA-256", "SCRAM-SHA-1"}) {
            const std::string wrong = "WrongPassw0rd-zz";
            auto uri = fmt::format("mongodb://{}:{}@127.0.0.1:{}/authdb?authSource=admin&authMechanism={}", user,
                                   wrong, srv.port(), mech);
            auto [ec, msg] = morm_test::run([&] { return try_connect(uri); });
            INFO(mech << ": " << msg);
            CHECK(ec == errc::auth_failed);
            CHECK(msg.find(mech) != std::string::npos);
            CHECK(msg.find(user) != std::string::npos);
            CHECK(msg.find(wrong) == std::string::npos);
            CHECK(msg.find(password) == std::string::npos);
        }
    }
    SECTION("unknown user") {
        auto uri = fmt::format("mongodb://nobody:{}@127.0.0.1:{}/authdb?authSource=admin", password, srv.port());
        auto [ec, msg] = morm_test::run([&] { return try_connect(uri); });
        INFO(msg);
        CHECK(ec == errc::auth_failed);
        CHECK(msg.find("nobody") != std::string::npos);
        CHECK(msg.find(password) == std::string::npos);
    }
}

namespace {

struct tls_files {
    fs::path dir, ca, other_ca, cert, key;
};

/// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA.
tls_files make_certs(const fs::path& dir) {
    tls_files t{dir, dir / "ca.pem", dir / "other-ca.pem", dir / "server.pem", dir / "server.key"};
    const std::string d = dir.string();
    const std::string script = fmt::format(
        "set -e; cd '{0}';"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=morm test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign;"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 "
        "-subj '/CN=other CA' -addext basicConstraints=critical,CA:TRUE;"
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1';"
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
        "extendedKeyUsage=serverAuth\\n' > ext.cnf;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile ext.cnf",
        d);
    int status = 0;
    run_capture({"bash", "-c", "( " + script + " ) >/dev/null 2>&1"}, status);
    REQUIRE(status == 0);
    REQUIRE(fs::exists(t.cert));
    return t;
}

}  // namespace

TEST_CASE("TLS against FerretDB with a self-signed CA", "[tls][integration]") {
    char tmpl[] = "/tmp/morm-client-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const fs::path dir = tmpl;
    struct cleanup {
        fs::path p;
        ~cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup_dir{dir};
    auto certs = make_certs(dir);
    const auto tls_port = free_port();
    ferretdb_instance srv({fmt::format("--listen-tls=127.0.0.1:{}", tls_port),
                           "--listen-tls-cert-file=" + certs.cert.string(),
                           "--listen-tls-key-file=" + certs.key.string()},
                          dir);
    const std::string base = fmt::format("mongodb://127.0.0.1:{}/authdb?tls=true", tls_port);

    SECTION("verified with the CA") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsCAFile=" + certs.ca.string()); }) == 1);
    }
    SECTION("the wrong CA fails with tls_error") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(base + "&tlsCAFile=" + certs.other_ca.string()); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
    }
    SECTION("no CA (system store) fails with tls_error") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(base); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
    }
    SECTION("tlsAllowInvalidCertificates works without the CA") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsAllowInvalidCertificates=true"); }) == 1);
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsInsecure=true"); }) == 1);
    }
    SECTION("a name the certificate does not cover fails unless hostname checks are off") {
        // The certificate names only IP 127.0.0.1; "localhost" reaches the same listener.
        auto other = fmt::format("mongodb://localhost:{}/authdb?tls=true&tlsCAFile={}", tls_port, certs.ca.string());
        auto [ec, msg] = morm_test::run([&] { return try_connect(other); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
        CHECK(morm_test::run([&] { return roundtrip(other + "&tlsAllowInvalidHostnames=true"); }) == 1);
    }
    SECTION("plain TCP still served on the other port") {
        CHECK(morm_test::run([&] { return roundtrip(fmt::format("mongodb://127.0.0.1:{}/authdb", srv.port())); }) == 1);
    }
}
