#include "identity_map.hpp"
#include "persistence.hpp"
#include "session_entry.hpp"
#include "unit_of_work.hpp"

#include <morm/orm/polymorphic.hpp>
#include <morm/orm/session.hpp>

#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace morm {

/// Identity map of one model: _id key -> entry (identity_map.hpp). Entries live in
/// `impl::entries` in staging order, so commit needs no sort.
struct session::store {
    const detail::model_ops* ops = nullptr;
    detail::id_table by_id;
};

struct session::impl {
    detail::entry_list entries;
    std::size_t dead = 0;
    std::vector<std::unique_ptr<store>> stores;

    /// The table of a model: its family's (polymorphic models share one), else its own.
    static const detail::model_ops* table_of(const detail::model_ops& ops) noexcept {
        return ops.family ? ops.family : &ops;
    }
    store& store_for(const detail::model_ops& ops, engine& eng) {
        const auto* key = table_of(ops);
        for (auto& st : stores)
            if (st->ops == key) return *st;
        eng.state()->register_ops(ops);  // once per session and model, not per object
        stores.push_back(std::make_unique<store>());
        stores.back()->ops = key;
        return *stores.back();
    }
    store* find_store(const detail::model_ops& ops) const {
        const auto* key = table_of(ops);
        for (auto& st : stores)
            if (st->ops == key) return st.get();
        return nullptr;
    }
    /// The live entry of `st` keyed `key`, or null.
    entry* find(const store& st, std::string_view key) { return find(st, key, detail::id_table::hash_of(key)); }
    entry* find(const store& st, std::string_view key, std::uint32_t hash) {
        const auto i = st.by_id.find(key, hash, entries);
        return i == detail::id_table::npos ? nullptr : &entries[i];
    }
    /// A new entry keyed `key`, which `st` must not hold yet; `ops` are the object's own
    /// (a polymorphic kind's, in its family's table), st.ops if null.
    entry& emplace(store& st, std::shared_ptr<void> obj, entry::state state, std::string key,
                   const detail::model_ops* ops = nullptr) {
        const auto hash = detail::id_table::hash_of(key);
        return emplace(st, std::move(obj), state, std::move(key), hash, ops);
    }
    entry& emplace(store& st, std::shared_ptr<void> obj, entry::state state, std::string key, std::uint32_t hash,
                   const detail::model_ops* ops = nullptr) {
        entry& e = entries.emplace_back();
        e.obj = std::move(obj);
        e.ops = ops ? ops : st.ops;
        e.st = state;
        e.key = std::move(key);
        e.hash = hash;
        st.by_id.insert(e.hash, e.index);
        return e;
    }
    /// Forgets an entry; its storage is reclaimed by compact().
    void kill(entry& e) {
        if (e.dead) return;
        if (auto* st = find_store(*e.ops)) st->by_id.erase(e.hash, e.index);
        e.dead = true;
        e.obj.reset();
        std::string().swap(e.snapshot);
        std::string().swap(e.key);
        ++dead;
    }
    void clear() {
        entries.clear();
        dead = 0;
        for (auto& st : stores) st->by_id.clear();
    }
    /// Drops dead entries once they outnumber live ones, so write-only sessions
    /// (keep_committed = false) stay flat in memory across commits.
    void compact() {
        if (dead < 1024 || dead * 2 < entries.size()) return;
        detail::entry_list live;
        entries.for_each([&](entry& e) {
            if (e.dead) return;
            entry& n = live.emplace_back();
            const auto index = n.index;
            n = std::move(e);
            n.index = index;
        });
        clear();
        entries = std::move(live);
        entries.for_each([&](entry& e) {
            if (auto* st = find_store(*e.ops)) st->by_id.insert(e.hash, e.index);
        });
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
    auto* e = impl_->find(*st, idkey);
    if (!e) return nullptr;
    known = true;
    if (e->st == entry::state::pending_delete) return nullptr;
    return view_as(ops, *e);
}

void session::for_each_tracked(const detail::model_ops& ops,
                               const std::function<void(const std::shared_ptr<void>&)>& f) const {
    impl_->entries.for_each([&](entry& e) {
        if (!e.dead && e.ops == &ops && e.st != entry::state::pending_delete && e.obj) f(e.obj);
    });
}

session::entry* session::find_entry(const detail::model_ops& ops, const void* obj) {
    std::string key;
    if (auto* st = impl_->find_store(ops); st && !ops.id_key(obj, key, nullptr)) {
        if (auto* e = impl_->find(*st, key); e && e->obj.get() == obj) return e;
    }
    // Not under its current id: an object whose id was changed (or made invalid) after it
    // entered the session.
    entry* found = nullptr;
    impl_->entries.for_each([&](entry& e) {
        if (!found && !e.dead && e.obj.get() == obj) found = &e;
    });
    return found;
}

std::shared_ptr<void> session::view_as(const detail::model_ops& want, const entry& e) {
    if (e.ops == &want) return e.obj;
    // A polymorphic family: the base sees every kind through its base subobject; a kind
    // sees only objects of that kind.
    if (want.family == &want && e.ops->family == &want)
        return std::shared_ptr<void>(e.obj, e.ops->to_root(e.obj.get()));
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
[[nodiscard]] error_code take_snapshot(const detail::model_ops& ops, const void* obj, std::string& out,
                                       diagnostics& diag) {
    // Straight from the raw writer: encode() would lay out the same bytes, then copy them
    // into a bson_t before this copies them again.
    bson::byte_buffer buf;
    auto ec = ops.encode_raw(obj, buf, &diag);
    if (!ec) out.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
    return ec;
}
/// True if the top level of `doc` has an element named `key`.
bool has_key(bson::document_view doc, std::string_view key) {
    bson_iter_t it;
    return doc.init_iter(it) && bson_iter_find_w_len(&it, key.data(), static_cast<int>(key.size()));
}

/// A document loaded under a field's former name (an alias) is rewritten under the current
/// one at the next commit: the snapshot records the names as stored, so the diff sets the
/// current name and unsets the former.
void keep_former_names(const detail::model_ops& ops, bson::document_view doc, std::string& snapshot) {
    std::vector<std::pair<std::string_view, std::string_view>> used;
    for (const auto& r : ops.renames)
        if (has_key(doc, r.first) && !has_key(doc, r.second)) used.push_back(r);
    if (used.empty()) return;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, reinterpret_cast<const std::uint8_t*>(snapshot.data()), snapshot.size()))
        return;
    bson_t out;
    bson_init(&out);
    while (bson_iter_next(&it)) {
        std::string_view k(bson_iter_key(&it), bson_iter_key_len(&it));
        for (const auto& [former, current] : used)
            if (k == current) k = former;
        bson_append_iter(&out, k.data(), static_cast<int>(k.size()), &it);
    }
    snapshot.assign(reinterpret_cast<const char*>(bson_get_data(&out)), out.len);
    bson_destroy(&out);
}
}  // namespace

