// Databases and collections: CRUD, bulk writes, cursors, aggregation, indexes.
//
// Naming rule: public operations are named for what they do (`insert_one`, `find`, no
// `async_` prefix) and take an optional completion token as their last argument. `async_`
// names only the net-layer primitives (net::connection, net::pool) that report through
// `error_code&`/`diagnostics&` out-parameters.
//
// Every asynchronous operation below comes in two forms:
//  - `co_await coll.op(args...)` (no token): returns the result and throws morm::error
//    (server errors keep their code, codeName, errmsg and labels in error::diag()).
//    insert_one, insert_many and bulk_write throw bulk_write_exception (carrying the
//    bulk_write_result with per-index errors) once writes were attempted.
//  - `coll.op(args..., token)`: any Asio completion token (callbacks, asio::use_future,
//    asio::deferred, asio::use_awaitable, asio::as_tuple(...)), completing with
//    `void(error_code, R)` (`void(error_code)` for R = void). Nothing is thrown; wrap the
//    token in morm::with_diagnostics(diag, token) to also get the server's message, code
//    and codeName. Overloads without the options argument use the defaults.
//
// The fixed sections of each operation's documentation:
//  - Completion: R, the value of `void(error_code, R)`. On error R is default-constructed,
//    except bulk_write_result, which always carries the per-index outcome.
//  - Executor: the operation runs on the client's executor (the one client::connect ran
//    on); the handler runs on its associated executor, by default that one.
//  - Outlive: the handle (collection, database) and the options are copied into the
//    operation, so temporaries are fine. Documents, vectors and models passed by reference
//    are not copied: they must stay alive and unchanged until completion, as Asio buffers
//    must.
//  - Cancellation: terminal cancellation through the token's cancellation slot
//    (asio::bind_cancellation_slot, `op || timer.async_wait(...)` of awaitable operators)
//    aborts the pool wait or the socket I/O the operation is suspended in; it completes
//    with asio::error::operation_aborted. A connection cut mid-reply is closed, never
//    returned to the pool. A cancelled write may have reached the server: its outcome is
//    unknown.
//
// Documents are bson::document (owning) or document views.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/types.hpp>
#include <morm/client/client.hpp>
#include <morm/client/cursor.hpp>
#include <morm/client/options.hpp>
#include <morm/client/results.hpp>
#include <morm/detail/initiate.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace morm {


/// Write models for bulk_write. The statement options (collation, hint or hint_name,
/// array_filters) are sent in the write's statement when set; bulk_write refuses a model
/// that sets both hint and hint_name, or array_filters with a pipeline, before sending.
/// (The `{}` initializers let `{filter, update, {}, false}` leave them out without a
/// -Wmissing-field-initializers warning.)
struct insert_one_model {
    bson::document document;
};
struct update_one_model {
    bson::document filter;
    bson::document update;                 ///< update operators ($set, ...)
    std::vector<bson::document> pipeline;  ///< or an aggregation pipeline (when non-empty)
    bool upsert = false;
    bson::document collation{};
    bson::document hint{};                        ///< index key pattern
    std::string hint_name{};                      ///< or index name
    std::vector<bson::document> array_filters{};  ///< not with a pipeline
};
struct update_many_model {
    bson::document filter;
    bson::document update;
    std::vector<bson::document> pipeline;
    bool upsert = false;
    bson::document collation{};
    bson::document hint{};
    std::string hint_name{};
    std::vector<bson::document> array_filters{};
};
struct replace_one_model {
    bson::document filter;
    bson::document replacement;
    bool upsert = false;
    bson::document collation{};
    bson::document hint{};
    std::string hint_name{};
};
struct delete_one_model {
    bson::document filter;
    bson::document collation{};
    bson::document hint{};
    std::string hint_name{};
};
struct delete_many_model {
    bson::document filter;
    bson::document collation{};
    bson::document hint{};
    std::string hint_name{};
};
using write_model = std::variant<insert_one_model, update_one_model, update_many_model, replace_one_model,
                                 delete_one_model, delete_many_model>;

