#include <morm/client/client.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/write_run.hpp>

#include <fmt/format.h>

namespace morm {

boost::asio::awaitable<void> run_write_pipeline(net::connection& conn, std::span<write_group> groups,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag, pipeline_stats* stats) {
    ec.clear();
    wire::algo::write_run_algo algo(groups, conn.out_buffer(), conn.request_id_counter(),
                                    wire::algo::write_limits::from(conn.server()), stats);
    co_await net::async_run(conn, algo, deadline, ec, diag);
}

namespace {

bool acknowledged(std::span<write_group> groups) {
    for (auto& g : groups)
        if (g.wc && !g.wc->acknowledged()) return false;
    return true;
}

}  // namespace

boost::asio::awaitable<void> run_retryable_writes(detail::client_state& st, std::span<write_group> groups,
                                                  error_code& ec, diagnostics& diag, pipeline_stats* stats,
                                                  retry_stats* retries) {
    ec.clear();
    const read_preference primary;
    auto conn = co_await st.checkout(true, primary, ec, diag);
    if (ec) co_return;  // nothing was sent: every outcome stays pending
    // Unacknowledged writes take no session (driver-sessions.md).
    auto session = acknowledged(groups) ? st.implicit_session() : nullptr;
    wire::algo::write_session ws;
    ws.fields = [&st, &session](bson_t* b) {
        if (session) session->append_lsid(b);
        st.clock.append_to(b);
    };
    if (session && st.retryable_writes_on(*conn)) ws.txn_counter = &session->txn_number;
    wire::algo::write_run_algo algo(groups, conn->out_buffer(), conn->request_id_counter(),
                                    wire::algo::write_limits::from(conn->server()), stats, &ws);
    co_await net::async_run(*conn, algo, st.op_timeout, ec, diag);
    if (!algo.needs_retry()) co_return;
    if (session && ec != errc::server_error) session->dirty = true;
    const std::vector<std::string> tried{conn->remote().to_string()};
    conn = net::pooled_connection{};
    error_code rec;
    diagnostics rdiag;
    auto next = co_await st.checkout(true, primary, rec, rdiag, tried);
    if (rec) {
        // No server to retry on: the first error stands, with why the retry did not happen.
        diag.message += fmt::format(" (not retried: {})", rdiag.message);
        co_return;
    }
    algo.retry_on(next->out_buffer(), next->request_id_counter(), wire::algo::write_limits::from(next->server()));
    if (retries) *retries = {1, algo.retried_frames(), algo.retried_items()};
    ec.clear();
    diag.clear();
    co_await net::async_run(*next, algo, st.op_timeout, ec, diag);
}

}  // namespace morm
