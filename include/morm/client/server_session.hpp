// Logical sessions (driver-sessions.md): the server-session pool behind every command's
// `lsid`, the transaction number counter retryable writes draw from, and the cluster clock
// gossiped as `$clusterTime`. Implementation detail of the client; the public face is the
// `lsid` and `txnNumber` fields commands carry.
#pragma once

#include <bson/bson.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace morm::detail {

/// One server session: its id (a UUID, sent as `lsid: {id: <binary subtype 4>}`), the last
/// time it was used, and the next txnNumber.
struct server_session {
    std::array<std::uint8_t, 16> id{};
    std::chrono::steady_clock::time_point last_use{};
    std::int64_t txn_number = 0;
    /// A network error happened while it was in use: the server may still hold it busy, so
    /// it is not reused (the spec's "dirty" session).
    bool dirty = false;

    void append_lsid(bson_t* cmd) const;
    std::int64_t next_txn_number() noexcept { return ++txn_number; }
};

/// LIFO pool of server sessions. acquire() hands out a shared_ptr that returns the session
/// to the pool when the last holder (an operation, a cursor) lets go.
class session_pool : public std::enable_shared_from_this<session_pool> {
public:
    /// `timeout_minutes`: the deployment's logicalSessionTimeoutMinutes; sessions within a
    /// minute of it are dropped rather than reused.
    std::shared_ptr<server_session> acquire(std::int64_t timeout_minutes);
    /// Every pooled id, emptying the pool (for endSessions at close).
    std::vector<std::array<std::uint8_t, 16>> drain();
    std::size_t size() const;

private:
    void give_back(server_session* s, std::int64_t timeout_minutes) noexcept;
    mutable std::mutex mtx_;
    std::deque<std::unique_ptr<server_session>> free_;
};

/// The highest $clusterTime seen in any reply; appended to every command to a deployment
/// that reports one (causal-consistency.md, "gossipping the cluster time").
class cluster_clock {
public:
    /// Takes the reply's `$clusterTime` if it is newer.
    void observe(const bson_t* reply);
    /// Appends `$clusterTime` when one was seen.
    void append_to(bson_t* cmd) const;
    bool empty() const;

private:
    mutable std::mutex mtx_;
    std::uint32_t t_ = 0, i_ = 0;
    std::vector<std::uint8_t> doc_;  ///< the whole $clusterTime document (with its signature)
};

/// The reply's `operationTime` as (t, i), if any.
std::optional<std::pair<std::uint32_t, std::uint32_t>> operation_time_of(const bson_t* reply);

}  // namespace morm::detail
