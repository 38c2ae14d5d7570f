#include <morm/client/write_pipeline.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/write_run.hpp>

namespace morm {

boost::asio::awaitable<void> run_write_pipeline(net::connection& conn, std::span<write_group> groups,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag, pipeline_stats* stats) {
    ec.clear();
    wire::algo::write_run_algo algo(groups, conn.out_buffer(), conn.request_id_counter(),
                                    wire::algo::write_limits::from(conn.server()), stats);
    co_await net::async_run(conn, algo, deadline, ec, diag);
}

}  // namespace morm
