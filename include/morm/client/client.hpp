// The client: a connection string, a pool of connections to the selected server, and
// the entry point to databases and collections.
//
//   auto cl = co_await morm::client::connect("mongodb://127.0.0.1:27017/mydb");
//   auto users = cl.default_database()["users"];
//   co_await users.insert_one(bson::document::from_json(R"({"name": "John"})"));
//
// Handles (client, database, collection) are cheap to copy and share state; use them from
// any number of coroutines, on one io_context or on a multi-threaded one.
//
// Every asynchronous operation comes in two forms (see morm/detail/initiate.hpp):
//  - `co_await op(args...)`: runs in the calling coroutine and throws morm::error
//    (error_code + diagnostics with the server's code, codeName and errmsg);
//  - `op(args..., token)`: any Asio completion token (callbacks, asio::use_future,
//    asio::deferred, asio::as_tuple(asio::use_awaitable), morm::with_diagnostics(diag, t)).
//    It throws nothing: the completion carries the error_code, with_diagnostics the
//    server's message. The body runs on the client's executor (the one connect() ran on);
//    the handler on its associated executor (that one by default).
// Cancellation (token form): terminal cancellation through the token's cancellation slot
// (`op(..., asio::use_awaitable) || timer.async_wait(asio::use_awaitable)`,
// asio::bind_cancellation_slot) aborts the pool wait or the socket I/O the operation is
// suspended in; it completes with asio::error::operation_aborted. A connection cut
// mid-reply is closed, never returned to the pool. A cancelled write may or may not have
// been applied by the server.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/client/options.hpp>
#include <morm/detail/initiate.hpp>
#include <morm/error.hpp>
#include <morm/net/connection.hpp>
#include <morm/net/pool.hpp>
#include <morm/net/topology.hpp>
#include <morm/client/server_session.hpp>
#include <morm/uri.hpp>

#include <boost/asio/any_io_executor.hpp>
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
    /// DNS server ("ip:port") for the SRV/TXT lookups of mongodb+srv:// and for resolving the
    /// host names of the servers. Empty: $MORM_DNS_SERVER, else the system's resolver.
    std::string dns_server;
    /// SDAM monitoring: topology and server opening/changes/closing, heartbeats.
    topology::sdam_listener sdam_listener;
};

namespace detail {

/// Where a command goes and how it may be retried.
struct command_route {
    bool write = true;                          ///< to the primary (or a mongos / standalone)
    const read_preference* rp = nullptr;        ///< reads: nullptr = the client's default
    bool retryable_read = false;                ///< one retry on another server (retryable-reads.md)
    std::shared_ptr<net::pool> pinned;          ///< getMore / killCursors: the cursor's server
    std::shared_ptr<server_session> session;    ///< the cursor's session; else an implicit one
    /// Out: the server the command ran on and the session it used (cursors keep both).
    std::shared_ptr<net::pool>* used_pool = nullptr;
    std::shared_ptr<server_session>* used_session = nullptr;
};

/// State shared by all handles of one client.
struct client_state {
    /// The executor connect() ran on: operations started with a completion token run their
    /// coroutine here (their handler runs on its own associated executor, this by default).
    asio::any_io_executor ex;
    connection_string uri;
    std::shared_ptr<net::connection_params> conn_params;
    std::shared_ptr<net::topology> topo;
    std::shared_ptr<session_pool> sessions = std::make_shared<session_pool>();
    cluster_clock clock;
    wire::server_description server;  ///< the first server's hello (limits, versions)
    write_concern default_wc;
    read_preference default_rp;
    std::chrono::milliseconds op_timeout{0};

    ~client_state();

    /// Runs one command (on the primary, or as `route` says) on a pooled connection, with
    /// the session fields; the reply body goes to `on_reply`.
    asio::awaitable<void> command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                  const std::function<void(const struct _bson_t*)>& on_reply, error_code& ec,
                                  diagnostics& diag);
    asio::awaitable<void> command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                  const std::function<void(const struct _bson_t*)>& on_reply,
                                  const command_route& route, error_code& ec, diagnostics& diag);
    /// Throwing form.
    asio::awaitable<void> command(std::string_view db, const std::function<void(struct _bson_t*)>& build,
                                  const std::function<void(const struct _bson_t*)>& on_reply = {});

    /// Selects a server (a writable one, or per `rp`) and checks a connection out of its pool.
    /// A failure to connect is reported to the topology (SDAM application errors).
    asio::awaitable<net::pooled_connection> checkout(bool for_write, const read_preference& rp, error_code& ec,
                                                     diagnostics& diag,
                                                     std::span<const std::string> deprioritized = {});
    /// A connection from `p` (a pinned cursor's server).
    asio::awaitable<net::pooled_connection> checkout(const std::shared_ptr<net::pool>& p, error_code& ec,
                                                     diagnostics& diag);
    /// An implicit session when the deployment supports sessions, else null.
    std::shared_ptr<server_session> implicit_session() const;
    /// True when writes to the server behind `conn` may carry a txnNumber (retryWrites, not
    /// a standalone, sessions supported).
    bool retryable_writes_on(const net::connection& conn) const;
    /// Gossips the cluster time from a reply.
    void observe_reply(const struct _bson_t* reply) { clock.observe(reply); }
};
}  // namespace detail

