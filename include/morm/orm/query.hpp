// Typed queries of a session: `session.query<User>().filter(field(&User::name) == "John")`.
//
// Results of all()/first()/one() go through the session's identity map (one object per
// _id; an object already in the session is returned as is, local changes included).
// stream() yields objects batch by batch without tracking them, so memory stays bounded
// by the batch size however large the result.
#pragma once

#include <morm/client/collection.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/session.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <memory>
#include <tuple>
#include <optional>
#include <vector>

namespace morm {

/// Streams query results as plain (untracked) objects, one batch in memory at a time.
template <codec::model T>
class result_stream {
public:
    explicit result_stream(cursor c) : cursor_(std::move(c)) {}

    /// Decodes the next object into `out`; false at the end. Decode errors throw
    /// morm::error (errc::decode_error) naming the field path.
    asio::awaitable<bool> next(T& out) {
        auto d = co_await cursor_.next();
        if (!d) co_return false;
        out = T{};
        diagnostics diag;
        if (auto ec = codec::decode(*d, out, &diag)) throw error(ec, diag);
        co_return true;
    }
    /// The next object, or nullopt at the end.
    asio::awaitable<std::optional<T>> next() {
        T obj{};
        if (co_await next(obj)) co_return std::optional<T>(std::move(obj));
        co_return std::nullopt;
    }
    const cursor& underlying() const noexcept { return cursor_; }

private:
    cursor cursor_;
};

template <codec::model T>
class query {
public:
    explicit query(session& s) : s_(&s) {}

    /// Adds a condition (combined with AND).
    query& filter(const morm::filter& f) {
        filter_ = filter_ && f;
        return *this;
    }
    /// Raw BSON filter escape hatch (combined with AND).
    query& filter(const bson::document& raw) { return filter(morm::filter(raw)); }

    template <class V>
    query& sort(V T::*m, order o = order::asc) {
        return sort_path(codec::field_name(m), o);
    }
    template <class V>
    query& sort(const field_ref<T, V>& f, order o = order::asc) {
        return sort_path(f.path(), o);
    }
    query& limit(std::int64_t n) {
        opts_.limit = n;
        return *this;
    }
    query& skip(std::int64_t n) {
        opts_.skip = n;
        return *this;
    }
    query& batch_size(std::int32_t n) {
        opts_.batch_size = n;
        return *this;
    }
    /// Loads only these fields (plus _id). Objects loaded this way are NOT tracked
    /// (a partial snapshot would turn every unloaded field into an $unset): use
    /// `partial()` to get them.
    template <class... M>
    query& only(M T::*... members) {
        bson::document p;
        (detail::must(bson_append_int32(p.get(), std::string(codec::field_name(members)).c_str(), -1, 1), "projection"),
         ...);
        opts_.projection = std::move(p);
        return *this;
    }

    const morm::filter& current_filter() const noexcept { return filter_; }
    const find_options& options() const noexcept { return opts_; }

