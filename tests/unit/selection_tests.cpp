// Server selection cases the spec's JSON files do not cover: read preference validation and
// its messages, max staleness (the JSON for it lives in the max-staleness suite), a
// single-member replica set like FerretDB's, the in-window choice with a fixed random source,
// and the corners of the latency window and the RTT average.
#include <morm/topology/selection.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace t = morm::topology;
using morm::read_mode;
using morm::read_preference;

namespace {

t::server_description server(std::string address, t::server_type type, double rtt = 5) {
    t::server_description s;
    s.address = std::move(address);
    s.type = type;
    s.round_trip_time_ms = rtt;
    return s;
}

t::topology_description topology(t::topology_type type, std::vector<t::server_description> servers) {
    t::topology_description td;
    td.type = type;
    for (auto& s : servers) td.servers[s.address] = std::move(s);
    return td;
}

read_preference rp_of(read_mode mode, std::vector<morm::key_value_list> tags = {},
                      std::optional<std::int32_t> max_staleness = std::nullopt) {
    read_preference rp;
    rp.mode = mode;
    rp.tags = std::move(tags);
    rp.max_staleness_seconds = max_staleness;
    return rp;
}

std::vector<std::string> addresses(const std::vector<const t::server_description*>& servers) {
    std::vector<std::string> out;
    for (auto* s : servers) out.push_back(s->address);
    return out;
}

std::vector<std::string> suitable(const t::topology_description& td, bool for_write, const read_preference& rp,
                                  const t::selection_params& p = {}) {
    morm::error_code ec;
    morm::diagnostics diag;
    auto out = t::suitable_servers(td, for_write, rp, p, ec, diag);
    INFO(diag.message);
    REQUIRE_FALSE(ec);
    return addresses(out);
}

// validate()'s message for an invalid read preference (empty when valid).
std::string validation_error(const read_preference& rp, t::topology_type type, t::selection_params p = {}) {
    morm::error_code ec;
    morm::diagnostics diag;
    t::validate(rp, topology(type, {}), p, ec, diag);
    if (!ec) return {};
    CHECK(ec == morm::errc::invalid_argument);
    return diag.message;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("a single-member replica set (FerretDB-like) serves every mode from its primary", "[selection]") {
    auto td = topology(t::topology_type::replica_set_with_primary, {server("a:27017", t::server_type::rs_primary)});
    CHECK(suitable(td, true, {}) == V{"a:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::primary)) == V{"a:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::primary_preferred)) == V{"a:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::secondary_preferred)) == V{"a:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::secondary_preferred, {{{"dc", "ny"}}})) == V{"a:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::nearest)) == V{"a:27017"});
    // Mode secondary has nothing to read from: no error, the caller waits and times out.
    CHECK(suitable(td, false, rp_of(read_mode::secondary)).empty());
}

TEST_CASE("validation names the rule a read preference breaks", "[selection]") {
    using tt = t::topology_type;
    CHECK(validation_error(rp_of(read_mode::primary), tt::replica_set_with_primary).empty());
    CHECK(validation_error(rp_of(read_mode::primary, {{}}), tt::replica_set_with_primary).empty());  // [{}] is the default

    auto tags = validation_error(rp_of(read_mode::primary, {{{"dc", "ny"}}}), tt::replica_set_with_primary);
    CHECK_THAT(tags, Catch::Contains("mode primary cannot have tag sets") && Catch::Contains("dc: ny"));

    auto primary = validation_error(rp_of(read_mode::primary, {}, 120), tt::sharded);
    CHECK_THAT(primary, Catch::Contains("mode primary cannot have maxStalenessSeconds"));

    CHECK(validation_error(rp_of(read_mode::secondary, {}, -1), tt::replica_set_no_primary).empty());
    CHECK_THAT(validation_error(rp_of(read_mode::secondary, {}, 0), tt::sharded),
               Catch::Contains("maxStalenessSeconds must be -1 (no maximum) or positive, got 0"));

    auto small = validation_error(rp_of(read_mode::secondary, {}, 89), tt::replica_set_with_primary);
    CHECK_THAT(small, Catch::Contains("maxStalenessSeconds 89 is below the smallest allowed 90 s"));
    CHECK(validation_error(rp_of(read_mode::secondary, {}, 90), tt::replica_set_with_primary).empty());
    // Sharded: mongos checks the value itself.
    CHECK(validation_error(rp_of(read_mode::secondary, {}, 30), tt::sharded).empty());

    // A slow heartbeat raises the floor to heartbeatFrequencyMS + idleWritePeriodMS.
    t::selection_params slow;
    slow.heartbeat_frequency = std::chrono::milliseconds(100'000);
    auto floor = validation_error(rp_of(read_mode::nearest, {}, 100), tt::replica_set_no_primary, slow);
    CHECK_THAT(floor, Catch::Contains("below the smallest allowed 110 s") &&
                          Catch::Contains("heartbeatFrequencyMS 100000"));
    CHECK(validation_error(rp_of(read_mode::nearest, {}, 110), tt::replica_set_no_primary, slow).empty());
}

TEST_CASE("an invalid read preference fails reads, not writes", "[selection]") {
    auto td = topology(t::topology_type::replica_set_with_primary, {server("a:27017", t::server_type::rs_primary)});
    auto rp = rp_of(read_mode::primary, {{{"dc", "ny"}}});
    morm::error_code ec;
    morm::diagnostics diag;
    CHECK(t::suitable_servers(td, false, rp, {}, ec, diag).empty());
    CHECK(ec == morm::errc::invalid_argument);
    CHECK(addresses(t::suitable_servers(td, true, rp, {}, ec, diag)) == V{"a:27017"});
    CHECK_FALSE(ec);
}

TEST_CASE("a topology with a compatibility error selects nothing and says why", "[selection]") {
    auto td = topology(t::topology_type::single, {server("a:27017", t::server_type::standalone)});
    td.compatibility_error = "server a:27017 reports wire version 2, morm requires at least 8";
    morm::error_code ec;
    morm::diagnostics diag;
    CHECK(t::suitable_servers(td, true, {}, {}, ec, diag).empty());
    CHECK(ec == morm::errc::not_supported);
    CHECK(diag.message == *td.compatibility_error);
}

TEST_CASE("max staleness with a primary compares each secondary's lag to the primary's", "[selection]") {
    // P wrote 100 s before its last check; staleness = S lag - P lag + heartbeat (10 s).
    auto p = server("p:27017", t::server_type::rs_primary);
    p.last_update_time_ms = 1'000'000;
    p.last_write_date_ms = 900'000;
    auto secondary = [](std::string address, std::int64_t behind_primary_ms) {
        auto s = server(std::move(address), t::server_type::rs_secondary);
        s.last_update_time_ms = 1'000'000;
        s.last_write_date_ms = 900'000 - behind_primary_ms;
        return s;
    };
    auto td = topology(t::topology_type::replica_set_with_primary,
                       {p, secondary("fresh:1", 50'000), secondary("edge:1", 110'000), secondary("stale:1", 111'000)});
    CHECK(suitable(td, false, rp_of(read_mode::secondary, {}, 120)) == V{"edge:1", "fresh:1"});
    CHECK(suitable(td, false, rp_of(read_mode::nearest, {}, 120)) == V{"edge:1", "fresh:1", "p:27017"});
    CHECK(suitable(td, false, rp_of(read_mode::secondary, {}, -1)).size() == 3);
    // No secondary fresh enough: secondaryPreferred falls back to the primary.
    auto stale_only = topology(t::topology_type::replica_set_with_primary, {p, secondary("stale:1", 111'000)});
    CHECK(suitable(stale_only, false, rp_of(read_mode::secondary_preferred, {}, 120)) == V{"p:27017"});
}

TEST_CASE("max staleness without a primary compares to the freshest secondary", "[selection]") {
    auto secondary = [](std::string address, std::int64_t last_write) {
        auto s = server(std::move(address), t::server_type::rs_secondary);
        s.last_write_date_ms = last_write;
        return s;
    };
    auto td = topology(t::topology_type::replica_set_no_primary,
                       {secondary("max:1", 1'000'000), secondary("edge:1", 890'000), secondary("stale:1", 889'000)});
    CHECK(suitable(td, false, rp_of(read_mode::secondary, {}, 120)) == V{"edge:1", "max:1"});
}

TEST_CASE("max staleness applies before tag sets", "[selection]") {
    // The spec's rationale: node 1 matches the first tag set but is too stale, so the second
    // tag set picks node 2 instead of leaving nothing.
    auto node = [](std::string address, std::string dc, std::int64_t last_write) {
        auto s = server(std::move(address), t::server_type::rs_secondary);
        s.tags["dc"] = std::move(dc);
        s.last_write_date_ms = last_write;
        return s;
    };
    auto td = topology(t::topology_type::replica_set_no_primary,
                       {node("one:1", "ny", 500'000), node("two:1", "sf", 1'000'000)});
    auto rp = rp_of(read_mode::secondary, {{{"dc", "ny"}}, {{"dc", "sf"}}}, 120);
    CHECK(suitable(td, false, rp) == V{"two:1"});
}

TEST_CASE("deprioritized servers are used only when nothing else suits", "[selection]") {
    auto td = topology(t::topology_type::sharded,
                       {server("a:1", t::server_type::mongos), server("b:1", t::server_type::mongos)});
    morm::error_code ec;
    morm::diagnostics diag;
    const V one{"a:1"};
    CHECK(addresses(t::suitable_servers(td, true, {}, {}, ec, diag, one)) == V{"b:1"});
    const V both{"a:1", "b:1"};
    CHECK(addresses(t::suitable_servers(td, true, {}, {}, ec, diag, both)) == V{"a:1", "b:1"});
}

TEST_CASE("Single: the one server whatever its type, once known", "[selection]") {
    auto td = topology(t::topology_type::single, {server("a:1", t::server_type::rs_secondary)});
    CHECK(suitable(td, true, {}) == V{"a:1"});
    td.servers["a:1"].type = t::server_type::unknown;
    CHECK(suitable(td, false, rp_of(read_mode::nearest)).empty());
}

TEST_CASE("the latency window starts at the fastest server", "[selection]") {
    auto td = topology(t::topology_type::sharded, {server("a:1", t::server_type::mongos, 10),
                                                   server("b:1", t::server_type::mongos, 25),
                                                   server("c:1", t::server_type::mongos, 25.5)});
    t::selection_params p;
    morm::error_code ec;
    morm::diagnostics diag;
    auto servers = t::suitable_servers(td, false, {}, p, ec, diag);
    REQUIRE(servers.size() == 3);
    CHECK(addresses(t::latency_window(servers, p)) == V{"a:1", "b:1"});  // 10 + 15 inclusive
    p.local_threshold = std::chrono::milliseconds(0);
    CHECK(addresses(t::latency_window(servers, p)) == V{"a:1"});
    CHECK(t::latency_window({}, p).empty());
}

TEST_CASE("a load balancer without an RTT is in the window", "[selection]") {
    auto lb = server("lb:1", t::server_type::load_balancer);
    lb.round_trip_time_ms.reset();
    auto td = topology(t::topology_type::load_balanced, {lb});
    morm::error_code ec;
    morm::diagnostics diag;
    auto servers = t::suitable_servers(td, false, rp_of(read_mode::secondary), {}, ec, diag);
    CHECK(addresses(t::latency_window(servers, {})) == V{"lb:1"});
}

TEST_CASE("the in-window choice takes the less busy of two distinct servers", "[selection]") {
    auto a = server("a:1", t::server_type::mongos);
    auto b = server("b:1", t::server_type::mongos);
    auto c = server("c:1", t::server_type::mongos);
    std::vector<const t::server_description*> window{&a, &b, &c};
    auto count = [](const std::string& address) -> std::size_t { return address == "a:1" ? 7 : address == "b:1" ? 3 : 9; };
    std::vector<std::size_t> draws;
    auto first_index = [&](std::size_t n) {
        draws.push_back(n);
        return std::size_t{0};
    };
    // Index 0 twice would be the same server: the second draw skips it, so a and b compete.
    CHECK(t::choose_in_window(window, count, first_index) == &b);
    CHECK(draws == std::vector<std::size_t>{3, 2});

    CHECK(t::choose_in_window({&c}, count, first_index) == &c);
    CHECK(t::choose_in_window({}, count, first_index) == nullptr);
    auto idle = [](const std::string&) -> std::size_t { return 0; };
    auto last = [](std::size_t n) { return n - 1; };
    CHECK(t::choose_in_window(window, idle, last) == &c);  // a tie keeps the first drawn
}

TEST_CASE("select_server chains suitability, window and choice", "[selection]") {
    auto td = topology(t::topology_type::replica_set_with_primary,
                       {server("p:1", t::server_type::rs_primary, 1), server("s:1", t::server_type::rs_secondary, 50)});
    auto count = [](const std::string&) -> std::size_t { return 0; };
    auto zero = [](std::size_t) { return std::size_t{0}; };
    morm::error_code ec;
    morm::diagnostics diag;
    auto* s = t::select_server(td, false, rp_of(read_mode::nearest), {}, {}, count, zero, ec, diag);
    REQUIRE(s);
    CHECK(s->address == "p:1");  // s:1 is outside the 15 ms window
    CHECK(t::select_server(td, false, rp_of(read_mode::primary, {{{"x", "y"}}}), {}, {}, count, zero, ec, diag) == nullptr);
    CHECK(ec == morm::errc::invalid_argument);
}

TEST_CASE("the RTT average", "[selection]") {
    CHECK(t::average_rtt(std::nullopt, 12.5) == 12.5);
    CHECK(t::average_rtt(10.0, 20.0) == Approx(12.0));
    CHECK(t::average_rtt(std::nullopt, -3.0) == 0.0);  // a negative sample is refused as 0
}
