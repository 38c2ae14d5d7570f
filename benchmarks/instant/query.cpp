// The instant server's reads: filters, find, getMore, killCursors, count, drops.
#include "bson_ops.hpp"
#include "store.hpp"

#include <algorithm>
#include <cstring>

namespace morm_bench::instant {
namespace {

constexpr std::size_t max_batch_bytes = 16 * 1024 * 1024 - 16 * 1024;  // room for the envelope

// One filter clause: `path` against the operator document or plain value `cond`.
bool clause_matches(const std::string& doc, std::string_view path, const bson_iter_t& cond) {
    auto* d = reinterpret_cast<const std::uint8_t*>(doc.data());
    if (!BSON_ITER_HOLDS_DOCUMENT(&cond)) return path_equals(d, doc.size(), path, cond);
    bson_iter_t op;
    bson_iter_recurse(&cond, &op);
    if (!bson_iter_next(&op) || bson_iter_key(&op)[0] != '$') return path_equals(d, doc.size(), path, cond);
    bson_iter_recurse(&cond, &op);
    while (bson_iter_next(&op)) {
        std::string_view name = bson_iter_key(&op);
        if (name == "$eq") {
            if (!path_equals(d, doc.size(), path, op)) return false;
        } else if (name == "$in") {
            bson_iter_t v;
            if (!BSON_ITER_HOLDS_ARRAY(&op) || !bson_iter_recurse(&op, &v)) fail(2, "instant_server: $in needs an array");
            bool any = false;
            while (!any && bson_iter_next(&v)) any = path_equals(d, doc.size(), path, v);
            if (!any) return false;
        } else {
            fail(2, "instant_server: query operator " + std::string(name) + " is not supported");
        }
    }
    return true;
}

bool filter_matches(const std::string& doc, const bson_t& filter) {
    bson_iter_t it;
    bson_iter_init(&it, &filter);
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (key[0] == '$') fail(2, "instant_server: query operator " + std::string(key) + " is not supported");
        if (!clause_matches(doc, key, it)) return false;
    }
    return true;
}

// Appends documents from `cur` to `arr` up to `batch_size` (0: no count limit) and the byte cap.
void fill(bson_t* arr, cursor& cur, std::int64_t batch_size) {
    std::size_t bytes = 0;
    char buf[16];
    for (std::int64_t n = 0; cur.pos < cur.docs.size(); ++n) {
        if (batch_size > 0 && n >= batch_size) break;
        const std::string& d = cur.docs[cur.pos];
        if (n > 0 && bytes + d.size() > max_batch_bytes) break;
        const char* key;
        std::size_t klen = bson_uint32_to_string(static_cast<std::uint32_t>(n), &key, buf, sizeof buf);
        bson_t doc;
        bson_init_static(&doc, reinterpret_cast<const std::uint8_t*>(d.data()), d.size());
        bson_append_document(arr, key, static_cast<int>(klen), &doc);
        bytes += d.size();
        ++cur.pos;
    }
}

void cursor_reply(bson_t* r, const char* field, std::int64_t id, cursor& cur, std::int64_t batch_size) {
    bson_t c, arr;
    BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &c);
    bson_append_array_begin(&c, field, -1, &arr);
    fill(&arr, cur, batch_size);
    bson_append_array_end(&c, &arr);
    BSON_APPEND_INT64(&c, "id", cur.pos < cur.docs.size() ? id : 0);
    BSON_APPEND_UTF8(&c, "ns", cur.ns.c_str());
    bson_append_document_end(r, &c);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

}  // namespace

// Top-level inclusion / exclusion projection (_id kept unless excluded).
std::string project(const std::string& doc, const bson_t& proj) {
    if (bson_empty(&proj)) return doc;
    bool include = false, keep_id = true;
    bson_iter_t p;
    bson_iter_init(&p, &proj);
    while (bson_iter_next(&p)) {
        if (std::strchr(bson_iter_key(&p), '.') || (!BSON_ITER_HOLDS_NUMBER(&p) && !BSON_ITER_HOLDS_BOOL(&p)))
            fail(2, "instant_server: only top-level 0/1 projections are supported");
        if (std::strcmp(bson_iter_key(&p), "_id") == 0) keep_id = bson_iter_as_bool(&p);
        else include = bson_iter_as_bool(&p);
    }
    bson_t src, out;
    bson_init_static(&src, reinterpret_cast<const std::uint8_t*>(doc.data()), doc.size());
    bson_init(&out);
    bson_iter_t it;
    bson_iter_init(&it, &src);
    while (bson_iter_next(&it)) {
        bool is_id = std::strcmp(bson_iter_key(&it), "_id") == 0;
        bson_iter_t f;
        bool listed = bson_iter_init_find(&f, &proj, bson_iter_key(&it));
        bool keep = is_id ? keep_id : include ? listed : !listed;
        if (keep) bson_append_iter(&out, nullptr, 0, &it);
    }
    std::string r(reinterpret_cast<const char*>(bson_get_data(&out)), out.len);
    bson_destroy(&out);
    return r;
}