void session::stage_add(const detail::model_ops& ops, std::shared_ptr<void> obj) {
    auto& st = impl_->store_for(ops, engine_);
    ops.ensure_id(obj.get());
    auto key = checked_id_key(ops, obj.get(), "add()");
    const auto hash = detail::id_table::hash_of(key);  // once: for the lookup and the insert
    if (auto* e = impl_->find(st, key, hash)) {
        if (e->obj == obj) return;  // already managed
        throw error(errc::invalid_argument,
                    fmt::format("another object with _id {} is already in the session for '{}'",
                                ops.id_json(obj.get()), ops.collection));
    }
    impl_->emplace(st, std::move(obj), entry::state::pending_insert, std::move(key), hash, &ops);
}

std::shared_ptr<void> session::stage_merge(const detail::model_ops& ops, std::shared_ptr<void> obj) {
    auto& st = impl_->store_for(ops, engine_);
    ops.ensure_id(obj.get());
    auto key = checked_id_key(ops, obj.get(), "merge()");
    if (auto* found = impl_->find(st, key)) {
        auto& e = *found;
        if (e.ops != &ops)
            throw error(errc::invalid_argument,
                        fmt::format("merge(): the session holds _id {} of '{}' as another kind", ops.id_json(obj.get()),
                                    ops.collection));
        if (e.st == entry::state::pending_delete) e.st = e.has_snapshot ? entry::state::persistent : entry::state::pending_merge;
        return e.obj;  // the caller copies the new state onto it; tracking does the rest
    }
    impl_->emplace(st, obj, entry::state::pending_merge, std::move(key), &ops);
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
    if (impl_->find(st, key)) {
        diag.message = fmt::format("the object's _id was changed to {}, which another object in the session has",
                                   e->ops->id_json(e->obj.get()));
        return make_error_code(errc::invalid_argument);
    }
    st.by_id.erase(e->hash, e->index);
    e->key = std::move(key);
    e->hash = detail::id_table::hash_of(e->key);
    st.by_id.insert(e->hash, e->index);
    return {};
}

