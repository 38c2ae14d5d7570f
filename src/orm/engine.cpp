#include <morm/orm/engine.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace morm {

asio::awaitable<engine> engine::create(std::string uri, engine_options opts) {
    error_code ec;
    diagnostics diag;
    auto e = co_await create(uri, opts, ec, diag);
    throw_on_error(ec, diag);
    co_return e;
}

asio::awaitable<engine> engine::create(const std::string& uri, const engine_options& opts, error_code& ec,
                                       diagnostics& diag) {
    auto st = std::make_shared<detail::engine_state>();
    st->client = co_await client::connect(uri, opts.client, ec, diag);
    if (ec) co_return engine{};
    std::string db = opts.database;
    if (db.empty()) db = st->client.uri().database.value_or("test");
    st->db = st->client.database(db);
    st->create_validators = opts.create_validators;
    st->max_write_batch = opts.max_write_batch;
    engine e;
    e.state_ = std::move(st);
    co_return e;
}

asio::awaitable<void> engine::create_all() const {
    error_code ec;
    diagnostics diag;
    co_await create_all(ec, diag);
    throw_on_error(ec, diag);
}

namespace {

/// Installs `m`'s validator on the existing collection `name` (collMod).
asio::awaitable<void> install_validator(const database& db, const std::string& name, const detail::model_ops& m,
                                        error_code& ec, diagnostics& diag) {
    bson::document cmd;
    auto v = m.schema();
    if (!bson_append_utf8(cmd.get(), "collMod", -1, name.c_str(), -1) ||
        !bson_append_document(cmd.get(), "validator", -1, v.get())) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = fmt::format("collMod of '{}' could not be built", name);
        co_return;
    }
    co_await db.run_command(cmd, ec, diag);
}

/// Removes from `indexes` those the collection already has (by name).
asio::awaitable<void> drop_existing(const collection& coll, std::vector<index_model>& indexes, error_code& ec,
                                    diagnostics& diag) {
    auto current = co_await coll.list_indexes(ec, diag);
    if (ec) co_return;
    std::vector<std::string> have;
    for (const auto& ix : current)
        if (auto n = ix.find("name"); n && BSON_ITER_HOLDS_UTF8(&*n)) have.emplace_back(bson_iter_utf8(&*n, nullptr));
    std::erase_if(indexes, [&](const index_model& im) {
        const std::string n = im.options.name.empty() ? index_name_for(im.keys) : im.options.name;
        return std::find(have.begin(), have.end(), n) != have.end();
    });
}

}  // namespace

asio::awaitable<void> engine::create_all(error_code& ec, diagnostics& diag) const {
    const bson::document no_filter;
    auto models = state_->snapshot_models();
    auto existing = co_await state_->db.list_collection_names(no_filter, ec, diag);
    if (ec) co_return;
    for (const auto* m : models) {
        const std::string name(m->collection);
        const bool exists = std::find(existing.begin(), existing.end(), name) != existing.end();
        if (!exists) {
            create_collection_options co;
            if (state_->create_validators) co.validator = m->schema();
            co_await state_->db.create_collection(name, co, ec, diag);
        } else if (state_->create_validators) {
            co_await install_validator(state_->db, name, *m, ec, diag);
        }
        if (ec) co_return;
        auto indexes = m->indexes();
        if (indexes.empty()) continue;
        auto coll = state_->db.collection(name);
        // Only the missing ones: fewer commands on every start, and FerretDB 1.24 drops
        // the connection (server panic) on createIndexes of indexes that already exist.
        if (exists) co_await drop_existing(coll, indexes, ec, diag);
        if (ec) co_return;
        if (indexes.empty()) continue;
        co_await coll.create_indexes(indexes, ec, diag);
        if (ec) co_return;
    }
}

asio::awaitable<void> engine::drop_all() const {
    error_code ec;
    diagnostics diag;
    co_await drop_all(ec, diag);
    throw_on_error(ec, diag);
}

asio::awaitable<void> engine::drop_all(error_code& ec, diagnostics& diag) const {
    for (const auto* m : state_->snapshot_models()) {
        co_await state_->db.collection(m->collection).drop(ec, diag);
        if (ec) co_return;
    }
}

asio::awaitable<void> engine::dispose() const {
    state_->client.close();
    co_return;
}

}  // namespace morm
