// Typed queries of a session: `session.query<User>().filter(field(&User::name) == "John")`.
//
// A query<T> takes only expressions over T (filters, sort and projection keys, update
// operators: see expr.hpp for why and for the concepts that say so in compiler errors);
// raw BSON goes in only explicitly (raw_filter(), a bson::document, an untyped update_op).
//
// Results of all()/first()/one() go through the session's identity map (one object per
// _id; an object already in the session is returned as is, local changes included).
// stream() yields objects batch by batch without tracking them, so memory stays bounded
// by the batch size however large the result.
//
// Every operation that runs a command has two forms: `co_await q.all()` throws
// morm::error; `q.all(token)` takes any Asio completion token and throws nothing
// (morm::with_diagnostics(diag, token) also receives the server's message). Common
// sections of the operations below:
//  - Executor: the token form's body runs on the engine's client executor; its handler on
//    the handler's associated executor (that one by default).
//  - Object lifetimes: the token form copies the query (filter, sort, options), so
//    `s.query<User>().filter(...).all(token)` on a temporary is fine; the session must
//    outlive the operation.
//  - Cancellation: terminal cancellation through the token's slot aborts the pool wait or
//    socket I/O; the operation completes with asio::error::operation_aborted; a connection
//    cut mid-reply is closed, not reused. For update()/remove(), whether the server applied
//    the write is then unknown.
#pragma once

#include <morm/client/collection.hpp>
#include <morm/detail/initiate.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/fit.hpp>
#include <morm/orm/keyset.hpp>
#include <morm/orm/session.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace morm {

namespace detail {

/// Calls `f(view, ec, diag)` for every document of `c`, one await per batch (not per
/// document); stops when `f` sets `ec` or the cursor fails.
template <class F>
asio::awaitable<void> for_each_doc(cursor& c, error_code& ec, diagnostics& diag, F f) {
    while (co_await c.next_batch(ec, diag)) {
        bson_iter_t it;
        if (!c.batch().init_iter(it)) continue;
        while (bson_iter_next(&it)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&it, &len, &data);
            f(bson::document_view(data, len), ec, diag);
            if (ec) co_return;
        }
    }
}

/// `{$set: {...}, $inc: {...}}` from update operators grouped by operator; false if an
/// append failed (the update must then not be sent).
[[nodiscard]] inline bool build_update(bson::document& u, std::initializer_list<const update_op*> ops) {
    std::vector<std::string> seen;
    bool ok = true;
    for (auto* first : ops) {
        if (std::find(seen.begin(), seen.end(), first->op()) != seen.end()) continue;
        seen.push_back(first->op());
        bson_t sub;
        if (!bson_append_document_begin(u.get(), first->op().c_str(), -1, &sub)) return false;
        for (auto* o : ops)
            if (o->op() == first->op())
                ok = ok && bson::append_value(&sub, o->path(), o->value());
        if (!bson_append_document_end(u.get(), &sub) || !ok) return false;
    }
    return true;
}

/// The stored path of a sort / projection key: `&T::m` or a field_ref.
template <class K>
std::string path_of(const K& key) {
    if constexpr (std::is_member_object_pointer_v<K>)
        return std::string(codec::field_name(key));
    else
        return key.path();
}

/// A token form of query<T>::update: update operators of T, then a completion token.
template <class T, class Seq, class... A>
struct ops_then_token;
template <class T, std::size_t... I, class... A>
struct ops_then_token<T, std::index_sequence<I...>, A...> {
    using args = std::tuple<A...>;
    static constexpr bool value = (update_of<std::tuple_element_t<I, args>, T> && ...) &&
                                  token_for<std::tuple_element_t<sizeof...(I), args>, std::int64_t>;
};
template <class T, class... A>
concept update_ops_then_token =
    sizeof...(A) >= 2 && ops_then_token<T, std::make_index_sequence<sizeof...(A) - 1>, A...>::value;

}  // namespace detail

/// Streams query results as plain (untracked) objects, one batch in memory at a time.
/// T is a model, or any structure (the results of aggregation<M, Out>::stream()).
template <codec::structure T>
class result_stream {
public:
    result_stream() = default;
    /// `ex` runs the token forms of next() (query::stream() passes the client's executor).
    explicit result_stream(cursor c, asio::any_io_executor ex = {}) : cursor_(std::move(c)), ex_(std::move(ex)) {}
    result_stream(result_stream&& o) noexcept : cursor_(std::move(o.cursor_)), ex_(std::move(o.ex_)), pos_(o.pos_) {
        reposition(o.iter_valid_);
    }
    result_stream& operator=(result_stream&& o) noexcept {
        if (this != &o) {
            cursor_ = std::move(o.cursor_);
            ex_ = std::move(o.ex_);
            pos_ = o.pos_;
            reposition(o.iter_valid_);
        }
        return *this;
    }

