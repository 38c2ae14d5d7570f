// The engine: one client (connection pool), the default database and the registry of
// models, shared by every session. Create it once per process:
//
//   auto engine = co_await morm::create_engine("mongodb://127.0.0.1:27017/mydatabase");
//   engine.register_model<User>();
//   co_await engine.create_all();      // collections, declared indexes (and validators)
//
// Cheap to copy (shared state); safe to use from many coroutines and threads.
#pragma once

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/orm/model_ops.hpp>

#include <boost/asio/awaitable.hpp>

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
};

namespace detail {
struct engine_state {
    morm::client client;
    morm::database db;
    bool create_validators = false;
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

    /// Connects (see client::connect) and returns the engine. Throws morm::error.
    static asio::awaitable<engine> create(std::string uri, engine_options opts = {});

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

    /// Creates every registered model's collection (if missing), its declared indexes and,
    /// with engine_options::create_validators, its JSON-schema validator. Idempotent: indexes
    /// that already exist (by name) are not sent again.
    asio::awaitable<void> create_all() const;
    /// Drops every registered model's collection (for tests).
    asio::awaitable<void> drop_all() const;
    /// Closes the connection pool. Sessions in flight fail with errc::pool_closed.
    asio::awaitable<void> dispose() const;

    const std::shared_ptr<detail::engine_state>& state() const noexcept { return state_; }

private:
    std::shared_ptr<detail::engine_state> state_;
};

/// `co_await morm::create_engine(uri)` — the seed's spelling of engine::create.
inline asio::awaitable<engine> create_engine(std::string uri, engine_options opts = {}) {
    co_return co_await engine::create(uri, std::move(opts));
}

}  // namespace morm