struct bulk_write_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    bulk_write_options() = default;
    bool ordered = true;
    bool bypass_document_validation = false;
    std::optional<write_concern> wc;
};

/// The name MongoDB gives an index on `keys` when none is set: "a_1_b_-1", "t_text".
std::string index_name_for(const bson::document& keys);

namespace detail {
/// The no-throw body of a public operation: `Impl` called on a copy of the handle with
/// copies of `args` (std::cref for what the caller keeps alive). The copies live in the
/// body, which detail::initiate / run_throwing keep until the operation completes.
template <auto Impl, class Handle, class... Args>
auto op_body(const Handle& h, Args... args) {
    return [self = h, ... args = std::move(args)](error_code& ec, diagnostics& diag) {
        return (self.*Impl)(args..., ec, diag);
    };
}
}  // namespace detail

class collection {
public:
    collection() = default;
    collection(std::shared_ptr<detail::client_state> st, std::string db, std::string name)
        : st_(std::move(st)), db_(std::move(db)), name_(std::move(name)) {}

    const std::string& name() const noexcept { return name_; }
    const std::string& database_name() const noexcept { return db_; }
    const std::shared_ptr<detail::client_state>& state() const noexcept { return st_; }

    // ---- writes -------------------------------------------------------------------
    /// Inserts one document; an `_id` (ObjectId) is generated client-side if missing.
    /// - Completion: insert_one_result (the _id stored). A rejected document completes with
    ///   errc::write_error (document_too_large, ...) and the server's code/codeName.
    /// - Outlive: `doc`. Cancellation: outcome unknown once sent.
    asio::awaitable<insert_one_result> insert_one(const bson::document& doc, const insert_options& opts = {}) const;
    template <token_for<insert_one_result> Token>
    auto insert_one(const bson::document& doc, const insert_options& opts, Token&& token) const {
        return start<insert_one_result>(std::forward<Token>(token),
                                        detail::op_body<&collection::insert_one_impl>(*this, std::cref(doc), opts));
    }
    template <token_for<insert_one_result> Token>
    auto insert_one(const bson::document& doc, Token&& token) const {
        return insert_one(doc, insert_options{}, std::forward<Token>(token));
    }

    /// Inserts many, pipelined and split by the server's limits.
    /// - Completion: bulk_write_result, also on error (errc::write_error,
    ///   write_concern_error, or the fatal network/protocol code): `errors` and
    ///   `not_executed` say which documents failed or were not sent.
    /// - Outlive: `docs`. Cancellation: the unconfirmed documents are `outcome_unknown`.
    asio::awaitable<bulk_write_result> insert_many(const std::vector<bson::document>& docs,
                                                   const insert_options& opts = {}) const;
    template <token_for<bulk_write_result> Token>
    auto insert_many(const std::vector<bson::document>& docs, const insert_options& opts, Token&& token) const {
        return start<bulk_write_result>(std::forward<Token>(token),
                                        detail::op_body<&collection::insert_many_impl>(*this, std::cref(docs), opts));
    }
    template <token_for<bulk_write_result> Token>
    auto insert_many(const std::vector<bson::document>& docs, Token&& token) const {
        return insert_many(docs, insert_options{}, std::forward<Token>(token));
    }

    /// Updates the first match with $-operators (or an aggregation pipeline).
    /// - Completion: update_result; a write error completes with its code (the server's
    ///   code/codeName in diagnostics).
    /// - Outlive: `filter`, `update`/`pipeline`. Cancellation: outcome unknown once sent.
    asio::awaitable<update_result> update_one(const bson::document& filter, const bson::document& update,
                                              const update_options& opts = {}) const;
    template <token_for<update_result> Token>
    auto update_one(const bson::document& filter, const bson::document& update, const update_options& opts,
                    Token&& token) const {
        return start<update_result>(std::forward<Token>(token), detail::op_body<&collection::update_one_impl>(
                                                                    *this, std::cref(filter), std::cref(update), opts));
    }
    template <token_for<update_result> Token>
    auto update_one(const bson::document& filter, const bson::document& update, Token&& token) const {
        return update_one(filter, update, update_options{}, std::forward<Token>(token));
    }
    asio::awaitable<update_result> update_one(const bson::document& filter,
                                              const std::vector<bson::document>& pipeline,
                                              const update_options& opts = {}) const;
    template <token_for<update_result> Token>
    auto update_one(const bson::document& filter, const std::vector<bson::document>& pipeline,
                    const update_options& opts, Token&& token) const {
        return start<update_result>(std::forward<Token>(token),
                                    detail::op_body<&collection::update_one_pipeline_impl>(*this, std::cref(filter),
                                                                                           std::cref(pipeline), opts));
    }
    template <token_for<update_result> Token>
    auto update_one(const bson::document& filter, const std::vector<bson::document>& pipeline, Token&& token) const {
        return update_one(filter, pipeline, update_options{}, std::forward<Token>(token));
    }

