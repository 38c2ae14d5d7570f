// The topology runtime: the I/O half of SDAM and server selection. It owns one monitor and
// one CMAP pool per server, feeds the sans-io state machine (topology/sdam.hpp) with the
// monitors' hello replies and the operations' errors, and selects servers for operations
// (topology/selection.hpp), waiting up to serverSelectionTimeoutMS for a suitable one.
//
// Threads: every member is safe to call from any thread; monitors run as coroutines on the
// executor given at creation. Listeners (SDAM events) are called with the topology's lock
// released, from whichever thread made the change.
#pragma once

#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/pool.hpp>
#include <morm/topology/sdam.hpp>
#include <morm/topology/selection.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace morm::net {

/// One SRV rescan for mongodb+srv:// polling: the hosts found ("host:port"), or nullopt to
/// keep the current ones (lookup failed); sets the delay before the next rescan.
using srv_rescanner =
    std::function<asio::awaitable<std::optional<std::vector<std::string>>>(std::chrono::milliseconds& next)>;

struct topology_params {
    morm::topology::sdam_options sdam;
    std::chrono::milliseconds heartbeat_frequency{10000};
    std::chrono::milliseconds min_heartbeat_frequency{500};
    /// serverMonitoringMode resolved: false polls (connection_string::streaming_monitoring()).
    bool streaming_monitoring = true;
    std::chrono::milliseconds server_selection_timeout{30000};
    std::chrono::milliseconds local_threshold{15};
    /// Application connections (TLS, handshake, auth, command monitoring).
    std::shared_ptr<const connection_params> conn;
    pool_params pool;
    morm::topology::sdam_listener listener;
    /// Set for mongodb+srv://: SRV polling while the topology is Sharded or Unknown
    /// (initial-dns-seedlist-discovery.md, rescanSRVIntervalMS).
    srv_rescanner srv_rescan;
};

class monitor;

/// "host:port" or a unix socket path -> endpoint; nullopt when the port is not a number in
/// 1..65535 or the host is empty.
std::optional<endpoint> endpoint_of(const std::string& address);

/// A server picked by selection: its pool, and its description at the time of the choice.
/// Holding it counts as one operation in progress on the server (the in-window choice).
class selected_server {
public:
    selected_server() = default;
    selected_server(std::shared_ptr<pool> p, morm::topology::server_description sd,
                    std::shared_ptr<std::atomic<std::size_t>> ops, std::shared_ptr<class topology> topo);
    selected_server(selected_server&&) noexcept = default;
    selected_server& operator=(selected_server&&) noexcept;
    ~selected_server();

    const std::shared_ptr<pool>& server_pool() const noexcept { return pool_; }
    const morm::topology::server_description& description() const noexcept { return sd_; }
    explicit operator bool() const noexcept { return pool_ != nullptr; }

private:
    void done() noexcept;
    std::shared_ptr<pool> pool_;
    morm::topology::server_description sd_;
    std::shared_ptr<std::atomic<std::size_t>> ops_;
    std::shared_ptr<class topology> topo_;  ///< told when its last operation ends
};

class topology : public std::enable_shared_from_this<topology> {
public:
    topology(asio::any_io_executor ex, topology_params p);
    ~topology();
    topology(const topology&) = delete;
    topology& operator=(const topology&) = delete;

    /// Starts a monitor (and a pool) for every seed.
    void start();
    /// Stops every monitor, closes every pool and emits the closing events.
    void close();

    /// \brief Picks a server for a write (`for_write`) or a read with `rp`, waiting for the
    /// topology to change (and asking monitors to check at once) until one suits or
    /// serverSelectionTimeoutMS passes: errc::timeout with the topology in the message.
    /// An invalid read preference: errc::invalid_argument at once. `deprioritized`: servers
    /// a retried operation failed on (used only when nothing else suits).
    /// Cancellation: terminal, through the coroutine's cancellation slot.
    /// `fail_fast` (client::connect): give up as soon as every known server has been checked
    /// once and none suits, with the first check's error (e.g. errc::tls_error).
    asio::awaitable<selected_server> async_select(bool for_write, const read_preference& rp, error_code& ec,
                                                  diagnostics& diag, std::span<const std::string> deprioritized = {},
                                                  bool fail_fast = false);

    /// An operation failed on `conn` (from `generation` of its server's pool): feeds SDAM's
    /// application-error handling (mark Unknown, clear the pool, check now).
    void on_operation_error(const std::string& address, std::uint64_t generation, bool before_handshake,
                            const error_code& ec, const diagnostics& diag);
    /// The same for a write command's reply that reported a state-change code.
    void on_server_error_code(const std::string& address, std::uint64_t generation, std::int32_t code,
                              const diagnostics& diag);

    /// The topology type and logicalSessionTimeoutMinutes, without copying the description
    /// (the per-operation questions).
    morm::topology::topology_type type() const;
    std::optional<std::int64_t> logical_session_timeout() const;
    /// A copy of the current topology description.
    morm::topology::topology_description description() const;
    /// The pool of `address`, if the topology still has that server.
    std::shared_ptr<pool> pool_for(const std::string& address) const;
    const topology_params& params() const noexcept { return p_; }
    asio::any_io_executor get_executor() const noexcept { return ex_; }

    /// Wakes every monitor for an immediate check (rate-limited by minHeartbeatFrequencyMS).
    void request_check();

    /// No operation holds a selected server and none waits in selection. Monitors check
    /// only while the client has work: an idle client leaves its executor without pending
    /// work (so io_context::run() returns), and the first operation after a pause wakes them.
    bool idle() const noexcept { return active_.load() == 0; }
    /// Counts an operation in progress (selection or a selected server) in or out.
    void enter() noexcept;
    void leave() noexcept;

private:
    friend class monitor;
    struct server_entry {
        std::shared_ptr<net::pool> conns;
        std::shared_ptr<monitor> mon;
        std::shared_ptr<std::atomic<std::size_t>> ops = std::make_shared<std::atomic<std::size_t>>(0);
    };
    /// A monitor's check finished.
    void on_check(morm::topology::server_description sd, error_code ec);
    /// fail_fast: every server checked once, none usable: the first one's error.
    bool first_round_failed(error_code& ec, diagnostics& diag) const;
    /// Acts on what the state machine asked for; called with mtx_ held, returns the work to do
    /// outside the lock.
    std::vector<std::function<void()>> apply(const morm::topology::sdam_actions& a);
    void add_server(const std::string& address, std::vector<std::function<void()>>& after);
    void wake_waiters();
    asio::awaitable<void> rescan_srv();
    void maybe_rescan_srv();
    void emit(const morm::topology::sdam_event& ev) const;
    selected_server try_select(bool for_write, const read_preference& rp, std::span<const std::string> deprioritized,
                               error_code& ec, diagnostics& diag);

    asio::any_io_executor ex_;
    topology_params p_;
    mutable std::mutex mtx_;
    std::unique_ptr<morm::topology::sdam_state> state_;
    std::map<std::string, server_entry> servers_;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
    std::map<std::string, error_code> check_errors_;  ///< the last failed check's error
    bool closed_ = false;
    std::chrono::steady_clock::time_point srv_next_{};  ///< SRV polling: next rescan due
    bool srv_running_ = false;
    std::atomic<std::size_t> active_{0};
};

}  // namespace morm::net
