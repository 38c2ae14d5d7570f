#include "persistence.hpp"

#include <morm/client/collection.hpp>

#include <algorithm>

namespace morm::uow {

namespace {

/// Appends the statement filter `q: {_id: <id of idkey>[, <version field>: version]}`;
/// false if an append failed (the statement must then not be sent).
bool append_id_filter(bson_t* dst, const std::string& idkey, std::string_view version_field, std::int64_t version) {
    bson_t q;
    if (!bson_append_document_begin(dst, "q", 1, &q)) return false;
    bool ok = detail::append_id_from_key(&q, "_id", idkey);
    if (ok && !version_field.empty())
        ok = bson_append_int64(&q, version_field.data(), static_cast<int>(version_field.size()), version);
    return bson_append_document_end(dst, &q) && ok;
}

/// The upsert of a merge(): `q: {_id}, u: {$set: {every field but _id}}, upsert: true`.
/// Never a replacement, which would erase the fields of the stored document that the model
/// does not declare. The version field goes in $setOnInsert: a merge neither checks nor
/// moves back a stored version (the object keeps its own, which later updates are
/// checked against). A model with nothing but _id sets it on insert only.
[[nodiscard]] error_code encode_merge(work_item& w, bool keep, bson_t* dst, diagnostics& d) {
    const auto& ops = *w.e->ops;
    bson_t full, set, on_insert;
    bson_init(&full);
    bson_init(&set);
    bson_init(&on_insert);
    struct cleanup {
        bson_t *a, *b, *c;
        ~cleanup() { bson_destroy(a), bson_destroy(b), bson_destroy(c); }
    } guard{&full, &set, &on_insert};
    if (auto ec = ops.encode(w.e->obj.get(), &full, &d)) return ec;
    // The snapshot is the whole object: after the upsert the stored document holds each of
    // its fields (the version: see above).
    if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(&full)), full.len);
    bson_iter_t it;
    bool ok = bson_iter_init(&it, &full);
    while (ok && bson_iter_next(&it)) {
        const std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (key == "_id") continue;
        bson_t* to = !ops.version_field.empty() && key == ops.version_field ? &on_insert : &set;
        ok = bson_append_iter(to, key.data(), static_cast<int>(key.size()), &it);
    }
    if (ok && bson_empty(&set) && bson_empty(&on_insert)) ok = detail::append_id_from_key(&on_insert, "_id", w.e->key);
    bson_t u;
    if (!ok || !append_id_filter(dst, w.e->key, {}, 0) || !bson_append_document_begin(dst, "u", 1, &u))
        return statement_not_built(d);
    ok = (bson_empty(&set) || bson_append_document(&u, "$set", 4, &set)) &&
         (bson_empty(&on_insert) || bson_append_document(&u, "$setOnInsert", 12, &on_insert));
    if (!bson_append_document_end(dst, &u) || !ok || !bson_append_bool(dst, "upsert", 6, true))
        return statement_not_built(d);
    return {};
}

/// Encodes work item `w` as one statement of its command (insert: the document).
[[nodiscard]] error_code encode_item(work_item& w, const plan& p, bool keep, bson_t* dst, diagnostics& d) {
    const auto& ops = *w.e->ops;
    const void* obj = w.e->obj.get();
    const std::string_view vf = w.versioned ? ops.version_field : std::string_view{};
    switch (w.kind) {
        case work_kind::insert:
            if (auto ec = ops.encode(obj, dst, &d)) return ec;
            // Snapshot = exactly the bytes sent; write-only sessions do not track, so skip it.
            if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(bson_get_data(dst)), dst->len);
            return {};
        case work_kind::merge: return encode_merge(w, keep, dst, d);
        case work_kind::update:
            if (!append_id_filter(dst, w.e->key, vf, w.old_version) ||
                !bson_append_document(dst, "u", 1, p.updates[w.update].get()))
                return statement_not_built(d);
            return {};
        case work_kind::remove:
            if (!append_id_filter(dst, w.e->key, vf, w.old_version) || !bson_append_int32(dst, "limit", 5, 1))
                return statement_not_built(d);
            return {};
    }
    return {};
}

