// The SDAM state machine (server-discovery-and-monitoring.md, "Updating the
// TopologyDescription" and "Error handling"), sans-io. Each input copies the description,
// applies the spec's subroutines to the copy, then commits it and publishes the events the
// monitoring spec asks for, computed by comparing the old and new descriptions.
#include <morm/topology/sdam.hpp>

#include <morm/wire/handshake.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace morm::topology {

std::string_view to_string(sdam_event::kind k) noexcept {
    switch (k) {
    case sdam_event::kind::topology_opening: return "TopologyOpeningEvent";
    case sdam_event::kind::topology_description_changed: return "TopologyDescriptionChangedEvent";
    case sdam_event::kind::topology_closed: return "TopologyClosedEvent";
    case sdam_event::kind::server_opening: return "ServerOpeningEvent";
    case sdam_event::kind::server_description_changed: return "ServerDescriptionChangedEvent";
    case sdam_event::kind::server_closed: return "ServerClosedEvent";
    case sdam_event::kind::heartbeat_started: return "ServerHeartbeatStartedEvent";
    case sdam_event::kind::heartbeat_succeeded: return "ServerHeartbeatSucceededEvent";
    case sdam_event::kind::heartbeat_failed: return "ServerHeartbeatFailedEvent";
    }
    return "SdamEvent";
}

bool is_node_is_recovering(std::int32_t code) noexcept {
    return code == 11600 || code == 11602 || code == 13436 || code == 189 || code == 91;
}

bool is_shutdown_error(std::int32_t code) noexcept { return code == 11600 || code == 91; }

bool is_state_change_error(std::int32_t code) noexcept {
    return is_node_is_recovering(code) || code == 10107 || code == 13435 || code == 10058;
}

namespace {

// The wire version 17 (MongoDB 6.0) primary ordering compares electionId first.
constexpr std::int32_t election_id_first_wire_version = 17;
// Before wire version 8 (MongoDB 4.2) every state-change error closed the server's connections.
constexpr std::int32_t keeps_pool_on_not_primary_wire_version = 8;

// The spec's compareTopologyVersion: -1 when `incoming` is newer or the two cannot be ordered
// (either missing, or another server process), 0 when equal, 1 when `current` is newer.
int compare_topology_version(const std::optional<topology_version>& current,
                             const std::optional<topology_version>& incoming) {
    if (!current || !incoming || current->process_id != incoming->process_id) return -1;
    if (current->counter == incoming->counter) return 0;
    return current->counter < incoming->counter ? -1 : 1;
}

// Without a code, the spec's legacy message rules decide.
bool is_state_change(const app_error& e) {
    if (e.code != 0) return is_state_change_error(e.code);
    const auto& m = e.message;
    return m.find("not master") != std::string::npos || m.find("node is recovering") != std::string::npos;
}

// Null sorts before every value: the 6.0 rule's "null is always less than".
template <class T>
int compare_nullable(const std::optional<T>& a, const std::optional<T>& b) {
    if (!a || !b) return int(a.has_value()) - int(b.has_value());
    return *a < *b ? -1 : (*b < *a ? 1 : 0);
}

std::string tuple_text(const std::optional<bson::object_id>& eid, const std::optional<std::int64_t>& sv) {
    return fmt::format("({}, {})", eid ? eid->to_hex() : "null", sv ? std::to_string(*sv) : "null");
}

bool is_member_type(server_type t) {
    return t == server_type::rs_secondary || t == server_type::rs_arbiter || t == server_type::rs_other;
}

// Applies one new server description to a copy of the topology description, recording what
// the runtime must do. The member functions are the spec's subroutines of the same names.
struct updater {
    topology_description& td;
    sdam_actions& a;
    const sdam_options& opts;

    void remove(const std::string& address) {
        if (td.servers.erase(address)) a.removed.push_back(address);
    }

    void add_members(const server_description& sd) {
        for (const auto* list : {&sd.hosts, &sd.passives, &sd.arbiters})
            for (const auto& h : *list)
                if (td.servers.emplace(h, unknown_server(h)).second) a.added.push_back(h);
    }