    /// Updates every match; sections as update_one.
    asio::awaitable<update_result> update_many(const bson::document& filter, const bson::document& update,
                                               const update_options& opts = {}) const;
    template <token_for<update_result> Token>
    auto update_many(const bson::document& filter, const bson::document& update, const update_options& opts,
                     Token&& token) const {
        return start<update_result>(std::forward<Token>(token), detail::op_body<&collection::update_many_impl>(
                                                                    *this, std::cref(filter), std::cref(update), opts));
    }
    template <token_for<update_result> Token>
    auto update_many(const bson::document& filter, const bson::document& update, Token&& token) const {
        return update_many(filter, update, update_options{}, std::forward<Token>(token));
    }

    /// Replaces the first match (no $-operators; array_filters refused); sections as
    /// update_one.
    asio::awaitable<update_result> replace_one(const bson::document& filter, const bson::document& replacement,
                                               const update_options& opts = {}) const;
    template <token_for<update_result> Token>
    auto replace_one(const bson::document& filter, const bson::document& replacement, const update_options& opts,
                     Token&& token) const {
        return start<update_result>(std::forward<Token>(token),
                                    detail::op_body<&collection::replace_one_impl>(*this, std::cref(filter),
                                                                                   std::cref(replacement), opts));
    }
    template <token_for<update_result> Token>
    auto replace_one(const bson::document& filter, const bson::document& replacement, Token&& token) const {
        return replace_one(filter, replacement, update_options{}, std::forward<Token>(token));
    }

