// The one driver: runs any sans-io algorithm (wire/algo/) on a connection.
//
// It performs the algorithm's actions on the socket and nothing else:
//   write: sends the bytes in one write while reading, concurrently, the replies to the
//          frames in them (so a large reply never deadlocks against a large request);
//          the replies are handed to the algorithm one per read action, in order. A write
//          that fails after some replies arrived is reported after those replies.
//   read:  hands over the next reply (reading one frame if none is buffered).
// Deadlines: `deadline` (0 = none) bounds the whole run, the connection's socketTimeoutMS
// each socket read; either ends the run with errc::timeout.
// Cancellation: the coroutine's cancellation slot (e.g. `op || timer.async_wait(...)`)
// reaches the socket operation in progress; the algorithm then finishes with
// asio::error::operation_aborted.
// Whenever the run ends with replies still unread, a network error, a protocol error, a
// timeout or a cancellation, the connection is closed: its stream position is unknown, so
// a pool never hands it out again. So is a connection with bytes left over after the
// replies the run asked for (a second reply to one request, an unsolicited frame): kept,
// they would be taken as the answer to its next request. The run's own result stands.
// Command monitoring: when the connection's params carry a listener, `started` is emitted
// for each frame as it is written, `succeeded`/`failed` (ok:0) for each reply as the
// algorithm receives it, and `failed` for each frame left unanswered, once each.
#pragma once

#include <morm/error.hpp>
#include <morm/net/connection.hpp>
#include <morm/wire/algo/next_action.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace morm::net {

/// Runs `algo` until it is done; `ec`/`diag` are its result.
asio::awaitable<void> async_run(connection& conn, wire::algo::algorithm_ref algo, std::chrono::milliseconds deadline,
                                error_code& ec, diagnostics& diag);

}  // namespace morm::net