    void check_if_has_primary() {
        bool has = std::any_of(td.servers.begin(), td.servers.end(),
                               [](const auto& kv) { return kv.second.type == server_type::rs_primary; });
        td.type = has ? topology_type::replica_set_with_primary : topology_type::replica_set_no_primary;
    }

    void mark_possible_primary(const server_description& sd) {
        if (!sd.primary) return;
        auto it = td.servers.find(*sd.primary);
        if (it != td.servers.end() && it->second.type == server_type::unknown)
            it->second.type = server_type::possible_primary;
    }

    bool me_mismatch(const server_description& sd) const { return sd.me && *sd.me != sd.address; }

    void update_unknown_with_standalone(const server_description& sd) {
        if (opts.seeds.size() == 1) td.type = topology_type::single;
        else remove(sd.address);
    }

    void update_rs_without_primary(const server_description& sd) {
        if (!td.set_name) td.set_name = sd.set_name;
        else if (td.set_name != sd.set_name) return remove(sd.address);
        add_members(sd);
        mark_possible_primary(sd);
        if (me_mismatch(sd)) remove(sd.address);
    }

    void update_rs_with_primary_from_member(const server_description& sd) {
        if (td.set_name != sd.set_name || me_mismatch(sd)) {
            remove(sd.address);
            return check_if_has_primary();
        }
        // Had this member been the primary?
        check_if_has_primary();
        if (td.type == topology_type::replica_set_no_primary) mark_possible_primary(sd);
    }

    // The (electionId, setVersion) check: records the new maximum, or returns why `sd` is stale.
    std::optional<std::string> stale_primary(const server_description& sd) {
        auto stale = [&] {
            return fmt::format("primary marked stale due to electionId/setVersion mismatch, {} is stale compared to {}",
                               tuple_text(sd.election_id, sd.set_version),
                               tuple_text(td.max_election_id, td.max_set_version));
        };
        if (sd.max_wire_version >= election_id_first_wire_version) {
            int by_election = compare_nullable(sd.election_id, td.max_election_id);
            if (by_election < 0 || (by_election == 0 && compare_nullable(sd.set_version, td.max_set_version) < 0))
                return stale();
            td.max_election_id = sd.election_id;
            td.max_set_version = sd.set_version;
            return std::nullopt;
        }
        // Before 6.0: setVersion first, then electionId.
        if (sd.set_version && sd.election_id) {
            if (td.max_set_version && td.max_election_id &&
                (*td.max_set_version > *sd.set_version ||
                 (*td.max_set_version == *sd.set_version && *td.max_election_id > *sd.election_id)))
                return stale();
            td.max_election_id = sd.election_id;
        }
        if (sd.set_version && (!td.max_set_version || *sd.set_version > *td.max_set_version))
            td.max_set_version = sd.set_version;
        return std::nullopt;
    }

    void update_rs_from_primary(const server_description& sd) {
        if (!td.set_name) td.set_name = sd.set_name;
        else if (td.set_name != sd.set_name) {
            remove(sd.address);
            return check_if_has_primary();
        }
        if (auto why = stale_primary(sd)) {
            td.servers[sd.address] = unknown_server(sd.address, std::move(*why), sd.last_update_time_ms);
            return check_if_has_primary();
        }
        for (auto& [address, other] : td.servers) {
            if (address == sd.address || other.type != server_type::rs_primary) continue;
            other = unknown_server(address, "primary marked stale due to discovery of newer primary",
                                   sd.last_update_time_ms);
            a.check_now.push_back(address);  // it is probably a secondary now
        }
        add_members(sd);
        std::set<std::string> members(sd.hosts.begin(), sd.hosts.end());
        members.insert(sd.passives.begin(), sd.passives.end());
        members.insert(sd.arbiters.begin(), sd.arbiters.end());
        std::vector<std::string> gone;
        for (const auto& kv : td.servers)
            if (!members.count(kv.first)) gone.push_back(kv.first);
        for (const auto& address : gone) remove(address);
        check_if_has_primary();
    }

