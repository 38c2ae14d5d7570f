// The c-ares resolver (net/dns.hpp) against a throwaway dnsmasq (tests/common/dnsmasq.hpp),
// and the pure rules of mongodb+srv: target domains, TXT options, srvMaxHosts, SRV polling.
// No MongoDB needed. Without dnsmasq the DNS cases print "SKIPPED: dnsmasq is not
// installed" (ctest: Skipped); the pure ones and the timeout ones run anyway.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/dnsmasq.hpp"
#include "common/test_server.hpp"

#include <morm/net/dns.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <future>
#include <set>

namespace asio = boost::asio;
using namespace morm;
using morm_test::dnsmasq;

namespace {

constexpr auto srv_name = "_mongodb._tcp.cluster.morm.test";

const std::vector<std::string> cluster_records = {
    "srv-host=_mongodb._tcp.cluster.morm.test,node1.cluster.morm.test,27017",
    "srv-host=_mongodb._tcp.cluster.morm.test,node2.cluster.morm.test,27018",
    "txt-record=cluster.morm.test,\"authSource=admin\"",
    "txt-record=multi.morm.test,\"replicaSet=rs0&\",\"authSource=admin\"",
    "txt-record=twice.morm.test,\"authSource=a\"",
    "txt-record=twice.morm.test,\"authSource=b\"",
    "srv-host=_mongodb._tcp.twice.morm.test,node1.twice.morm.test,27017",
    "srv-host=_mongodb._tcp.evil.morm.test,node1.evil.morm.test,27017",
    "srv-host=_mongodb._tcp.evil.morm.test,node1.elsewhere.test,27017",
    "srv-host=_mongodb._tcp.lb.morm.test,node1.lb.morm.test,27017",
    "txt-record=lb.morm.test,\"loadBalanced=true\"",
    "host-record=node1.cluster.morm.test,127.0.0.1",
    "host-record=node2.cluster.morm.test,127.0.0.2,::1",
};

net::dns_options opts_for(const dnsmasq& d) {
    net::dns_options o;
    o.server = d.server();
    o.timeout = std::chrono::seconds(5);
    return o;
}

/// A UDP socket that never answers: a DNS server that is down but not refusing.
struct silent_server {
    asio::io_context ioc;
    asio::ip::udp::socket sock{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
    std::string address() const { return "127.0.0.1:" + std::to_string(sock.local_endpoint().port()); }
};

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("dns: SRV, TXT and address lookups", "[dns]") {
    if (!dnsmasq::available()) SKIP_NO_DNSMASQ();
    dnsmasq dns(cluster_records);
    auto opts = opts_for(dns);
    error_code ec;
    diagnostics diag;

    SECTION("SRV: every record, with port and TTL") {
        auto recs = morm_test::run([&]() { return net::async_lookup_srv(srv_name, opts, ec, diag); });
        INFO(diag.message << dns.log());
        REQUIRE(!ec);
        REQUIRE(recs.size() == 2);
        std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) { return a.target < b.target; });
        CHECK(recs[0].target == "node1.cluster.morm.test");
        CHECK(recs[0].port == 27017);
        CHECK(recs[1].target == "node2.cluster.morm.test");
        CHECK(recs[1].port == 27018);
        CHECK(recs[0].ttl == 300);
    }
    SECTION("TXT: strings of one record joined, records apart, none is no error") {
        auto one = morm_test::run([&]() { return net::async_lookup_txt("cluster.morm.test", opts, ec, diag); });
        REQUIRE(!ec);
        CHECK(one == std::vector<std::string>{"authSource=admin"});
        auto multi = morm_test::run([&]() { return net::async_lookup_txt("multi.morm.test", opts, ec, diag); });
        REQUIRE(!ec);
        CHECK(multi == std::vector<std::string>{"replicaSet=rs0&authSource=admin"});
        auto two = morm_test::run([&]() { return net::async_lookup_txt("twice.morm.test", opts, ec, diag); });
        REQUIRE(!ec);
        CHECK(two.size() == 2);
        auto none = morm_test::run([&]() { return net::async_lookup_txt("node1.cluster.morm.test", opts, ec, diag); });
        CHECK(!ec);
        CHECK(none.empty());
        auto missing = morm_test::run([&]() { return net::async_lookup_txt("nothing.morm.test", opts, ec, diag); });
        CHECK(!ec);
        CHECK(missing.empty());
    }
    SECTION("A/AAAA through the given server, not the system's") {
        auto v4 = morm_test::run([&]() { return net::async_lookup_a("node1.cluster.morm.test", opts, ec, diag); });
        INFO(diag.message);
        REQUIRE(!ec);
        REQUIRE(v4.size() == 1);
        CHECK(v4[0].to_string() == "127.0.0.1");
        auto both = morm_test::run([&]() { return net::async_lookup_a("node2.cluster.morm.test", opts, ec, diag); });
        REQUIRE(!ec);
        std::set<std::string> got;
        for (auto& a : both) got.insert(a.to_string());
        CHECK(got == std::set<std::string>{"127.0.0.2", "::1"});
    }
    SECTION("a missing name is a dns_error that names it") {
        auto recs = morm_test::run([&]() { return net::async_lookup_srv("_mongodb._tcp.missing.morm.test", opts, ec, diag); });
        CHECK(recs.empty());
        CHECK(ec == errc::dns_error);
        CHECK(contains(diag.message, "_mongodb._tcp.missing.morm.test"));
        CHECK(contains(diag.message, dns.server()));
        auto addrs = morm_test::run([&]() { return net::async_lookup_a("missing.morm.test", opts, ec, diag); });
        CHECK(addrs.empty());
        CHECK(ec == errc::dns_error);
        CHECK(contains(diag.message, "missing.morm.test"));
    }
    SECTION("concurrent lookups on a multi-threaded io_context") {
        asio::thread_pool pool(2);
        std::vector<std::future<std::vector<net::srv_record>>> futs;
        std::vector<error_code> ecs(8);
        std::vector<diagnostics> diags(8);
        for (std::size_t i = 0; i < ecs.size(); ++i)
            futs.push_back(asio::co_spawn(pool, net::async_lookup_srv(srv_name, opts, ecs[i], diags[i]), asio::use_future));
        for (std::size_t i = 0; i < futs.size(); ++i) {
            CHECK(futs[i].get().size() == 2);
            CHECK(!ecs[i]);
        }
        pool.join();
    }
    SECTION("a name with no SRV record is a dns_error") {
        auto recs = morm_test::run([&]() { return net::async_lookup_srv("node1.cluster.morm.test", opts, ec, diag); });
        CHECK(recs.empty());
        CHECK(ec == errc::dns_error);
    }
}