    /// Every matching object (tracked).
    asio::awaitable<std::vector<std::shared_ptr<T>>> all() {
        require_full("all");
        auto c = co_await coll().find(filter_.document(), opts_);
        std::vector<std::shared_ptr<T>> out;
        const auto& ops = detail::ops_for<T>();
        while (auto d = co_await c.next()) {
            // Objects staged for deletion in this session are left out.
            if (auto p = s_->track_loaded(ops, *d)) out.push_back(std::static_pointer_cast<T>(std::move(p)));
        }
        co_return out;
    }
    /// The first match or nullptr.
    asio::awaitable<std::shared_ptr<T>> first() {
        require_full("first");
        find_options o = opts_;
        o.limit = 1;
        o.single_batch = true;
        auto c = co_await coll().find(filter_.document(), o);
        auto d = co_await c.next();
        if (!d) co_return nullptr;
        co_return std::static_pointer_cast<T>(s_->track_loaded(detail::ops_for<T>(), *d));
    }
    /// Exactly one match: errc::not_found if none, errc::multiple_results if more.
    asio::awaitable<std::shared_ptr<T>> one() {
        auto r = co_await one_or_none();
        if (!r) throw error(errc::not_found, fmt::format("query on '{}' matched no document: {}", collection_name(),
                                                         filter_.document().to_json()));
        co_return r;
    }
    /// One match or nullptr; errc::multiple_results if more than one.
    asio::awaitable<std::shared_ptr<T>> one_or_none() {
        require_full("one_or_none");
        find_options o = opts_;
        o.limit = 2;
        auto c = co_await coll().find(filter_.document(), o);
        auto d1 = co_await c.next();
        if (!d1) co_return nullptr;
        bson::document first;
        first.assign(*d1);
        if (co_await c.next())
            throw error(errc::multiple_results, fmt::format("query on '{}' matched more than one document: {}",
                                                            collection_name(), filter_.document().to_json()));
        co_return std::static_pointer_cast<T>(s_->track_loaded(detail::ops_for<T>(), first.view()));
    }
    /// Partially loaded objects (see only()), not tracked.
    asio::awaitable<std::vector<T>> partial() {
        auto c = co_await coll().find(filter_.document(), opts_);
        std::vector<T> out;
        while (auto d = co_await c.next()) {
            T obj{};
            // Absent fields keep their defaults: a document without them is expected here,
            // so a decode failure (a missing field) is not an error. The fields that were
            // present were decoded before it.
            std::ignore = codec::decode(*d, obj, nullptr);
            out.push_back(std::move(obj));
        }
        co_return out;
    }
    asio::awaitable<std::int64_t> count() {
        count_options co;
        co.skip = opts_.skip;
        co.limit = opts_.limit;
        co_return co_await coll().count_documents(filter_.document(), co);
    }
    asio::awaitable<bool> exists() {
        find_options o;
        o.limit = 1;
        o.single_batch = true;
        o.projection = bson::document::from_json(R"({"_id": 1})");
        auto c = co_await coll().find(filter_.document(), o);
        auto d = co_await c.next();
        co_return d.has_value();
    }
    /// Streams untracked objects batch by batch (memory bounded by batch_size()).
    asio::awaitable<result_stream<T>> stream() {
        if (opts_.batch_size == 0) opts_.batch_size = 1000;
        auto c = co_await coll().find(filter_.document(), opts_);
        co_return result_stream<T>(std::move(c));
    }
    /// Bulk update of every match on the server: `update(set(field(&User::name), "x"))`.
    /// Objects already in the session are not refreshed (call session.refresh()).
    template <class... U>
    asio::awaitable<std::int64_t> update(const U&... ops) {
        bson::document u;
        build_update(u, {&ops...});
        auto r = co_await coll().update_many(filter_.document(), u);
        co_return r.modified_count;
    }
    /// Deletes every match on the server; returns the count.
    asio::awaitable<std::int64_t> remove() {
        auto r = co_await coll().delete_many(filter_.document());
        co_return r.deleted_count;
    }

private:
    morm::collection coll() const { return s_->get_engine().template collection<T>(); }
    std::string_view collection_name() const { return codec::model_traits<T>::collection; }
    void require_full(const char* what) const {
        if (!opts_.projection.empty())
            throw error(errc::invalid_argument,
                        fmt::format("query::{}() with only(): partially loaded objects cannot be tracked; use partial()",
                                    what));
    }
    query& sort_path(std::string_view path, order o) {
        detail::must(bson_append_int32(opts_.sort.get(), path.data(), static_cast<int>(path.size()), static_cast<int>(o)),
                     path);
        return *this;
    }
    static void build_update(bson::document& u, std::initializer_list<const update_op*> ops) {
        // Group by operator: {$set: {...}, $inc: {...}}.
        std::vector<std::string> seen;
        for (auto* first : ops) {
            if (std::find(seen.begin(), seen.end(), first->op()) != seen.end()) continue;
            seen.push_back(first->op());
            bson_t sub;
            detail::must(bson_append_document_begin(u.get(), first->op().c_str(), -1, &sub), first->path());
            for (auto* o : ops)
                if (o->op() == first->op())
                    detail::must(bson_append_value(&sub, o->path().c_str(), static_cast<int>(o->path().size()), &o->value()),
                                 o->path());
            detail::must(bson_append_document_end(u.get(), &sub), first->path());
        }
    }

    session* s_;
    morm::filter filter_;
    find_options opts_;
};

template <codec::model T>
morm::query<T> session::query() {
    engine_.register_model<T>();
    return morm::query<T>(*this);
}

template <codec::model T>
asio::awaitable<std::vector<T>> session::aggregate(const std::vector<bson::document>& pipeline) {
    auto c = co_await engine_.collection<T>().aggregate(pipeline);
    std::vector<T> out;
    while (auto d = co_await c.next()) {
        T obj{};
        diagnostics diag;
        if (auto ec = codec::decode(*d, obj, &diag)) throw error(ec, diag);
        out.push_back(std::move(obj));
    }
    co_return out;
}

}  // namespace morm