void session::expunge_impl(const detail::model_ops& ops, const void* obj) {
    if (auto* e = find_entry(ops, obj)) {
        impl_->kill(*e);
        impl_->compact();
    }
}

void session::expunge_all() { impl_->clear(); }

void session::rollback() {
    impl_->entries.for_each([&](entry& e) {
        if (e.dead) return;
        if (!e.has_snapshot) {  // never on the server as far as we know
            impl_->kill(e);
            return;
        }
        // Restore the last known server state, whose _id is the one the entry is keyed
        // by. The snapshot is the session's own encoding of the object, so it decodes.
        diagnostics ignored;
        if (e.ops->decode(reinterpret_cast<const std::uint8_t*>(e.snapshot.data()), e.snapshot.size(), e.obj.get(),
                          &ignored)) {
            impl_->kill(e);
            return;
        }
        e.st = entry::state::persistent;
    });
    impl_->compact();
}

bool session::dirty() const {
    bson_t scratch;
    bson_init(&scratch);
    bool d = false;
    impl_->entries.for_each([&](entry& e) {
        if (d || e.dead) return;
        if (e.st != entry::state::persistent) {
            d = true;
            return;
        }
        bson_reinit(&scratch);
        // An object that no longer encodes has changes (that commit() will refuse).
        if (e.ops->encode(e.obj.get(), &scratch, nullptr) ||
            scratch.len != e.snapshot.size() || std::memcmp(bson_get_data(&scratch), e.snapshot.data(), scratch.len) != 0)
            d = true;
    });
    bson_destroy(&scratch);
    return d;
}

std::shared_ptr<void> session::track_loaded(const detail::model_ops& ops, bson::document_view doc) {
    error_code ec;
    diagnostics diag;
    auto p = track_loaded(ops, doc, ec, diag);
    throw_on_error(ec, diag);
    return p;
}

std::shared_ptr<void> session::track_loaded(const detail::model_ops& ops, bson::document_view doc, error_code& ec,
                                            diagnostics& diag) {
    auto& st = impl_->store_for(ops, engine_);
    bson_iter_t it;
    if (!doc.init_iter(it) || !bson_iter_find(&it, "_id")) {
        ec = make_error_code(errc::decode_error);
        diag.message = fmt::format("document from '{}' has no _id", ops.collection);
        return nullptr;
    }
    // Identity key straight from the stored _id element (same encoding as value_key()).
    std::string idkey = detail::element_key(it);
    if (auto* f = impl_->find(st, idkey)) return f->st == entry::state::pending_delete ? nullptr : view_as(ops, *f);
    const detail::model_ops* kind = &ops;
    if (ops.family == &ops && !(kind = kind_of(ops, doc, ec, diag))) return nullptr;
    return track_new(*kind, ops, st, doc, std::move(idkey), ec, diag);
}

