#include <morm/orm/session.hpp>
#include <morm/orm/update_diff.hpp>

#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>

namespace morm {

struct session::entry {
    enum class state : std::uint8_t {
        pending_insert,  // add()ed, not yet written
        pending_merge,   // merge()d with an unknown id: replacing upsert
        persistent,      // loaded or committed: tracked through its snapshot
        pending_delete,  // remove()d
    };
    std::shared_ptr<void> obj;
    const detail::model_ops* ops = nullptr;
    state st = state::pending_insert;
    bool has_snapshot = false;
    bool maybe_written = false;  // an earlier write's outcome was unknown (connection died)
    bool dead = false;           // expunged/deleted: storage awaiting compaction
    std::string snapshot;        // BSON bytes of the last known server state
    std::string key;             // identity key: the BSON encoding of the _id value
};

using session_entry = session::entry;

/// Identity map of one model: _id key -> entry. Entries live in `impl::entries` in
/// staging order, so commit needs no sort; the maps hold pointers into that deque.
struct session::store {
    const detail::model_ops* ops = nullptr;
    std::unordered_map<std::string, entry*> by_id;
};

struct session::impl {
    std::deque<entry> entries;
    std::size_t dead = 0;
    std::vector<std::unique_ptr<store>> stores;

    store& store_for(const detail::model_ops& ops, engine& eng) {
        for (auto& st : stores)
            if (st->ops == &ops) return *st;
        eng.state()->register_ops(ops);  // once per session and model, not per object
        stores.push_back(std::make_unique<store>());
        stores.back()->ops = &ops;
        return *stores.back();
    }
    store* find_store(const detail::model_ops& ops) const {
        for (auto& st : stores)
            if (st->ops == &ops) return st.get();
        return nullptr;
    }
    entry& emplace(store& st, std::shared_ptr<void> obj, entry::state state, std::string key) {
        entry& e = entries.emplace_back();
        e.obj = std::move(obj);
        e.ops = st.ops;
        e.st = state;
        e.key = std::move(key);
        st.by_id.emplace(e.key, &e);
        return e;
    }
    /// Forgets an entry; its storage is reclaimed by compact().
    void kill(entry& e) {
        if (e.dead) return;
        if (auto* st = find_store(*e.ops)) {
            auto it = st->by_id.find(e.key);
            if (it != st->by_id.end() && it->second == &e) st->by_id.erase(it);
        }
        e.dead = true;
        e.obj.reset();
        std::string().swap(e.snapshot);
        std::string().swap(e.key);
        ++dead;
    }
    /// Drops dead entries once they outnumber live ones, so write-only sessions
    /// (keep_committed = false) stay flat in memory across commits.
    void compact() {
        if (dead < 1024 || dead * 2 < entries.size()) return;
        std::deque<entry> live;
        for (auto& e : entries)
            if (!e.dead) live.push_back(std::move(e));
        entries.swap(live);
        dead = 0;
        for (auto& st : stores) st->by_id.clear();
        for (auto& e : entries)
            if (auto* st = find_store(*e.ops)) st->by_id.emplace(e.key, &e);
    }
};

session::session(const engine& e, session_options opts)
    : engine_(e), opts_(opts), impl_(std::make_unique<impl>()) {
    if (!engine_.state()) throw error(errc::invalid_argument, "session needs a connected engine");
}
session::~session() = default;
session::session(session&&) noexcept = default;

std::size_t session::size() const noexcept { return impl_->entries.size() - impl_->dead; }

std::shared_ptr<void> session::lookup(const detail::model_ops& ops, const std::string& idkey, bool& known) const {
    known = false;
    auto* st = impl_->find_store(ops);
    if (!st) return nullptr;
    auto it = st->by_id.find(idkey);
    if (it == st->by_id.end()) return nullptr;
    known = true;
    if (it->second->st == entry::state::pending_delete) return nullptr;
    return it->second->obj;
}

session::entry* session::find_entry(const detail::model_ops& ops, const void* obj) {
    std::string key;
    if (auto* st = impl_->find_store(ops); st && !ops.id_key(obj, key, nullptr)) {
        auto it = st->by_id.find(key);
        if (it != st->by_id.end() && it->second->obj.get() == obj) return it->second;
    }
    // Not under its current id: an object whose id was changed (or made invalid) after it
    // entered the session.
    for (auto& e : impl_->entries)
        if (!e.dead && e.obj.get() == obj) return &e;
    return nullptr;
}

namespace {
/// The object's identity key; an id that cannot be encoded throws errc::invalid_argument.
std::string checked_id_key(const detail::model_ops& ops, const void* obj, std::string_view what) {
    std::string key;
    diagnostics diag;
    if (auto ec = ops.id_key(obj, key, &diag)) {
        diag.message = fmt::format("{}: {}", what, diag.message);
        throw error(ec, std::move(diag));
    }
    return key;
}

/// BSON bytes of the object as the session encodes it (the change-tracking snapshot).
void take_snapshot(const detail::model_ops& ops, const void* obj, std::string& out) {
    bson_t snap;
    bson_init(&snap);
    diagnostics diag;
    auto ec = ops.encode(obj, &snap, &diag);
    if (!ec) out.assign(reinterpret_cast<const char*>(bson_get_data(&snap)), snap.len);
    bson_destroy(&snap);
    if (ec) throw error(ec, std::move(diag));
}
}  // namespace

void session::stage_add(const detail::model_ops& ops, std::shared_ptr<void> obj) {
    auto& st = impl_->store_for(ops, engine_);
    ops.ensure_id(obj.get());
    // One hash lookup: reserve the slot, then fill it.
    auto [it, inserted] = st.by_id.try_emplace(checked_id_key(ops, obj.get(), "add()"), nullptr);
    if (!inserted) {
        if (it->second->obj == obj) return;  // already managed
        throw error(errc::invalid_argument,
                    fmt::format("another object with _id {} is already in the session for '{}'",
                                ops.id_json(obj.get()), ops.collection));
    }
    entry& e = impl_->entries.emplace_back();
    e.obj = std::move(obj);
    e.ops = &ops;
    e.st = entry::state::pending_insert;
    e.key = it->first;
    it->second = &e;
}

std::shared_ptr<void> session::stage_merge(const detail::model_ops& ops, std::shared_ptr<void> obj) {
    auto& st = impl_->store_for(ops, engine_);
    ops.ensure_id(obj.get());
    auto key = checked_id_key(ops, obj.get(), "merge()");
    if (auto it = st.by_id.find(key); it != st.by_id.end()) {
        auto& e = *it->second;
        if (e.st == entry::state::pending_delete) e.st = e.has_snapshot ? entry::state::persistent : entry::state::pending_merge;
        return e.obj;  // the caller copies the new state onto it; tracking does the rest
    }
    impl_->emplace(st, obj, entry::state::pending_merge, std::move(key));
    return obj;
}

void session::stage_remove(const detail::model_ops& ops, const void* obj) {
    auto* e = find_entry(ops, obj);
    if (!e) throw error(errc::invalid_argument, fmt::format("remove(): the object with _id {} is not in the session",
                                                            ops.id_json(obj)));
    if (e->st == entry::state::pending_insert && !e->maybe_written) {
        impl_->kill(*e);
        return;
    }
    e->st = entry::state::pending_delete;
}

[[nodiscard]] error_code session::rekey(entry* e, diagnostics& diag) {
    std::string key;
    if (auto ec = e->ops->id_key(e->obj.get(), key, &diag)) return ec;
    if (key == e->key) return {};
    auto& st = impl_->store_for(*e->ops, engine_);
    if (st.by_id.count(key)) {
        diag.message = fmt::format("the object's _id was changed to {}, which another object in the session has",
                                   e->ops->id_json(e->obj.get()));
        return make_error_code(errc::invalid_argument);
    }
    if (auto it = st.by_id.find(e->key); it != st.by_id.end() && it->second == e) st.by_id.erase(it);
    e->key = std::move(key);
    st.by_id.emplace(e->key, e);
    return {};
}

void session::expunge_impl(const detail::model_ops& ops, const void* obj) {
    if (auto* e = find_entry(ops, obj)) {
        impl_->kill(*e);
        impl_->compact();
    }
}

void session::expunge_all() {
    impl_->entries.clear();
    impl_->dead = 0;
    for (auto& st : impl_->stores) st->by_id.clear();
}

void session::rollback() {
    for (auto& e : impl_->entries) {
        if (e.dead) continue;
        if (!e.has_snapshot) {  // never on the server as far as we know
            impl_->kill(e);
            continue;
        }
        // Restore the last known server state, whose _id is the one the entry is keyed
        // by. The snapshot is the session's own encoding of the object, so it decodes.
        diagnostics ignored;
        if (e.ops->decode(reinterpret_cast<const std::uint8_t*>(e.snapshot.data()), e.snapshot.size(), e.obj.get(),
                          &ignored)) {
            impl_->kill(e);
            continue;
        }
        e.st = entry::state::persistent;
    }
    impl_->compact();
}

bool session::dirty() const {
    bson_t scratch;
    bson_init(&scratch);
    bool d = false;
    for (auto& e : impl_->entries) {
        if (e.dead) continue;
        if (e.st != entry::state::persistent) {
            d = true;
            break;
        }
        bson_reinit(&scratch);
        // An object that no longer encodes has changes (that commit() will refuse).
        if (e.ops->encode(e.obj.get(), &scratch, nullptr) ||
            scratch.len != e.snapshot.size() || std::memcmp(bson_get_data(&scratch), e.snapshot.data(), scratch.len) != 0) {
            d = true;
            break;
        }
    }
    bson_destroy(&scratch);
    return d;
}

std::shared_ptr<void> session::track_loaded(const detail::model_ops& ops, bson::document_view doc) {
    auto& st = impl_->store_for(ops, engine_);
    bson_iter_t it;
    if (!doc.init_iter(it) || !bson_iter_find(&it, "_id"))
        throw error(errc::decode_error, fmt::format("document from '{}' has no _id", ops.collection));
    // Identity key straight from the stored _id element (same encoding as value_key()).
    std::string idkey = detail::element_key(it);
    if (auto f = st.by_id.find(idkey); f != st.by_id.end())
        return f->second->st == entry::state::pending_delete ? nullptr : f->second->obj;
    auto obj = ops.make();
    diagnostics diag;
    if (auto ec = ops.decode(doc.data(), doc.size(), obj.get(), &diag)) throw error(ec, diag);
    // The snapshot is our own encoding of the object, so that an unchanged object
    // compares equal byte for byte (the stored document may order or type fields
    // differently, e.g. written by another driver).
    std::string snapshot;
    take_snapshot(ops, obj.get(), snapshot);
    entry& e = impl_->emplace(st, obj, entry::state::persistent, std::move(idkey));
    e.snapshot = std::move(snapshot);
    e.has_snapshot = true;
    return obj;
}

namespace {
/// {_id: <the id whose identity key is idkey>}.
bson::document id_filter(const std::string& idkey) {
    bson::document filter;
    if (!detail::append_id_from_key(filter.get(), "_id", idkey))
        throw error(errc::invalid_argument, "internal: an identity key that is not a BSON value");
    return filter;
}
}  // namespace

asio::awaitable<std::shared_ptr<void>> session::load_one(const detail::model_ops& ops, const std::string& idkey) {
    const bson::document filter = id_filter(idkey);
    auto coll = engine_.database().collection(ops.collection);
    find_options fo;
    fo.limit = 1;
    fo.single_batch = true;
    auto c = co_await coll.find(filter, fo);
    auto d = co_await c.next();
    if (!d) co_return nullptr;
    co_return track_loaded(ops, *d);
}

asio::awaitable<void> session::refresh_impl(const detail::model_ops& ops, void* obj) {
    auto* e = find_entry(ops, obj);
    if (!e) throw error(errc::invalid_argument, "refresh(): the object is not in the session");
    // The id the session knows the object by: a pending object's current one (checked),
    // a loaded object's stored one (its id member may have been changed since).
    const bson::document filter = id_filter(e->has_snapshot ? e->key : checked_id_key(ops, obj, "refresh()"));
    auto coll = engine_.database().collection(ops.collection);
    auto d = co_await coll.find_one(filter);
    if (!d) {
        throw error(errc::not_found,
                    fmt::format("refresh(): {} with _id {} no longer exists", ops.collection, ops.id_json(obj)));
    }
    diagnostics diag;
    if (auto ec = ops.decode(d->data(), d->size(), obj, &diag)) throw error(ec, diag);
    take_snapshot(ops, obj, e->snapshot);
    e->has_snapshot = true;
    e->st = entry::state::persistent;
}

asio::awaitable<void> session::begin() {
    const auto& sd = engine_.client().server();
    if (sd.set_name.empty() && !sd.is_mongos) {
        throw error(errc::not_supported,
                    "multi-document transactions are not supported by this server: they need a replica set or a "
                    "sharded cluster, and this one is a standalone (FerretDB is always standalone)");
    }
    if (sd.logical_session_timeout_minutes < 0)
        throw error(errc::not_supported, "multi-document transactions are not supported by this server: no sessions");
    // Replica sets: transactions need logical sessions (lsid/txnNumber on every command),
    // which morm's write pipeline does not send yet.
    throw error(errc::not_supported,
                "multi-document transactions are not implemented by morm yet (the server supports them)");
    co_return;
}

// ------------------------------------------------------------------------- commit

namespace {
enum class work_kind : std::uint8_t { insert, merge, update, remove };

object_outcome::operation operation_of(work_kind k) {
    switch (k) {
        case work_kind::insert: return object_outcome::operation::insert;
        case work_kind::merge: return object_outcome::operation::upsert;
        case work_kind::update: return object_outcome::operation::update;
        case work_kind::remove: return object_outcome::operation::remove;
    }
    return object_outcome::operation::insert;
}

struct work_item {
    work_item(session_entry* en, work_kind k) : e(en), kind(k) {}
    session_entry* e;
    work_kind kind;
    bool versioned = false;
    std::int64_t old_version = 0;
    std::size_t update = SIZE_MAX;  // update: index of its $set/$unset document in `updates`
    std::string new_snapshot;       // what the server holds once this write succeeds
};

/// Appends the statement filter `q: {_id: <id of idkey>[, <version field>: version]}`;
/// false if an append failed (the statement must then not be sent).
bool append_id_filter(bson_t* dst, const std::string& idkey, const std::string_view* version_field,
                      std::int64_t version) {
    bson_t q;
    if (!bson_append_document_begin(dst, "q", 1, &q)) return false;
    bool ok = detail::append_id_from_key(&q, "_id", idkey);
    if (ok && version_field)
        ok = bson_append_int64(&q, version_field->data(), static_cast<int>(version_field->size()), version);
    return bson_append_document_end(dst, &q) && ok;
}

[[nodiscard]] error_code append_failed(diagnostics& d) {
    d.message = "the write statement could not be built; it was not sent";
    return make_error_code(errc::encode_error);
}

struct collection_plan {
    std::string_view name;
    std::vector<std::size_t> inserts, updates, vupdates, deletes, vdeletes;
};
}  // namespace

asio::awaitable<commit_result> session::commit() {
    error_code ec;
    diagnostics diag;
    auto r = co_await commit(ec, diag);
    if (ec) throw commit_error(ec, std::move(diag), std::move(r));
    co_return r;
}

asio::awaitable<commit_result> session::commit(error_code& out_ec, diagnostics& out_diag) {
    commit_result result;
    out_ec.clear();
    if (in_transaction_) {
        out_ec = make_error_code(errc::not_supported);
        out_diag.message = "transactions are not supported";
        co_return result;
    }

    // 1. Plan: what each object needs, grouped per collection in first-touched order.
    // Entries are kept in staging order: no sort needed.
    std::vector<entry*> entries;
    entries.reserve(size());
    for (auto& e : impl_->entries)
        if (!e.dead) entries.push_back(&e);

    std::vector<work_item> work;
    work.reserve(entries.size());
    std::vector<bson::document> updates;
    const bool keep = opts_.keep_committed;
    std::vector<collection_plan> plans;
    auto plan_for = [&](std::string_view coll) -> collection_plan& {
        for (auto& p : plans)
            if (p.name == coll) return p;
        plans.push_back({coll, {}, {}, {}, {}, {}});
        return plans.back();
    };
    bson_t scratch;
    bson_init(&scratch);
    for (entry* e : entries) {
        const auto& ops = *e->ops;
        if (e->st == entry::state::pending_insert || e->st == entry::state::pending_merge) {
            // The id of a not-yet-written object may have been changed since add() (e.g. to fix
            // a duplicate key the last commit reported): re-key its identity-map entry so that
            // get() finds it under the id it is stored with.
            diagnostics kd;
            if (auto kec = rekey(e, kd)) {
                object_outcome f;
                f.collection = std::string(ops.collection);
                f.id = ops.id_json(e->obj.get());
                f.op = e->st == entry::state::pending_insert ? object_outcome::operation::insert
                                                             : object_outcome::operation::upsert;
                f.error = errc::invalid_argument;
                f.message = std::move(kd.message);
                f.object = e->obj;
                result.failures.push_back(std::move(f));
                continue;
            }
        } else if (e->st == entry::state::persistent) {
            // Writes go to the stored _id (the entry's key); a changed or unencodable id
            // member would otherwise be written as a $set, or send an update elsewhere.
            std::string key;
            diagnostics kd;
            const bool bad = static_cast<bool>(ops.id_key(e->obj.get(), key, &kd));
            if (bad || key != e->key) {
                object_outcome f;
                f.collection = std::string(ops.collection);
                f.id = ops.id_json(e->obj.get());
                f.op = object_outcome::operation::update;
                f.error = errc::invalid_argument;
                f.message = bad ? std::move(kd.message)
                                : fmt::format("the _id of a loaded object cannot be changed (now {}); expunge it and "
                                              "add a new object instead",
                                              f.id);
                f.object = e->obj;
                result.failures.push_back(std::move(f));
                continue;
            }
        }
        switch (e->st) {
            case entry::state::pending_insert:
                plan_for(ops.collection).inserts.push_back(work.size());
                work.emplace_back(e, work_kind::insert);
                break;
            case entry::state::pending_merge:
                plan_for(ops.collection).updates.push_back(work.size());
                work.emplace_back(e, work_kind::merge);
                break;
            case entry::state::pending_delete: {
                work_item w{e, work_kind::remove};
                if (auto* v = ops.version(e->obj.get())) {
                    w.versioned = true;
                    w.old_version = *v;
                    plan_for(ops.collection).vdeletes.push_back(work.size());
                } else {
                    plan_for(ops.collection).deletes.push_back(work.size());
                }
                work.push_back(std::move(w));
                break;
            }
            case entry::state::persistent: {
                bson_reinit(&scratch);
                diagnostics diag;
                if (auto ec = ops.encode(e->obj.get(), &scratch, &diag)) {
                    object_outcome f;
                    f.collection = std::string(ops.collection);
                    f.id = ops.id_json(e->obj.get());
                    f.op = object_outcome::operation::update;
                    f.error = errc::encode_error;
                    f.message = diag.message;
                    f.object = e->obj;
                    result.failures.push_back(std::move(f));
                    break;
                }
                if (scratch.len == e->snapshot.size() &&
                    std::memcmp(bson_get_data(&scratch), e->snapshot.data(), scratch.len) == 0) {
                    ++result.unchanged;
                    break;
                }
                work_item w{e, work_kind::update};
                if (auto* v = ops.version(e->obj.get())) {
                    // Bump the version in the object so the diff carries it; undone on failure.
                    w.versioned = true;
                    w.old_version = *v;
                    *v = w.old_version + 1;
                    bson_reinit(&scratch);
                    // Encoded a moment ago with the old version: only the number differs.
                    if (ops.encode(e->obj.get(), &scratch, nullptr)) {
                        *v = w.old_version;
                        break;
                    }
                }
                bson_t old;
                bson_init_static(&old, reinterpret_cast<const std::uint8_t*>(e->snapshot.data()), e->snapshot.size());
                w.update = updates.size();
                build_update_diff(&old, &scratch, updates.emplace_back().get());
                w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(&scratch)), scratch.len);
                auto& p = plan_for(ops.collection);
                (w.versioned ? p.vupdates : p.updates).push_back(work.size());
                work.push_back(std::move(w));
                break;
            }
        }
    }
    bson_destroy(&scratch);
    if (work.empty()) {
        if (!result.failures.empty()) {
            diagnostics d;
            d.message = fmt::format("{} object(s) could not be written: {}", result.failures.size(),
                                    result.failures.front().message);
            out_ec = make_error_code(result.failures.front().error);
            out_diag = std::move(d);
        }
        co_return result;  // nothing (else) changed: nothing is sent
    }

    // 2. Write groups: per collection inserts, then updates/upserts, then deletes.
    const std::string& db = engine_.database().name();
    const write_concern* wc = engine_.client().state()->default_wc.empty() ? nullptr
                                                                          : &engine_.client().state()->default_wc;
    std::vector<write_group> groups;
    std::vector<const std::vector<std::size_t>*> group_items;
    auto add_group = [&](const collection_plan& p, write_kind k, const std::vector<std::size_t>& items, bool one_each) {
        if (items.empty()) return;
        write_group g;
        g.db = db;
        g.collection = std::string(p.name);
        g.kind = k;
        g.ordered = false;
        g.wc = wc;
        g.count = items.size();
        g.max_batch = one_each ? 1 : 0;
        if (k == write_kind::insert) {
            g.encode_raw = [&work, &items, keep](std::size_t i, wire::frame_buffer& out, diagnostics& d) -> error_code {
                work_item& w = work[items[i]];
                const std::size_t start = out.size();
                if (auto ec = w.e->ops->encode_raw(w.e->obj.get(), out, &d)) return ec;
                // Snapshot = exactly the bytes sent; write-only sessions skip the copy.
                if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(out.data() + start), out.size() - start);
                return {};
            };
        }
        g.encode = [&work, &items, &updates, keep](std::size_t i, bson_t* dst, diagnostics& d) -> error_code {
            work_item& w = work[items[i]];
            const auto& ops = *w.e->ops;
            void* obj = w.e->obj.get();
            switch (w.kind) {
                case work_kind::insert: {
                    if (auto ec = ops.encode(obj, dst, &d)) return ec;
                    // Snapshot = exactly the bytes sent (the document is complete here);
                    // write-only sessions do not track, so they skip the copy.
                    if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(dst)), dst->len);
                    return {};
                }
                case work_kind::merge: {
                    bson_t u;
                    if (!append_id_filter(dst, w.e->key, nullptr, 0)) return append_failed(d);
                    if (!bson_append_document_begin(dst, "u", 1, &u)) return append_failed(d);
                    if (auto ec = ops.encode(obj, &u, &d)) return ec;
                    if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(&u)), u.len);
                    if (!bson_append_document_end(dst, &u) || !bson_append_bool(dst, "upsert", 6, true))
                        return append_failed(d);
                    return {};
                }
                case work_kind::update: {
                    const auto& vf = w.versioned ? ops.version_field : std::string_view{};
                    if (!append_id_filter(dst, w.e->key, vf.empty() ? nullptr : &vf, w.old_version) ||
                        !bson_append_document(dst, "u", 1, updates[w.update].get()))
                        return append_failed(d);
                    return {};
                }
                case work_kind::remove: {
                    const auto& vf = w.versioned ? ops.version_field : std::string_view{};
                    if (!append_id_filter(dst, w.e->key, vf.empty() ? nullptr : &vf, w.old_version) ||
                        !bson_append_int32(dst, "limit", 5, 1))
                        return append_failed(d);
                    return {};
                }
            }
            return {};
        };
        groups.push_back(std::move(g));
        group_items.push_back(&items);
    };
    for (auto& p : plans) {
        add_group(p, write_kind::insert, p.inserts, false);
        add_group(p, write_kind::update, p.updates, false);
        add_group(p, write_kind::update, p.vupdates, true);
        add_group(p, write_kind::remove, p.deletes, false);
        add_group(p, write_kind::remove, p.vdeletes, true);
    }

    // 3. One connection, every frame in one write, then the replies.
    error_code ec;
    diagnostics diag;
    pipeline_stats stats;
    {
        auto conn = co_await engine_.client().state()->pool->async_acquire(ec, diag);
        if (ec) {
            for (auto& w : work)
                if (w.versioned && w.kind == work_kind::update) *w.e->ops->version(w.e->obj.get()) = w.old_version;
            for (auto& w : work) {
                object_outcome f;
                f.collection = std::string(w.e->ops->collection);
                f.id = w.e->ops->id_json(w.e->obj.get());
                f.op = operation_of(w.kind);
                f.state = item_outcome::state::pending;
                f.error = ec == errc::pool_closed || ec == errc::pool_timeout ? errc(ec.value()) : errc::network;
                f.message = "not sent: " + diag.message;
                f.object = w.e->obj;
                result.failures.push_back(std::move(f));
            }
            out_ec = ec;
            out_diag = std::move(diag);
            co_return result;  // nothing was sent: everything stays pending
        }
        co_await run_write_pipeline(*conn, groups, engine_.client().state()->op_timeout, ec, diag, &stats);
    }
    result.frames = stats.frames;
    result.round_trips = stats.writes;

    // 4. Per-object outcomes.
    std::vector<entry*> done;  // deleted, or written by a write-only session: forget them
    auto succeed = [&](work_item& w) {
        entry* e = w.e;
        e->maybe_written = false;
        switch (w.kind) {
            case work_kind::insert: ++result.inserted; break;
            case work_kind::merge:
            case work_kind::update: ++result.updated; break;
            case work_kind::remove: ++result.deleted; break;
        }
        if (w.kind == work_kind::remove || !keep) {
            done.push_back(e);
        } else {
            e->snapshot = std::move(w.new_snapshot);
            e->has_snapshot = true;
            e->st = entry::state::persistent;
        }
    };
    auto fail = [&](work_item& w, const item_outcome& o, errc err, std::string message) {
        entry* e = w.e;
        if (w.versioned && w.kind == work_kind::update) *e->ops->version(e->obj.get()) = w.old_version;
        if (o.st == item_outcome::state::unacknowledged) e->maybe_written = true;
        object_outcome f;
        f.collection = std::string(e->ops->collection);
        f.id = e->ops->id_json(e->obj.get());
        f.op = operation_of(w.kind);
        f.state = o.st == item_outcome::state::ok ? item_outcome::state::failed : o.st;
        f.error = o.st == item_outcome::state::pending ? errc::outcome_unknown : err;
        if (o.st == item_outcome::state::pending && message.empty()) message = "not sent: the commit stopped first";
        f.code = o.code;
        f.code_name = o.code_name;
        f.message = std::move(message);
        f.object = e->obj;
        result.failures.push_back(std::move(f));
    };
    // Retried inserts whose first attempt had no reply, now rejected as duplicates without
    // the server naming the index (FerretDB): whether _id is the duplicate is checked below.
    struct unsure {
        work_item* w;
        const item_outcome* o;
        std::string message;
    };
    std::vector<unsure> verify;
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        auto& g = groups[gi];
        const auto& items = *group_items[gi];
        for (std::size_t i = 0; i < g.count; ++i) {
            work_item& w = work[items[i]];
            item_outcome& o = g.outcomes[i];
            bool ok = o.st == item_outcome::state::ok;
            errc err = o.error;
            std::string message = std::move(o.message);
            if (!ok && o.st == item_outcome::state::failed && w.kind == work_kind::insert && w.e->maybe_written &&
                o.code == 11000) {
                // The earlier, unacknowledged attempt may have written it: the client-side _id
                // proves it when the duplicate is on _id.
                if (message.find("_id") != std::string::npos) {
                    ok = true;
                } else if (message.find("index:") == std::string::npos) {
                    verify.push_back({&w, &o, std::move(message)});
                    continue;
                }
            }
            if (ok && w.versioned && o.n == 0) {
                ok = false;
                err = errc::conflict;
                message = fmt::format("version conflict: {} with _id {} is no longer at version {} on the server",
                                      w.e->ops->collection, w.e->ops->id_json(w.e->obj.get()), w.old_version);
            }
            if (ok) succeed(w);
            else fail(w, o, err, std::move(message));
        }
    }
    if (!verify.empty()) {
        // One find per collection: {_id: {$in: [...]}}, projection _id.
        std::vector<bool> found(verify.size(), false);
        error_code vec;
        diagnostics vdiag;
        for (std::size_t first = 0; first < verify.size() && !ec; ++first) {
            const auto* ops = verify[first].w->e->ops;
            bool seen_before = false;
            for (std::size_t k = 0; k < first; ++k) seen_before = seen_before || verify[k].w->e->ops == ops;
            if (seen_before) continue;
            bson::document filter;
            bson_t id_doc, in_arr;
            bool built = bson_append_document_begin(filter.get(), "_id", 3, &id_doc) &&
                         bson_append_array_begin(&id_doc, "$in", 3, &in_arr);
            std::uint32_t n = 0;
            char buf[16];
            for (auto& u : verify) {
                if (u.w->e->ops != ops || !built) continue;
                const char* key;
                bson_uint32_to_string(n++, &key, buf, sizeof buf);
                built = detail::append_id_from_key(&in_arr, key, u.w->e->key);
            }
            built = built && bson_append_array_end(&id_doc, &in_arr) && bson_append_document_end(filter.get(), &id_doc);
            if (!built) {
                // Never a find with a partial filter: leave these unconfirmed.
                vec = make_error_code(errc::encode_error);
                vdiag.message = "the _id filter could not be built";
                continue;
            }
            find_options fo;
            fo.projection = bson::document::from_json(R"({"_id": 1})");
            std::vector<std::string> present;
            try {
                auto c = co_await engine_.database().collection(ops->collection).find(filter, fo);
                while (auto d = co_await c.next()) {
                    bson_iter_t it;
                    if (!d->init_iter(it) || !bson_iter_find(&it, "_id")) continue;
                    present.push_back(detail::element_key(it));
                }
            } catch (const error& err) {
                vec = err.code();
                vdiag = err.diag();
            }
            for (std::size_t k = 0; k < verify.size(); ++k)
                if (verify[k].w->e->ops == ops)
                    found[k] = std::find(present.begin(), present.end(), verify[k].w->e->key) != present.end();
        }
        for (std::size_t k = 0; k < verify.size(); ++k) {
            if (found[k]) {
                succeed(*verify[k].w);
                continue;
            }
            if (vec) verify[k].message += fmt::format(" (could not check whether the first attempt landed: {})", vdiag.message);
            fail(*verify[k].w, *verify[k].o, errc::write_error, std::move(verify[k].message));
        }
    }
    if (done.size() == size()) {
        expunge_all();  // the usual write-only commit: everything went, no per-entry erase
    } else {
        for (auto* e : done) impl_->kill(*e);
        impl_->compact();
    }

    if (ec || !result.failures.empty()) {
        diagnostics d;
        std::size_t unknown = 0;
        for (auto& f : result.failures) unknown += f.state == item_outcome::state::unacknowledged;
        if (ec) {
            d = diag;
            d.message = fmt::format("commit interrupted: {}; {} object(s) written, {} with unknown outcome, {} not "
                                    "written (all still pending)",
                                    diag.message, result.inserted + result.updated + result.deleted, unknown,
                                    result.failures.size() - unknown);
        } else {
            const auto& f = result.failures.front();
            d.server_code = f.code;
            d.code_name = f.code_name;
            d.message = fmt::format("{} of {} object(s) not written (still pending); first: {} {} in '{}': {}",
                                    result.failures.size(), work.size(),
                                    f.op == object_outcome::operation::insert ? "insert of" : "write of", f.id,
                                    f.collection, f.message);
        }
        out_ec = ec ? ec : make_error_code(result.failures.front().error);
        out_diag = std::move(d);
    }
    co_return result;
}

}  // namespace morm
