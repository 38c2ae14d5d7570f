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
// _id). A session is a unit of work for ONE coroutine at a time (like SQLAlchemy's):
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

#include <boost/asio/awaitable.hpp>

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
    /// state onto that object (a tracked update); otherwise stages a replacing upsert.
    /// Returns the managed object.
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
        stage_remove(detail::ops_for<T>(), obj.get());
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
        co_await refresh_impl(detail::ops_for<T>(), obj.get(), ec, diag);
        if (ec) throw error(ec, std::move(diag));
    }
    template <codec::model T, token_for<void> Token>
    auto refresh(std::shared_ptr<T> obj, Token&& token) {
        return detail::initiate<void>(engine_.executor(), token,
                                      [this, obj = std::move(obj)](error_code& ec, diagnostics& diag) {
                                          return refresh_impl(detail::ops_for<T>(), obj.get(), ec, diag);
                                      });
    }
    /// Forgets the object: no longer tracked, staged work on it dropped.
    template <codec::model T>
    void expunge(const std::shared_ptr<T>& obj) {
        expunge_impl(detail::ops_for<T>(), obj.get());
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
};

}  // namespace morm

#include <morm/orm/query.hpp>