TEST_CASE("dns: a server that does not answer times out; cancellation; bad server", "[dns]") {
    silent_server silent;
    net::dns_options opts;
    opts.server = silent.address();
    opts.timeout = std::chrono::milliseconds(300);
    error_code ec;
    diagnostics diag;

    SECTION("timeout") {
        auto t0 = std::chrono::steady_clock::now();
        auto recs = morm_test::run([&]() { return net::async_lookup_srv(srv_name, opts, ec, diag); });
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(recs.empty());
        CHECK(ec == errc::timeout);
        CHECK(contains(diag.message, "timed out"));
        CHECK(contains(diag.message, srv_name));
        CHECK(contains(diag.message, opts.server));
        CHECK(took < std::chrono::seconds(3));
        auto addrs = morm_test::run([&]() { return net::async_lookup_a("node1.cluster.morm.test", opts, ec, diag); });
        CHECK(ec == errc::timeout);
    }
    SECTION("terminal cancellation abandons the lookup") {
        using namespace asio::experimental::awaitable_operators;
        opts.timeout = std::chrono::seconds(20);
        auto t0 = std::chrono::steady_clock::now();
        morm_test::run([&]() -> asio::awaitable<void> {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
            std::string name = srv_name;
            auto r = co_await (net::async_lookup_srv(name, opts, ec, diag) || t.async_wait(asio::use_awaitable));
            CHECK(r.index() == 1);
        });
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        CHECK(ec == asio::error::operation_aborted);
    }
    SECTION("a server string c-ares cannot read") {
        opts.server = "not an address";
        auto recs = morm_test::run([&]() { return net::async_lookup_srv(srv_name, opts, ec, diag); });
        CHECK(ec == errc::invalid_argument);
        CHECK(contains(diag.message, "not an address"));
    }
}