    void from_unknown(const server_description& sd) {
        switch (sd.type) {
        case server_type::standalone: return update_unknown_with_standalone(sd);
        case server_type::mongos: td.type = topology_type::sharded; return;
        case server_type::rs_primary: return update_rs_from_primary(sd);
        default:
            if (!is_member_type(sd.type)) return;  // Unknown, RSGhost: no-op
            td.type = topology_type::replica_set_no_primary;
            return update_rs_without_primary(sd);
        }
    }

    void from_replica_set(const server_description& sd) {
        bool with_primary = td.type == topology_type::replica_set_with_primary;
        if (sd.type == server_type::standalone || sd.type == server_type::mongos) remove(sd.address);
        if (sd.type == server_type::rs_primary) return update_rs_from_primary(sd);
        if (is_member_type(sd.type))
            return with_primary ? update_rs_with_primary_from_member(sd) : update_rs_without_primary(sd);
        if (with_primary) check_if_has_primary();  // Unknown, RSGhost, or a removed non-member
    }

    // The TopologyType table, after the server's description was replaced.
    void apply(const server_description& sd) {
        switch (td.type) {
        case topology_type::single:
        case topology_type::load_balanced: return;
        case topology_type::unknown: return from_unknown(sd);
        case topology_type::sharded:
            if (sd.type != server_type::unknown && sd.type != server_type::mongos) remove(sd.address);
            return;
        case topology_type::replica_set_no_primary:
        case topology_type::replica_set_with_primary: return from_replica_set(sd);
        }
    }
};

std::optional<std::string> compatibility_error(const topology_description& td) {
    if (td.type == topology_type::load_balanced) return std::nullopt;
    for (const auto& [address, sd] : td.servers) {
        if (sd.type == server_type::unknown || sd.type == server_type::possible_primary) continue;
        if (sd.min_wire_version > wire::max_supported_wire_version)
            return fmt::format("Server at {} requires wire version {}, but this version of morm only supports up to {}.",
                               address, sd.min_wire_version, wire::max_supported_wire_version);
        if (sd.max_wire_version < wire::min_wire_version)
            return fmt::format("Server at {} reports wire version {}, but this version of morm requires at least {} "
                               "(MongoDB 3.6).",
                               address, sd.max_wire_version, wire::min_wire_version);
    }
    return std::nullopt;
}

// The smallest value over the data-bearing servers; null if any of them has none.
std::optional<std::int64_t> session_timeout(const topology_description& td) {
    std::optional<std::int64_t> result;
    for (const auto& kv : td.servers) {
        const auto& sd = kv.second;
        if (!sd.is_data_bearing()) continue;
        if (!sd.logical_session_timeout_minutes) return std::nullopt;
        result = std::min(result.value_or(*sd.logical_session_timeout_minutes), *sd.logical_session_timeout_minutes);
    }
    return result;
}

bool same_topology(const topology_description& a, const topology_description& b) {
    if (a.type != b.type || a.set_name != b.set_name || a.max_set_version != b.max_set_version ||
        a.max_election_id != b.max_election_id || a.compatibility_error != b.compatibility_error ||
        a.logical_session_timeout_minutes != b.logical_session_timeout_minutes || a.servers.size() != b.servers.size())
        return false;
    for (const auto& [address, sd] : a.servers) {
        auto it = b.servers.find(address);
        if (it == b.servers.end() || !same_description(sd, it->second)) return false;
    }
    return true;
}

// Marking an Unknown server PossiblePrimary is bookkeeping for single-threaded scans: not an
// event (the spec's monitoring tests expect none).
bool worth_an_event(const server_description& before, const server_description& after) {
    if (before.type == server_type::unknown && after.type == server_type::possible_primary) return false;
    return !same_description(before, after);
}

// The monitoring spec's order: the checked server's change, other servers' changes, closed
// servers, opened servers, then the topology's change.
void publish(const sdam_listener& listener, const topology_description& prev, const topology_description& next,
             const server_description* incoming) {
    if (!listener) return;
    auto server_event = [&](sdam_event::kind k, const std::string& address) {
        sdam_event ev;
        ev.what = k;
        ev.address = address;
        return ev;
    };
    auto changed = [&](const server_description& before, const server_description& after) {
        auto ev = server_event(sdam_event::kind::server_description_changed, before.address);
        ev.previous_server = &before;
        ev.new_server = &after;
        listener(ev);
    };
    if (incoming) {
        auto p = prev.servers.find(incoming->address);
        auto n = next.servers.find(incoming->address);
        const auto& after = n != next.servers.end() ? n->second : *incoming;
        if (p != prev.servers.end() && worth_an_event(p->second, after)) changed(p->second, after);
    }
    for (const auto& [address, before] : prev.servers) {
        auto n = next.servers.find(address);
        if ((incoming && address == incoming->address) || n == next.servers.end()) continue;
        if (worth_an_event(before, n->second)) changed(before, n->second);
    }
    for (const auto& kv : prev.servers)
        if (!next.servers.count(kv.first)) listener(server_event(sdam_event::kind::server_closed, kv.first));
    for (const auto& kv : next.servers)
        if (!prev.servers.count(kv.first)) listener(server_event(sdam_event::kind::server_opening, kv.first));
    if (!same_topology(prev, next)) {
        sdam_event ev;
        ev.what = sdam_event::kind::topology_description_changed;
        ev.previous_topology = &prev;
        ev.new_topology = &next;
        listener(ev);
    }
}

topology_type initial_type(const sdam_options& o) {
    if (o.load_balanced) return topology_type::load_balanced;
    if (o.direct_connection.value_or(false)) return topology_type::single;
    if (o.replica_set) return topology_type::replica_set_no_primary;
    return topology_type::unknown;
}

}  // namespace