/// The write groups of the plan, in order; `items[g]` maps group g's items to work indexes.
std::vector<write_group> make_groups(const engine& eng, plan& p, bool keep,
                                     std::vector<const std::vector<std::size_t>*>& items) {
    const auto& st = *eng.client().state();
    const write_concern* wc = st.default_wc.empty() ? nullptr : &st.default_wc;
    std::vector<write_group> groups;
    auto add = [&](const collection_plan& c, write_kind k, const std::vector<std::size_t>& idx, bool one_each) {
        if (idx.empty()) return;
        write_group g;
        g.db = eng.database().name();
        g.collection = std::string(c.name);
        g.kind = k;
        g.wc = wc;
        g.count = idx.size();
        g.max_batch = one_each ? 1 : eng.state()->max_write_batch;  // one each: a per-item `n` tells a version conflict
        if (k == write_kind::insert) {
            // Hot path: the document goes straight into the frame buffer.
            g.encode_raw = [&p, &idx, keep](std::size_t i, bson::byte_buffer& out, diagnostics& d) -> error_code {
                work_item& w = p.work[idx[i]];
                const std::size_t start = out.size();
                if (auto ec = w.e->ops->encode_raw(w.e->obj.get(), out, &d)) return ec;
                if (keep) w.new_snapshot.assign(reinterpret_cast<const char*>(out.data() + start), out.size() - start);
                return {};
            };
        }
        g.encode = [&p, &idx, keep](std::size_t i, bson_t* dst, diagnostics& d) {
            return encode_item(p.work[idx[i]], p, keep, dst, d);
        };
        groups.push_back(std::move(g));
        items.push_back(&idx);
    };
    for (auto& c : p.collections) {
        add(c, write_kind::insert, c.inserts, false);
        add(c, write_kind::update, c.updates, false);
        add(c, write_kind::update, c.vupdates, true);
        add(c, write_kind::remove, c.deletes, false);
        add(c, write_kind::remove, c.vdeletes, true);
    }
    return groups;
}

}  // namespace

boost::asio::awaitable<void> execute(const engine& eng, plan& p, bool keep, bool transactional,
                                     std::vector<item_outcome>& outcomes, pipeline_stats& stats, error_code& ec,
                                     diagnostics& diag) {
    outcomes.assign(p.work.size(), item_outcome{});
    std::vector<const std::vector<std::size_t>*> items;
    auto groups = make_groups(eng, p, keep, items);
    if (transactional) co_await eng.client().write_groups_in_transaction(groups, ec, diag, &stats);
    else co_await eng.client().write_groups(groups, ec, diag, &stats);
    for (std::size_t gi = 0; gi < groups.size(); ++gi)
        // A group the writer never reached (no connection) has no outcomes: its items stay pending.
        if (groups[gi].outcomes.size() == groups[gi].count)
            for (std::size_t i = 0; i < groups[gi].count; ++i) {
                auto& src = groups[gi].outcomes[i];
                auto& dst = outcomes[(*items[gi])[i]];
                if (src.st != item_outcome::state::ok) {
                    dst = std::move(src);
                    continue;
                }
                dst.st = src.st;  // written: its state and `n` are all anyone reads
                dst.n = src.n;
            }
}

boost::asio::awaitable<std::vector<bool>> confirm_inserts(const engine& eng, const plan& p,
                                                          std::span<const std::size_t> which, error_code& ec,
                                                          diagnostics& diag) {
    std::vector<bool> found(which.size(), false);
    for (std::size_t first = 0; first < which.size() && !ec; ++first) {
        const auto* ops = p.work[which[first]].e->ops;
        bool seen_before = false;
        for (std::size_t k = 0; k < first; ++k) seen_before = seen_before || p.work[which[k]].e->ops == ops;
        if (seen_before) continue;
        // {_id: {$in: [...]}} over this collection's items, projection _id.
        bson::document filter;
        bson_t id_doc, in_arr;
        bool built = bson_append_document_begin(filter.get(), "_id", 3, &id_doc) &&
                     bson_append_array_begin(&id_doc, "$in", 3, &in_arr);
        std::uint32_t n = 0;
        char buf[16];
        for (std::size_t k = 0; k < which.size() && built; ++k) {
            const auto* e = p.work[which[k]].e;
            if (e->ops != ops) continue;
            const char* key;
            bson_uint32_to_string(n++, &key, buf, sizeof buf);
            built = detail::append_id_from_key(&in_arr, key, e->key);
        }
        built = built && bson_append_array_end(&id_doc, &in_arr) && bson_append_document_end(filter.get(), &id_doc);
        if (!built) {  // never a find with a partial filter: these stay unconfirmed
            ec = make_error_code(errc::encode_error);
            diag.message = "the _id filter could not be built";
            break;
        }
        find_options fo;
        fo.projection = bson::document::from_json(R"({"_id": 1})");
        std::vector<std::string> present;
        auto c = co_await eng.database().collection(ops->collection).find(filter, fo, ec, diag);
        while (!ec) {
            auto d = co_await c.next(ec, diag);
            if (!d) break;
            bson_iter_t it;
            if (d->init_iter(it) && bson_iter_find(&it, "_id")) present.push_back(detail::element_key(it));
        }
        for (std::size_t k = 0; k < which.size(); ++k) {
            const auto* e = p.work[which[k]].e;
            if (e->ops == ops) found[k] = std::find(present.begin(), present.end(), e->key) != present.end();
        }
    }
    co_return found;
}

}  // namespace morm::uow
