// The session: identity map, change tracking and a unit of work whose commit pipelines.
//
//   morm::session s{engine};
//   auto john = s.add(User{"1", "John", "john@example.com"});   // staged insert
//   co_await s.commit();                                          // one pipelined flush
//   john->email = "j@example.com";                                // tracked
//   co_await s.commit();                                          // sends {$set: {email: ...}}
//   auto same = co_await s.get<User>("1");                        // identity map: no I/O
//
// Objects are owned by the session as std::shared_ptr<T>; one object per (collection,
// _id), shared by the kinds of a polymorphic model (orm/polymorphic.hpp: a base query
// returns each document's kind; get() of another kind than the held one is nullptr). A session is a unit of work for ONE coroutine at a time (like SQLAlchemy's):
// create one per request/task, share the engine.
//
// commit() turns staged work into as few commands as possible: per collection, inserts,
// then updates (only the changed paths as $set/$unset), then deletes, each split by the
// server's maxWriteBatchSize / maxMessageSizeBytes, all written back-to-back on one
// connection before the first reply is read. The outcome is per object: rejected and
// unsent objects stay pending (fix them and commit again), the rest are persisted.
//
// Asynchronous operations (get, refresh, commit, aggregate, and the queries of
// query.hpp) have a no-token form, `co_await op(...)`, that throws morm::error, and a
// token form, `op(..., token)`, that takes any Asio completion token, throws nothing and
// reports the server's message through morm::with_diagnostics(diag, token). The token form
// runs its body on the engine's client executor; its handler runs on the handler's
// associated executor (that one by default). The session (and the query's session) must
// outlive every operation started on it, and only one may be in flight at a time.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/detail/initiate.hpp>
#include <morm/orm/engine.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/model_ops.hpp>
#include <morm/orm/relations.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace morm {

template <codec::model T>
class query;
template <codec::structure T>
class result_stream;
template <codec::model M, codec::structure Out = M>
class aggregation;
namespace uow {
struct plan;
enum class verdict : std::uint8_t;
}  // namespace uow

/// What a commit did to one object that did not simply succeed.
struct object_outcome {
    enum class operation : std::uint8_t { insert, update, upsert, remove };
    std::string collection;
    std::string id;                     ///< the _id as relaxed extended JSON
    operation op = operation::insert;
    item_outcome::state state = item_outcome::state::failed;  ///< failed / unacknowledged / pending
    errc error = errc::write_error;     ///< write_error, conflict, document_too_large, outcome_unknown, ...
    std::int32_t code = 0;              ///< server code, e.g. 11000
    std::string code_name;
    std::string message;
    std::shared_ptr<void> object;       ///< the object (cast with std::static_pointer_cast<T>)
};

struct commit_result {
    std::size_t inserted = 0;
    std::size_t updated = 0;   ///< includes merges (upserts)
    std::size_t deleted = 0;
    std::size_t unchanged = 0; ///< tracked objects that needed no write
    std::size_t frames = 0;    ///< OP_MSG commands sent
    std::size_t round_trips = 0;  ///< socket writes (each followed by reading its replies)
    std::vector<object_outcome> failures;  ///< objects not written (still pending in the session)
    bool ok() const noexcept { return failures.empty(); }
};

/// Thrown by commit() when some objects were not written; `result()` says which and why.
/// Everything else was committed.
class commit_error : public error {
public:
    commit_error(error_code ec, diagnostics d, commit_result r) : error(ec, std::move(d)), result_(std::move(r)) {}
    const commit_result& result() const noexcept { return result_; }

private:
    commit_result result_;
};

struct session_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    session_options() = default;
    /// Keep committed objects in the identity map (and their snapshots) for change
    /// tracking. Turn off for write-only bulk loads: memory stays flat across commits.
    bool keep_committed = true;
    /// Run each commit's whole write plan inside one multi-document transaction: all of it
    /// is written or none of it. Needs a replica set or a sharded cluster; elsewhere (a
    /// standalone, FerretDB) commit() fails with errc::not_supported and writes nothing.
    bool transactional = false;
};

class session {
public:
    explicit session(const engine& e, session_options opts = {});
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    session(session&&) noexcept;

