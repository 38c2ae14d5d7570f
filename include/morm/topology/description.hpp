// What the driver knows about a deployment: one description per server (from its last hello
// or its last failure) and the topology description that gathers them (the SDAM spec's
// ServerDescription and TopologyDescription). Plain values, no I/O: the SDAM state machine
// (sdam.hpp) computes them, server selection (selection.hpp) reads them, the runtime
// (net/topology.hpp) publishes a new one after each change.
#pragma once

#include <morm/bson/object_id.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace morm::topology {

enum class server_type : std::uint8_t {
    unknown,
    standalone,
    mongos,
    possible_primary,
    rs_primary,
    rs_secondary,
    rs_arbiter,
    rs_other,
    rs_ghost,
    load_balancer,
};
/// The spec's names ("RSPrimary", "Mongos", ...), as the JSON tests and events spell them.
std::string_view to_string(server_type t) noexcept;

enum class topology_type : std::uint8_t {
    unknown,
    single,
    replica_set_no_primary,
    replica_set_with_primary,
    sharded,
    load_balanced,
};
/// "Unknown", "Single", "ReplicaSetNoPrimary", "ReplicaSetWithPrimary", "Sharded", "LoadBalanced".
std::string_view to_string(topology_type t) noexcept;

/// hello's topologyVersion: orders replies and errors of one server process.
struct topology_version {
    bson::object_id process_id;
    std::int64_t counter = 0;
    friend bool operator==(const topology_version&, const topology_version&) = default;
};

/// The SDAM spec's ServerDescription. `address` is "host:port", lower-cased host.
struct server_description {
    std::string address;
    server_type type = server_type::unknown;
    std::optional<std::string> error;            ///< why the server is Unknown, if it failed
    std::optional<double> round_trip_time_ms;    ///< the monitor's averaged RTT
    std::optional<std::int64_t> last_write_date_ms;  ///< hello's lastWrite.lastWriteDate (ms since epoch)
    std::int64_t last_update_time_ms = 0;        ///< monotonic ms when this description was made
    std::int32_t min_wire_version = 0;
    std::int32_t max_wire_version = 0;
    std::optional<std::string> me;               ///< lower-cased
    std::vector<std::string> hosts;              ///< lower-cased, as reported
    std::vector<std::string> passives;
    std::vector<std::string> arbiters;
    std::map<std::string, std::string> tags;
    std::optional<std::string> set_name;
    std::optional<std::int64_t> set_version;
    std::optional<bson::object_id> election_id;
    std::optional<std::string> primary;          ///< lower-cased
    std::optional<std::int64_t> logical_session_timeout_minutes;
    std::optional<morm::topology::topology_version> topology_version;
    std::optional<bson::object_id> service_id;   ///< hello's serviceId (behind a load balancer)
    // Limits the driver uses (not part of the spec's equality).
    std::int32_t max_bson_object_size = 16 * 1024 * 1024;
    std::int32_t max_message_size_bytes = 48'000'000;
    std::int32_t max_write_batch_size = 100'000;
    bool hello_ok = false;

    bool is_data_bearing() const noexcept {
        return type == server_type::standalone || type == server_type::mongos || type == server_type::rs_primary ||
               type == server_type::rs_secondary || type == server_type::load_balancer;
    }
    bool is_known() const noexcept { return type != server_type::unknown; }
};

/// The spec's equality for ServerDescriptionChangedEvent: every field it names, not the RTT
/// or the update time.
bool same_description(const server_description& a, const server_description& b) noexcept;

/// A description built from a hello reply (the document body). It never fails: an
/// unusable field keeps its default (limits above MongoDB's own are clamped to them,
/// zero/negative/non-numeric limits keep the defaults, wire versions saturate to int32,
/// host entries that are not strings are skipped). `rtt_ms` is the averaged
/// round-trip time to store; `now_ms` the monotonic clock in ms.
server_description parse_hello(std::string_view address, const bson_t* reply, std::optional<double> rtt_ms,
                               std::int64_t now_ms);

/// An Unknown description (initial, or after `error`).
server_description unknown_server(std::string_view address, std::string error = {}, std::int64_t now_ms = 0);

/// "Host:Port" -> "host:port" (lower-cased host, default port 27017 added).
std::string normalize_address(std::string_view host_port);

/// The SDAM spec's TopologyDescription.
struct topology_description {
    topology_type type = topology_type::unknown;
    std::optional<std::string> set_name;
    std::optional<std::int64_t> max_set_version;
    std::optional<bson::object_id> max_election_id;
    std::map<std::string, server_description> servers;  ///< by address
    std::optional<std::string> compatibility_error;      ///< set: no operation may run
    std::optional<std::int64_t> logical_session_timeout_minutes;

    bool has_readable_server() const;  ///< any data-bearing server
    bool has_writable_server() const;  ///< a primary, mongos, standalone or load balancer
    /// One line per server, for "no server suits" errors: "a:1 RSSecondary, b:2 Unknown (error)".
    std::string summary() const;
};

}  // namespace morm::topology
