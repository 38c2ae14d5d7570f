// Server selection (server-selection.md, "Rules for server selection" and "Round Trip Times
// and the Latency Window"). Only the plain fields of the descriptions are read here.
#include <morm/topology/selection.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace morm::topology {
namespace {

using server_list = std::vector<const server_description*>;

void fail(error_code& ec, diagnostics& diag, errc e, std::string message) {
    ec = make_error_code(e);
    diag.clear();
    diag.message = std::move(message);
}

bool is_replica_set(topology_type t) noexcept {
    return t == topology_type::replica_set_no_primary || t == topology_type::replica_set_with_primary;
}

std::string describe_tag_sets(const std::vector<key_value_list>& tag_sets) {
    std::string out = "[";
    for (const auto& set : tag_sets) {
        if (out.size() > 1) out += ", ";
        out += "{";
        for (std::size_t i = 0; i < set.size(); ++i)
            out += fmt::format("{}{}: {}", i ? ", " : "", set[i].first, set[i].second);
        out += "}";
    }
    return out + "]";
}

server_list of_type(const server_list& servers, server_type t) {
    server_list out;
    std::copy_if(servers.begin(), servers.end(), std::back_inserter(out), [t](auto* s) { return s->type == t; });
    return out;
}

// A read preference tag set matches a server whose tags contain every pair of it (an empty
// set matches every server).
bool tags_match(const key_value_list& wanted, const std::map<std::string, std::string>& have) {
    return std::all_of(wanted.begin(), wanted.end(), [&](const auto& kv) {
        auto it = have.find(kv.first);
        return it != have.end() && it->second == kv.second;
    });
}

// The first tag set that matches any candidate decides; later sets are ignored.
server_list filter_by_tags(server_list candidates, const std::vector<key_value_list>& tag_sets) {
    if (tag_sets.empty()) return candidates;
    for (const auto& set : tag_sets) {
        server_list matching;
        std::copy_if(candidates.begin(), candidates.end(), std::back_inserter(matching),
                     [&](auto* s) { return tags_match(set, s->tags); });
        if (!matching.empty()) return matching;
    }
    return {};
}

// The staleness references come from the whole topology, not only from the candidates left
// after deprioritization: a deprioritized primary still tells how far behind a secondary is.
server_list filter_by_staleness(server_list candidates, const topology_description& td, const read_preference& rp,
                                const selection_params& p) {
    if (!rp.max_staleness_seconds || *rp.max_staleness_seconds <= 0) return candidates;
    const std::int64_t max_ms = std::int64_t{*rp.max_staleness_seconds} * 1000;
    const std::int64_t heartbeat = p.heartbeat_frequency.count();
    const server_description* primary = nullptr;
    const server_description* freshest = nullptr;  // the secondary with the greatest lastWriteDate
    for (const auto& [address, s] : td.servers) {
        if (s.type == server_type::rs_primary) primary = &s;
        if (s.type == server_type::rs_secondary &&
            (!freshest || s.last_write_date_ms.value_or(0) > freshest->last_write_date_ms.value_or(0)))
            freshest = &s;
    }
    auto staleness = [&](const server_description& s) -> std::int64_t {
        if (s.type != server_type::rs_secondary) return 0;
        const std::int64_t lwd = s.last_write_date_ms.value_or(0);
        if (td.type == topology_type::replica_set_with_primary && primary)
            return (s.last_update_time_ms - lwd) -
                   (primary->last_update_time_ms - primary->last_write_date_ms.value_or(0)) + heartbeat;
        return freshest->last_write_date_ms.value_or(0) - lwd + heartbeat;
    };
    std::erase_if(candidates, [&](auto* s) { return staleness(*s) > max_ms; });
    return candidates;
}

// Mode secondary (or nearest, with the primary among the candidates): max staleness first,
// then tag sets (the spec's "Why is maxStalenessSeconds applied before tag_sets?").
server_list eligible(const server_list& servers, const topology_description& td, const read_preference& rp,
                     const selection_params& p, bool primary_too) {
    server_list candidates;
    std::copy_if(servers.begin(), servers.end(), std::back_inserter(candidates), [&](auto* s) {
        return s->type == server_type::rs_secondary || (primary_too && s->type == server_type::rs_primary);
    });
    return filter_by_tags(filter_by_staleness(std::move(candidates), td, rp, p), rp.tags);
}

server_list replica_set_read(const server_list& servers, const topology_description& td, const read_preference& rp,
                             const selection_params& p) {
    switch (rp.mode) {
        case read_mode::primary: return of_type(servers, server_type::rs_primary);
        case read_mode::primary_preferred: {
            auto primaries = of_type(servers, server_type::rs_primary);
            return primaries.empty() ? eligible(servers, td, rp, p, false) : primaries;
        }
        case read_mode::secondary: return eligible(servers, td, rp, p, false);
        case read_mode::secondary_preferred: {
            auto secondaries = eligible(servers, td, rp, p, false);
            return secondaries.empty() ? of_type(servers, server_type::rs_primary) : secondaries;
        }
        case read_mode::nearest: return eligible(servers, td, rp, p, true);
    }
    return {};
}

// The suitable servers among `servers` (all of td's, or those not deprioritized).
server_list select_from(const server_list& servers, const topology_description& td, bool for_write,
                        const read_preference& rp, const selection_params& p) {
    switch (td.type) {
        case topology_type::unknown: return {};
        case topology_type::single: {
            server_list out;
            std::copy_if(servers.begin(), servers.end(), std::back_inserter(out), [](auto* s) { return s->is_known(); });
            return out;
        }
        case topology_type::sharded: return of_type(servers, server_type::mongos);
        case topology_type::load_balanced: return of_type(servers, server_type::load_balancer);
        case topology_type::replica_set_no_primary:
        case topology_type::replica_set_with_primary:
            return for_write ? of_type(servers, server_type::rs_primary) : replica_set_read(servers, td, rp, p);
    }
    return {};
}

}  // namespace