    // ---- staging ----------------------------------------------------------------
    /// Stages an insert; returns the managed object (mutate it through this pointer).
    /// An empty ObjectId / string id is generated now, client-side. Adding a second
    /// object with an _id the session already holds, or one whose _id cannot be encoded,
    /// throws errc::invalid_argument.
    template <codec::model T>
    std::shared_ptr<T> add(T obj) {
        return add(std::make_shared<T>(std::move(obj)));
    }
    template <codec::model T>
    std::shared_ptr<T> add(std::shared_ptr<T> obj) {
        if constexpr (detail::polymorphic_model<T>)  // held as the kind it is, whatever T
            stage_add(detail::dynamic_ops(*obj), std::shared_ptr<void>(obj, detail::erased_ptr(obj.get())));
        else
            stage_add(detail::ops_for<T>(), obj);
        return obj;
    }
    /// Experimental: add() into `collection` instead of T's declared one, for generic
    /// models (e.g. a document with a codec::field_flags::extra_fields member) whose
    /// collection is chosen at run time. Commit, expunge and rollback work as for add();
    /// get()/query<T>() still read T's declared collection.
    template <codec::model T>
    std::shared_ptr<T> add_to(std::string_view collection, T obj) {
        auto p = std::make_shared<T>(std::move(obj));
        stage_add(detail::ops_for_collection<T>(collection), p);
        return p;
    }
    template <class Range>
    void add_all(Range&& objs) {
        for (auto&& o : objs) add(o);
    }
    /// Insert-or-update (SQLAlchemy's merge): if the id is in the identity map, copies the
    /// state onto that object (a tracked update); otherwise stages an upsert that sets
    /// every field of the model (`{$set: {...}}`, never a replacement: fields of the stored
    /// document that the model does not declare are kept; a version field is only set on
    /// insert). Runs the model's before_update hook (orm/hooks.hpp). Returns the managed
    /// object, tracked after the commit.
    template <codec::model T>
    std::shared_ptr<T> merge(T obj) {
        auto p = std::make_shared<T>(std::move(obj));
        auto managed = stage_merge(detail::ops_for<T>(), p);
        auto typed = std::static_pointer_cast<T>(managed);
        if (typed.get() != p.get()) *typed = std::move(*p);
        return typed;
    }
    /// Stages a delete (a pending insert is simply dropped).
    template <codec::model T>
    void remove(const std::shared_ptr<T>& obj) {
        stage_remove(detail::dynamic_ops(*obj), detail::erased_ptr(obj.get()));
    }