    /// \brief Decodes the next object into `out`; false at the end.
    /// \par Errors
    ///   errc::decode_error naming the field path, and the cursor's (getMore) errors.
    /// \par Completion signature
    ///   `void(morm::error_code, bool)` (`void(morm::error_code, std::optional<T>)` for
    ///   next() without `out`).
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default).
    /// \par Object lifetimes
    ///   The stream and `out` must outlive the operation; one next() at a time.
    /// \par Cancellation
    ///   Terminal: aborts the getMore in flight; completes with
    ///   asio::error::operation_aborted; a connection cut mid-reply is closed, not reused.
    ///   The stream should then be dropped.
    asio::awaitable<bool> next(T& out) {
        error_code ec;
        diagnostics diag;
        const bool got = co_await next_body(out, ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return got;
    }
    template <token_for<bool> Token>
    auto next(T& out, Token&& token) {
        return detail::initiate<bool>(executor(), token,
                                      [this, &out](error_code& ec, diagnostics& diag) { return next_body(out, ec, diag); });
    }
    /// The next object, or nullopt at the end (sections as next(out)).
    asio::awaitable<std::optional<T>> next() {
        T obj{};
        if (co_await next(obj)) co_return std::optional<T>(std::move(obj));
        co_return std::nullopt;
    }
    template <token_for<std::optional<T>> Token>
    auto next(Token&& token) {
        return detail::initiate<std::optional<T>>(executor(), token, [this](error_code& ec, diagnostics& diag) {
            return next_optional_body(ec, diag);
        });
    }
    /// The cursor the stream reads batches from (its id, exhausted()); reading from it
    /// directly skips what the stream has not returned yet.
    const cursor& underlying() const noexcept { return cursor_; }

private:
    const asio::any_io_executor& executor() const noexcept { return ex_; }

    asio::awaitable<bool> next_body(T& out, error_code& ec, diagnostics& diag) {
        for (;;) {
            if (iter_valid_ && bson_iter_next(&iter_)) {
                ++pos_;
                if (!BSON_ITER_HOLDS_DOCUMENT(&iter_)) continue;
                std::uint32_t len;
                const std::uint8_t* data;
                bson_iter_document(&iter_, &len, &data);
                out = T{};
                if ((ec = codec::decode(bson::document_view(data, len), out, &diag))) co_return false;
                if constexpr (codec::model<T>) {  // aggregation results may be plain structs: no hooks
                    const auto& ops = detail::ops_for<T>();
                    if ((ec = detail::run_after_load(ops.after_load, &out, ops.collection,
                                                     [&] { return ops.id_json(&out); }, diag)))
                        co_return false;
                }
                co_return true;
            }
            iter_valid_ = false;
            if (!co_await cursor_.next_batch(ec, diag)) co_return false;
            pos_ = 0;
            iter_valid_ = cursor_.batch().init_iter(iter_);
        }
    }
    asio::awaitable<std::optional<T>> next_optional_body(error_code& ec, diagnostics& diag) {
        T obj{};
        if (co_await next_body(obj, ec, diag)) co_return std::optional<T>(std::move(obj));
        co_return std::nullopt;
    }
    /// After a move: the iterator pointed into the old batch buffer; re-create it at the
    /// same position in the moved one.
    void reposition(bool valid) {
        iter_valid_ = valid && cursor_.batch().init_iter(iter_);
        for (std::size_t k = 0; k < pos_ && iter_valid_; ++k) bson_iter_next(&iter_);
    }

    cursor cursor_;
    asio::any_io_executor ex_;
    bson_iter_t iter_{};
    bool iter_valid_ = false;
    std::size_t pos_ = 0;  // elements consumed from the current batch
};

namespace detail {
/// R is the base of T's polymorphic family (orm/polymorphic.hpp): a kind's query also takes
/// filters and sort keys over the base's members.
template <class R, class T>
concept family_base_of = polymorphic_model<T> && !std::is_same_v<R, T> && std::is_base_of_v<R, T> &&
                         polymorphic_model<R>;
}  // namespace detail