const detail::model_ops* session::kind_of(const detail::model_ops& base, bson::document_view doc, error_code& ec,
                                          diagnostics& diag) {
    bson_iter_t it;
    const auto& key = base.discriminator;
    if (!doc.init_iter(it) || !bson_iter_find_w_len(&it, key.data(), static_cast<int>(key.size())))
        return &base;  // written before the model became polymorphic: the base (its decode checks it is listed)
    const detail::model_ops* kind = nullptr;
    std::string value = "(not a string)";
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        std::uint32_t n = 0;
        const char* s = bson_iter_utf8(&it, &n);
        value.assign(s, n);
        kind = base.kind_of_value(value);
        value = fmt::format("'{}'", value);
    }
    if (!kind) {
        ec = make_error_code(errc::decode_error);
        diag.message = fmt::format("'{}' document with _id {} has an unknown kind {} in field '{}'", base.collection,
                                   detail::doc_id_json(doc.data(), doc.size()), value, key);
    }
    return kind;
}

std::shared_ptr<void> session::track_new(const detail::model_ops& ops, const detail::model_ops& want, store& st,
                                         bson::document_view doc, std::string idkey, error_code& ec,
                                         diagnostics& diag) {
    auto obj = ops.make();
    if ((ec = ops.decode(doc.data(), doc.size(), obj.get(), &diag))) return nullptr;
    // The snapshot is our own encoding of the object, so that an unchanged object
    // compares equal byte for byte (the stored document may order or type fields
    // differently, e.g. written by another driver).
    std::string snapshot;
    if ((ec = take_snapshot(ops, obj.get(), snapshot, diag))) return nullptr;
    if (!ops.renames.empty()) keep_former_names(ops, doc, snapshot);
    // After the snapshot: what the hook changes is a change, written at the next commit.
    if ((ec = detail::run_after_load(ops.after_load, obj.get(), ops.collection, [&] { return ops.id_json(obj.get()); },
                                     diag)))
        return nullptr;
    entry& e = impl_->emplace(st, obj, entry::state::persistent, std::move(idkey), &ops);
    e.snapshot = std::move(snapshot);
    e.has_snapshot = true;
    return view_as(want, e);
}

namespace {
/// {_id: <the id whose identity key is idkey>}; an empty document (and `ec` set) if the
/// key is not a BSON value.
bson::document id_filter(const std::string& idkey, error_code& ec, diagnostics& diag) {
    bson::document filter;
    if (!detail::append_id_from_key(filter.get(), "_id", idkey)) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = "internal: an identity key that is not a BSON value";
        return {};
    }
    return filter;
}
}  // namespace

asio::awaitable<std::shared_ptr<void>> session::load_one(const detail::model_ops& ops, const std::string& idkey,
                                                         error_code& ec, diagnostics& diag) {
    bson::document filter = id_filter(idkey, ec, diag);
    if (ec) co_return nullptr;
    // A polymorphic kind loads only documents of its kind (the base: every kind).
    if (ops.family && ops.family != &ops &&
        !bson_append_utf8(filter.get(), ops.discriminator.data(), static_cast<int>(ops.discriminator.size()),
                          ops.kind.data(), static_cast<int>(ops.kind.size()))) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = "internal: the kind filter could not be built";
        co_return nullptr;
    }
    auto coll = engine_.database().collection(ops.collection);
    find_options fo;
    fo.limit = 1;
    fo.single_batch = true;
    auto d = co_await coll.find_one(filter, fo, ec, diag);
    if (ec || !d) co_return nullptr;
    co_return track_loaded(ops, d->view(), ec, diag);
}