TEST_CASE("dns: MORM_DNS_SERVER, unless the option says otherwise", "[dns]") {
    ::setenv("MORM_DNS_SERVER", "127.0.0.1:5353", 1);
    CHECK(net::make_dns_options("", std::chrono::milliseconds(0)).server == "127.0.0.1:5353");
    CHECK(net::make_dns_options("10.1.1.1:53", std::chrono::milliseconds(0)).server == "10.1.1.1:53");
    ::unsetenv("MORM_DNS_SERVER");
    auto o = net::make_dns_options("", std::chrono::milliseconds(1500));
    CHECK(o.server.empty());
    CHECK(o.timeout == std::chrono::milliseconds(1500));
    CHECK(net::make_dns_options("", std::chrono::milliseconds(0)).timeout == net::dns_options{}.timeout);
}

TEST_CASE("dns: seedlist discovery (resolve_srv) without a server", "[dns]") {
    if (!dnsmasq::available()) SKIP_NO_DNSMASQ();
    dnsmasq dns(cluster_records);
    auto opts = opts_for(dns);
    error_code ec;
    diagnostics diag;
    auto resolve = [&](const std::string& uri) {
        auto cs = connection_string::parse(uri);
        morm_test::run([&]() { return net::resolve_srv(cs, opts, ec, diag); });
        return cs;
    };

    SECTION("hosts and TXT options") {
        auto cs = resolve("mongodb+srv://u:p@cluster.morm.test/db");
        INFO(diag.message);
        REQUIRE(!ec);
        REQUIRE(cs.hosts.size() == 2);
        std::set<std::string> hosts{cs.hosts[0].to_string(), cs.hosts[1].to_string()};
        CHECK(hosts == std::set<std::string>{"node1.cluster.morm.test:27017", "node2.cluster.morm.test:27018"});
        CHECK(cs.auth_database() == "admin");
        CHECK(cs.tls_enabled());  // mongodb+srv turns TLS on...
        CHECK(!resolve("mongodb+srv://cluster.morm.test/?tls=false").tls_enabled());  // ...unless told not to
    }
    SECTION("the URI's own options beat the TXT record") {
        auto cs = resolve("mongodb+srv://u:p@cluster.morm.test/db?authSource=mine");
        REQUIRE(!ec);
        CHECK(cs.auth_database() == "mine");
    }
    SECTION("srvMaxHosts keeps that many, at random") {
        std::set<std::string> seen;
        for (int i = 0; i < 40 && seen.size() < 2; ++i) {
            auto cs = resolve("mongodb+srv://cluster.morm.test/?srvMaxHosts=1");
            REQUIRE(!ec);
            REQUIRE(cs.hosts.size() == 1);
            seen.insert(cs.hosts[0].name);
        }
        CHECK(seen.size() == 2);
    }
    SECTION("a target outside the domain is refused; nothing changes") {
        auto cs = resolve("mongodb+srv://evil.morm.test/");
        CHECK(ec == errc::bad_uri);
        CHECK(contains(diag.message, "node1.elsewhere.test"));
        REQUIRE(cs.hosts.size() == 1);
        CHECK(cs.hosts[0].name == "evil.morm.test");
    }
    SECTION("two TXT records are refused") {
        resolve("mongodb+srv://twice.morm.test/");
        CHECK(ec == errc::dns_error);
        CHECK(contains(diag.message, "2 TXT records"));
    }
    SECTION("no SRV record: the error says the hosts could not be found, and why") {
        resolve("mongodb+srv://missing.morm.test/");
        CHECK(ec == errc::dns_error);
        CHECK(contains(diag.message, "cannot find the hosts of mongodb+srv://missing.morm.test/"));
        CHECK(contains(diag.message, "_mongodb._tcp.missing.morm.test"));
    }
    SECTION("loadBalanced from TXT, checked after the lookup") {
        auto cs = resolve("mongodb+srv://lb.morm.test/");
        REQUIRE(!ec);
        CHECK(cs.load_balanced);
        resolve("mongodb+srv://lb.morm.test/?replicaSet=rs0");
        CHECK(ec == errc::bad_uri);
    }
}

