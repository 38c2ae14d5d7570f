// The engine: one client (connection pool), the default database and the registry of
// models, shared by every session. Create it once per process:
//
//   auto engine = co_await morm::create_engine("mongodb://127.0.0.1:27017/mydatabase");
//   engine.register_model<User>();
//   co_await engine.create_all();      // collections, declared indexes (and validators)
//
// Cheap to copy (shared state); safe to use from many coroutines and threads.
//
// Each asynchronous operation has a no-token form (`co_await op(...)`, throws
// morm::error) and a token form (`op(..., token)`, any Asio completion token, throws
// nothing; morm::with_diagnostics(diag, token) also receives the server's message). The
// token form's body runs on the client's executor, its handler on its associated executor
// (the client's by default). Terminal cancellation through the token's slot aborts the pool
// wait or socket I/O in progress; the operation completes with
// asio::error::operation_aborted, and a connection cut mid-reply is closed, not reused.
#pragma once

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/detail/initiate.hpp>
#include <morm/orm/model_ops.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <exception>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace morm {

struct engine_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    engine_options() = default;
    client_options client;
    /// Database to use; empty = the one in the connection string (else "test").
    std::string database;
    /// create_all() also installs a $jsonSchema validator derived from each model.
    bool create_validators = false;
    /// Most statements per write command a commit sends; 0 = the server's maxWriteBatchSize.
    /// The batches still go out pipelined, back to back. For servers that advertise more
    /// than they take (FerretDB 1.24 never answers an update of 100 or more statements).
    std::size_t max_write_batch = 0;
};

namespace detail {
struct engine_state {
    morm::client client;
    morm::database db;
    bool create_validators = false;
    std::size_t max_write_batch = 0;
    std::mutex mtx;
    std::vector<const model_ops*> models;  // registration order

    void register_ops(const model_ops& ops) {
        std::lock_guard lk(mtx);
        for (auto* m : models)
            if (m == &ops) return;
        models.push_back(&ops);
    }
    std::vector<const model_ops*> snapshot_models() {
        std::lock_guard lk(mtx);
        return models;
    }
};

}  // namespace detail

class engine {
public:
    engine() = default;

    /// \brief Connects (see client::connect) and returns the engine.
    /// \par Completion signature
    ///   `void(morm::error_code, morm::engine)`.
    /// \par Executor
    ///   The engine's client keeps the executor the operation runs on: the calling
    ///   coroutine's (no token) or `ex` (token form; the handler runs on its associated
    ///   executor, `ex` by default).
    /// \par Object lifetimes
    ///   `uri` and `opts` are copied; nothing must outlive the call.
    /// \par Cancellation
    ///   Terminal: aborts the connection attempt; completes with
    ///   asio::error::operation_aborted; no engine is made.
    static asio::awaitable<engine> create(std::string uri, engine_options opts = {});
    template <token_for<engine> Token>
    static auto create(asio::any_io_executor ex, std::string uri, engine_options opts, Token&& token) {
        return detail::initiate<engine>(ex, token,
                                        [u = std::move(uri), o = std::move(opts)](error_code& ec, diagnostics& diag) {
                                            return create(u, o, ec, diag);
                                        });
    }
    template <token_for<engine> Token>
    static auto create(asio::any_io_executor ex, std::string uri, Token&& token) {
        return create(std::move(ex), std::move(uri), engine_options{}, std::forward<Token>(token));
    }
    /// The no-throw body of create(): failure sets `ec`/`diag` and returns an invalid engine.
    static asio::awaitable<engine> create(const std::string& uri, const engine_options& opts, error_code& ec,
                                          diagnostics& diag);

    morm::client& client() const noexcept { return state_->client; }
    const morm::database& database() const noexcept { return state_->db; }

    /// The collection of model T in the engine's database.
    template <codec::model T>
    morm::collection collection() const {
        return state_->db.collection(codec::model_traits<T>::collection);
    }

    /// Adds T to the registry used by create_all/drop_all (sessions register the models
    /// they touch automatically).
    template <codec::model T>
    void register_model() {
        state_->register_ops(detail::ops_for<T>());
    }

    /// \brief Creates every registered model's collection (if missing), its declared indexes
    /// and, with engine_options::create_validators, its JSON-schema validator. Idempotent:
    /// indexes that already exist (by name) are not sent again.
    /// \par Completion signature
    ///   `void(morm::error_code)`.
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default).
    /// \par Object lifetimes
    ///   None: the engine handle is copied into the operation.
    /// \par Cancellation
    ///   Terminal: aborts the command in flight; completes with
    ///   asio::error::operation_aborted. The collections and indexes created before it stay;
    ///   the one in flight may or may not have been created (calling create_all() again is
    ///   safe).
    asio::awaitable<void> create_all() const;
    template <token_for<void> Token>
    auto create_all(Token&& token) const {
        return detail::initiate<void>(executor(), token,
                                      [self = *this](error_code& ec, diagnostics& diag) { return self.create_all(ec, diag); });
    }
    /// \brief Drops every registered model's collection (for tests).
    /// \par Completion signature
    ///   `void(morm::error_code)`.
    /// \par Executor, object lifetimes
    ///   As create_all().
    /// \par Cancellation
    ///   Terminal: aborts the drop in flight; completes with asio::error::operation_aborted.
    ///   The collections dropped before it stay dropped; the one in flight may be.
    asio::awaitable<void> drop_all() const;
    template <token_for<void> Token>
    auto drop_all(Token&& token) const {
        return detail::initiate<void>(executor(), token,
                                      [self = *this](error_code& ec, diagnostics& diag) { return self.drop_all(ec, diag); });
    }
    /// \brief Closes the connection pool. Sessions in flight fail with errc::pool_closed.
    /// \par Completion signature
    ///   `void(morm::error_code)` (never fails).
    /// \par Executor, object lifetimes
    ///   As create_all().
    /// \par Cancellation
    ///   Nothing to cancel: the pool closes at once.
    asio::awaitable<void> dispose() const;
    template <token_for<void> Token>
    auto dispose(Token&& token) const {
        return detail::initiate<void>(executor(), token, [self = *this](error_code&, diagnostics&) { return self.dispose(); });
    }

    /// The client's executor: where token-form operations run.
    const asio::any_io_executor& executor() const noexcept { return state_->client.state()->ex; }
    const std::shared_ptr<detail::engine_state>& state() const noexcept { return state_; }

private:
    asio::awaitable<void> create_all(error_code& ec, diagnostics& diag) const;
    asio::awaitable<void> drop_all(error_code& ec, diagnostics& diag) const;

    std::shared_ptr<detail::engine_state> state_;
};

/// `co_await morm::create_engine(uri)`: the seed's spelling of engine::create (same
/// sections). The token form takes the executor first: `create_engine(ex, uri, token)`.
inline asio::awaitable<engine> create_engine(std::string uri, engine_options opts = {}) {
    co_return co_await engine::create(std::move(uri), std::move(opts));
}
template <token_for<engine> Token>
auto create_engine(asio::any_io_executor ex, std::string uri, engine_options opts, Token&& token) {
    return engine::create(std::move(ex), std::move(uri), std::move(opts), std::forward<Token>(token));
}
template <token_for<engine> Token>
auto create_engine(asio::any_io_executor ex, std::string uri, Token&& token) {
    return engine::create(std::move(ex), std::move(uri), std::forward<Token>(token));
}

}  // namespace morm