asio::awaitable<void> session::refresh_impl(const detail::model_ops& ops, void* obj, error_code& ec,
                                            diagnostics& diag) {
    auto* e = find_entry(ops, obj);
    if (!e) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = "refresh(): the object is not in the session";
        co_return;
    }
    // The id the session knows the object by: a pending object's current one (checked),
    // a loaded object's stored one (its id member may have been changed since).
    std::string key = e->key;
    if (!e->has_snapshot && (ec = ops.id_key(obj, key, &diag))) {
        diag.message = fmt::format("refresh(): {}", diag.message);
        co_return;
    }
    const bson::document filter = id_filter(key, ec, diag);
    if (ec) co_return;
    auto coll = engine_.database().collection(ops.collection);
    const find_options fo;
    auto d = co_await coll.find_one(filter, fo, ec, diag);
    if (ec) co_return;
    if (!d) {
        ec = make_error_code(errc::not_found);
        diag.message = fmt::format("refresh(): {} with _id {} no longer exists", ops.collection, ops.id_json(obj));
        co_return;
    }
    if ((ec = ops.decode(d->data(), d->size(), obj, &diag))) co_return;
    if ((ec = take_snapshot(ops, obj, e->snapshot, diag))) co_return;
    e->has_snapshot = true;
    e->st = entry::state::persistent;
    ec = detail::run_after_load(ops.after_load, obj, ops.collection, [&] { return ops.id_json(obj); }, diag);
}

// ------------------------------------------------------------------------- commit

asio::awaitable<commit_result> session::commit() {
    error_code ec;
    diagnostics diag;
    auto r = co_await commit(ec, diag);
    if (ec) throw commit_error(ec, std::move(diag), std::move(r));
    co_return r;
}

std::vector<session::entry*> session::live_entries(std::vector<object_outcome>& failures) {
    std::vector<entry*> out;
    out.reserve(size());
    diagnostics kd;
    impl_->entries.for_each([&](entry& e) {
        if (e.dead) return;
        if (e.st == entry::state::pending_insert || e.st == entry::state::pending_merge) {
            // The id of a not-yet-written object may have been changed since add() (e.g. to fix
            // a duplicate key the last commit reported): re-key its identity-map entry so that
            // get() finds it under the id it is stored with.
            if (auto kec = rekey(&e, kd)) {
                const auto op = e.st == entry::state::pending_insert ? uow::work_kind::insert : uow::work_kind::merge;
                failures.push_back(uow::failure_of(uow::work_item{&e, op}, item_outcome{}, errc::invalid_argument,
                                                   std::move(kd.message)));
                failures.back().state = item_outcome::state::failed;
                kd.clear();
                return;
            }
        }
        out.push_back(&e);
    });
    return out;
}

void session::settle(uow::plan& p, const std::vector<uow::verdict>& verdicts, const std::vector<item_outcome>& outcomes,
                     commit_result& result) {
    const bool keep = opts_.keep_committed;
    std::vector<entry*> done;  // deleted, or written by a write-only session: forget them
    for (std::size_t i = 0; i < p.work.size(); ++i) {
        auto& w = p.work[i];
        entry* e = w.e;
        if (verdicts[i] != uow::verdict::written) {
            if (outcomes[i].st == item_outcome::state::unacknowledged) e->maybe_written = true;
            continue;
        }
        e->maybe_written = false;
        switch (w.kind) {
            case uow::work_kind::insert: ++result.inserted; break;
            case uow::work_kind::merge:
            case uow::work_kind::update: ++result.updated; break;
            case uow::work_kind::remove: ++result.deleted; break;
        }
        if (w.versioned && w.kind == uow::work_kind::update) *e->ops->version(e->obj.get()) = w.old_version + 1;
        if (w.kind == uow::work_kind::remove || !keep) {
            done.push_back(e);
        } else {
            e->snapshot = std::move(w.new_snapshot);
            e->has_snapshot = true;
            e->st = entry::state::persistent;
        }
    }
    if (done.size() == size()) {
        expunge_all();  // the usual write-only commit: everything went, no per-entry erase
    } else {
        for (auto* e : done) impl_->kill(*e);
        impl_->compact();
    }
}

