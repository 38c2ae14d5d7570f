// The SDAM state machine, sans-io: seeds and options in, hello outcomes and application errors
// in, a new topology description (and SDAM events) out. The runtime (net/topology.hpp) feeds it
// from its monitors and operations and acts on what it returns (start or stop monitors, clear
// a pool, check a server now); the spec tests feed it the JSON phases directly.
#pragma once

#include <morm/topology/description.hpp>
#include <morm/topology/events.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace morm::topology {

struct sdam_options {
    std::vector<std::string> seeds;           ///< "host:port"
    std::optional<std::string> replica_set;   ///< replicaSet=
    std::optional<bool> direct_connection;    ///< directConnection=
    bool load_balanced = false;               ///< loadBalanced=true
    bool srv = false;                         ///< seeds came from a mongodb+srv lookup
    std::int32_t srv_max_hosts = 0;           ///< 0 = no limit
};

/// An error an operation met on a connection to `address` (SDAM "Error handling").
struct app_error {
    enum class kind : std::uint8_t { network, timeout, command };
    std::string address;
    kind what = kind::command;
    bool before_handshake_completed = false;  ///< during connect/hello/auth
    std::uint64_t generation = 0;              ///< the pool generation of the connection
    std::int32_t code = 0;                     ///< server error code (kind::command); 0: none, `message` decides
    std::int32_t max_wire_version = 0;         ///< the server's, for the 4.2 pool-clear rule (0: unknown, clears)
    std::optional<morm::topology::topology_version> topology_version;  ///< from the error reply, if any
    std::string message;
};

/// What the runtime must do after an input.
struct sdam_actions {
    std::vector<std::string> added;    ///< new servers: start a monitor and a pool
    std::vector<std::string> removed;  ///< gone: stop the monitor, close the pool
    std::vector<std::string> cleared;  ///< pools to clear (their generation was bumped)
    std::vector<std::string> check_now;  ///< monitors to wake for an immediate check
    bool changed = false;              ///< a new description was stored (maybe only its RTTs): republish
};

class sdam_state {
public:
    /// Builds the initial description from the seeds and options (the spec's "Initial
    /// TopologyDescription"), emitting the opening events to `listener` if set.
    explicit sdam_state(sdam_options opts, sdam_listener listener = {});

    const topology_description& description() const noexcept { return desc_; }
    const sdam_options& options() const noexcept { return opts_; }

    /// A monitor's check finished: a parsed hello, or unknown_server(address, error).
    /// Ignored for a server no longer in the topology, behind a load balancer, or when its
    /// topologyVersion is older than the current one. A failed check (Unknown with an error)
    /// of a server that was known clears its pool.
    sdam_actions on_server_description(server_description sd);
    /// An operation failed on a connection (network error, timeout, or a state-change error
    /// code such as NotWritablePrimary / NodeIsRecovering). Stale errors (old generation,
    /// older topologyVersion) change nothing, nor do timeouts, nor command errors that are
    /// not state changes once the handshake completed. Network errors and handshake errors
    /// mark the server Unknown and clear its pool; state changes mark it Unknown, ask for an
    /// immediate check, and clear the pool on shutdown codes or before wire version 8.
    sdam_actions on_application_error(const app_error& e);
    /// The current pool generation of `address` (0 when unknown).
    std::uint64_t pool_generation(const std::string& address) const;
    /// New SRV records (SRV polling, sharded / unknown topologies only): servers not in
    /// `hosts` are removed, new ones added in the given order up to srvMaxHosts (the caller
    /// shuffles). An empty list changes nothing.
    sdam_actions on_srv_hosts(std::vector<std::string> hosts);
    /// Emits the closing events.
    void close();

private:
    /// Stores `sd` and runs the TopologyType table on it; bumps the pool generation if asked.
    sdam_actions replace(server_description sd, bool clear_pool);
    /// Makes `next` current (compatibility, session timeout) and publishes the events that
    /// take the old description to it; `incoming` is the server description that caused it.
    void commit(topology_description next, const server_description* incoming);

    sdam_options opts_;
    sdam_listener listener_;
    topology_description desc_;
    std::map<std::string, std::uint64_t> generations_;
};

/// True for the codes the SDAM spec calls "not writable primary" / "node is recovering"
/// (state-change errors), looked up by code.
bool is_state_change_error(std::int32_t code) noexcept;
bool is_node_is_recovering(std::int32_t code) noexcept;
bool is_shutdown_error(std::int32_t code) noexcept;  ///< 11600, 91

}  // namespace morm::topology