void validate(const read_preference& rp, const topology_description& td, const selection_params& p, error_code& ec,
              diagnostics& diag) {
    ec.clear();
    const bool has_tags = std::any_of(rp.tags.begin(), rp.tags.end(), [](const auto& set) { return !set.empty(); });
    if (rp.mode == read_mode::primary && has_tags)
        return fail(ec, diag, errc::invalid_argument,
                    fmt::format("read preference mode primary cannot have tag sets (got {})", describe_tag_sets(rp.tags)));
    if (!rp.max_staleness_seconds || *rp.max_staleness_seconds == -1) return;
    const std::int64_t seconds = *rp.max_staleness_seconds;
    if (rp.mode == read_mode::primary)
        return fail(ec, diag, errc::invalid_argument,
                    fmt::format("read preference mode primary cannot have maxStalenessSeconds (got {})", seconds));
    if (seconds <= 0)
        return fail(ec, diag, errc::invalid_argument,
                    fmt::format("maxStalenessSeconds must be -1 (no maximum) or positive, got {}", seconds));
    if (!is_replica_set(td.type)) return;  // mongos checks it itself
    const auto heartbeat = p.heartbeat_frequency.count();
    const std::int64_t min_ms = std::max<std::int64_t>(
        std::chrono::milliseconds(smallest_max_staleness).count(), heartbeat + idle_write_period.count());
    if (seconds * 1000 < min_ms)
        fail(ec, diag, errc::invalid_argument,
             fmt::format("maxStalenessSeconds {} is below the smallest allowed {} s: max(smallestMaxStalenessSeconds "
                         "{}, (heartbeatFrequencyMS {} + idleWritePeriodMS {}) / 1000)",
                         seconds, (min_ms + 999) / 1000, smallest_max_staleness.count(), heartbeat,
                         idle_write_period.count()));
}

std::vector<const server_description*> suitable_servers(const topology_description& td, bool for_write,
                                                        const read_preference& rp, const selection_params& p,
                                                        error_code& ec, diagnostics& diag,
                                                        std::span<const std::string> deprioritized) {
    ec.clear();
    if (td.compatibility_error) {
        fail(ec, diag, errc::not_supported, *td.compatibility_error);
        return {};
    }
    if (!for_write) {
        validate(rp, td, p, ec, diag);
        if (ec) return {};
    }
    server_list all;
    for (const auto& [address, s] : td.servers) all.push_back(&s);
    if (!deprioritized.empty()) {
        server_list preferred;
        std::copy_if(all.begin(), all.end(), std::back_inserter(preferred), [&](auto* s) {
            return std::find(deprioritized.begin(), deprioritized.end(), s->address) == deprioritized.end();
        });
        auto out = select_from(preferred, td, for_write, rp, p);
        if (!out.empty()) return out;
    }
    return select_from(all, td, for_write, rp, p);
}

std::vector<const server_description*> latency_window(std::vector<const server_description*> suitable,
                                                      const selection_params& p) {
    if (suitable.empty()) return suitable;
    auto rtt = [](const server_description* s) { return s->round_trip_time_ms.value_or(0.0); };
    double fastest = rtt(suitable.front());
    for (auto* s : suitable) fastest = std::min(fastest, rtt(s));
    const double limit = fastest + static_cast<double>(p.local_threshold.count());
    std::erase_if(suitable, [&](auto* s) { return rtt(s) > limit; });
    return suitable;
}

const server_description* choose_in_window(const std::vector<const server_description*>& window,
                                           const std::function<std::size_t(const std::string&)>& operation_count,
                                           const std::function<std::size_t(std::size_t)>& random) {
    if (window.empty()) return nullptr;
    if (window.size() == 1) return window.front();
    // Two distinct indices: the second is drawn among the n - 1 others.
    const std::size_t first = random(window.size());
    std::size_t second = random(window.size() - 1);
    if (second >= first) ++second;
    const auto* a = window[first];
    const auto* b = window[second];
    return operation_count(b->address) < operation_count(a->address) ? b : a;
}

const server_description* select_server(const topology_description& td, bool for_write, const read_preference& rp,
                                        const selection_params& p, std::span<const std::string> deprioritized,
                                        const std::function<std::size_t(const std::string&)>& operation_count,
                                        const std::function<std::size_t(std::size_t)>& random, error_code& ec,
                                        diagnostics& diag) {
    auto suitable = suitable_servers(td, for_write, rp, p, ec, diag, deprioritized);
    if (ec) return nullptr;
    return choose_in_window(latency_window(std::move(suitable), p), operation_count, random);
}

double average_rtt(std::optional<double> previous_ms, double sample_ms) noexcept {
    const double sample = std::max(sample_ms, 0.0);
    if (!previous_ms) return sample;
    constexpr double alpha = 0.2;
    return alpha * sample + (1 - alpha) * *previous_ms;
}

}  // namespace morm::topology
