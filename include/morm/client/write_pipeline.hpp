// The pipelined write run behind client::write_groups (collection::bulk_write and the
// ORM's commit): the sans-io algorithm wire/algo/write_run.hpp (batch splitting by the
// server's limits, documents encoded in place into the connection's buffer, replies
// mapped to per-item outcomes) run on a connection by the driver (net/driver.hpp).
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/awaitable.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace morm {

namespace net {
class connection;
}
namespace detail {
struct client_state;
}

/// What the retry of a write run did (tests and the failover figures).
struct retry_stats {
    std::size_t retries = 0;  ///< 0 or 1
    std::size_t frames = 0;   ///< commands sent again
    std::size_t items = 0;    ///< statements in them
};

/// Encodes every group into frames on `conn` and runs them. Unordered groups are sent
/// back-to-back in one write before the first reply is read; ordered groups go batch by
/// batch and stop at the first error. Per-item outcomes land in each group. A network or
/// protocol failure sets `ec`: items whose reply never came are `unacknowledged`, items
/// not yet sent stay `pending`, everything acknowledged before stays `ok`/`failed`.
boost::asio::awaitable<void> run_write_pipeline(net::connection& conn, std::span<write_group> groups,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag, pipeline_stats* stats = nullptr);

/// The client's write path: selects a writable server, checks out a connection, runs the
/// groups with the session's lsid and, when retryable writes apply (retryWrites, a replica
/// set or mongos, an acknowledged write concern), a txnNumber per command. After a network
/// error or a retryable error reply the commands whose outcome is unknown are sent once
/// more, with the same txnNumbers, to a newly selected server (the new primary), and the run
/// goes on there; the server's transaction table makes the repeat of an applied command a
/// no-op. `stats` may be null.
boost::asio::awaitable<void> run_retryable_writes(detail::client_state& st, std::span<write_group> groups,
                                                  error_code& ec, diagnostics& diag, pipeline_stats* stats = nullptr,
                                                  retry_stats* retries = nullptr);

/// The same groups inside one multi-document transaction (transactions.md): a probe read
/// starts it (startTransaction), every write command carries the session's lsid, one
/// txnNumber and autocommit:false, then commitTransaction. All or nothing: when a write
/// fails the transaction is aborted and every item that the server had accepted goes back to
/// `pending` (rolled back). A TransientTransactionError reruns the whole transaction (at most
/// 3 times); an UnknownTransactionCommitResult or retryable error retries the commit once.
/// A deployment without transactions (a standalone, a server that refuses startTransaction)
/// fails with errc::not_supported before anything is written.
boost::asio::awaitable<void> run_transaction(detail::client_state& st, std::span<write_group> groups,
                                             error_code& ec, diagnostics& diag, pipeline_stats* stats = nullptr);

}  // namespace morm