namespace {

/// The commit's error and message from its result.
void summarize(const commit_result& result, std::size_t planned, const error_code& ec, const diagnostics& diag,
               error_code& out_ec, diagnostics& out_diag) {
    if (!ec && result.failures.empty()) return;
    diagnostics d;
    if (ec) {
        std::size_t unknown = 0;
        for (auto& f : result.failures) unknown += f.state == item_outcome::state::unacknowledged;
        d = diag;
        d.message = fmt::format("commit interrupted: {}; {} object(s) written, {} with unknown outcome, {} not "
                                "written (all still pending)",
                                diag.message, result.inserted + result.updated + result.deleted, unknown,
                                result.failures.size() - unknown);
    } else if (planned == 0) {  // every object was refused before sending
        d.message = fmt::format("{} object(s) could not be written: {}", result.failures.size(),
                                result.failures.front().message);
    } else {
        const auto& f = result.failures.front();
        d.server_code = f.code;
        d.code_name = f.code_name;
        d.message = fmt::format("{} of {} object(s) not written (still pending); first: {} {} in '{}': {}",
                                result.failures.size(), planned,
                                f.op == object_outcome::operation::insert ? "insert of" : "write of", f.id,
                                f.collection, f.message);
    }
    out_ec = ec ? ec : make_error_code(result.failures.front().error);
    out_diag = std::move(d);
}

}  // namespace

asio::awaitable<commit_result> session::commit(error_code& out_ec, diagnostics& out_diag) {
    commit_result result;
    out_ec.clear();
    auto p = uow::make_plan(live_entries(result.failures));
    result.unchanged = p.unchanged;
    for (auto& f : p.refused) result.failures.push_back(std::move(f));
    if (p.work.empty()) {  // nothing (else) changed: nothing is sent
        summarize(result, 0, {}, {}, out_ec, out_diag);
        co_return result;
    }

    std::vector<item_outcome> outcomes;
    pipeline_stats stats;
    error_code ec;
    diagnostics diag;
    co_await uow::execute(engine_, p, opts_.keep_committed, opts_.transactional, outcomes, stats, ec, diag);
    result.frames = stats.frames;
    result.round_trips = stats.writes;
    if (ec && stats.writes == 0) {
        // No connection: nothing was sent, everything stays pending.
        const errc why = ec == errc::pool_closed || ec == errc::pool_timeout || ec == errc::not_supported
                             ? errc(ec.value())
                             : errc::network;
        for (std::size_t i = 0; i < p.work.size(); ++i)
            result.failures.push_back(uow::failure_of(p.work[i], outcomes[i], why, "not sent: " + diag.message));
        out_ec = ec;
        out_diag = std::move(diag);
        co_return result;
    }

    auto rec = uow::reconcile(p, outcomes);
    if (!rec.to_confirm.empty()) {
        error_code vec;
        diagnostics vdiag;
        auto found = co_await uow::confirm_inserts(engine_, p, rec.to_confirm, vec, vdiag);
        for (std::size_t k = 0; k < rec.to_confirm.size(); ++k) {
            const std::size_t i = rec.to_confirm[k];
            if (found[k]) {
                rec.verdicts[i] = uow::verdict::written;
                continue;
            }
            rec.verdicts[i] = uow::verdict::failed;
            std::string message = std::move(outcomes[i].message);
            if (vec) message += fmt::format(" (could not check whether the first attempt landed: {})", vdiag.message);
            rec.failures.push_back(uow::failure_of(p.work[i], outcomes[i], errc::write_error, std::move(message)));
        }
    }
    settle(p, rec.verdicts, outcomes, result);
    for (auto& f : rec.failures) result.failures.push_back(std::move(f));
    summarize(result, p.work.size(), ec, diag, out_ec, out_diag);
    co_return result;
}

}  // namespace morm
