// The client: a connection string, a pool of connections to the selected server, and
// the entry point to databases and collections.
//
//   auto cl = co_await morm::client::connect("mongodb://127.0.0.1:27017/mydb");
//   auto users = cl.default_database()["users"];
//   co_await users.insert_one(bson::document::from_json(R"({"name": "John"})"));
//
// Every operation is a coroutine (`asio::awaitable`) and throws `morm::error` (error_code
// + diagnostics with the server's code, codeName and errmsg). Handles (client, database,
// collection) are cheap to copy and share state; use them from any number of coroutines,
// on one io_context or on a multi-threaded one.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/pool.hpp>
#include <morm/uri.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace morm {

namespace asio = boost::asio;

class database;
class collection;

/// Options that are not in the connection string.
struct client_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    client_options() = default;
    net::command_listener command_listener;  ///< command monitoring (started/succeeded/failed)
    std::chrono::milliseconds operation_timeout{0};  ///< default per-operation deadline (0 = none)
};

namespace detail {
/// State shared by all handles of one client.
struct client_state {
    /// The executor connect() ran on: operations started with a completion token run their
    /// coroutine here (their handler runs on its own associated executor, this by default).
    asio::any_io_executor ex;
    connection_string uri;
    std::shared_ptr<net::connection_params> conn_params;
    std::shared_ptr<net::pool> pool;
    wire::server_description server;
    write_concern default_wc;
    read_preference default_rp;
    std::chrono::milliseconds op_timeout{0};

    /// Runs one command on a pooled connection; the reply body goes to `on_reply`.
    asio::awaitable<void> command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                  const std::function<void(const struct _bson_t*)>& on_reply, error_code& ec,
                                  diagnostics& diag);
    /// Throwing form.
    asio::awaitable<void> command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                  const std::function<void(const struct _bson_t*)>& on_reply = {});
};
}  // namespace detail

class client {
public:
    client() = default;

    /// Parses `uri`, selects the server (the writable primary among the hosts), opens the
    /// first connection (handshake + auth) and returns a client. Throws morm::error:
    /// errc::bad_uri with the position, errc::network/timeout/auth_failed/tls_error.
    static asio::awaitable<client> connect(std::string_view uri, client_options opts = {});
    static asio::awaitable<client> connect(connection_string uri, client_options opts = {});

    /// A handle to database `name` (no I/O).
    morm::database database(std::string_view name) const;
    /// The database named in the connection string; throws if it names none.
    morm::database default_database() const;

    /// Runs `cmd` against `db` and returns the reply (ok:0 throws with the server's error).
    asio::awaitable<bson::document> run_command(std::string_view db, const bson::document& cmd) const;

    asio::awaitable<std::vector<std::string>> list_database_names() const;

    /// Writes every group (see batch_write.hpp) over one pooled connection: unordered
    /// groups pipelined in one socket write, ordered ones batch by batch. Never throws;
    /// per-item outcomes land in the groups. A failure to get a connection sends nothing
    /// (every outcome stays pending); a connection lost mid-run leaves the items whose reply
    /// never came `unacknowledged`. `groups` (and what their encoders capture) must outlive
    /// the call. Runs on the calling coroutine's executor; cancellation as for any read or
    /// write on the connection (the connection is then closed, never reused).
    asio::awaitable<void> write_groups(std::span<write_group> groups, error_code& ec, diagnostics& diag,
                                       pipeline_stats* stats = nullptr) const;

    /// Checks a connection out of the pool, e.g. to pipeline several commands on it.
    asio::awaitable<net::pooled_connection> acquire() const;

    const connection_string& uri() const { return state_->uri; }
    /// The hello reply of the selected server (limits, wire version, replica set name).
    const wire::server_description& server() const { return state_->server; }
    net::pool_stats pool_stats() const { return state_->pool->stats(); }
    /// Closes idle connections and fails waiters; in-use connections close when returned.
    void close();

    bool valid() const noexcept { return state_ != nullptr; }
    const std::shared_ptr<detail::client_state>& state() const noexcept { return state_; }

private:
    std::shared_ptr<detail::client_state> state_;
};

}  // namespace morm
