// Server selection, sans-io (server-selection.md): which servers of a topology description
// suit an operation, the latency window, the in-window choice, and RTT averaging. The runtime
// (net/topology.hpp) loops over this with its clock and waits up to serverSelectionTimeoutMS.
#pragma once

#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/topology/description.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace morm::topology {

/// The spec's idleWritePeriodMS: how often an idle primary writes a no-op to the oplog.
inline constexpr std::chrono::milliseconds idle_write_period{10000};
/// The spec's smallestMaxStalenessSeconds.
inline constexpr std::chrono::seconds smallest_max_staleness{90};

struct selection_params {
    std::chrono::milliseconds heartbeat_frequency{10000};  ///< for maxStalenessSeconds
    std::chrono::milliseconds local_threshold{15};
};

/// Checks a read preference against the spec's rules: a non-empty tag set or a
/// maxStalenessSeconds with mode primary; a maxStalenessSeconds other than -1 that is not
/// positive; and, for replica-set topologies, one below max(90 s, heartbeatFrequencyMS +
/// idleWritePeriodMS). Sets errc::invalid_argument with a message naming the rule; clears
/// `ec` when the read preference is valid.
void validate(const read_preference& rp, const topology_description& td, const selection_params& p, error_code& ec,
              diagnostics& diag);

/// The suitable servers for a write (`for_write`) or a read with `rp`, before the latency
/// window, in address order. Follows the spec per topology type: Unknown -> none, Single ->
/// the server if known, Sharded / LoadBalanced -> every mongos / the load balancer (read
/// preference ignored), replica sets -> writes to the primary only, reads per mode, max
/// staleness, then tag sets. `deprioritized` holds the addresses of servers a retried
/// operation already failed on: they are left out unless nothing else suits.
/// A read preference that fails validate() gives errc::invalid_argument (reads only); a
/// topology with a compatibility_error gives errc::not_supported. An empty result with no
/// error means "nothing suits yet": the caller waits for a topology change.
std::vector<const server_description*> suitable_servers(const topology_description& td, bool for_write,
                                                        const read_preference& rp, const selection_params& p,
                                                        error_code& ec, diagnostics& diag,
                                                        std::span<const std::string> deprioritized = {});

/// The servers of `suitable` whose RTT is within local_threshold of the fastest (a server
/// with no RTT, e.g. a load balancer, counts as 0 ms). Order is kept.
std::vector<const server_description*> latency_window(std::vector<const server_description*> suitable,
                                                      const selection_params& p);

/// The spec's in-window choice: two distinct servers picked at random, the one with fewer
/// operations in progress wins (ties: the first picked). `operation_count(address)` gives
/// that count; `random(n)` returns a uniform index in [0, n). One server: that server; none:
/// nullptr. The caller increments the winner's operation count.
const server_description* choose_in_window(const std::vector<const server_description*>& window,
                                           const std::function<std::size_t(const std::string&)>& operation_count,
                                           const std::function<std::size_t(std::size_t)>& random);

/// One selection attempt: suitable_servers, latency_window, choose_in_window. nullptr with
/// no error when nothing suits yet (wait for a topology change and try again).
const server_description* select_server(const topology_description& td, bool for_write, const read_preference& rp,
                                        const selection_params& p, std::span<const std::string> deprioritized,
                                        const std::function<std::size_t(const std::string&)>& operation_count,
                                        const std::function<std::size_t(std::size_t)>& random, error_code& ec,
                                        diagnostics& diag);

/// Exponentially weighted RTT average (alpha 0.2); the first sample (no previous average) is
/// taken as is. A negative sample counts as 0.
double average_rtt(std::optional<double> previous_ms, double sample_ms) noexcept;

}  // namespace morm::topology