sdam_state::sdam_state(sdam_options opts, sdam_listener listener)
    : opts_(std::move(opts)), listener_(std::move(listener)) {
    for (auto& s : opts_.seeds) s = normalize_address(s);
    topology_description initial;
    initial.type = initial_type(opts_);
    initial.set_name = opts_.replica_set;
    for (const auto& s : opts_.seeds) initial.servers.emplace(s, unknown_server(s));
    initial.compatibility_error = compatibility_error(initial);
    desc_ = std::move(initial);
    if (listener_) {
        // At construction the topology's change comes before the servers open (the
        // monitoring spec's tests); later, new servers open before the topology's change.
        sdam_event ev;
        ev.what = sdam_event::kind::topology_opening;
        listener_(ev);
        const topology_description empty;
        ev.what = sdam_event::kind::topology_description_changed;
        ev.previous_topology = &empty;
        ev.new_topology = &desc_;
        listener_(ev);
        for (const auto& kv : desc_.servers) {
            sdam_event opening;
            opening.what = sdam_event::kind::server_opening;
            opening.address = kv.first;
            listener_(opening);
        }
    }
    if (desc_.type != topology_type::load_balanced) return;
    // No monitor behind a load balancer: the one server is a LoadBalancer from the start.
    topology_description next = desc_;
    for (auto& kv : next.servers) {
        kv.second = server_description{};
        kv.second.address = kv.first;
        kv.second.type = server_type::load_balancer;
    }
    std::optional<server_description> lb;
    if (!next.servers.empty()) lb = next.servers.begin()->second;
    commit(std::move(next), lb ? &*lb : nullptr);
}

void sdam_state::commit(topology_description next, const server_description* incoming) {
    next.compatibility_error = compatibility_error(next);
    next.logical_session_timeout_minutes = session_timeout(next);
    for (auto it = generations_.begin(); it != generations_.end();)
        it = next.servers.count(it->first) ? std::next(it) : generations_.erase(it);
    topology_description prev = std::move(desc_);
    desc_ = std::move(next);
    publish(listener_, prev, desc_, incoming);
}

sdam_actions sdam_state::replace(server_description sd, bool clear_pool) {
    sdam_actions a;
    if (sd.type == server_type::unknown) sd.round_trip_time_ms.reset();
    topology_description next = desc_;
    if (next.type == topology_type::single && sd.is_known() && opts_.replica_set && sd.set_name != opts_.replica_set)
        sd = unknown_server(sd.address,
                            fmt::format("replica set name mismatch: expected {}, the server reports {}",
                                        *opts_.replica_set, sd.set_name.value_or("none")),
                            sd.last_update_time_ms);
    next.servers[sd.address] = sd;
    updater{next, a, opts_}.apply(sd);
    if (clear_pool && next.servers.count(sd.address)) {
        ++generations_[sd.address];
        a.cleared.push_back(sd.address);
    }
    a.changed = true;
    commit(std::move(next), &sd);
    return a;
}

