#include <morm/orm/engine.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace morm {

asio::awaitable<engine> engine::create(std::string uri, engine_options opts) {
    auto st = std::make_shared<detail::engine_state>();
    st->client = co_await client::connect(uri, std::move(opts.client));
    std::string db = opts.database;
    if (db.empty()) db = st->client.uri().database.value_or("test");
    st->db = st->client.database(db);
    st->create_validators = opts.create_validators;
    engine e;
    e.state_ = std::move(st);
    co_return e;
}

asio::awaitable<void> engine::create_all() const {
    auto models = state_->snapshot_models();
    auto existing = co_await state_->db.list_collection_names();
    for (const auto* m : models) {
        const std::string name(m->collection);
        const bool exists = std::find(existing.begin(), existing.end(), name) != existing.end();
        if (!exists) {
            create_collection_options co;
            if (state_->create_validators) co.validator = m->schema();
            co_await state_->db.create_collection(name, co);
        } else if (state_->create_validators) {
            bson::document cmd;
            auto v = m->schema();
            if (!bson_append_utf8(cmd.get(), "collMod", -1, name.c_str(), -1) ||
                !bson_append_document(cmd.get(), "validator", -1, v.get()))
                throw error(errc::invalid_argument, fmt::format("collMod of '{}' could not be built", name));
            co_await state_->db.run_command(cmd);
        }
        auto indexes = m->indexes();
        if (indexes.empty()) continue;
        auto coll = state_->db.collection(name);
        if (exists) {
            // Only the missing ones: fewer commands on every start, and FerretDB 1.24 drops
            // the connection (server panic) on createIndexes of indexes that already exist.
            auto current = co_await coll.list_indexes();
            std::vector<std::string> have;
            for (const auto& ix : current)
                if (auto n = ix.find("name"); n && BSON_ITER_HOLDS_UTF8(&*n)) have.emplace_back(bson_iter_utf8(&*n, nullptr));
            std::erase_if(indexes, [&](const index_model& im) {
                const std::string n = im.options.name.empty() ? index_name_for(im.keys) : im.options.name;
                return std::find(have.begin(), have.end(), n) != have.end();
            });
            if (indexes.empty()) continue;
        }
        co_await coll.create_indexes(indexes);
    }
}

asio::awaitable<void> engine::drop_all() const {
    for (const auto* m : state_->snapshot_models()) co_await state_->db.collection(m->collection).drop();
}

asio::awaitable<void> engine::dispose() const {
    state_->client.close();
    co_return;
}

}  // namespace morm
