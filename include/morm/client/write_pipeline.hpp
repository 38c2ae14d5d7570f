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

/// Encodes every group into frames on `conn` and runs them. Unordered groups are sent
/// back-to-back in one write before the first reply is read; ordered groups go batch by
/// batch and stop at the first error. Per-item outcomes land in each group. A network or
/// protocol failure sets `ec`: items whose reply never came are `unacknowledged`, items
/// not yet sent stay `pending`, everything acknowledged before stays `ok`/`failed`.
boost::asio::awaitable<void> run_write_pipeline(net::connection& conn, std::span<write_group> groups,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag, pipeline_stats* stats = nullptr);

}  // namespace morm
