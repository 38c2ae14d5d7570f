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
#pragma once

#include <morm/client/batch_write.hpp>
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
template <codec::model T>
class result_stream;
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
    /// The object with this _id: from the identity map without I/O, else loaded (and
    /// tracked). nullptr if there is none, or if it is staged for deletion. An id that
    /// cannot be encoded (a string that is not valid UTF-8 or holds a NUL) throws
    /// morm::error with errc::invalid_argument before anything is sent.
    template <codec::model T>
    asio::awaitable<std::shared_ptr<T>> get(const typename codec::model_traits<T>::id_type& id) {
        const auto& ops = detail::ops_for<T>();
        // An id that cannot be encoded must fail here: a filter without it would match
        // whichever document comes first.
        std::string key;
        diagnostics diag;
        if (auto ec = detail::id_key_of<T>(id, key, &diag)) throw error(ec, std::move(diag));
        bool known = false;
        auto tracked = lookup(ops, key, known);
        // Known to the session: its object, or nullptr when it is staged for deletion.
        if (known) co_return std::static_pointer_cast<T>(tracked);
        auto p = co_await load_one(ops, key);
        co_return std::static_pointer_cast<T>(p);
    }
    /// Reloads the object from the server, discarding local changes.
    template <codec::model T>
    asio::awaitable<void> refresh(const std::shared_ptr<T>& obj) {
        co_await refresh_impl(detail::ops_for<T>(), obj.get());
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

    /// Flushes everything staged and every change to tracked objects. Throws
    /// commit_error (with the per-object result) if some objects were not written, or
    /// morm::error if nothing could be sent at all (e.g. no connection).
    asio::awaitable<commit_result> commit();
    /// Non-throwing form for hot loops: failures set `ec`/`diag` (same codes and messages
    /// as commit_error) and the result still lists every object that was not written.
    asio::awaitable<commit_result> commit(error_code& ec, diagnostics& diag);


    template <codec::model T>
    morm::query<T> query();

    /// Runs an aggregation on T's collection; the results are decoded as T (not tracked).
    template <codec::model T>
    asio::awaitable<std::vector<T>> aggregate(const std::vector<bson::document>& pipeline);

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

    struct entry;  // implementation detail (src/orm/session.cpp)

private:
    std::shared_ptr<void> lookup(const detail::model_ops& ops, const std::string& idkey, bool& known) const;
    void stage_add(const detail::model_ops& ops, std::shared_ptr<void> obj);
    std::shared_ptr<void> stage_merge(const detail::model_ops& ops, std::shared_ptr<void> obj);
    void stage_remove(const detail::model_ops& ops, const void* obj);
    void expunge_impl(const detail::model_ops& ops, const void* obj);
    /// Loads the document whose _id has identity key `idkey` (see detail::value_key).
    asio::awaitable<std::shared_ptr<void>> load_one(const detail::model_ops& ops, const std::string& idkey);
    asio::awaitable<void> refresh_impl(const detail::model_ops& ops, void* obj);
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