TEST_CASE("dns: SRV polling: one rescan", "[dns]") {
    if (!dnsmasq::available()) SKIP_NO_DNSMASQ();
    error_code ec;
    diagnostics diag;
    SECTION("valid targets and the smallest TTL; bad ones dropped") {
        dnsmasq dns(cluster_records, 120);
        auto opts = opts_for(dns);
        auto cs = connection_string::parse("mongodb+srv://evil.morm.test/");
        auto r = morm_test::run([&]() { return net::async_rescan_srv(cs, opts, ec, diag); });
        REQUIRE(r);
        CHECK(r->hosts == std::vector<std::string>{"node1.evil.morm.test:27017"});
        CHECK(r->min_ttl == std::chrono::seconds(120));
        CHECK(r->next_interval() == std::chrono::seconds(120));
    }
    SECTION("short TTLs: 60 s at least; a failed lookup gives nullopt") {
        dnsmasq dns(cluster_records, 5);
        auto opts = opts_for(dns);
        auto cs = connection_string::parse("mongodb+srv://cluster.morm.test/");
        auto r = morm_test::run([&]() { return net::async_rescan_srv(cs, opts, ec, diag); });
        REQUIRE(r);
        CHECK(r->hosts.size() == 2);
        CHECK(r->next_interval() == std::chrono::seconds(60));
        auto gone = connection_string::parse("mongodb+srv://missing.morm.test/");
        auto none = morm_test::run([&]() { return net::async_rescan_srv(gone, opts, ec, diag); });
        CHECK(!none);
        CHECK(ec == errc::dns_error);
    }
}

TEST_CASE("dns: SRV polling: merging a rescan into the host list", "[dns]") {
    const std::vector<std::string> current{"a:1", "b:1", "c:1"};
    SECTION("no limit: gone hosts dropped, new ones added") {
        auto out = net::merge_srv_hosts(current, {"b:1", "c:1", "d:1"}, 0);
        CHECK(out == std::vector<std::string>{"b:1", "c:1", "d:1"});
    }
    SECTION("srvMaxHosts: kept hosts stay, new ones fill the room at random") {
        auto out = net::merge_srv_hosts({"a:1", "b:1"}, {"b:1", "x:1", "y:1", "z:1"}, 2);
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "b:1");
        CHECK((out[1] == "x:1" || out[1] == "y:1" || out[1] == "z:1"));
        CHECK(net::merge_srv_hosts(current, {"a:1", "b:1", "c:1", "d:1"}, 2) == current);  // none removed
    }
}

TEST_CASE("dns: target domain rules (pure)", "[dns]") {
    auto check = [](const std::string& uri, const std::string& target) {
        auto cs = connection_string::parse(uri);
        error_code ec;
        diagnostics diag;
        cs.apply_srv_hosts({host{target, 27017, host::kind::hostname}}, ec, diag);
        return !ec;
    };
    // Three labels or more: the target shares everything after the first label.
    CHECK(check("mongodb+srv://cluster.morm.test", "node1.morm.test"));
    CHECK(check("mongodb+srv://cluster.morm.test", "a.b.morm.test"));
    CHECK(!check("mongodb+srv://cluster.morm.test", "node1.test"));
    CHECK(!check("mongodb+srv://cluster.morm.test", "node1.evilmorm.test"));  // not a label boundary
    // One or two labels: the target needs one more level than the host itself.
    CHECK(check("mongodb+srv://localhost", "node.localhost"));
    CHECK(!check("mongodb+srv://localhost", "localhost"));
    CHECK(check("mongodb+srv://morm.test", "node.morm.test"));
    CHECK(!check("mongodb+srv://morm.test", "morm.test"));
    CHECK(!check("mongodb+srv://morm.test", "othermorm.test"));
}
