// mongodb+srv:// end to end: a throwaway dnsmasq (tests/common/dnsmasq.hpp) serves the SRV,
// TXT and address records of cluster.morm.test, pointing at the test FerretDB; the client
// is told to use it (client_options::dns_server, or MORM_DNS_SERVER), so neither the SRV
// names nor the targets' addresses touch the system resolver or /etc/hosts.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/dnsmasq.hpp"
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/net/dns.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <set>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace asio = boost::asio;
using namespace morm;
using morm_test::dnsmasq;

namespace {

std::uint16_t port_of(const std::string& host_port) {
    return static_cast<std::uint16_t>(std::stoi(host_port.substr(host_port.rfind(':') + 1)));
}

/// The records of cluster.morm.test for a server on 127.0.0.1:`port`; the other names
/// exercise srvMaxHosts (two targets), a target outside the domain, and TXT options.
std::vector<std::string> records_for(std::uint16_t port) {
    const auto p = std::to_string(port);
    return {
        "srv-host=_mongodb._tcp.cluster.morm.test,node1.cluster.morm.test," + p,
        "txt-record=cluster.morm.test,\"authSource=admin\"",
        "srv-host=_mongodb._tcp.two.morm.test,node1.two.morm.test," + p,
        "srv-host=_mongodb._tcp.two.morm.test,node2.two.morm.test," + p,
        "srv-host=_mongodb._tcp.evil.morm.test,node1.evil.morm.test," + p,
        "srv-host=_mongodb._tcp.evil.morm.test,mongo.attacker.test," + p,
        "host-record=node1.cluster.morm.test,127.0.0.1",
        "host-record=node1.two.morm.test,127.0.0.1",
        "host-record=node2.two.morm.test,127.0.0.1",
        "host-record=node1.evil.morm.test,127.0.0.1",
        "host-record=mongo.attacker.test,127.0.0.1",
    };
}

/// Connects, writes one document, reads it back, drops the collection; the client's URI.
asio::awaitable<connection_string> roundtrip(std::string uri, client_options opts) {
    auto cl = co_await client::connect(uri, opts);
    auto coll = cl.database(morm_test::unique_db("srv")).collection("c");
    auto d = bson::document::from_json(R"({"_id": 1, "via": "srv"})");
    insert_options io;
    co_await coll.insert_one(d, io);
    auto f = bson::document::from_json(R"({"_id": 1})");
    find_options fo;
    auto got = co_await coll.find_one(f, fo);
    CHECK(got.has_value());
    if (got) CHECK(got->to_json().find("\"srv\"") != std::string::npos);
    co_await coll.drop();
    co_return cl.uri();
}

/// The failure of connect(), or a default error_code if it connected.
asio::awaitable<std::pair<error_code, std::string>> try_connect(std::string uri, client_options opts) {
    try {
        auto cl = co_await client::connect(uri, opts);
        co_return std::pair{error_code{}, std::string{}};
    } catch (const morm::error& e) {
        co_return std::pair{e.code(), std::string(e.what())};
    }
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// A FerretDB with SCRAM users (scripts/ferretdb.sh start DIR -- flags), so that the
/// TXT record's authSource is seen to matter: stopped and removed on scope exit.
class auth_ferretdb {
public:
    auth_ferretdb() {
        char tmpl[] = "/tmp/morm-srv-auth-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        dir_ = tmpl;
        std::string out = run({"start", (dir_ / "server").string(), "--", "--test-enable-new-auth",
                               "--setup-database=admin", "--setup-username=srvuser", "--setup-password=srvpw"});
        REQUIRE(out.rfind("mongodb://", 0) == 0);
        port_ = port_of(out.substr(0, out.find_last_not_of("/\n") + 1));
    }
    ~auth_ferretdb() {
        run({"stop", (dir_ / "server").string()});
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::uint16_t port() const { return port_; }

private:
    /// Runs scripts/ferretdb.sh with `args` (no shell) and returns its stdout.
    static std::string run(std::vector<std::string> args) {
        args.insert(args.begin(), {"bash", std::string(MORM_SOURCE_DIR) + "/scripts/ferretdb.sh"});
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t pid = 0;
        int rc = posix_spawnp(&pid, "bash", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        std::string out;
        char buf[512];
        for (ssize_t n; rc == 0 && (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        ::close(fds[0]);
        int status = 0;
        if (rc == 0) ::waitpid(pid, &status, 0);
        return out;
    }

    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("srv: mongodb+srv:// connects through SRV records, writes and reads back", "[srv][integration]") {
    if (!dnsmasq::available()) SKIP_NO_DNSMASQ();
    dnsmasq dns(records_for(port_of(morm_test::host_port())));
    client_options opts;
    opts.dns_server = dns.server();

    SECTION("the SRV target replaces the seed list; tls stays as the URI says") {
        auto cs = morm_test::run([&] { return roundtrip("mongodb+srv://cluster.morm.test/db?tls=false", opts); });
        INFO(dns.log());
        REQUIRE(cs.hosts.size() == 1);
        CHECK(cs.hosts[0].to_string() == "node1.cluster.morm.test:" + std::to_string(port_of(morm_test::host_port())));
        CHECK(!cs.tls_enabled());
    }
    SECTION("MORM_DNS_SERVER when the option is empty") {
        ::setenv("MORM_DNS_SERVER", dns.server().c_str(), 1);
        client_options none;
        auto cs = morm_test::run([&] { return roundtrip("mongodb+srv://cluster.morm.test/db?tls=false", none); });
        ::unsetenv("MORM_DNS_SERVER");
        CHECK(cs.hosts.size() == 1);
    }
    SECTION("srvMaxHosts=1 of two SRV records keeps one; without it both are seeds") {
        auto one = morm_test::run([&] { return roundtrip("mongodb+srv://two.morm.test/db?tls=false&srvMaxHosts=1", opts); });
        REQUIRE(one.hosts.size() == 1);
        CHECK((one.hosts[0].name == "node1.two.morm.test" || one.hosts[0].name == "node2.two.morm.test"));
        // Without srvMaxHosts both targets are seeds. Not connected: both are the same
        // standalone FerretDB, and SDAM removes a standalone from a list of several seeds.
        auto both = morm_test::run([&]() -> asio::awaitable<connection_string> {
            auto cs = connection_string::parse("mongodb+srv://two.morm.test/db?tls=false");
            error_code ec;
            diagnostics diag;
            const auto dns_opts = net::make_dns_options(opts.dns_server, std::chrono::seconds(5));
            co_await net::resolve_srv(cs, dns_opts, ec, diag);
            CHECK_FALSE(ec);
            co_return cs;
        });
        std::set<std::string> names;
        for (auto& h : both.hosts) names.insert(h.name);
        CHECK(names == std::set<std::string>{"node1.two.morm.test", "node2.two.morm.test"});
    }
    SECTION("a target outside the domain is refused before any connection") {
        auto [ec, msg] = morm_test::run([&] { return try_connect("mongodb+srv://evil.morm.test/db?tls=false", opts); });
        CHECK(ec == errc::bad_uri);
        CHECK(contains(msg, "mongo.attacker.test"));
        CHECK(contains(msg, "morm.test"));
    }
    SECTION("no SRV record: a clear error naming the query") {
        auto [ec, msg] = morm_test::run([&] { return try_connect("mongodb+srv://nothing.morm.test/db?tls=false", opts); });
        CHECK(ec == errc::dns_error);
        CHECK(contains(msg, "_mongodb._tcp.nothing.morm.test"));
    }
}

TEST_CASE("srv: the TXT record's authSource is applied", "[srv][integration]") {
    if (!dnsmasq::available()) SKIP_NO_DNSMASQ();
    auth_ferretdb server;  // its user lives in "admin"
    dnsmasq dns(records_for(server.port()));
    client_options opts;
    opts.dns_server = dns.server();
    // The URI names database "app": without the TXT record authSource would be "app".
    auto cs = morm_test::run([&] { return roundtrip("mongodb+srv://srvuser:srvpw@cluster.morm.test/app?tls=false", opts); });
    CHECK(cs.auth_database() == "admin");
    // The URI's own authSource wins over the TXT record: "app" has no such user.
    auto [ec, msg] = morm_test::run(
        [&] { return try_connect("mongodb+srv://srvuser:srvpw@cluster.morm.test/app?tls=false&authSource=app", opts); });
    CHECK(ec == errc::auth_failed);
}