    /// Deletes the first match (delete_one) or every match (delete_many).
    /// - Completion: delete_result. Outlive: `filter`. Cancellation: outcome unknown once sent.
    asio::awaitable<delete_result> delete_one(const bson::document& filter, const delete_options& opts = {}) const;
    template <token_for<delete_result> Token>
    auto delete_one(const bson::document& filter, const delete_options& opts, Token&& token) const {
        return start<delete_result>(std::forward<Token>(token),
                                    detail::op_body<&collection::delete_one_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<delete_result> Token>
    auto delete_one(const bson::document& filter, Token&& token) const {
        return delete_one(filter, delete_options{}, std::forward<Token>(token));
    }
    asio::awaitable<delete_result> delete_many(const bson::document& filter, const delete_options& opts = {}) const;
    template <token_for<delete_result> Token>
    auto delete_many(const bson::document& filter, const delete_options& opts, Token&& token) const {
        return start<delete_result>(std::forward<Token>(token),
                                    detail::op_body<&collection::delete_many_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<delete_result> Token>
    auto delete_many(const bson::document& filter, Token&& token) const {
        return delete_many(filter, delete_options{}, std::forward<Token>(token));
    }

    /// Mixed writes. Ordered: same-kind runs become commands sent one after the other,
    /// stopping at the first error. Unordered: grouped by kind and pipelined. Error
    /// indexes refer to `models`.
    /// - Completion: bulk_write_result, also on error (see insert_many).
    /// - Outlive: `models`. Cancellation: unconfirmed writes are `outcome_unknown`.
    asio::awaitable<bulk_write_result> bulk_write(const std::vector<write_model>& models,
                                                  const bulk_write_options& opts = {}) const;
    template <token_for<bulk_write_result> Token>
    auto bulk_write(const std::vector<write_model>& models, const bulk_write_options& opts, Token&& token) const {
        return start<bulk_write_result>(std::forward<Token>(token),
                                        detail::op_body<&collection::bulk_write_impl>(*this, std::cref(models), opts));
    }
    template <token_for<bulk_write_result> Token>
    auto bulk_write(const std::vector<write_model>& models, Token&& token) const {
        return bulk_write(models, bulk_write_options{}, std::forward<Token>(token));
    }

    // ---- reads --------------------------------------------------------------------
    /// Opens a cursor over the matches (the first batch comes with the reply).
    /// - Completion: cursor. Outlive: `filter`. Cancellation: the cursor is not opened.
    asio::awaitable<cursor> find(const bson::document& filter = {}, const find_options& opts = {}) const;
    template <token_for<cursor> Token>
    auto find(const bson::document& filter, const find_options& opts, Token&& token) const {
        return start<cursor>(std::forward<Token>(token),
                             detail::op_body<&collection::find_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<cursor> Token>
    auto find(const bson::document& filter, Token&& token) const {
        return find(filter, find_options{}, std::forward<Token>(token));
    }

    /// The first match, or nullopt (limit 1, single batch).
    /// - Completion: std::optional<bson::document>. Outlive: `filter`.
    asio::awaitable<std::optional<bson::document>> find_one(const bson::document& filter = {},
                                                            find_options opts = {}) const;
    template <token_for<std::optional<bson::document>> Token>
    auto find_one(const bson::document& filter, const find_options& opts, Token&& token) const {
        return start<std::optional<bson::document>>(
            std::forward<Token>(token), detail::op_body<&collection::find_one_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<std::optional<bson::document>> Token>
    auto find_one(const bson::document& filter, Token&& token) const {
        return find_one(filter, find_options{}, std::forward<Token>(token));
    }

    /// Runs an aggregation pipeline. Completion: cursor. Outlive: `pipeline`.
    asio::awaitable<cursor> aggregate(const std::vector<bson::document>& pipeline,
                                      const aggregate_options& opts = {}) const;
    template <token_for<cursor> Token>
    auto aggregate(const std::vector<bson::document>& pipeline, const aggregate_options& opts, Token&& token) const {
        return start<cursor>(std::forward<Token>(token),
                             detail::op_body<&collection::aggregate_impl>(*this, std::cref(pipeline), opts));
    }
    template <token_for<cursor> Token>
    auto aggregate(const std::vector<bson::document>& pipeline, Token&& token) const {
        return aggregate(pipeline, aggregate_options{}, std::forward<Token>(token));
    }

    /// Counts the matches exactly (an aggregation). Completion: std::int64_t. Outlive: `filter`.
    asio::awaitable<std::int64_t> count_documents(const bson::document& filter = {},
                                                  const count_options& opts = {}) const;
    template <token_for<std::int64_t> Token>
    auto count_documents(const bson::document& filter, const count_options& opts, Token&& token) const {
        return start<std::int64_t>(std::forward<Token>(token),
                                   detail::op_body<&collection::count_documents_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<std::int64_t> Token>
    auto count_documents(const bson::document& filter, Token&& token) const {
        return count_documents(filter, count_options{}, std::forward<Token>(token));
    }

    /// The count from collection metadata (the `count` command). Completion: std::int64_t.
    asio::awaitable<std::int64_t> estimated_document_count() const;
    template <token_for<std::int64_t> Token>
    auto estimated_document_count(Token&& token) const {
        return start<std::int64_t>(std::forward<Token>(token),
                                   detail::op_body<&collection::estimated_document_count_impl>(*this));
    }

    /// The distinct values of `key` among the matches. A reply without a `values` array
    /// is errc::protocol. Completion: std::vector<bson::value>. Outlive: `filter` (the key
    /// is copied).
    asio::awaitable<std::vector<bson::value>> distinct(std::string_view key, const bson::document& filter = {}) const;
    template <token_for<std::vector<bson::value>> Token>
    auto distinct(std::string_view key, const bson::document& filter, Token&& token) const {
        return start<std::vector<bson::value>>(
            std::forward<Token>(token),
            detail::op_body<&collection::distinct_impl>(*this, std::string(key), std::cref(filter)));
    }

    /// findAndModify: updates (or replaces, or deletes) the first match and returns it,
    /// before or after (options.returned).
    /// - Completion: std::optional<bson::document> (nullopt: nothing matched).
    /// - Outlive: `filter`, `update`/`replacement`. Cancellation: outcome unknown once sent.
    asio::awaitable<std::optional<bson::document>> find_one_and_update(
        const bson::document& filter, const bson::document& update, const find_one_and_modify_options& opts = {}) const;
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_update(const bson::document& filter, const bson::document& update,
                             const find_one_and_modify_options& opts, Token&& token) const {
        return start<std::optional<bson::document>>(
            std::forward<Token>(token), detail::op_body<&collection::find_one_and_update_impl>(
                                            *this, std::cref(filter), std::cref(update), opts));
    }
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_update(const bson::document& filter, const bson::document& update, Token&& token) const {
        return find_one_and_update(filter, update, find_one_and_modify_options{}, std::forward<Token>(token));
    }
    asio::awaitable<std::optional<bson::document>> find_one_and_replace(
        const bson::document& filter, const bson::document& replacement,
        const find_one_and_modify_options& opts = {}) const;
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_replace(const bson::document& filter, const bson::document& replacement,
                              const find_one_and_modify_options& opts, Token&& token) const {
        return start<std::optional<bson::document>>(
            std::forward<Token>(token), detail::op_body<&collection::find_one_and_replace_impl>(
                                            *this, std::cref(filter), std::cref(replacement), opts));
    }
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_replace(const bson::document& filter, const bson::document& replacement, Token&& token) const {
        return find_one_and_replace(filter, replacement, find_one_and_modify_options{}, std::forward<Token>(token));
    }
    asio::awaitable<std::optional<bson::document>> find_one_and_delete(
        const bson::document& filter, const find_one_and_modify_options& opts = {}) const;
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_delete(const bson::document& filter, const find_one_and_modify_options& opts,
                             Token&& token) const {
        return start<std::optional<bson::document>>(
            std::forward<Token>(token),
            detail::op_body<&collection::find_one_and_delete_impl>(*this, std::cref(filter), opts));
    }
    template <token_for<std::optional<bson::document>> Token>
    auto find_one_and_delete(const bson::document& filter, Token&& token) const {
        return find_one_and_delete(filter, find_one_and_modify_options{}, std::forward<Token>(token));
    }

    // ---- indexes ------------------------------------------------------------------
    /// Creates one index. Completion: std::string, the index name. Outlive: `keys`.
    asio::awaitable<std::string> create_index(const bson::document& keys, const index_options& opts = {}) const;
    template <token_for<std::string> Token>
    auto create_index(const bson::document& keys, const index_options& opts, Token&& token) const {
        return start<std::string>(std::forward<Token>(token),
                                  detail::op_body<&collection::create_index_impl>(*this, std::cref(keys), opts));
    }
    template <token_for<std::string> Token>
    auto create_index(const bson::document& keys, Token&& token) const {
        return create_index(keys, index_options{}, std::forward<Token>(token));
    }
    /// Creates several indexes in one command. Completion: their names. Outlive: `models`.
    asio::awaitable<std::vector<std::string>> create_indexes(const std::vector<index_model>& models) const;
    template <token_for<std::vector<std::string>> Token>
    auto create_indexes(const std::vector<index_model>& models, Token&& token) const {
        return start<std::vector<std::string>>(
            std::forward<Token>(token), detail::op_body<&collection::create_indexes_impl>(*this, std::cref(models)));
    }
    /// The index descriptions. Completion: std::vector<bson::document>.
    asio::awaitable<std::vector<bson::document>> list_indexes() const;
    template <token_for<std::vector<bson::document>> Token>
    auto list_indexes(Token&& token) const {
        return start<std::vector<bson::document>>(std::forward<Token>(token),
                                                  detail::op_body<&collection::list_indexes_impl>(*this));
    }
    /// Drops one index by name (copied) or all but _id_. Completion: `void(error_code)`.
    asio::awaitable<void> drop_index(std::string_view name) const;
    template <completion_token_for<void(error_code)> Token>
    auto drop_index(std::string_view name, Token&& token) const {
        return start_void(std::forward<Token>(token),
                           detail::op_body<&collection::drop_index_impl>(*this, std::string(name)));
    }
    asio::awaitable<void> drop_indexes() const;
    template <completion_token_for<void(error_code)> Token>
    auto drop_indexes(Token&& token) const {
        return start_void(std::forward<Token>(token), detail::op_body<&collection::drop_indexes_impl>(*this));
    }

    /// Drops the collection (no error if it does not exist). Completion: `void(error_code)`.
    asio::awaitable<void> drop() const;
    template <completion_token_for<void(error_code)> Token>
    auto drop(Token&& token) const {
        return start_void(std::forward<Token>(token), detail::op_body<&collection::drop_impl>(*this));
    }

    // ---- no-throw coroutine forms --------------------------------------------------
    // `co_await op(args..., ec, diag)`: failure goes to ec/diag, nothing is thrown, no
    // coroutine of its own is started (what the token forms run, and what the ORM builds
    // on). Same lifetimes and cancellation as the token forms.
    asio::awaitable<cursor> find(const bson::document& filter, const find_options& opts, error_code& ec,
                                 diagnostics& diag) const {
        return find_impl(filter, opts, ec, diag);
    }
    asio::awaitable<std::optional<bson::document>> find_one(const bson::document& filter, const find_options& opts,
                                                            error_code& ec, diagnostics& diag) const {
        return find_one_impl(filter, opts, ec, diag);
    }
    asio::awaitable<cursor> aggregate(const std::vector<bson::document>& pipeline, const aggregate_options& opts,
                                      error_code& ec, diagnostics& diag) const {
        return aggregate_impl(pipeline, opts, ec, diag);
    }
    asio::awaitable<std::int64_t> count_documents(const bson::document& filter, const count_options& opts,
                                                  error_code& ec, diagnostics& diag) const {
        return count_documents_impl(filter, opts, ec, diag);
    }
    asio::awaitable<update_result> update_many(const bson::document& filter, const bson::document& update,
                                               const update_options& opts, error_code& ec,
                                               diagnostics& diag) const {
        return update_many_impl(filter, update, opts, ec, diag);
    }
    asio::awaitable<delete_result> delete_many(const bson::document& filter, const delete_options& opts,
                                               error_code& ec, diagnostics& diag) const {
        return delete_many_impl(filter, opts, ec, diag);
    }
    asio::awaitable<std::vector<bson::document>> list_indexes(error_code& ec, diagnostics& diag) const {
        return list_indexes_impl(ec, diag);
    }
    asio::awaitable<std::vector<std::string>> create_indexes(const std::vector<index_model>& models, error_code& ec,
                                                             diagnostics& diag) const {
        return create_indexes_impl(models, ec, diag);
    }
    asio::awaitable<void> drop(error_code& ec, diagnostics& diag) const { return drop_impl(ec, diag); }

private:
    template <class R, class Token, class Body>
    auto start(Token&& token, Body&& body) const {
        return detail::initiate<R>(st_->ex, std::forward<Token>(token), std::forward<Body>(body));
    }
    template <class Token, class Body>
    auto start_void(Token&& token, Body&& body) const {
        return start<void>(std::forward<Token>(token), std::forward<Body>(body));
    }

    // The no-throw bodies: failure goes to ec/diag, nothing is thrown.
    asio::awaitable<insert_one_result> insert_one_impl(const bson::document& doc, const insert_options& opts,
                                                       error_code& ec, diagnostics& diag) const;
    asio::awaitable<bulk_write_result> insert_many_impl(const std::vector<bson::document>& docs,
                                                        const insert_options& opts, error_code& ec,
                                                        diagnostics& diag) const;
    asio::awaitable<bulk_write_result> bulk_write_impl(const std::vector<write_model>& models,
                                                       const bulk_write_options& opts, error_code& ec,
                                                       diagnostics& diag) const;
    /// bulk_write of one model whose write error becomes the operation's error.
    asio::awaitable<bulk_write_result> single_write(const std::vector<write_model>& models,
                                                    const std::optional<write_concern>& wc, error_code& ec,
                                                    diagnostics& diag) const;
    asio::awaitable<update_result> update_impl(const bson::document& filter, const bson::document* update,
                                               const std::vector<bson::document>* pipeline, bool multi,
                                               const update_options& opts, error_code& ec, diagnostics& diag) const;
    asio::awaitable<update_result> update_one_impl(const bson::document& filter, const bson::document& update,
                                                   const update_options& opts, error_code& ec, diagnostics& diag) const;
    asio::awaitable<update_result> update_one_pipeline_impl(const bson::document& filter,
                                                            const std::vector<bson::document>& pipeline,
                                                            const update_options& opts, error_code& ec,
                                                            diagnostics& diag) const;
    asio::awaitable<update_result> update_many_impl(const bson::document& filter, const bson::document& update,
                                                    const update_options& opts, error_code& ec,
                                                    diagnostics& diag) const;
    asio::awaitable<update_result> replace_one_impl(const bson::document& filter, const bson::document& replacement,
                                                    const update_options& opts, error_code& ec,
                                                    diagnostics& diag) const;
    asio::awaitable<delete_result> delete_impl(const bson::document& filter, const delete_options& opts, bool many,
                                               error_code& ec, diagnostics& diag) const;
    asio::awaitable<delete_result> delete_one_impl(const bson::document& filter, const delete_options& opts,
                                                   error_code& ec, diagnostics& diag) const;
    asio::awaitable<delete_result> delete_many_impl(const bson::document& filter, const delete_options& opts,
                                                    error_code& ec, diagnostics& diag) const;
    asio::awaitable<cursor> find_impl(const bson::document& filter, const find_options& opts, error_code& ec,
                                      diagnostics& diag) const;
    asio::awaitable<std::optional<bson::document>> find_one_impl(const bson::document& filter,
                                                                 const find_options& opts, error_code& ec,
                                                                 diagnostics& diag) const;
    asio::awaitable<cursor> aggregate_impl(const std::vector<bson::document>& pipeline, const aggregate_options& opts,
                                           error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::int64_t> count_documents_impl(const bson::document& filter, const count_options& opts,
                                                       error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::int64_t> estimated_document_count_impl(error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::vector<bson::value>> distinct_impl(std::string_view key, const bson::document& filter,
                                                            error_code& ec, diagnostics& diag) const;
    /// `kind`: wire::commands::find_and_modify::kind (kept out of this header).
    asio::awaitable<std::optional<bson::document>> find_and_modify_impl(const bson::document& filter,
                                                                        const bson::document* update, int kind,
                                                                        const find_one_and_modify_options& opts,
                                                                        error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::optional<bson::document>> find_one_and_update_impl(const bson::document& filter,
                                                                            const bson::document& update,
                                                                            const find_one_and_modify_options& opts,
                                                                            error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::optional<bson::document>> find_one_and_replace_impl(const bson::document& filter,
                                                                             const bson::document& replacement,
                                                                             const find_one_and_modify_options& opts,
                                                                             error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::optional<bson::document>> find_one_and_delete_impl(const bson::document& filter,
                                                                            const find_one_and_modify_options& opts,
                                                                            error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::string> create_index_impl(const bson::document& keys, const index_options& opts,
                                                   error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::vector<std::string>> create_indexes_impl(const std::vector<index_model>& models,
                                                                  error_code& ec, diagnostics& diag) const;
    asio::awaitable<std::vector<bson::document>> list_indexes_impl(error_code& ec, diagnostics& diag) const;
    asio::awaitable<void> drop_index_impl(std::string_view name, error_code& ec, diagnostics& diag) const;
    asio::awaitable<void> drop_indexes_impl(error_code& ec, diagnostics& diag) const;
    asio::awaitable<void> drop_impl(error_code& ec, diagnostics& diag) const;

    std::shared_ptr<detail::client_state> st_;
    std::string db_;
    std::string name_;
};

class database {
public:
    database() = default;
    database(std::shared_ptr<detail::client_state> st, std::string name) : st_(std::move(st)), name_(std::move(name)) {}

    const std::string& name() const noexcept { return name_; }
    morm::collection collection(std::string_view name) const { return {st_, name_, std::string(name)}; }
    morm::collection operator[](std::string_view name) const { return collection(name); }

    /// Runs `cmd` (plus "$db") and returns the reply; ok:0 fails with the server's error.
    /// Completion: bson::document. Outlive: `cmd`.
    asio::awaitable<bson::document> run_command(const bson::document& cmd) const;
    template <token_for<bson::document> Token>
    auto run_command(const bson::document& cmd, Token&& token) const {
        return start<bson::document>(std::forward<Token>(token),
                                     detail::op_body<&database::run_command_impl>(*this, std::cref(cmd)));
    }
    /// The collection names (listCollections, nameOnly). Completion: std::vector<std::string>.
    /// Outlive: `filter`.
    asio::awaitable<std::vector<std::string>> list_collection_names(const bson::document& filter = {}) const;
    template <token_for<std::vector<std::string>> Token>
    auto list_collection_names(const bson::document& filter, Token&& token) const {
        return start<std::vector<std::string>>(
            std::forward<Token>(token), detail::op_body<&database::list_collection_names_impl>(*this, std::cref(filter)));
    }
    /// Creates a collection (validator, capped). Completion: its handle. The name and
    /// options are copied.
    asio::awaitable<morm::collection> create_collection(std::string_view name,
                                                        const create_collection_options& opts = {}) const;
    template <token_for<morm::collection> Token>
    auto create_collection(std::string_view name, const create_collection_options& opts, Token&& token) const {
        return start<morm::collection>(
            std::forward<Token>(token),
            detail::op_body<&database::create_collection_impl>(*this, std::string(name), opts));
    }
    template <token_for<morm::collection> Token>
    auto create_collection(std::string_view name, Token&& token) const {
        return create_collection(name, create_collection_options{}, std::forward<Token>(token));
    }
    /// Drops the database. Completion: `void(error_code)`.
    asio::awaitable<void> drop() const;
    template <completion_token_for<void(error_code)> Token>
    auto drop(Token&& token) const {
        return start_void(std::forward<Token>(token), detail::op_body<&database::drop_impl>(*this));
    }

    // ---- no-throw coroutine forms (see collection) ---------------------------------
    asio::awaitable<bson::document> run_command(const bson::document& cmd, error_code& ec, diagnostics& diag) const {
        return run_command_impl(cmd, ec, diag);
    }
    asio::awaitable<std::vector<std::string>> list_collection_names(const bson::document& filter, error_code& ec,
                                                                    diagnostics& diag) const {
        return list_collection_names_impl(filter, ec, diag);
    }
    asio::awaitable<morm::collection> create_collection(std::string_view name, const create_collection_options& opts,
                                                        error_code& ec, diagnostics& diag) const {
        return create_collection_impl(name, opts, ec, diag);
    }
    asio::awaitable<void> drop(error_code& ec, diagnostics& diag) const { return drop_impl(ec, diag); }

private:
    template <class R, class Token, class Body>
    auto start(Token&& token, Body&& body) const {
        return detail::initiate<R>(st_->ex, std::forward<Token>(token), std::forward<Body>(body));
    }
    template <class Token, class Body>
    auto start_void(Token&& token, Body&& body) const {
        return start<void>(std::forward<Token>(token), std::forward<Body>(body));
    }

    asio::awaitable<bson::document> run_command_impl(const bson::document& cmd, error_code& ec,
                                                     diagnostics& diag) const;
    asio::awaitable<std::vector<std::string>> list_collection_names_impl(const bson::document& filter,
                                                                         error_code& ec, diagnostics& diag) const;
    asio::awaitable<morm::collection> create_collection_impl(std::string_view name,
                                                             const create_collection_options& opts, error_code& ec,
                                                             diagnostics& diag) const;
    asio::awaitable<void> drop_impl(error_code& ec, diagnostics& diag) const;

    std::shared_ptr<detail::client_state> st_;
    std::string name_;
};

}  // namespace morm
