// mongodb+srv://: seedlist discovery (initial-dns-seedlist-discovery spec) and SRV polling
// (polling-srv-records-for-mongos-discovery spec). The DNS I/O is net/dns.cpp; the domain
// check and the TXT option rules are connection_string's (src/uri.cpp).
#include <morm/net/dns.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <random>

namespace morm::net {
namespace {

std::mt19937_64& rng() {
    thread_local std::mt19937_64 g{std::random_device{}()};
    return g;
}

std::vector<host> to_hosts(const std::vector<srv_record>& records) {
    std::vector<host> out;
    out.reserve(records.size());
    for (auto& r : records) out.push_back(host{r.target, r.port, host::kind::hostname});
    return out;
}

}  // namespace

asio::awaitable<void> resolve_srv(connection_string& cs, const dns_options& opts, error_code& ec, diagnostics& diag) {
    ec.clear();
    diag.clear();
    if (!cs.srv) co_return;
    const std::string service = cs.srv_query_name();
    const std::string txt_name = cs.hosts.empty() ? std::string() : cs.hosts[0].name;
    auto records = co_await async_lookup_srv(service, opts, ec, diag);
    if (ec) {
        diag.message = fmt::format("cannot find the hosts of {}: {}", cs.redacted(), diag.message);
        co_return;
    }
    auto txt = co_await async_lookup_txt(txt_name, opts, ec, diag);
    if (ec) {
        diag.message = fmt::format("cannot read the options of {}: {}", cs.redacted(), diag.message);
        co_return;
    }
    if (txt.size() > 1) {
        ec = make_error_code(errc::dns_error);
        diag.message = fmt::format("{} has {} TXT records; a mongodb+srv host may have one at most", txt_name, txt.size());
        co_return;
    }
    auto next = cs;  // cs changes only if everything below succeeds
    auto targets = to_hosts(records);
    // srvMaxHosts keeps the first N: shuffle first so that they are N at random.
    if (next.srv_max_hosts.value_or(0) > 0 && targets.size() > static_cast<std::size_t>(*next.srv_max_hosts))
        std::shuffle(targets.begin(), targets.end(), rng());
    next.apply_srv_hosts(std::move(targets), ec, diag);
    if (ec) co_return;
    if (!txt.empty()) {
        next.apply_txt_record(txt.front(), ec, diag);
        if (ec) co_return;
    }
    if (next.load_balanced && next.hosts.size() > 1) {
        ec = make_error_code(errc::bad_uri);
        diag.message = fmt::format("loadBalanced=true needs exactly one host, but the SRV records of {} name {}",
                                   service, next.hosts.size());
        co_return;
    }
    cs = std::move(next);
}

asio::awaitable<std::optional<srv_rescan>> async_rescan_srv(const connection_string& cs, const dns_options& opts,
                                                            error_code& ec, diagnostics& diag) {
    ec.clear();
    diag.clear();
    if (!cs.srv || cs.hosts.size() != 1) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = "SRV polling needs the mongodb+srv connection string as parsed (one host: the SRV name)";
        co_return std::nullopt;
    }
    const std::string service = cs.srv_query_name();
    auto records = co_await async_lookup_srv(service, opts, ec, diag);
    if (ec) co_return std::nullopt;
    srv_rescan out;
    std::uint32_t min_ttl = std::numeric_limits<std::uint32_t>::max();
    std::string rejected;
    auto probe = cs;
    for (auto& r : records) {
        // The same domain check as the initial lookup, one target at a time: a bad one is
        // dropped, the others still count.
        error_code pec;
        diagnostics pdiag;
        probe.hosts = cs.hosts;
        probe.apply_srv_hosts({host{r.target, r.port, host::kind::hostname}}, pec, pdiag);
        if (pec) {
            rejected = std::move(pdiag.message);
            continue;
        }
        auto hp = probe.hosts.front().to_string();
        if (std::find(out.hosts.begin(), out.hosts.end(), hp) == out.hosts.end()) out.hosts.push_back(std::move(hp));
        min_ttl = std::min(min_ttl, r.ttl);
    }
    if (out.hosts.empty()) {
        ec = make_error_code(errc::dns_error);
        diag.message = fmt::format("SRV rescan of {}: no valid target ({})", service, rejected);
        co_return std::nullopt;
    }
    out.min_ttl = std::chrono::seconds(min_ttl);
    co_return out;
}

std::vector<std::string> merge_srv_hosts(const std::vector<std::string>& current, const std::vector<std::string>& found,
                                         std::int32_t max_hosts) {
    auto has = [](const std::vector<std::string>& v, const std::string& h) {
        return std::find(v.begin(), v.end(), h) != v.end();
    };
    std::vector<std::string> out;
    for (auto& h : current)
        if (has(found, h) && !has(out, h)) out.push_back(h);
    std::vector<std::string> fresh;
    for (auto& h : found)
        if (!has(out, h) && !has(fresh, h)) fresh.push_back(h);
    if (max_hosts > 0) {
        const auto max = static_cast<std::size_t>(max_hosts);
        const std::size_t room = max > out.size() ? max - out.size() : 0;
        if (fresh.size() > room) {
            std::shuffle(fresh.begin(), fresh.end(), rng());
            fresh.resize(room);
        }
    }
    out.insert(out.end(), fresh.begin(), fresh.end());
    return out;
}

}  // namespace morm::net
