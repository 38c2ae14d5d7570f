// Server and topology descriptions: the SDAM spec's "Parsing a hello or legacy hello
// response", its ServerDescription equality, and the spec's enum spellings.
#include <morm/topology/description.hpp>
#include <morm/wire/handshake.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace morm::topology {

std::string_view to_string(server_type t) noexcept {
    switch (t) {
    case server_type::unknown: return "Unknown";
    case server_type::standalone: return "Standalone";
    case server_type::mongos: return "Mongos";
    case server_type::possible_primary: return "PossiblePrimary";
    case server_type::rs_primary: return "RSPrimary";
    case server_type::rs_secondary: return "RSSecondary";
    case server_type::rs_arbiter: return "RSArbiter";
    case server_type::rs_other: return "RSOther";
    case server_type::rs_ghost: return "RSGhost";
    case server_type::load_balancer: return "LoadBalancer";
    }
    return "Unknown";
}

std::string_view to_string(topology_type t) noexcept {
    switch (t) {
    case topology_type::unknown: return "Unknown";
    case topology_type::single: return "Single";
    case topology_type::replica_set_no_primary: return "ReplicaSetNoPrimary";
    case topology_type::replica_set_with_primary: return "ReplicaSetWithPrimary";
    case topology_type::sharded: return "Sharded";
    case topology_type::load_balanced: return "LoadBalanced";
    }
    return "Unknown";
}

std::string normalize_address(std::string_view host_port) {
    std::string s(host_port);
    // A unix socket path is case-sensitive and has no port.
    if (s.size() >= 5 && s.compare(s.size() - 5, 5, ".sock") == 0) return s;
    std::size_t host_end = s.size();
    bool has_port = false;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close != std::string::npos) {
            host_end = close + 1;
            has_port = host_end < s.size() && s[host_end] == ':';
        }
    } else if (auto colon = s.rfind(':'); colon != std::string::npos && s.find(':') == colon) {
        host_end = colon;
        has_port = true;
    }
    for (std::size_t i = 0; i < host_end; ++i)
        if (s[i] >= 'A' && s[i] <= 'Z') s[i] = static_cast<char>(s[i] - 'A' + 'a');
    if (!has_port) {
        // A bare IPv6 literal ("::1") gets its brackets so that the port is unambiguous.
        if (s.find(':') != std::string::npos && s.front() != '[') s = "[" + s + "]";
        s += ":27017";
    }
    return s;
}

namespace {

// The reply's numbers may come as int32, int64 or double (mongos and old servers differ); a
// double out of the int64 range saturates (a plain cast would be undefined behaviour).
std::optional<std::int64_t> as_int(const bson_iter_t& it) {
    if (BSON_ITER_HOLDS_BOOL(&it)) return bson_iter_bool(&it) ? 1 : 0;
    return wire::hello_number(it);
}

std::int32_t as_int32(const bson_iter_t& it, std::int32_t dflt) {
    auto v = as_int(it);
    if (!v) return dflt;
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(*v, INT32_MIN, INT32_MAX));
}

// A size limit the driver trusts (buffers, batches): MongoDB's own value at most; zero,
// negative or not a number keeps the default (a monitor's description cannot fail; the
// connection's handshake refuses such a reply with the reason).
std::int32_t limit(const bson_iter_t& it, std::int32_t dflt, std::int32_t cap) {
    auto v = as_int(it);
    if (!v || *v <= 0 || BSON_ITER_HOLDS_BOOL(&it)) return dflt;
    return static_cast<std::int32_t>(std::min<std::int64_t>(*v, cap));
}

bool truthy(const bson_iter_t& it) { return bson_iter_as_bool(&it); }

std::optional<std::string> as_string(const bson_iter_t& it) {
    if (!BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return std::string(s, len);
}

std::vector<std::string> address_list(const bson_iter_t& it) {
    std::vector<std::string> out;
    bson_iter_t child;
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &child)) return out;
    while (bson_iter_next(&child))
        if (auto s = as_string(child)) out.push_back(normalize_address(*s));
    return out;
}