sdam_actions sdam_state::on_server_description(server_description sd) {
    sd.address = normalize_address(sd.address);
    auto cur = desc_.servers.find(sd.address);
    // Outcomes from removed servers, and from older topology versions, are ignored; a load
    // balancer is never monitored.
    if (cur == desc_.servers.end() || desc_.type == topology_type::load_balanced) return {};
    if (compare_topology_version(cur->second.topology_version, sd.topology_version) > 0) return {};
    // A failed check on a server we knew clears its pool (server-monitoring.md "Network or
    // command error during server check"); a server that stays down is not cleared again.
    bool failed = sd.type == server_type::unknown && sd.error && cur->second.type != server_type::unknown &&
                  cur->second.type != server_type::possible_primary;
    return replace(std::move(sd), failed);
}

sdam_actions sdam_state::on_application_error(const app_error& e) {
    std::string address = normalize_address(e.address);
    auto cur = desc_.servers.find(address);
    if (cur == desc_.servers.end() || e.generation < pool_generation(address)) return {};
    if (compare_topology_version(cur->second.topology_version, e.topology_version) >= 0) return {};
    bool state_change = e.what == app_error::kind::command && is_state_change(e);
    // A timeout changes nothing: after the handshake it may be a slow operation, before it the
    // spec leaves the description alone. Other command errors matter only during the handshake
    // (authentication failed).
    if (e.what == app_error::kind::timeout) return {};
    if (e.what == app_error::kind::command && !state_change && !e.before_handshake_completed) return {};
    bool clear = !state_change || is_shutdown_error(e.code) ||
                 e.max_wire_version < keeps_pool_on_not_primary_wire_version;
    sdam_actions a;
    if (desc_.type == topology_type::load_balanced) {
        if (clear) {
            ++generations_[address];
            a.cleared.push_back(address);
        }
    } else {
        auto sd = unknown_server(address, e.message.empty() ? "operation failed" : e.message);
        if (state_change) sd.topology_version = e.topology_version;
        a = replace(std::move(sd), clear);
    }
    // The server is up but not what we thought: look again now (no monitor behind a load balancer).
    if (state_change && desc_.type != topology_type::load_balanced) a.check_now.push_back(address);
    return a;
}

std::uint64_t sdam_state::pool_generation(const std::string& address) const {
    auto it = generations_.find(normalize_address(address));
    return it == generations_.end() ? 0 : it->second;
}

sdam_actions sdam_state::on_srv_hosts(std::vector<std::string> hosts) {
    sdam_actions a;
    if (desc_.type != topology_type::sharded && desc_.type != topology_type::unknown) return a;
    std::vector<std::string> wanted;
    for (const auto& h : hosts) {
        auto n = normalize_address(h);
        if (std::find(wanted.begin(), wanted.end(), n) == wanted.end()) wanted.push_back(std::move(n));
    }
    if (wanted.empty()) return a;  // a failed or empty lookup keeps the servers we have
    topology_description next = desc_;
    updater u{next, a, opts_};
    std::vector<std::string> gone;
    for (const auto& kv : next.servers)
        if (std::find(wanted.begin(), wanted.end(), kv.first) == wanted.end()) gone.push_back(kv.first);
    for (const auto& address : gone) u.remove(address);
    for (const auto& h : wanted) {
        if (opts_.srv_max_hosts > 0 && next.servers.size() >= static_cast<std::size_t>(opts_.srv_max_hosts)) break;
        if (next.servers.emplace(h, unknown_server(h)).second) a.added.push_back(h);
    }
    a.changed = !a.added.empty() || !a.removed.empty();
    if (a.changed) commit(std::move(next), nullptr);
    return a;
}

void sdam_state::close() {
    commit(topology_description{}, nullptr);
    generations_.clear();
    if (listener_) {
        sdam_event ev;
        ev.what = sdam_event::kind::topology_closed;
        listener_(ev);
    }
}

}  // namespace morm::topology
