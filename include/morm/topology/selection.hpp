// Server selection, sans-io (server-selection.md): which servers of a topology description
// suit an operation, the latency window, the in-window choice, and RTT averaging. The runtime
// (net/topology.hpp) loops over this with its clock and waits up to serverSelectionTimeoutMS.
#pragma once

#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/topology/description.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace morm::topology {

struct selection_params {
    std::chrono::milliseconds heartbeat_frequency{10000};  ///< for maxStalenessSeconds
    std::chrono::milliseconds local_threshold{15};
};

/// Checks a read preference against the spec's rules (tags or maxStalenessSeconds with mode
/// primary; maxStalenessSeconds below max(90, heartbeat + 10 s)): errc::invalid_argument.
void validate(const read_preference& rp, const topology_description& td, const selection_params& p, error_code& ec,
              diagnostics& diag);

/// The suitable servers for a write (`for_write`) or a read with `rp`, before the latency
/// window. Follows the spec per topology type: Single -> the server, Sharded / LoadBalanced
/// -> every mongos / the load balancer, replica sets -> the read preference (mode, max
/// staleness, tag sets). Invalid read preferences give errc::invalid_argument.
std::vector<const server_description*> suitable_servers(const topology_description& td, bool for_write,
                                                        const read_preference& rp, const selection_params& p,
                                                        error_code& ec, diagnostics& diag);

/// The servers of `suitable` whose RTT is within local_threshold of the fastest.
std::vector<const server_description*> latency_window(std::vector<const server_description*> suitable,
                                                      const selection_params& p);

/// The spec's in-window choice: two distinct servers picked at random, the one with fewer
/// operations in progress wins. `operation_count(address)` gives that count; `random(n)`
/// returns a uniform index in [0, n).
const server_description* choose_in_window(const std::vector<const server_description*>& window,
                                           const std::function<std::size_t(const std::string&)>& operation_count,
                                           const std::function<std::size_t(std::size_t)>& random);

/// Exponentially weighted RTT average (alpha 0.2); the first sample is taken as is.
double average_rtt(std::optional<double> previous_ms, double sample_ms) noexcept;

}  // namespace morm::topology