namespace {

int type_rank(bson_type_t t) {
    switch (t) {
        case BSON_TYPE_EOD: return 0;  // missing
        case BSON_TYPE_NULL: case BSON_TYPE_UNDEFINED: return 1;
        case BSON_TYPE_INT32: case BSON_TYPE_INT64: case BSON_TYPE_DOUBLE: case BSON_TYPE_DECIMAL128: return 2;
        case BSON_TYPE_UTF8: case BSON_TYPE_SYMBOL: return 3;
        case BSON_TYPE_DOCUMENT: return 4;
        case BSON_TYPE_ARRAY: return 5;
        case BSON_TYPE_BINARY: return 6;
        case BSON_TYPE_OID: return 7;
        case BSON_TYPE_BOOL: return 8;
        case BSON_TYPE_DATE_TIME: return 9;
        case BSON_TYPE_TIMESTAMP: return 10;
        default: return 11;
    }
}

// -1, 0, 1: the values at `path` of two documents (a missing field sorts first).
int compare_at(const std::string& a, const std::string& b, const char* path) {
    bson_iter_t ia, ib, va, vb;
    bool ha = bson_iter_init_from_data(&ia, reinterpret_cast<const std::uint8_t*>(a.data()), a.size()) &&
              bson_iter_find_descendant(&ia, path, &va);
    bool hb = bson_iter_init_from_data(&ib, reinterpret_cast<const std::uint8_t*>(b.data()), b.size()) &&
              bson_iter_find_descendant(&ib, path, &vb);
    int ra = ha ? type_rank(bson_iter_type(&va)) : 0, rb = hb ? type_rank(bson_iter_type(&vb)) : 0;
    if (ra != rb || ra <= 1) return ra < rb ? -1 : ra > rb ? 1 : 0;
    if (ra == 2) {
        double x = bson_iter_as_double(&va), y = bson_iter_as_double(&vb);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (ra == 3) {
        std::uint32_t la, lb;
        std::string_view x(bson_iter_utf8(&va, &la)), y(bson_iter_utf8(&vb, &lb));
        int c = std::string_view(x.data(), la).compare(std::string_view(y.data(), lb));
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (ra == 8) return int(bson_iter_bool(&va)) - int(bson_iter_bool(&vb));
    if (ra == 9) {
        std::int64_t x = bson_iter_date_time(&va), y = bson_iter_date_time(&vb);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (ra != 7) fail(2, std::string("instant_server: sorting on '") + path + "' of this type is not supported");
    int c = std::memcmp(bson_iter_oid(&va)->bytes, bson_iter_oid(&vb)->bytes, 12);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

bool sort_less(const std::string& a, const std::string& b, const bson_t& sort) {
    bson_iter_t it;
    bson_iter_init(&it, &sort);
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_NUMBER(&it)) fail(2, "instant_server: only 1 / -1 sort orders are supported");
        int c = compare_at(a, b, bson_iter_key(&it));
        if (c) return bson_iter_as_int64(&it) < 0 ? c > 0 : c < 0;
    }
    return false;
}

std::vector<std::string> store::match(const collection& c, const bson_t& filter, std::size_t limit) {
    std::vector<std::string> ids;
    bson_iter_t it;
    // {_id: v} alone: the hash map answers.
    if (bson_count_keys(&filter) == 1 && bson_iter_init_find(&it, &filter, "_id") && !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        std::string key = id_key(it);
        if (c.docs.count(key)) ids.push_back(std::move(key));
        return ids;
    }
    for (auto& [key, doc] : c.docs) {
        if (!filter_matches(doc, filter)) continue;
        ids.push_back(key);
        if (limit && ids.size() >= limit) break;
    }
    return ids;
}

void store::do_find(const bson_t& body, bson_t* r) {
    cursor cur;
    cur.ns = ns_of(body, "find");
    bson_t sort = doc_field(body, "sort");
    bson_t filter = doc_field(body, "filter"), proj = doc_field(body, "projection");
    std::int64_t limit = int_field(body, "limit", 0), skip = int_field(body, "skip", 0);
    if (limit < 0) limit = -limit;  // legacy single-batch form
    auto found = colls_.find(cur.ns);
    if (found != colls_.end()) {
        const collection& c = found->second;
        const bool sorted = !bson_empty(&sort);
        std::vector<std::string> ids =
            match(c, filter, limit > 0 && !sorted ? static_cast<std::size_t>(limit + skip) : 0);
        if (sorted) {
            std::stable_sort(ids.begin(), ids.end(), [&](const std::string& x, const std::string& y) {
                return sort_less(c.docs.at(x), c.docs.at(y), sort);
            });
        }
        std::size_t end = ids.size();
        if (limit > 0) end = std::min(end, static_cast<std::size_t>(limit + std::max<std::int64_t>(skip, 0)));
        for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(skip, 0)); i < end; ++i)
            cur.docs.push_back(project(c.docs.at(ids[i]), proj));
    }
    bson_iter_t it;
    bool single = (bson_iter_init_find(&it, &body, "singleBatch") && bson_iter_as_bool(&it)) ||
                  int_field(body, "limit", 0) < 0;
    std::int64_t batch = int_field(body, "batchSize", 101);
    // The first batch goes out now; a cursor is kept only when documents are left.
    cursor_reply(r, "firstBatch", next_cursor_ + 1, cur, batch);
    if (!single && cur.pos < cur.docs.size()) cursors_.emplace(++next_cursor_, std::move(cur));
}

void store::do_get_more(const bson_t& body, bson_t* r) {
    std::int64_t id = int_field(body, "getMore", 0);
    auto found = cursors_.find(id);
    if (found == cursors_.end()) fail(43, "instant_server: cursor id " + std::to_string(id) + " not found");
    cursor_reply(r, "nextBatch", id, found->second, int_field(body, "batchSize", 0));
    if (found->second.pos >= found->second.docs.size()) cursors_.erase(found);
}

void store::do_kill_cursors(const bson_t& body, bson_t* r) {
    bson_iter_t it, c;
    bson_t killed;
    bson_init(&killed);
    int n = 0;
    if (bson_iter_init_find(&it, &body, "cursors") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &c)) {
        while (bson_iter_next(&c)) {
            std::int64_t id = bson_iter_as_int64(&c);
            if (cursors_.erase(id)) {
                std::string k = std::to_string(n++);
                bson_append_int64(&killed, k.c_str(), -1, id);
            }
        }
    }
    BSON_APPEND_ARRAY(r, "cursorsKilled", &killed);
    bson_destroy(&killed);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_count(const bson_t& body, bson_t* r) {
    std::string ns = ns_of(body, "count");
    bson_t q = doc_field(body, "query");
    std::size_t n = 0;
    auto found = colls_.find(ns);
    if (found != colls_.end()) n = bson_empty(&q) ? found->second.docs.size() : match(found->second, q, 0).size();
    BSON_APPEND_INT64(r, "n", static_cast<std::int64_t>(n));
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_drop(const bson_t& body, bson_t* r) {
    colls_.erase(ns_of(body, "drop"));
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_drop_database(const bson_t& body, bson_t* r) {
    std::string prefix = str_field(body, "$db") + ".";
    for (auto it = colls_.lower_bound(prefix); it != colls_.end() && it->first.starts_with(prefix);)
        it = colls_.erase(it);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_list_collections(const bson_t& body, bson_t* r) {
    std::string db = str_field(body, "$db"), prefix = db + ".";
    bson_t c, arr;
    BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &c);
    BSON_APPEND_INT64(&c, "id", 0);
    BSON_APPEND_UTF8(&c, "ns", (db + ".$cmd.listCollections").c_str());
    BSON_APPEND_ARRAY_BEGIN(&c, "firstBatch", &arr);
    int n = 0;
    for (auto it = colls_.lower_bound(prefix); it != colls_.end() && it->first.starts_with(prefix); ++it) {
        std::string k = std::to_string(n++);
        bson_t e;
        bson_append_document_begin(&arr, k.c_str(), -1, &e);
        BSON_APPEND_UTF8(&e, "name", it->first.substr(prefix.size()).c_str());
        BSON_APPEND_UTF8(&e, "type", "collection");
        bson_append_document_end(&arr, &e);
    }
    bson_append_array_end(&c, &arr);
    bson_append_document_end(r, &c);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

}  // namespace morm_bench::instant