class client {
public:
    client() = default;

    /// \brief Parses `uri`, selects the server (the writable primary among the hosts), opens
    /// the first connection (handshake + auth) and returns a client.
    /// \par Errors
    ///   errc::bad_uri (with the position, or a bad mongodb+srv TXT record or SRV target),
    ///   errc::dns_error (mongodb+srv lookups), errc::not_supported (an unsupported
    ///   authMechanism), errc::network / timeout / auth_failed / tls_error, and
    ///   errc::network with every host's failure in the message when no server suits.
    /// \par Completion signature
    ///   `void(morm::error_code, morm::client)`.
    /// \par Executor
    ///   The client keeps the executor the operation runs on: the calling coroutine's
    ///   (no token) or `ex` (token form; the handler runs on its associated executor,
    ///   `ex` by default). Token-form operations of the client and of every handle made from
    ///   it run there.
    /// \par Object lifetimes
    ///   `uri` and `opts` are copied; nothing must outlive the call.
    /// \par Cancellation
    ///   Terminal: aborts the connection attempt (connect, TLS, handshake or auth I/O);
    ///   completes with asio::error::operation_aborted; no client is made.
    static asio::awaitable<client> connect(std::string_view uri, client_options opts = {});
    static asio::awaitable<client> connect(connection_string uri, client_options opts = {});
    template <token_for<client> Token>
    static auto connect(asio::any_io_executor ex, std::string_view uri, client_options opts, Token&& token) {
        return detail::initiate<client>(ex, token,
                                        [u = std::string(uri), opts = std::move(opts)](error_code& ec, diagnostics& diag) {
                                            return connect(u, opts, ec, diag);
                                        });
    }
    template <token_for<client> Token>
    static auto connect(asio::any_io_executor ex, std::string_view uri, Token&& token) {
        return connect(std::move(ex), uri, client_options{}, std::forward<Token>(token));
    }
    /// The no-throw body of connect() for callers composing inside their own coroutine:
    /// failure sets `ec`/`diag` and returns an invalid client.
    static asio::awaitable<client> connect(std::string_view uri, client_options opts, error_code& ec,
                                           diagnostics& diag);

    /// A handle to database `name` (no I/O).
    morm::database database(std::string_view name) const;
    /// The database named in the connection string; throws if it names none.
    morm::database default_database() const;