template <codec::model T>
class query {
public:
    /// A query of a polymorphic kind starts with the filter `{discriminator: kind}`.
    explicit query(session& s) : s_(&s) {
        if constexpr (detail::polymorphic_model<T>) filter_kind();
    }

    /// Adds a condition (combined with AND): a filter over T, or an untyped raw_filter().
    /// The conditions are linked, not re-encoded: the filter document is built once, when
    /// the query runs.
    template <class E>
        requires expression_of<E, T>
    query& filter(E&& f) {
        filter_ = std::move(filter_) && std::forward<E>(f);
        return *this;
    }
    /// Raw BSON filter escape hatch (combined with AND; not checked against T).
    query& filter(bson::document raw) { return filter(morm::filter(std::move(raw))); }
    /// A polymorphic kind's query: a filter over its base model's fields.
    template <class E>
        requires(filter_expression<E> && detail::family_base_of<detail::filter_root_t<E>, T>)
    query& filter(E&& f) {
        return filter(morm::filter(std::forward<E>(f)));
    }

    /// Sorts by a field of T: `sort(&User::email)`, `sort(field(&User::address, &Address::city), order::desc)`.
    /// Repeated calls add keys (the first is the primary one).
    template <class K>
        requires field_of<K, T>
    query& sort(const K& key, order o = order::asc) {
        return sort_path(detail::path_of(key), o);
    }
    /// A polymorphic kind's query: sorts by a field of its base model.
    template <class K>
        requires detail::family_base_of<detail::key_root_t<K>, T>
    query& sort(const K& key, order o = order::asc) {
        return sort_path(detail::path_of(key), o);
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
    /// Which server answers (server-selection.md): e.g. `read_pref(read_mode::secondary_preferred)`
    /// reads from a secondary when one is up. Default: the connection string's readPreference.
    query& read_pref(read_preference rp) {
        opts_.read_pref = std::move(rp);
        return *this;
    }
    query& read_pref(read_mode mode) {
        read_preference rp;
        rp.mode = mode;
        return read_pref(std::move(rp));
    }
    /// Loads only these fields (plus _id). Objects loaded this way are NOT tracked
    /// (a partial snapshot would turn every unloaded field into an $unset): use
    /// `partial()` to get them.
    /// Keys: members of T or field_ref paths over T (`only(&User::name, field(&User::address, &Address::city))`).
    template <class... K>
        requires(sizeof...(K) >= 1 && (field_of<K, T> && ...))  // morm: a key is not a field of the query's model
    query& only(const K&... keys) {
        bson::document p;
        auto add = [&p](const std::string& path) {
            detail::must(bson_append_int32(p.get(), path.data(), static_cast<int>(path.size()), 1), path);
        };
        (add(detail::path_of(keys)), ...);
        opts_.projection = std::move(p);
        return *this;
    }

    // ---- relations: targets of morm::ref members without N+1 (see relations.hpp) ------
    /// Eager, batched loading of a reference path: after each result batch, ONE
    /// `{_id: {$in: [...]}}` find per path level for the ids the session does not hold
    /// yet; every ref's target is then the session's tracked object (one per _id; objects
    /// the session already holds are not fetched again). `load(&Order::customer,
    /// &Customer::company)` loads the customers, then their companies (one round trip per
    /// level). Members: ref<U>, std::vector<ref<U>>, std::optional<ref<U>>. May be called
    /// several times. A dangling ref (no such document) stays unloaded, no error.
    /// Applies to all(), first(), one(), one_or_none(); not to stream(), partial().
    /// Not pipelined yet: the $in find is sent after the batch's reply, before the next
    /// getMore.
    template <class... M>
        requires ref_path_of<T, M...>
    query& load(M... path) {
        loaders_.push_back([path...](session& s, std::vector<std::shared_ptr<T>> objs, error_code& ec,
                                     diagnostics& diag) { return detail::load_refs(s, ec, diag, std::move(objs), path...); });
        return *this;
    }
    /// The reverse side: loads (and tracks) the C objects whose member `m` refers to one of
    /// the results, with ONE `{m: {$in: [<result ids>]}}` find per result batch; their refs
    /// to the results are set. Get them with `session.children(&C::m, *result)` (no I/O).
    template <class M>
        requires ref_to<M, T>
    query& load_children(M m) {
        loaders_.push_back([m](session& s, std::vector<std::shared_ptr<T>> objs, error_code& ec, diagnostics& diag) {
            return detail::load_children(s, ec, diag, std::move(objs), m);
        });
        return *this;
    }
    /// The server-side alternative to load(): the query runs as ONE aggregate,
    /// `$match/$sort/$skip/$limit` then `{$lookup: {from: <U's collection>, localField: m,
    /// foreignField: "_id"}}` (+ `$unwind` with preserveNullAndEmptyArrays for a single ref)
    /// per join; the joined documents are tracked and set as the refs' targets (an object
    /// the session already holds keeps its local state). Needs a server with $lookup.
    template <class M>
        requires ref_path_of<T, M>
    query& join(M m) {
        joins_.push_back(detail::make_join<session>(m, joins_.size()));
        return *this;
    }
    /// The aggregation pipeline join() sends (for tests and explain).
    std::vector<bson::document> join_pipeline() const {
        return detail::join_pipeline(filter_.document(), opts_, joins_);
    }
    /// Keyset pagination: continues after `last`, the last object of the previous page
    /// (with the same filter and sort), by its sort keys: adds the condition
    /// `{$or: [{k1: {$gt: v1}}, {k1: v1, k2: {$gt: v2}}, ...]}` ($lt for descending keys)
    /// and appends `_id` to the sort if absent, so ties are broken by _id. Unlike skip(),
    /// pages neither repeat nor skip documents when others are inserted or deleted between
    /// them: those inserted before `last` in the order are not seen, those after are.
    ///   auto page = co_await s.query<Order>().sort(&Order::total, order::desc).limit(50).after(*prev.back()).all();
    /// A null `last` is the first page: only `_id` is appended to the sort (the first page
    /// must be in the same total order), so a loop can call `after(last)` every time:
    ///   std::shared_ptr<Order> last;
    ///   for (;;) { auto q = s.query<Order>(); q.sort(&Order::total).limit(50).after(last);
    ///              auto page = co_await q.all(); if (page.empty()) break; last = page.back(); }
    /// Call it after sort() (the keys are read now); `last`'s values are encoded with the
    /// codec now (an encode failure throws morm::error). Only an object of the query's
    /// model is accepted, as T or std::shared_ptr<T>.
    query& after(const T& last) {
        bson::document encoded;
        diagnostics diag;
        if (auto ec = codec::encode_into(encoded.get(), last, &diag)) throw error(ec, std::move(diag));
        return filter(detail::keyset_after(opts_.sort, encoded.view()));
    }
    query& after(const std::shared_ptr<T>& last) {
        if (last) return after(*last);
        detail::keyset_sort(opts_.sort);
        return *this;
    }
    template <class U>
        requires(!std::same_as<std::remove_cvref_t<U>, T> && !std::same_as<std::remove_cvref_t<U>, std::shared_ptr<T>>)
    query& after(const U&) = delete;  // morm: after() takes an object of the query's model

    const filter_of<T>& current_filter() const noexcept { return filter_; }
    const find_options& options() const noexcept { return opts_; }

    /// \brief Every matching object (tracked).
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<std::shared_ptr<T>>)`.
    /// \par Executor, object lifetimes, cancellation
    ///   See the top of this file.
    asio::awaitable<std::vector<std::shared_ptr<T>>> all() { return throwing(&query::all_body); }
    template <token_for<std::vector<std::shared_ptr<T>>> Token>
    auto all(Token&& token) const {
        return start<std::vector<std::shared_ptr<T>>>(token, &query::all_body);
    }
    /// \brief The first match or nullptr.
    /// \par Completion signature
    ///   `void(morm::error_code, std::shared_ptr<T>)`.
    asio::awaitable<std::shared_ptr<T>> first() { return throwing(&query::first_body); }
    template <token_for<std::shared_ptr<T>> Token>
    auto first(Token&& token) const {
        return start<std::shared_ptr<T>>(token, &query::first_body);
    }
    /// \brief Exactly one match: errc::not_found if none, errc::multiple_results if more.
    /// \par Completion signature
    ///   `void(morm::error_code, std::shared_ptr<T>)`.
    asio::awaitable<std::shared_ptr<T>> one() { return throwing(&query::one_body); }
    template <token_for<std::shared_ptr<T>> Token>
    auto one(Token&& token) const {
        return start<std::shared_ptr<T>>(token, &query::one_body);
    }
    /// \brief One match or nullptr; errc::multiple_results if more than one.
    /// \par Completion signature
    ///   `void(morm::error_code, std::shared_ptr<T>)`.
    asio::awaitable<std::shared_ptr<T>> one_or_none() { return throwing(&query::one_or_none_body); }
    template <token_for<std::shared_ptr<T>> Token>
    auto one_or_none(Token&& token) const {
        return start<std::shared_ptr<T>>(token, &query::one_or_none_body);
    }
    /// \brief Partially loaded objects (see only()), not tracked.
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<T>)`.
    asio::awaitable<std::vector<T>> partial() { return throwing(&query::partial_body); }
    template <token_for<std::vector<T>> Token>
    auto partial(Token&& token) const {
        return start<std::vector<T>>(token, &query::partial_body);
    }
    /// \brief The number of matches (skip and limit apply).
    /// \par Completion signature
    ///   `void(morm::error_code, std::int64_t)`.
    asio::awaitable<std::int64_t> count() { return throwing(&query::count_body); }
    template <token_for<std::int64_t> Token>
    auto count(Token&& token) const {
        return start<std::int64_t>(token, &query::count_body);
    }
    /// \brief Whether anything matches.
    /// \par Completion signature
    ///   `void(morm::error_code, bool)`.
    asio::awaitable<bool> exists() { return throwing(&query::exists_body); }
    template <token_for<bool> Token>
    auto exists(Token&& token) const {
        return start<bool>(token, &query::exists_body);
    }
    /// \brief Streams untracked objects batch by batch (memory bounded by batch_size(),
    /// 1000 unless set).
    /// \par Completion signature
    ///   `void(morm::error_code, morm::result_stream<T>)`.
    asio::awaitable<result_stream<T>> stream() { return throwing(&query::stream_body); }
    template <token_for<result_stream<T>> Token>
    auto stream(Token&& token) const {
        return start<result_stream<T>>(token, &query::stream_body);
    }
    /// \brief The matches as objects of a smaller result struct R (not tracked):
    /// `s.query<User>().filter(...).sort(&User::name).select<UserSummary>()`. The find sends
    /// the projection of R's fields (and `_id: 0` if R has none); filter, sort, skip, limit
    /// apply. Every field of R must be a field of T with the same stored name and kind of
    /// value (see fit.hpp); otherwise a compile error says `morm: select<R>() ...`.
    /// \par Errors
    ///   errc::decode_error naming the field if a document does not decode as R.
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<R>)`.
    template <codec::structure R>
    asio::awaitable<std::vector<R>> select() {
        return throwing(&query::template select_body<R>);
    }
    template <codec::structure R, token_for<std::vector<R>> Token>
    auto select(Token&& token) const {
        return start<std::vector<R>>(token, &query::template select_body<R>);
    }

private:
    template <class R>
    asio::awaitable<std::vector<R>> select_body(error_code& ec, diagnostics& diag) {
        static_assert(detail::fit::fields_exist<R, T>,
                      "morm: select<R>(): every field of R must be a field of the query's model (by stored name)");
        static_assert(detail::fit::fields_fit<R, T>,
                      "morm: select<R>(): a field of R has another type than the model's field of that name");
        std::vector<R> out;
        find_options o = opts_;
        o.projection = detail::fit::projection_of<R>();
        auto c = co_await coll().find(filter_.document(), o, ec, diag);
        if (ec) co_return out;
        co_await detail::for_each_doc(c, ec, diag, [&out](bson::document_view d, error_code& e, diagnostics& dg) {
            R obj{};
            if ((e = codec::decode(d, obj, &dg))) return;
            out.push_back(std::move(obj));
        });
        co_return out;
    }

public:
    /// \brief Bulk update of every match on the server: `update(set(field(&User::name), "x"))`,
    /// or `update(set(...), inc(...), token)`. Every operator must be on a field of T
    /// (concept update_of), or an untyped update_op. Operators are grouped by operator
    /// into one update document. Returns the number of modified documents. Objects already
    /// in the session are not refreshed (call session.refresh()).
    /// \par Completion signature
    ///   `void(morm::error_code, std::int64_t)`.
    template <class... Ops>
        requires(sizeof...(Ops) >= 1 &&
                 (update_of<Ops, T> && ...))  // morm: an update operator is not on a field of the query's model
    asio::awaitable<std::int64_t> update(const Ops&... ops) {
        return throwing_update(make_update_doc({static_cast<const update_op*>(&ops)...}));
    }
    template <class... A>
        requires detail::update_ops_then_token<T, A...>
    auto update(A&&... args) {
        return update_with_token(std::forward_as_tuple(std::forward<A>(args)...),
                                 std::make_index_sequence<sizeof...(A) - 1>{});
    }
    /// \brief Deletes every match on the server; returns the count.
    /// \par Completion signature
    ///   `void(morm::error_code, std::int64_t)`.
    asio::awaitable<std::int64_t> remove() { return throwing(&query::remove_body); }
    template <token_for<std::int64_t> Token>
    auto remove(Token&& token) const {
        return start<std::int64_t>(token, &query::remove_body);
    }

private:
    template <class R>
    using body_fn = asio::awaitable<R> (query::*)(error_code&, diagnostics&);

    /// The no-token form: runs the body in the calling coroutine (this query outlives the
    /// co_await expression) and throws on failure.
    template <class R>
    asio::awaitable<R> throwing(body_fn<R> body) {
        error_code ec;
        diagnostics diag;
        R r = co_await (this->*body)(ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return r;
    }
    /// The token form: the body runs on a copy of the query, so a temporary query is fine.
    template <class R, class Token>
    auto start(Token& token, body_fn<R> body) const {
        return detail::initiate<R>(s_->get_engine().executor(), token,
                                   [q = *this, body](error_code& ec, diagnostics& diag) mutable {
                                       return (q.*body)(ec, diag);
                                   });
    }

    morm::collection coll() const { return s_->get_engine().template collection<T>(); }
    std::string_view collection_name() const { return codec::model_traits<T>::collection; }
    [[nodiscard]] error_code require_full(const char* what, diagnostics& diag) const {
        if (opts_.projection.empty()) return {};
        diag.message =
            fmt::format("query::{}() with only(): partially loaded objects cannot be tracked; use partial()", what);
        return make_error_code(errc::invalid_argument);
    }
    void filter_kind() {
        const auto& ops = detail::ops_for<T>();
        if (ops.family == &ops) return;  // the base: every kind
        bson::document d;
        detail::must(bson_append_utf8(d.get(), ops.discriminator.data(), static_cast<int>(ops.discriminator.size()),
                                      ops.kind.data(), static_cast<int>(ops.kind.size())),
                     ops.discriminator);
        filter(std::move(d));
    }
    query& sort_path(std::string_view path, order o) {
        detail::must(bson_append_int32(opts_.sort.get(), path.data(), static_cast<int>(path.size()), static_cast<int>(o)),
                     path);
        return *this;
    }

    /// Tracks `d` and appends its object to `out` (objects staged for deletion in this
    /// session are left out).
    auto collect_tracked(std::vector<std::shared_ptr<T>>& out) {
        return [this, &out](bson::document_view d, error_code& ec, diagnostics& diag) {
            if (auto p = s_->track_loaded(detail::ops_for<T>(), d, ec, diag))
                out.push_back(std::static_pointer_cast<T>(std::move(p)));
        };
    }

    asio::awaitable<std::vector<std::shared_ptr<T>>> all_body(error_code& ec, diagnostics& diag) {
        if (has_relations()) {
            auto r = co_await relations_body(opts_, ec, diag);
            co_return r;
        }
        std::vector<std::shared_ptr<T>> out;
        if ((ec = require_full("all", diag))) co_return out;
        auto c = co_await coll().find(filter_.document(), opts_, ec, diag);
        if (ec) co_return out;
        co_await detail::for_each_doc(c, ec, diag, collect_tracked(out));
        co_return out;
    }
    asio::awaitable<std::shared_ptr<T>> first_body(error_code& ec, diagnostics& diag) {
        if ((ec = require_full("first", diag))) co_return nullptr;
        find_options o = opts_;
        o.limit = 1;
        o.single_batch = true;
        if (has_relations()) {
            auto r = co_await relations_body(o, ec, diag);
            if (r.empty()) co_return nullptr;
            co_return r.front();
        }
        auto d = co_await coll().find_one(filter_.document(), o, ec, diag);
        if (ec || !d) co_return nullptr;
        co_return std::static_pointer_cast<T>(s_->track_loaded(detail::ops_for<T>(), d->view(), ec, diag));
    }
    asio::awaitable<std::shared_ptr<T>> one_body(error_code& ec, diagnostics& diag) {
        auto r = co_await one_or_none_body(ec, diag);
        if (!ec && !r) {
            ec = make_error_code(errc::not_found);
            diag.message = fmt::format("query on '{}' matched no document: {}", collection_name(),
                                       filter_.document().to_json());
        }
        co_return r;
    }
    asio::awaitable<std::shared_ptr<T>> one_or_none_body(error_code& ec, diagnostics& diag) {
        if ((ec = require_full("one_or_none", diag))) co_return nullptr;
        find_options o = opts_;
        o.limit = 2;
        if (has_relations()) {
            auto r = co_await relations_body(o, ec, diag);
            if (r.size() > 1) {
                ec = make_error_code(errc::multiple_results);
                diag.message = fmt::format("query on '{}' matched more than one document: {}", collection_name(),
                                           filter_.document().to_json());
                co_return nullptr;
            }
            if (ec || r.empty()) co_return nullptr;
            co_return r.front();
        }
        auto c = co_await coll().find(filter_.document(), o, ec, diag);
        if (ec) co_return nullptr;
        std::vector<bson::document> found;
        co_await detail::for_each_doc(c, ec, diag, [&found](bson::document_view d, error_code&, diagnostics&) {
            found.emplace_back().assign(d);
        });
        if (ec || found.empty()) co_return nullptr;
        if (found.size() > 1) {
            ec = make_error_code(errc::multiple_results);
            diag.message = fmt::format("query on '{}' matched more than one document: {}", collection_name(),
                                       filter_.document().to_json());
            co_return nullptr;
        }
        co_return std::static_pointer_cast<T>(s_->track_loaded(detail::ops_for<T>(), found.front().view(), ec, diag));
    }
    asio::awaitable<std::vector<T>> partial_body(error_code& ec, diagnostics& diag) {
        std::vector<T> out;
        auto c = co_await coll().find(filter_.document(), opts_, ec, diag);
        if (ec) co_return out;
        co_await detail::for_each_doc(c, ec, diag, [&out](bson::document_view d, error_code&, diagnostics&) {
            T obj{};
            // Absent fields keep their defaults: a document without them is expected here,
            // so a decode failure (a missing field) is not an error. The fields that were
            // present were decoded before it.
            std::ignore = codec::decode(d, obj, nullptr);
            out.push_back(std::move(obj));
        });
        co_return out;
    }
    asio::awaitable<std::int64_t> count_body(error_code& ec, diagnostics& diag) {
        count_options co;
        co.skip = opts_.skip;
        co.limit = opts_.limit;
        co.read_pref = opts_.read_pref;
        co_return co_await coll().count_documents(filter_.document(), co, ec, diag);
    }
    asio::awaitable<bool> exists_body(error_code& ec, diagnostics& diag) {
        find_options o;
        o.limit = 1;
        o.single_batch = true;
        o.projection = bson::document::from_json(R"({"_id": 1})");
        auto d = co_await coll().find_one(filter_.document(), o, ec, diag);
        co_return !ec && d.has_value();
    }
    asio::awaitable<result_stream<T>> stream_body(error_code& ec, diagnostics& diag) {
        find_options o = opts_;
        if (o.batch_size == 0) o.batch_size = 1000;
        auto c = co_await coll().find(filter_.document(), o, ec, diag);
        co_return result_stream<T>(std::move(c), s_->get_engine().executor());
    }
    asio::awaitable<std::int64_t> remove_body(error_code& ec, diagnostics& diag) {
        const delete_options dopts;
        auto r = co_await coll().delete_many(filter_.document(), dopts, ec, diag);
        co_return r.deleted_count;
    }

    /// The update document; empty (no operator) if it could not be built, which
    /// update_body() refuses before sending.
    static bson::document make_update_doc(std::initializer_list<const update_op*> ops) {
        bson::document u;
        if (!detail::build_update(u, ops)) return {};
        return u;
    }
    asio::awaitable<std::int64_t> update_body(const bson::document& u, error_code& ec, diagnostics& diag) {
        if (u.empty()) {
            ec = make_error_code(errc::invalid_argument);
            diag.message = fmt::format("query::update() on '{}': the update document could not be built",
                                       collection_name());
            co_return 0;
        }
        const update_options uopts;
        auto r = co_await coll().update_many(filter_.document(), u, uopts, ec, diag);
        co_return r.modified_count;
    }
    asio::awaitable<std::int64_t> throwing_update(bson::document u) {
        error_code ec;
        diagnostics diag;
        auto n = co_await update_body(u, ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return n;
    }
    template <class Tuple, std::size_t... I>
    auto update_with_token(Tuple args, std::index_sequence<I...>) const {
        auto& token = std::get<sizeof...(I)>(args);
        return detail::initiate<std::int64_t>(
            s_->get_engine().executor(), token,
            [q = *this, u = make_update_doc({static_cast<const update_op*>(&std::get<I>(args))...})](
                error_code& ec, diagnostics& diag) mutable {
                return q.update_body(u, ec, diag);
            });
    }

    // ---- relations ------------------------------------------------------------------
    using loader_fn = std::function<asio::awaitable<void>(session&, std::vector<std::shared_ptr<T>>, error_code&,
                                                           diagnostics&)>;
    bool has_relations() const noexcept { return !loaders_.empty() || !joins_.empty(); }
    /// A copy of `d` without the joined fields (a MORM_STRICT model would refuse them).
    bson::document without_joins(bson::document_view d) const {
        bson::document out;
        bson_iter_t it;
        if (!d.init_iter(it)) return out;
        while (bson_iter_next(&it)) {
            if (std::string_view(bson_iter_key(&it)).starts_with("__morm_join")) continue;
            detail::must(bson_append_iter(out.get(), nullptr, 0, &it), bson_iter_key(&it));
        }
        return out;
    }
    /// all()/first()/one() with load()/load_children()/join(): results tracked batch by
    /// batch, each batch's relations loaded before the next batch is asked for.
    asio::awaitable<std::vector<std::shared_ptr<T>>> relations_body(find_options o, error_code& ec,
                                                                    diagnostics& diag) {
        std::vector<std::shared_ptr<T>> out;
        if ((ec = require_full("load", diag))) co_return out;
        cursor c;
        if (joins_.empty()) {
            c = co_await coll().find(filter_.document(), o, ec, diag);
        } else {
            const auto pipeline = detail::join_pipeline(filter_.document(), o, joins_);
            aggregate_options ao;
            ao.batch_size = o.batch_size;
            c = co_await coll().aggregate(pipeline, ao, ec, diag);
        }
        if (ec) co_return out;
        const auto& ops = detail::ops_for<T>();
        while (co_await c.next_batch(ec, diag)) {
            const std::size_t from = out.size();
            bson_iter_t it;
            if (!c.batch().init_iter(it)) continue;
            while (!ec && bson_iter_next(&it)) {
                if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
                std::uint32_t len;
                const std::uint8_t* data;
                bson_iter_document(&it, &len, &data);
                const bson::document_view d(data, len);
                std::shared_ptr<void> p;
                if (joins_.empty()) {
                    p = s_->track_loaded(ops, d, ec, diag);
                } else {
                    const auto own = without_joins(d);
                    p = s_->track_loaded(ops, own.view(), ec, diag);
                }
                if (ec || !p) continue;
                auto typed = std::static_pointer_cast<T>(std::move(p));
                for (auto& j : joins_)
                    if (!ec) j.attach(*s_, *typed, d, j.as, ec, diag);
                out.push_back(std::move(typed));
            }
            if (ec) co_return out;
            if (loaders_.empty() || out.size() == from) continue;
            std::vector<std::shared_ptr<T>> batch(out.begin() + static_cast<std::ptrdiff_t>(from), out.end());
            for (auto& l : loaders_) {
                co_await l(*s_, batch, ec, diag);
                if (ec) co_return out;
            }
        }
        co_return out;
    }

    session* s_;
    filter_of<T> filter_;
    find_options opts_;
    std::vector<loader_fn> loaders_;
    std::vector<detail::join_spec<session, T>> joins_;
};

template <codec::model T>
morm::query<T> session::query() {
    engine_.register_model<T>();
    return morm::query<T>(*this);
}

template <codec::model T>
asio::awaitable<std::vector<T>> session::aggregate(const std::vector<bson::document>& pipeline) {
    error_code ec;
    diagnostics diag;
    auto r = co_await aggregate_body<T>(pipeline, ec, diag);
    if (ec) throw error(ec, std::move(diag));
    co_return r;
}

template <codec::model T>
asio::awaitable<std::vector<T>> session::aggregate_body(const std::vector<bson::document>& pipeline, error_code& ec,
                                                        diagnostics& diag) {
    std::vector<T> out;
    const aggregate_options aopts;
    auto c = co_await engine_.collection<T>().aggregate(pipeline, aopts, ec, diag);
    if (ec) co_return out;
    co_await detail::for_each_doc(c, ec, diag, [&out](bson::document_view d, error_code& e, diagnostics& dg) {
        T obj{};
        if ((e = codec::decode(d, obj, &dg))) return;
        out.push_back(std::move(obj));
    });
    co_return out;
}

}  // namespace morm

#include <morm/orm/aggregate.hpp>
