// Planning: staged entries -> the ordered write plan (see unit_of_work.hpp). No I/O, no
// identity map; the objects are only changed by their own before-hooks (orm/hooks.hpp),
// which run here, before anything is encoded.
#include "unit_of_work.hpp"

#include <morm/orm/update_diff.hpp>

#include <fmt/format.h>

#include <cstring>

namespace morm::uow {

object_outcome::operation operation_of(work_kind k) {
    switch (k) {
        case work_kind::insert: return object_outcome::operation::insert;
        case work_kind::merge: return object_outcome::operation::upsert;
        case work_kind::update: return object_outcome::operation::update;
        case work_kind::remove: return object_outcome::operation::remove;
    }
    return object_outcome::operation::insert;
}

object_outcome refusal(const session_entry& e, object_outcome::operation op, errc err, std::string message) {
    object_outcome f;
    f.collection = std::string(e.ops->collection);
    f.id = e.ops->id_json(e.obj.get());
    f.op = op;
    f.error = err;
    f.message = std::move(message);
    f.object = e.obj;
    return f;
}

namespace {

collection_plan& collection_of(plan& p, std::string_view name) {
    // Usually the same model as the previous object: its name is the very same bytes.
    if (!p.collections.empty() && p.collections.back().name.data() == name.data() &&
        p.collections.back().name.size() == name.size())
        return p.collections.back();
    for (auto& c : p.collections)
        if (c.name == name) return c;
    p.collections.push_back({name, {}, {}, {}, {}, {}});
    return p.collections.back();
}

/// Writes go to the stored _id (the entry's key): a changed or unencodable id member would
/// otherwise be written as a $set, or send the update to another document.
bool id_unchanged(const session_entry& e, std::string& why) {
    std::string key;
    diagnostics d;
    if (e.ops->id_key(e.obj.get(), key, &d)) {
        why = std::move(d.message);
        return false;
    }
    if (key == e.key) return true;
    why = fmt::format("the _id of a loaded object cannot be changed (now {}); expunge it and add a new object instead",
                      e.ops->id_json(e.obj.get()));
    return false;
}

/// Runs a before-hook of `e`'s object (orm/hooks.hpp); false (and the object refused) if
/// it rejects the object or changes its _id, which the entry is keyed by.
bool run_hook(plan& p, session_entry* e, detail::hook_fn hook, const char* name, object_outcome::operation op) {
    const auto r = hook(e->obj.get());
    if (!r.ok()) {
        p.refused.push_back(
            refusal(*e, op, errc::rejected_by_hook, fmt::format("rejected by {}(): {}", name, r.reason())));
        return false;
    }
    std::string key;
    if (e->ops->id_key(e->obj.get(), key, nullptr) || key != e->key) {
        p.refused.push_back(refusal(*e, op, errc::invalid_argument,
                                    fmt::format("{}() changed the object's _id (now {})", name,
                                                e->ops->id_json(e->obj.get()))));
        return false;
    }
    return true;
}

/// Encodes the object into `scratch`; false (and the object refused) if it cannot be.
bool encode_tracked(plan& p, session_entry* e, bson_t* scratch) {
    bson_reinit(scratch);
    diagnostics diag;
    if (e->ops->encode(e->obj.get(), scratch, &diag)) {
        p.refused.push_back(refusal(*e, object_outcome::operation::update, errc::encode_error, diag.message));
        return false;
    }
    return true;
}

bool same_as_snapshot(const session_entry& e, const bson_t* scratch) {
    return scratch->len == e.snapshot.size() && std::memcmp(bson_get_data(scratch), e.snapshot.data(), scratch->len) == 0;
}

/// A tracked object: nothing, or an update of its changed paths ($set/$unset). A version
/// field is bumped in the update and snapshot only; the object keeps its version until
/// the write succeeds.
void plan_update(plan& p, session_entry* e, bson_t* scratch) {
    const auto& ops = *e->ops;
    std::string why;
    if (!id_unchanged(*e, why)) {
        p.refused.push_back(refusal(*e, object_outcome::operation::update, errc::invalid_argument, std::move(why)));
        return;
    }
    if (!encode_tracked(p, e, scratch)) return;
    if (same_as_snapshot(*e, scratch)) {
        ++p.unchanged;
        return;
    }
    // The hook runs only for an object with changes (else every commit would write it);
    // what it changes is part of this update, so the object is encoded again.
    if (ops.before_update) {
        if (!run_hook(p, e, ops.before_update, "before_update", object_outcome::operation::update) ||
            !encode_tracked(p, e, scratch))
            return;
        if (same_as_snapshot(*e, scratch)) {
            ++p.unchanged;
            return;
        }
    }
    work_item w{e, work_kind::update};
    if (auto* v = ops.version(e->obj.get())) {
        w.versioned = true;
        w.old_version = *v;
        *v = w.old_version + 1;
        bson_reinit(scratch);
        const bool encoded = !ops.encode(e->obj.get(), scratch, nullptr);  // encoded a moment ago: only the number differs
        *v = w.old_version;
        if (!encoded) return;
    }
    bson_t old;
    bson_init_static(&old, reinterpret_cast<const std::uint8_t*>(e->snapshot.data()), e->snapshot.size());
    w.update = p.updates.size();
    build_update_diff(&old, scratch, p.updates.emplace_back().get());
    w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(scratch)), scratch->len);
    auto& c = collection_of(p, ops.collection);
    (w.versioned ? c.vupdates : c.updates).push_back(p.work.size());
    p.work.push_back(std::move(w));
}

void plan_delete(plan& p, session_entry* e) {
    if (e->ops->before_delete &&
        !run_hook(p, e, e->ops->before_delete, "before_delete", object_outcome::operation::remove))
        return;
    work_item w{e, work_kind::remove};
    auto& c = collection_of(p, e->ops->collection);
    if (auto* v = e->ops->version(e->obj.get())) {
        w.versioned = true;
        w.old_version = *v;
        c.vdeletes.push_back(p.work.size());
    } else {
        c.deletes.push_back(p.work.size());
    }
    p.work.push_back(std::move(w));
}

}  // namespace

plan make_plan(std::span<session_entry* const> entries) {
    plan p;
    p.work.reserve(entries.size());
    bson_t scratch;
    bson_init(&scratch);
    for (session_entry* e : entries) {
        switch (e->st) {
            case session_entry::state::pending_insert:
                if (e->ops->before_insert &&
                    !run_hook(p, e, e->ops->before_insert, "before_insert", object_outcome::operation::insert))
                    break;
                collection_of(p, e->ops->collection).inserts.push_back(p.work.size());
                p.work.emplace_back(e, work_kind::insert);
                break;
            case session_entry::state::pending_merge:
                // An upsert may update a stored document: merge() runs before_update (hooks.hpp).
                if (e->ops->before_update &&
                    !run_hook(p, e, e->ops->before_update, "before_update", object_outcome::operation::upsert))
                    break;
                collection_of(p, e->ops->collection).updates.push_back(p.work.size());
                p.work.emplace_back(e, work_kind::merge);
                break;
            case session_entry::state::pending_delete: plan_delete(p, e); break;
            case session_entry::state::persistent: plan_update(p, e, &scratch); break;
        }
    }
    bson_destroy(&scratch);
    return p;
}

}  // namespace morm::uow