    // ---- loading ----------------------------------------------------------------
    /// \brief The object with this _id: from the identity map without I/O, else loaded (and
    /// tracked). nullptr if there is none, or if it is staged for deletion.
    /// \par Errors
    ///   An id that cannot be encoded (a string that is not valid UTF-8 or holds a NUL) is
    ///   errc::invalid_argument, before anything is sent; errc::decode_error names the field
    ///   of a stored document that does not decode as T.
    /// \par Completion signature
    ///   `void(morm::error_code, std::shared_ptr<T>)`.
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default).
    /// \par Object lifetimes
    ///   The session must outlive the operation; `id` is copied by the token form.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait or socket I/O; completes with
    ///   asio::error::operation_aborted and nothing is tracked; a connection cut mid-reply is
    ///   closed, not reused.
    template <codec::model T>
    asio::awaitable<std::shared_ptr<T>> get(const typename codec::model_traits<T>::id_type& id) {
        error_code ec;
        diagnostics diag;
        auto p = co_await get_body<T>(id, ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return p;
    }
    template <codec::model T, token_for<std::shared_ptr<T>> Token>
    auto get(typename codec::model_traits<T>::id_type id, Token&& token) {
        return detail::initiate<std::shared_ptr<T>>(
            engine_.executor(), token,
            [this, id = std::move(id)](error_code& ec, diagnostics& diag) { return get_body<T>(id, ec, diag); });
    }
    /// \brief Reloads the object from the server, discarding local changes.
    /// \par Errors
    ///   errc::invalid_argument if the object is not in the session; errc::not_found if its
    ///   document no longer exists.
    /// \par Completion signature
    ///   `void(morm::error_code)`.
    /// \par Executor
    ///   As get().
    /// \par Object lifetimes
    ///   The session must outlive the operation; `obj` is copied (shared ownership).
    /// \par Cancellation
    ///   Terminal: aborts the pool wait or socket I/O; completes with
    ///   asio::error::operation_aborted and the object keeps its local state.
    template <codec::model T>
    asio::awaitable<void> refresh(const std::shared_ptr<T>& obj) {
        error_code ec;
        diagnostics diag;
        co_await refresh_impl(detail::dynamic_ops(*obj), detail::erased_ptr(obj.get()), ec, diag);
        if (ec) throw error(ec, std::move(diag));
    }
    template <codec::model T, token_for<void> Token>
    auto refresh(std::shared_ptr<T> obj, Token&& token) {
        return detail::initiate<void>(engine_.executor(), token,
                                      [this, obj = std::move(obj)](error_code& ec, diagnostics& diag) {
                                          return refresh_impl(detail::dynamic_ops(*obj), detail::erased_ptr(obj.get()),
                                                              ec, diag);
                                      });
    }
    // ---- references (morm::ref, see also query<T>::load/load_children/join) ---------
    /// \brief The target of `r`, loaded lazily: `r`'s loaded target as is, else the
    /// session's object with that _id without I/O, else one find (and the object is
    /// tracked). Sets `r`'s target. nullptr, `r` left unloaded, if no such object exists (a
    /// dangling reference is not an error) or the session has it staged for deletion.
    /// One find per call: for many refs use query<T>::load() (one $in per batch).
    /// \par Errors
    ///   As get(): an id that cannot be encoded is errc::invalid_argument.
    /// \par Completion signature
    ///   `void(morm::error_code, std::shared_ptr<U>)`.
    /// \par Executor
    ///   As get().
    /// \par Object lifetimes
    ///   The session and `r` (and the object holding it) must outlive the operation.
    /// \par Cancellation
    ///   As get(); `r` stays unloaded.
    template <codec::model U, class Id>
    asio::awaitable<std::shared_ptr<U>> resolve(ref<U, Id>& r) {
        error_code ec;
        diagnostics diag;
        auto p = co_await resolve_body(r, ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return p;
    }
    template <codec::model U, class Id, token_for<std::shared_ptr<U>> Token>
    auto resolve(ref<U, Id>& r, Token&& token) {
        return detail::initiate<std::shared_ptr<U>>(
            engine_.executor(), token, [this, &r](error_code& ec, diagnostics& diag) { return resolve_body(r, ec, diag); });
    }
    /// \brief The tracked C objects whose member `m` (a ref<P>, vector or optional of them)
    /// refers to `parent`, in the order the session got them. No I/O: this answers from the
    /// objects the session holds, e.g. those that `query<P>().load_children(&C::m)` loaded
    /// (pending inserts included, staged deletions left out). Without such a load it returns
    /// only what the session happens to hold.
    template <class C, class V, codec::model P>
        requires ref_to<V C::*, P>
    std::vector<std::shared_ptr<C>> children(V C::*m, const P& parent) const {
        std::vector<std::shared_ptr<C>> out;
        std::string key;
        if (detail::ops_for<P>().id_key(&parent, key, nullptr)) return out;
        for_each_tracked(detail::ops_for<C>(), [&](const std::shared_ptr<void>& o) {
            auto* c = static_cast<C*>(o.get());
            bool match = false;
            detail::ref_member<V>::each(c->*m, [&](auto& r) {
                std::string k;
                if (!match && !detail::value_key(r.id(), k, nullptr) && k == key) match = true;
            });
            if (match) out.push_back(std::static_pointer_cast<C>(o));
        });
        return out;
    }
    template <class C, class V, codec::model P>
        requires ref_to<V C::*, P>
    std::vector<std::shared_ptr<C>> children(V C::*m, const std::shared_ptr<P>& parent) const {
        return children(m, *parent);
    }

    /// Forgets the object: no longer tracked, staged work on it dropped.
    template <codec::model T>
    void expunge(const std::shared_ptr<T>& obj) {
        expunge_impl(detail::dynamic_ops(*obj), detail::erased_ptr(obj.get()));
    }
    void expunge_all();
    /// Drops staged inserts/merges/deletes and restores tracked objects to their last
    /// loaded/committed state.
    void rollback();

    /// \brief Flushes everything staged and every change to tracked objects.
    /// \par Errors
    ///   The no-token form throws commit_error (with the per-object result) if some objects
    ///   were not written, or morm::error if nothing could be sent at all (e.g. no
    ///   connection). The other forms report the same codes and messages and still return
    ///   the result, which lists every object that was not written.
    /// \par Completion signature
    ///   `void(morm::error_code, morm::commit_result)`: the result is the real one on error
    ///   too (`std::future<commit_result>` from asio::use_future throws instead).
    /// \par Executor
    ///   Token form: the body runs on the client's executor; the handler on its associated
    ///   executor (the client's by default). commit(ec, diag) runs in the calling coroutine.
    /// \par Object lifetimes
    ///   The session and its objects must outlive the operation; do not touch the session
    ///   until it completes.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait (nothing is sent; everything stays pending) or the
    ///   socket I/O; completes with asio::error::operation_aborted. A connection cut
    ///   mid-reply is closed, not reused. Writes sent whose reply never came may or may not
    ///   have been applied: their objects stay pending, reported in the result with
    ///   errc::outcome_unknown (a later commit re-sends them; ids are client-side, so an
    ///   insert that had landed is recognised rather than duplicated).
    asio::awaitable<commit_result> commit();
    /// Non-throwing form for hot loops: failures set `ec`/`diag` (same codes and messages
    /// as commit_error) and the result still lists every object that was not written.
    asio::awaitable<commit_result> commit(error_code& ec, diagnostics& diag);
    template <token_for<commit_result> Token>
    auto commit(Token&& token) {
        return detail::initiate<commit_result>(engine_.executor(), token,
                                               [this](error_code& ec, diagnostics& diag) { return commit(ec, diag); });
    }

    template <codec::model T>
    morm::query<T> query();

    /// A typed aggregation pipeline on T's collection (aggregate.hpp):
    /// `s.aggregate<Order>().match(...).group<Total>(...).all()`. Results are not tracked.
    template <codec::model T>
    aggregation<T> aggregate();
    /// \brief Runs an aggregation on T's collection; the results are decoded as T (not
    /// tracked).
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<T>)`.
    /// \par Executor
    ///   As get().
    /// \par Object lifetimes
    ///   The session and `pipeline` must outlive the operation.
    /// \par Cancellation
    ///   Terminal: aborts the pool wait or socket I/O; completes with
    ///   asio::error::operation_aborted; a connection cut mid-reply is closed, not reused.
    template <codec::model T>
    asio::awaitable<std::vector<T>> aggregate(const std::vector<bson::document>& pipeline);
    template <codec::model T, token_for<std::vector<T>> Token>
    auto aggregate(const std::vector<bson::document>& pipeline, Token&& token) {
        return detail::initiate<std::vector<T>>(engine_.executor(), token, [this, &pipeline](error_code& ec, diagnostics& diag) {
            return aggregate_body<T>(pipeline, ec, diag);
        });
    }

    /// Objects held (tracked + staged).
    std::size_t size() const noexcept;
    /// Anything staged or changed?
    bool dirty() const;
    const engine& get_engine() const noexcept { return engine_; }

    // ---- used by query<T> ---------------------------------------------------------
    /// Returns the tracked object for a loaded document: the existing one if the id is
    /// already in the identity map (its local state wins), else a new tracked object;
    /// nullptr if the session has it staged for deletion.
    std::shared_ptr<void> track_loaded(const detail::model_ops& ops, bson::document_view doc);
    /// No-throw form: a document without _id or that does not decode sets `ec`/`diag`.
    std::shared_ptr<void> track_loaded(const detail::model_ops& ops, bson::document_view doc, error_code& ec,
                                       diagnostics& diag);

    /// The identity map: the object with identity key `idkey` (see detail::value_key);
    /// `known` is false if the session does not hold the id, true with nullptr if it has
    /// it staged for deletion. No I/O.
    std::shared_ptr<void> tracked(const detail::model_ops& ops, const std::string& idkey, bool& known) const {
        return lookup(ops, idkey, known);
    }
    /// Calls `f` for every live object of the model (tracked or staged, not staged for
    /// deletion), in the order the session got them.
    void for_each_tracked(const detail::model_ops& ops, const std::function<void(const std::shared_ptr<void>&)>& f) const;

    struct entry;  // implementation detail (src/orm/session.cpp)

private:
    std::shared_ptr<void> lookup(const detail::model_ops& ops, const std::string& idkey, bool& known) const;
    void stage_add(const detail::model_ops& ops, std::shared_ptr<void> obj);
    std::shared_ptr<void> stage_merge(const detail::model_ops& ops, std::shared_ptr<void> obj);
    void stage_remove(const detail::model_ops& ops, const void* obj);
    void expunge_impl(const detail::model_ops& ops, const void* obj);
    template <codec::model T>
    asio::awaitable<std::shared_ptr<T>> get_body(const typename codec::model_traits<T>::id_type& id, error_code& ec,
                                                 diagnostics& diag) {
        const auto& ops = detail::ops_for<T>();
        // An id that cannot be encoded must fail here: a filter without it would match
        // whichever document comes first.
        std::string key;
        if ((ec = detail::id_key_of<T>(id, key, &diag))) co_return nullptr;
        bool known = false;
        auto tracked = lookup(ops, key, known);
        // Known to the session: its object, or nullptr when it is staged for deletion.
        if (known) co_return std::static_pointer_cast<T>(tracked);
        auto p = co_await load_one(ops, key, ec, diag);
        co_return std::static_pointer_cast<T>(p);
    }
    template <codec::model U, class Id>
    asio::awaitable<std::shared_ptr<U>> resolve_body(ref<U, Id>& r, error_code& ec, diagnostics& diag) {
        if (r.loaded()) co_return r.target();
        const auto& ops = detail::ops_for<U>();
        std::string key;
        if ((ec = detail::value_key(r.id(), key, &diag))) {
            ec = detail::invalid_id(ops.collection, &diag, ec);
            co_return nullptr;
        }
        bool known = false;
        auto p = lookup(ops, key, known);
        if (!known) p = co_await load_one(ops, key, ec, diag);
        if (ec || !p) co_return nullptr;
        auto typed = std::static_pointer_cast<U>(std::move(p));
        r.set_target(typed);
        co_return typed;
    }
    template <codec::model T>
    asio::awaitable<std::vector<T>> aggregate_body(const std::vector<bson::document>& pipeline, error_code& ec,
                                                   diagnostics& diag);
    /// Loads the document whose _id has identity key `idkey` (see detail::value_key).
    asio::awaitable<std::shared_ptr<void>> load_one(const detail::model_ops& ops, const std::string& idkey,
                                                    error_code& ec, diagnostics& diag);
    asio::awaitable<void> refresh_impl(const detail::model_ops& ops, void* obj, error_code& ec, diagnostics& diag);
    entry* find_entry(const detail::model_ops& ops, const void* obj);
    /// Re-keys a pending entry under its object's current id; invalid_argument if that id
    /// cannot be encoded or another object of the session has it.
    [[nodiscard]] error_code rekey(entry* e, diagnostics& diag);
    /// The live entries for a commit, pending ones re-keyed (those that cannot be are
    /// reported in `failures` and left out).
    std::vector<entry*> live_entries(std::vector<object_outcome>& failures);
    /// Applies a commit's verdicts: written objects become persistent (or are forgotten).
    void settle(uow::plan& p, const std::vector<uow::verdict>& verdicts, const std::vector<item_outcome>& outcomes,
                commit_result& result);

    engine engine_;
    session_options opts_;
    struct store;
    struct impl;
    std::unique_ptr<impl> impl_;

    // Polymorphic models (orm/polymorphic.hpp).
    /// The entry's object as `want` sees it: itself, its base subobject for the family's
    /// base, or null for another kind.
    static std::shared_ptr<void> view_as(const detail::model_ops& want, const entry& e);
    /// The kind a document loaded through the family's `base` names (unknown: decode_error).
    static const detail::model_ops* kind_of(const detail::model_ops& base, bson::document_view doc, error_code& ec,
                                            diagnostics& diag);
    /// Decodes and tracks a document not in the identity map as a `ops` object.
    std::shared_ptr<void> track_new(const detail::model_ops& ops, const detail::model_ops& want, store& st,
                                    bson::document_view doc, std::string idkey, error_code& ec, diagnostics& diag);
};

}  // namespace morm

#include <morm/orm/query.hpp>