std::optional<morm::topology::topology_version> parse_topology_version(const bson_iter_t& it) {
    bson_iter_t child;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child)) return std::nullopt;
    morm::topology::topology_version tv;
    bool have_pid = false;
    while (bson_iter_next(&child)) {
        std::string_view key = bson_iter_key(&child);
        if (key == "processId" && BSON_ITER_HOLDS_OID(&child)) {
            tv.process_id = bson::object_id(*bson_iter_oid(&child));
            have_pid = true;
        } else if (key == "counter") {
            tv.counter = as_int(child).value_or(0);
        }
    }
    if (!have_pid) return std::nullopt;
    return tv;
}

std::map<std::string, std::string> parse_tags(const bson_iter_t& it) {
    std::map<std::string, std::string> tags;
    bson_iter_t child;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child)) return tags;
    while (bson_iter_next(&child))
        if (auto v = as_string(child)) tags.emplace(bson_iter_key(&child), std::move(*v));
    return tags;
}

std::optional<std::int64_t> last_write_date(const bson_iter_t& it) {
    bson_iter_t child;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child)) return std::nullopt;
    if (!bson_iter_find(&child, "lastWriteDate") || !BSON_ITER_HOLDS_DATE_TIME(&child)) return std::nullopt;
    return bson_iter_date_time(&child);
}

// The flags the server type is decided from ("Parsing a hello or legacy hello response").
struct role_flags {
    std::optional<bool> writable_primary;  // isWritablePrimary, else ismaster
    bool legacy_ismaster = false;
    bool secondary = false;
    bool arbiter_only = false;
    bool hidden = false;
    bool is_replica_set = false;
    bool isdbgrid = false;
};

server_type type_of(const role_flags& f, bool has_set_name) {
    if (f.is_replica_set) return server_type::rs_ghost;
    if (has_set_name) {
        if (f.hidden) return server_type::rs_other;
        if (f.writable_primary.value_or(f.legacy_ismaster)) return server_type::rs_primary;
        if (f.secondary) return server_type::rs_secondary;
        if (f.arbiter_only) return server_type::rs_arbiter;
        return server_type::rs_other;
    }
    if (f.isdbgrid) return server_type::mongos;
    return server_type::standalone;
}

// Stores one field of the reply into `sd` or `f`; unknown keys are ignored.
void read_field(const bson_iter_t& it, server_description& sd, role_flags& f) {
    std::string_view k = bson_iter_key(&it);
    if (k == "isWritablePrimary") f.writable_primary = truthy(it);
    else if (k == "ismaster") f.legacy_ismaster = truthy(it);
    else if (k == "secondary") f.secondary = truthy(it);
    else if (k == "arbiterOnly") f.arbiter_only = truthy(it);
    else if (k == "hidden") f.hidden = truthy(it);
    else if (k == "isreplicaset") f.is_replica_set = truthy(it);
    else if (k == "msg") f.isdbgrid = as_string(it) == "isdbgrid";
    else if (k == "setName") sd.set_name = as_string(it);
    else if (k == "setVersion") sd.set_version = as_int(it);
    else if (k == "electionId" && BSON_ITER_HOLDS_OID(&it)) sd.election_id = bson::object_id(*bson_iter_oid(&it));
    else if (k == "serviceId" && BSON_ITER_HOLDS_OID(&it)) sd.service_id = bson::object_id(*bson_iter_oid(&it));
    else if (k == "primary") {
        if (auto s = as_string(it)) sd.primary = normalize_address(*s);
    } else if (k == "me") {
        if (auto s = as_string(it)) sd.me = normalize_address(*s);
    } else if (k == "hosts") sd.hosts = address_list(it);
    else if (k == "passives") sd.passives = address_list(it);
    else if (k == "arbiters") sd.arbiters = address_list(it);
    else if (k == "tags") sd.tags = parse_tags(it);
    else if (k == "lastWrite") sd.last_write_date_ms = last_write_date(it);
    else if (k == "minWireVersion") sd.min_wire_version = as_int32(it, 0);
    else if (k == "maxWireVersion") sd.max_wire_version = as_int32(it, 0);
    else if (k == "logicalSessionTimeoutMinutes") sd.logical_session_timeout_minutes = as_int(it);
    else if (k == "topologyVersion") sd.topology_version = parse_topology_version(it);
    else if (k == "maxBsonObjectSize") sd.max_bson_object_size = limit(it, sd.max_bson_object_size, wire::max_bson_object_size_cap);
    else if (k == "maxMessageSizeBytes") sd.max_message_size_bytes = limit(it, sd.max_message_size_bytes, wire::max_message_size_bytes_cap);
    else if (k == "maxWriteBatchSize") sd.max_write_batch_size = limit(it, sd.max_write_batch_size, wire::max_write_batch_size_cap);
    else if (k == "helloOk") sd.hello_ok = truthy(it);
}

