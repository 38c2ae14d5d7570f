// Databases and collections: CRUD, bulk writes, cursors, aggregation, indexes.
//
// All operations are coroutines that throw morm::error on failure (server errors keep
// their code and codeName). Documents are bson::document (owning) or document views.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/types.hpp>
#include <morm/client/client.hpp>
#include <morm/client/cursor.hpp>
#include <morm/client/options.hpp>
#include <morm/client/results.hpp>

#include <boost/asio/awaitable.hpp>

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
    asio::awaitable<insert_one_result> insert_one(const bson::document& doc, const insert_options& opts = {}) const;
    /// Inserts many, pipelined and split by the server's limits. Throws
    /// bulk_write_exception (with per-index errors) if any document was rejected.
    asio::awaitable<bulk_write_result> insert_many(const std::vector<bson::document>& docs,
                                                   const insert_options& opts = {}) const;
    asio::awaitable<update_result> update_one(const bson::document& filter, const bson::document& update,
                                              const update_options& opts = {}) const;
    asio::awaitable<update_result> update_one(const bson::document& filter,
                                              const std::vector<bson::document>& pipeline,
                                              const update_options& opts = {}) const;
    asio::awaitable<update_result> update_many(const bson::document& filter, const bson::document& update,
                                               const update_options& opts = {}) const;
    asio::awaitable<update_result> replace_one(const bson::document& filter, const bson::document& replacement,
                                               const update_options& opts = {}) const;
    asio::awaitable<delete_result> delete_one(const bson::document& filter, const delete_options& opts = {}) const;
    asio::awaitable<delete_result> delete_many(const bson::document& filter, const delete_options& opts = {}) const;
    /// Mixed writes. Ordered: same-kind runs become commands sent one after the other,
    /// stopping at the first error. Unordered: grouped by kind and pipelined. Error
    /// indexes refer to `models`. Throws bulk_write_exception when some writes failed.
    asio::awaitable<bulk_write_result> bulk_write(const std::vector<write_model>& models,
                                                  const bulk_write_options& opts = {}) const;

    // ---- reads --------------------------------------------------------------------
    asio::awaitable<cursor> find(const bson::document& filter = {}, const find_options& opts = {}) const;
    asio::awaitable<std::optional<bson::document>> find_one(const bson::document& filter = {},
                                                            find_options opts = {}) const;
    asio::awaitable<cursor> aggregate(const std::vector<bson::document>& pipeline,
                                      const aggregate_options& opts = {}) const;
    asio::awaitable<std::int64_t> count_documents(const bson::document& filter = {},
                                                  const count_options& opts = {}) const;
    asio::awaitable<std::int64_t> estimated_document_count() const;
    /// A reply without a `values` array is errc::protocol.
    asio::awaitable<std::vector<bson::value>> distinct(std::string_view key, const bson::document& filter = {}) const;

    asio::awaitable<std::optional<bson::document>> find_one_and_update(
        const bson::document& filter, const bson::document& update, const find_one_and_modify_options& opts = {}) const;
    asio::awaitable<std::optional<bson::document>> find_one_and_replace(
        const bson::document& filter, const bson::document& replacement,
        const find_one_and_modify_options& opts = {}) const;
    asio::awaitable<std::optional<bson::document>> find_one_and_delete(
        const bson::document& filter, const find_one_and_modify_options& opts = {}) const;

    // ---- indexes ------------------------------------------------------------------
    /// Returns the index name.
    asio::awaitable<std::string> create_index(const bson::document& keys, const index_options& opts = {}) const;
    asio::awaitable<std::vector<std::string>> create_indexes(const std::vector<index_model>& models) const;
    asio::awaitable<std::vector<bson::document>> list_indexes() const;
    asio::awaitable<void> drop_index(std::string_view name) const;
    asio::awaitable<void> drop_indexes() const;

    /// Drops the collection (no error if it does not exist).
    asio::awaitable<void> drop() const;

private:
    /// bulk_write of one model, whose failure is thrown as a plain morm::error.
    asio::awaitable<bulk_write_result> single_write(const std::vector<write_model>& models,
                                                    const std::optional<write_concern>& wc) const;
    asio::awaitable<update_result> update_impl(const bson::document& filter, const bson::document* update,
                                               const std::vector<bson::document>* pipeline, bool multi,
                                               const update_options& opts) const;
    asio::awaitable<std::optional<bson::document>> find_and_modify(const bson::document& filter,
                                                                   const bson::document* update, bool remove,
                                                                   const find_one_and_modify_options& opts) const;

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

    asio::awaitable<bson::document> run_command(const bson::document& cmd) const;
    asio::awaitable<std::vector<std::string>> list_collection_names(const bson::document& filter = {}) const;
    asio::awaitable<morm::collection> create_collection(std::string_view name,
                                                        const create_collection_options& opts = {}) const;
    asio::awaitable<void> drop() const;

private:
    std::shared_ptr<detail::client_state> st_;
    std::string name_;
};

}  // namespace morm