    /// \brief Runs `cmd` against database `db` and returns the server's reply.
    /// \par Errors
    ///   ok:0 is errc::server_error with the server's code, codeName and errmsg.
    /// \par Completion signature
    ///   `void(morm::error_code, bson::document)`.
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default).
    /// \par Object lifetimes
    ///   `db` is copied. `cmd` is taken by reference and must outlive the operation. The
    ///   client handle is copied into the operation.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait or socket I/O; completes with
    ///   asio::error::operation_aborted; a connection cut mid-reply is closed, not reused.
    ///   Whether a cancelled command took effect on the server is unknown.
    asio::awaitable<bson::document> run_command(std::string_view db, const bson::document& cmd) const;
    template <token_for<bson::document> Token>
    auto run_command(std::string_view db, const bson::document& cmd, Token&& token) const {
        return detail::initiate<bson::document>(
            state_->ex, token, [self = *this, d = std::string(db), &cmd](error_code& ec, diagnostics& diag) {
                return self.run_command(d, cmd, ec, diag);
            });
    }

    /// \brief The names of the server's databases (listDatabases, nameOnly).
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<std::string>)`.
    /// \par Executor
    ///   As run_command().
    /// \par Object lifetimes
    ///   None: the client handle is copied into the operation.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait or socket I/O; completes with
    ///   asio::error::operation_aborted; a connection cut mid-reply is closed, not reused.
    asio::awaitable<std::vector<std::string>> list_database_names() const;
    template <token_for<std::vector<std::string>> Token>
    auto list_database_names(Token&& token) const {
        return detail::initiate<std::vector<std::string>>(
            state_->ex, token, [self = *this](error_code& ec, diagnostics& diag) { return self.list_database_names(ec, diag); });
    }

    /// \brief Writes every group (see batch_write.hpp) over one pooled connection: unordered
    /// groups pipelined in one socket write, ordered ones batch by batch.
    /// Per-item outcomes land in the groups. A failure to get a connection sends nothing
    /// (every outcome stays pending); a connection lost mid-run leaves the items whose reply
    /// never came `outcome_unknown`.
    /// \par Forms
    ///   This one reports through `ec`/`diag` and never throws (it runs in the calling
    ///   coroutine, on its executor); the token form completes with the same code.
    /// \par Completion signature
    ///   `void(morm::error_code)`.
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default).
    /// \par Object lifetimes
    ///   `groups` (and what their encoders capture) and `stats` must outlive the operation.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait (nothing sent) or the socket I/O; completes with
    ///   asio::error::operation_aborted. A connection cut mid-run is closed, never reused;
    ///   items whose reply never came keep an unknown outcome (they may have been applied).
    asio::awaitable<void> write_groups(std::span<write_group> groups, error_code& ec, diagnostics& diag,
                                       pipeline_stats* stats = nullptr) const;
    template <token_for<void> Token>
    auto write_groups(std::span<write_group> groups, pipeline_stats* stats, Token&& token) const {
        return detail::initiate<void>(state_->ex, token, [self = *this, groups, stats](error_code& ec, diagnostics& diag) {
            return self.write_groups(groups, ec, diag, stats);
        });
    }
    template <token_for<void> Token>
    auto write_groups(std::span<write_group> groups, Token&& token) const {
        return write_groups(groups, nullptr, std::forward<Token>(token));
    }

    /// \brief Writes every group inside one multi-document transaction: all or nothing
    /// (run_transaction in write_pipeline.hpp). On a failure every item is pending (rolled
    /// back) except those that caused it (failed). A deployment without transactions (a
    /// standalone, FerretDB) gives errc::not_supported before anything is written.
    /// \par Forms, executor, lifetimes, cancellation
    ///   As write_groups().
    asio::awaitable<void> write_groups_in_transaction(std::span<write_group> groups, error_code& ec, diagnostics& diag,
                                                      pipeline_stats* stats = nullptr) const;

    /// \brief Checks a connection out of the pool, e.g. to pipeline several commands on it.
    /// It goes back to the pool when the returned handle is destroyed (or release()d).
    /// \par Errors
    ///   errc::pool_closed, errc::pool_timeout (waitQueueTimeoutMS), connection errors.
    /// \par Completion signature
    ///   `void(morm::error_code, net::pooled_connection)`.
    /// \par Executor
    ///   As run_command().
    /// \par Object lifetimes
    ///   None: the client handle is copied into the operation.
    /// \par Cancellation
    ///   Terminal: aborts the wait for a free connection (or the opening of a new one);
    ///   completes with asio::error::operation_aborted; nothing stays checked out.
    asio::awaitable<net::pooled_connection> acquire() const;
    template <token_for<net::pooled_connection> Token>
    auto acquire(Token&& token) const {
        return detail::initiate<net::pooled_connection>(
            state_->ex, token, [self = *this](error_code& ec, diagnostics& diag) { return self.acquire(ec, diag); });
    }

    const connection_string& uri() const { return state_->uri; }
    /// The hello reply of the selected server (limits, wire version, replica set name).
    const wire::server_description& server() const { return state_->server; }
    /// Pool statistics summed over every server's pool.
    net::pool_stats pool_stats() const;
    /// The current topology description (servers, types, RTTs, errors).
    topology::topology_description topology_description() const { return state_->topo->description(); }
    /// Closes idle connections and fails waiters; in-use connections close when returned.
    void close();

    bool valid() const noexcept { return state_ != nullptr; }
    const std::shared_ptr<detail::client_state>& state() const noexcept { return state_; }

private:
    // The no-throw bodies of the operations above.
    static asio::awaitable<client> connect_body(connection_string uri, client_options opts, error_code& ec,
                                                diagnostics& diag);
    asio::awaitable<bson::document> run_command(std::string_view db, const bson::document& cmd, error_code& ec,
                                                diagnostics& diag) const;
    asio::awaitable<std::vector<std::string>> list_database_names(error_code& ec, diagnostics& diag) const;
    asio::awaitable<net::pooled_connection> acquire(error_code& ec, diagnostics& diag) const;

    std::shared_ptr<detail::client_state> state_;
};

}  // namespace morm