bool reply_ok(const bson_t* reply) {
    bson_iter_t it;
    if (!reply || !bson_iter_init_find(&it, reply, "ok")) return false;
    return as_int(it).value_or(0) == 1;
}

std::string failure_text(const bson_t* reply) {
    bson_iter_t it;
    std::string msg = "hello failed";
    if (reply && bson_iter_init_find(&it, reply, "errmsg"))
        if (auto s = as_string(it)) msg = fmt::format("hello failed: {}", *s);
    if (reply && bson_iter_init_find(&it, reply, "code"))
        if (auto c = as_int(it)) msg += fmt::format(" (code {})", *c);
    return msg;
}

// Host lists are sets: the order the server reports them in does not matter.
bool same_set(std::vector<std::string> a, std::vector<std::string> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

}  // namespace

server_description parse_hello(std::string_view address, const bson_t* reply, std::optional<double> rtt_ms,
                               std::int64_t now_ms) {
    // An "ok: 0" reply is a failed check: the server is Unknown, whatever else it says.
    if (!reply_ok(reply)) return unknown_server(address, failure_text(reply), now_ms);
    server_description sd;
    sd.address = normalize_address(address);
    sd.last_update_time_ms = now_ms;
    sd.round_trip_time_ms = rtt_ms;
    role_flags flags;
    bson_iter_t it;
    if (bson_iter_init(&it, reply))
        while (bson_iter_next(&it)) read_field(it, sd, flags);
    sd.type = type_of(flags, sd.set_name.has_value());
    return sd;
}

server_description unknown_server(std::string_view address, std::string error, std::int64_t now_ms) {
    server_description sd;
    sd.address = normalize_address(address);
    if (!error.empty()) sd.error = std::move(error);
    sd.last_update_time_ms = now_ms;
    return sd;
}

bool same_description(const server_description& a, const server_description& b) noexcept {
    return a.address == b.address && a.type == b.type && a.error == b.error &&
           a.min_wire_version == b.min_wire_version && a.max_wire_version == b.max_wire_version && a.me == b.me &&
           same_set(a.hosts, b.hosts) && same_set(a.passives, b.passives) && same_set(a.arbiters, b.arbiters) &&
           a.tags == b.tags && a.set_name == b.set_name && a.set_version == b.set_version &&
           a.election_id == b.election_id && a.primary == b.primary &&
           a.logical_session_timeout_minutes == b.logical_session_timeout_minutes &&
           a.topology_version == b.topology_version;
}

bool topology_description::has_readable_server() const {
    return std::any_of(servers.begin(), servers.end(), [](const auto& kv) { return kv.second.is_data_bearing(); });
}

bool topology_description::has_writable_server() const {
    return std::any_of(servers.begin(), servers.end(), [](const auto& kv) {
        auto t = kv.second.type;
        return t == server_type::rs_primary || t == server_type::mongos || t == server_type::standalone ||
               t == server_type::load_balancer;
    });
}

std::string topology_description::summary() const {
    std::string out = fmt::format("{}", to_string(type));
    if (set_name) out += fmt::format(" (set {})", *set_name);
    if (servers.empty()) out += ", no servers";
    const char* sep = ": ";
    for (const auto& [address, sd] : servers) {
        out += fmt::format("{}{} {}", sep, address, to_string(sd.type));
        if (sd.error) out += fmt::format(" ({})", *sd.error);
        sep = ", ";
    }
    if (compatibility_error) out += fmt::format("; {}", *compatibility_error);
    return out;
}

}  // namespace morm::topology
