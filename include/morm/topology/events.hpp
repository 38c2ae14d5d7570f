// SDAM monitoring events (server-discovery-and-monitoring-logging-and-monitoring.md), given
// to one listener next to command monitoring. Synchronous callbacks: keep them cheap.
#pragma once

#include <morm/topology/description.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace morm::topology {

struct sdam_event {
    enum class kind : std::uint8_t {
        topology_opening,
        topology_description_changed,
        topology_closed,
        server_opening,
        server_description_changed,
        server_closed,
        heartbeat_started,
        heartbeat_succeeded,
        heartbeat_failed,
    };
    kind what = kind::topology_opening;
    std::string address;                             ///< server events
    const server_description* previous_server = nullptr;  ///< server_description_changed
    const server_description* new_server = nullptr;
    const topology_description* previous_topology = nullptr;  ///< topology_description_changed
    const topology_description* new_topology = nullptr;
    bool awaited = false;                            ///< heartbeats: a streaming/awaitable hello
    std::chrono::nanoseconds duration{0};            ///< heartbeat succeeded/failed
    const bson_t* reply = nullptr;                   ///< heartbeat succeeded
    std::string failure;                             ///< heartbeat failed
};
std::string_view to_string(sdam_event::kind k) noexcept;

using sdam_listener = std::function<void(const sdam_event&)>;

}  // namespace morm::topology
