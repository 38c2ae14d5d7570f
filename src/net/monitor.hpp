// One server's monitor (server-monitoring.md): its own connection (no auth, no command
// monitoring), a hello every heartbeatFrequencyMS, or, when streaming is allowed
// (serverMonitoringMode stream, or auto outside FaaS) and the server offers it, the awaitable
// hello (topologyVersion + maxAwaitTimeMS) with a separate RTT loop; the averaged RTT; one
// immediate retry after a network error on a known server.
#pragma once

#include <morm/net/connection.hpp>
#include <morm/topology/description.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace morm::net {

class topology;

struct monitor_params {
    std::string address;
    endpoint ep;
    std::shared_ptr<const connection_params> conn;  ///< no auth, no listener
    std::chrono::milliseconds heartbeat{10000};
    std::chrono::milliseconds min_heartbeat{500};
    /// False for serverMonitoringMode=poll (or auto on FaaS): plain hellos only, never the
    /// awaitable one, and no separate RTT connection.
    bool streaming = true;
};

class monitor : public std::enable_shared_from_this<monitor> {
public:
    monitor(asio::any_io_executor ex, monitor_params p, std::weak_ptr<topology> topo);
    void start();
    void stop();
    /// The client is idle: stop checking (close the connections, end the waits) so that the
    /// executor runs out of work, as it would without a client. resume() starts again.
    void park();
    /// Work arrived: checks resume (after heartbeatFrequencyMS since the last one, or now).
    void resume();
    /// Check now (or as soon as minHeartbeatFrequencyMS allows).
    void request_check();
    /// The averaged RTT so far.
    std::optional<double> rtt_ms() const;

private:
    asio::awaitable<void> run(std::uint64_t gen);
    asio::awaitable<void> rtt_loop(std::uint64_t gen);
    bool current(std::uint64_t gen) const noexcept { return !stopped_ && gen == gen_.load(); }
    /// One check: hello (awaited when `tv` is set); fills `sd`.
    asio::awaitable<void> check(morm::topology::server_description& sd, bool& awaited, error_code& ec);
    asio::awaitable<void> wait_next(std::chrono::steady_clock::time_point last_start, std::uint64_t gen);
    void add_rtt(double ms);

    asio::any_io_executor ex_;
    monitor_params p_;
    std::weak_ptr<topology> topo_;
    std::unique_ptr<connection> conn_;
    std::unique_ptr<connection> rtt_conn_;
    asio::steady_timer timer_;
    asio::steady_timer rtt_timer_;
    std::atomic<bool> stopped_{false};
    std::atomic<bool> check_requested_{false};
    std::atomic<bool> parked_{false};
    std::atomic<std::uint64_t> gen_{0};   ///< bumped by park(): loops of older generations end
    std::atomic<std::int64_t> last_start_{0};  ///< steady ns of the last check's start
    bool rtt_running_ = false;
    mutable std::mutex mtx_;
    std::optional<double> rtt_;
    std::optional<morm::topology::topology_version> tv_;
};


}  // namespace morm::net
