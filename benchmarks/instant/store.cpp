#include "store.hpp"

#include "bson_ops.hpp"

#include <morm/wire/op_msg.hpp>

#include <algorithm>
#include <cstring>

namespace morm_bench::instant {
namespace {

constexpr std::int32_t max_bson = 16 * 1024 * 1024;

std::int32_t rd32(const std::uint8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The documents of kind-1 section `id`, else of the body's array `id`.
std::vector<doc_ref> items(const bson_t& body, const std::vector<doc_ref>& seq, const char* id) {
    if (!seq.empty()) return seq;
    std::vector<doc_ref> out;
    bson_iter_t it, c;
    if (bson_iter_init_find(&it, &body, id) && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &c)) {
        while (bson_iter_next(&c)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&c)) fail(14, std::string("instant_server: ") + id + " holds a non-document");
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&c, &len, &data);
            out.push_back({data, len});
        }
    }
    return out;
}

void append_write_error(bson_t* arr, int& n_errors, std::size_t index, const command_error& e) {
    char buf[16];
    const char* key;
    std::size_t klen = bson_uint32_to_string(static_cast<std::uint32_t>(n_errors++), &key, buf, sizeof buf);
    bson_t we;
    bson_append_document_begin(arr, key, static_cast<int>(klen), &we);
    BSON_APPEND_INT32(&we, "index", static_cast<std::int32_t>(index));
    BSON_APPEND_INT32(&we, "code", e.code);
    BSON_APPEND_UTF8(&we, "errmsg", e.message.c_str());
    bson_append_document_end(arr, &we);
}

void append_hello(bson_t* b, std::int32_t connection_id) {
    BSON_APPEND_BOOL(b, "helloOk", true);
    BSON_APPEND_BOOL(b, "isWritablePrimary", true);
    BSON_APPEND_BOOL(b, "ismaster", true);
    BSON_APPEND_INT32(b, "maxBsonObjectSize", max_bson);
    BSON_APPEND_INT32(b, "maxMessageSizeBytes", 48'000'000);
    BSON_APPEND_INT32(b, "maxWriteBatchSize", 100'000);
    BSON_APPEND_DATE_TIME(b, "localTime", static_cast<std::int64_t>(time(nullptr)) * 1000);
    BSON_APPEND_INT32(b, "logicalSessionTimeoutMinutes", 30);
    BSON_APPEND_INT32(b, "connectionId", connection_id);
    BSON_APPEND_INT32(b, "minWireVersion", 0);
    BSON_APPEND_INT32(b, "maxWireVersion", 21);
    BSON_APPEND_BOOL(b, "readOnly", false);
    BSON_APPEND_DOUBLE(b, "ok", 1.0);
}

// One OP_MSG reply frame with `body` as its only section.
void append_reply(morm::wire::frame_buffer& out, std::int32_t id, std::int32_t response_to, const bson_t& body) {
    std::size_t start = out.size();
    out.append_int32_le(0);
    out.append_int32_le(id);
    out.append_int32_le(response_to);
    out.append_int32_le(morm::wire::op_msg_opcode);
    out.append_int32_le(0);  // flagBits
    out.push_back(0);        // kind 0
    out.append(bson_get_data(&body), body.len);
    out.write_int32_le_at(start, static_cast<std::int32_t>(out.size() - start));
}

// The kind-1 sections of a validated frame (parse_op_msg skips them).
std::vector<doc_ref> sequence_docs(const std::uint8_t* f, std::size_t len, std::uint32_t flag_bits) {
    std::vector<doc_ref> docs;
    std::size_t end = len - ((flag_bits & morm::wire::flags::checksum_present) ? 4 : 0);
    for (std::size_t p = 20; p < end;) {
        if (f[p] == 0) {
            p += 1 + static_cast<std::size_t>(rd32(f + p + 1));
            continue;
        }
        std::size_t size = static_cast<std::size_t>(rd32(f + p + 1));
        std::size_t q = p + 5;
        while (f[q]) ++q;
        for (++q; q < p + 1 + size;) {
            auto dlen = static_cast<std::size_t>(rd32(f + q));
            docs.push_back({f + q, dlen});
            q += dlen;
        }
        p += 1 + size;
    }
    return docs;
}

}  // namespace

bool store::handle(const std::uint8_t* f, std::size_t len, morm::wire::frame_buffer& out) {
    std::int32_t op = rd32(f + 12);
    if (op == 2004) return handle_op_query(f, len, out);
    if (op != morm::wire::op_msg_opcode) return false;
    morm::wire::op_msg_view msg;
    morm::diagnostics diag;
    if (morm::wire::parse_op_msg({f, len}, msg, diag) || !msg.has_body) return false;
    std::vector<doc_ref> seq = sequence_docs(f, len, msg.flag_bits);
    bson_iter_t it;
    if (!bson_iter_init(&it, &msg.body) || !bson_iter_next(&it)) return false;
    std::string_view cmd = bson_iter_key(&it);

    bson_t reply;
    bson_init(&reply);
    try {
        dispatch(cmd, msg.body, seq, &reply);
    } catch (const command_error& e) {
        bson_reinit(&reply);
        BSON_APPEND_DOUBLE(&reply, "ok", 0.0);
        BSON_APPEND_UTF8(&reply, "errmsg", e.message.c_str());
        BSON_APPEND_INT32(&reply, "code", e.code);
        BSON_APPEND_UTF8(&reply, "codeName", e.code == 59 ? "CommandNotFound" : "BadValue");
    }
    if (!msg.more_to_come()) append_reply(out, ++reply_id_, msg.header.request_id, reply);
    bson_destroy(&reply);
    return true;
}

// Legacy OP_QUERY: drivers send their first hello this way; answer that, refuse the rest.
bool store::handle_op_query(const std::uint8_t* f, std::size_t len, morm::wire::frame_buffer& out) {
    std::size_t p = 20;
    while (p < len && f[p]) ++p;  // fullCollectionName
    p += 1 + 8;                   // numberToSkip, numberToReturn
    if (p + 5 > len) return false;
    bson_t query;
    if (!bson_init_static(&query, f + p, static_cast<std::size_t>(rd32(f + p))) || p + query.len > len) return false;
    bson_iter_t it;
    if (!bson_iter_init(&it, &query) || !bson_iter_next(&it)) return false;
    std::string_view cmd = bson_iter_key(&it);
    if (cmd == "$query" || cmd == "query") {  // wrapped form
        bson_t inner = doc_field(query, bson_iter_key(&it));
        if (!bson_iter_init(&it, &inner) || !bson_iter_next(&it)) return false;
        cmd = bson_iter_key(&it);
    }
    if (cmd != "hello" && cmd != "isMaster" && cmd != "ismaster") return false;
    bson_t reply;
    bson_init(&reply);
    append_hello(&reply, ++connection_id_);
    std::size_t start = out.size();
    out.append_int32_le(0);
    out.append_int32_le(++reply_id_);
    out.append_int32_le(rd32(f + 4));
    out.append_int32_le(morm::wire::op_reply_opcode);
    out.append_int32_le(0);  // responseFlags
    std::int64_t cursor_id = 0;
    out.append(&cursor_id, 8);
    out.append_int32_le(0);  // startingFrom
    out.append_int32_le(1);  // numberReturned
    out.append(bson_get_data(&reply), reply.len);
    out.write_int32_le_at(start, static_cast<std::int32_t>(out.size() - start));
    bson_destroy(&reply);
    return true;
}

void store::dispatch(std::string_view cmd, const bson_t& body, const std::vector<doc_ref>& docs, bson_t* r) {
    if (cmd == "insert") return do_insert(body, docs, r);
    if (cmd == "update") return do_update(body, docs, r);
    if (cmd == "delete") return do_delete(body, docs, r);
    if (cmd == "findAndModify" || cmd == "findandmodify") return do_find_and_modify(body, r);
    if (cmd == "find") return do_find(body, r);
    if (cmd == "getMore") return do_get_more(body, r);
    if (cmd == "killCursors") return do_kill_cursors(body, r);
    if (cmd == "count") return do_count(body, r);
    if (cmd == "drop") return do_drop(body, r);
    if (cmd == "dropDatabase") return do_drop_database(body, r);
    if (cmd == "listCollections") return do_list_collections(body, r);
    if (cmd == "hello" || cmd == "isMaster" || cmd == "ismaster") return append_hello(r, ++connection_id_);
    if (cmd == "buildInfo" || cmd == "buildinfo") {
        BSON_APPEND_UTF8(r, "version", "7.0.0-instant");
        bson_t arr;
        BSON_APPEND_ARRAY_BEGIN(r, "versionArray", &arr);
        BSON_APPEND_INT32(&arr, "0", 7);
        BSON_APPEND_INT32(&arr, "1", 0);
        BSON_APPEND_INT32(&arr, "2", 0);
        BSON_APPEND_INT32(&arr, "3", 0);
        bson_append_array_end(r, &arr);
        BSON_APPEND_INT32(r, "maxBsonObjectSize", max_bson);
        BSON_APPEND_DOUBLE(r, "ok", 1.0);
        return;
    }
    if (cmd == "listIndexes") {
        bson_t c, batch, idx, key;
        BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &c);
        BSON_APPEND_INT64(&c, "id", 0);
        BSON_APPEND_UTF8(&c, "ns", ns_of(body, "listIndexes").c_str());
        BSON_APPEND_ARRAY_BEGIN(&c, "firstBatch", &batch);
        BSON_APPEND_DOCUMENT_BEGIN(&batch, "0", &idx);
        BSON_APPEND_INT32(&idx, "v", 2);
        BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
        BSON_APPEND_INT32(&key, "_id", 1);
        bson_append_document_end(&idx, &key);
        BSON_APPEND_UTF8(&idx, "name", "_id_");
        bson_append_document_end(&batch, &idx);
        bson_append_array_end(&c, &batch);
        bson_append_document_end(r, &c);
        BSON_APPEND_DOUBLE(r, "ok", 1.0);
        return;
    }
    if (cmd == "ping" || cmd == "endSessions" || cmd == "createIndexes" || cmd == "create") {
        if (cmd == "create") colls_[ns_of(body, "create")];
        BSON_APPEND_DOUBLE(r, "ok", 1.0);
        return;
    }
    if (refused_.emplace(cmd).second) new_refusals_.emplace_back(cmd);
    fail(59, "instant_server: command '" + std::string(cmd) +
                 "' is not supported (a benchmark instrument, not a database: see benchmarks/instant/store.hpp)");
}

void store::do_insert(const bson_t& body, const std::vector<doc_ref>& seq, bson_t* r) {
    collection& c = colls_[ns_of(body, "insert")];
    std::vector<doc_ref> docs = items(body, seq, "documents");
    bool ordered = bool_field(body, "ordered", true);
    int n = 0, n_errors = 0;
    bson_t errors;
    bson_init(&errors);
    for (std::size_t i = 0; i < docs.size(); ++i) {
        bson_t doc = docs[i].view();
        bson_iter_t id;
        std::string key, bytes;
        if (bson_iter_init_find(&id, &doc, "_id")) {
            key = id_key(id);
            bytes.assign(reinterpret_cast<const char*>(bson_get_data(&doc)), doc.len);
        } else {  // the server adds an ObjectId _id first, as mongod does
            bson_oid_t oid;
            bson_oid_init(&oid, nullptr);
            bson_t with_id;
            bson_init(&with_id);
            BSON_APPEND_OID(&with_id, "_id", &oid);
            bson_concat(&with_id, &doc);
            bytes.assign(reinterpret_cast<const char*>(bson_get_data(&with_id)), with_id.len);
            bson_iter_init_find(&id, &with_id, "_id");
            key = id_key(id);
            bson_destroy(&with_id);
        }
        if (!c.docs.try_emplace(std::move(key), std::move(bytes)).second) {
            append_write_error(&errors, n_errors, i, {11000, "E11000 duplicate key error (instant_server): _id"});
            if (ordered) break;
            continue;
        }
        ++n;
    }
    BSON_APPEND_INT32(r, "n", n);
    if (n_errors) BSON_APPEND_ARRAY(r, "writeErrors", &errors);
    bson_destroy(&errors);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

namespace {

// The update document `u` applied to `doc` (or to the upsert's base when `inserting`).
bson_t* apply_update(const bson_t& doc, const bson_t& u, bool inserting) {
    bson_iter_t it;
    bson_iter_init(&it, &u);
    if (!bson_iter_next(&it) || bson_iter_key(&it)[0] != '$') {  // a replacement keeps the _id
        bson_t* out = bson_sized_new(u.len + 32);
        bson_iter_t id;
        if (bson_iter_init_find(&id, &doc, "_id")) bson_append_iter(out, "_id", 3, &id);
        bson_iter_init(&it, &u);
        while (bson_iter_next(&it))
            if (std::strcmp(bson_iter_key(&it), "_id") != 0) bson_append_iter(out, nullptr, 0, &it);
        return out;
    }
    bson_t* cur = bson_copy(&doc);
    bson_iter_init(&it, &u);
    while (bson_iter_next(&it)) {
        std::string_view op = bson_iter_key(&it);
        if (op == "$setOnInsert" && !inserting) continue;
        if (op != "$set" && op != "$unset" && op != "$inc" && op != "$setOnInsert") {
            bson_destroy(cur);
            fail(2, "instant_server: update operator " + std::string(op) + " is not supported");
        }
        bson_iter_t f;
        bson_iter_recurse(&it, &f);
        while (bson_iter_next(&f)) {
            bson_t* next;
            try {
                std::string_view path(bson_iter_key(&f), bson_iter_key_len(&f));
                next = op == "$unset" ? with_path_unset(*cur, path)
                       : op == "$inc" ? with_path_inc(*cur, path, f)
                                      : with_path_set(*cur, path, f);
            } catch (...) {
                bson_destroy(cur);
                throw;
            }
            bson_destroy(cur);
            cur = next;
        }
    }
    return cur;
}

// The base document of an upsert: the filter's plain equality fields (operators dropped).
bson_t* upsert_base(const bson_t& q) {
    bson_t* out = bson_new();
    bson_iter_t it;
    bson_iter_init(&it, &q);
    while (bson_iter_next(&it)) {
        if (bson_iter_key(&it)[0] == '$' || std::strchr(bson_iter_key(&it), '.')) continue;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t op;
            if (bson_iter_recurse(&it, &op) && bson_iter_next(&op) && bson_iter_key(&op)[0] == '$') {
                if (std::strcmp(bson_iter_key(&op), "$eq") == 0) bson_append_iter(out, bson_iter_key(&it), -1, &op);
                continue;
            }
        }
        bson_append_iter(out, nullptr, 0, &it);
    }
    return out;
}

std::string doc_bytes(const bson_t* d) { return {reinterpret_cast<const char*>(bson_get_data(d)), d->len}; }

// Applies `u` to the stored document; true when its bytes changed.
bool update_stored(std::string& stored, const bson_t& u) {
    bson_t old;
    bson_init_static(&old, reinterpret_cast<const std::uint8_t*>(stored.data()), stored.size());
    bson_t* next = apply_update(old, u, false);
    bool changed = next->len != old.len || std::memcmp(bson_get_data(next), stored.data(), old.len) != 0;
    if (changed) stored = doc_bytes(next);
    bson_destroy(next);
    return changed;
}

// Inserts the document an upsert of (q, u) creates; returns its key (the _id is at the
// front of the stored bytes' "_id" field).
std::string insert_upsert(collection& c, const bson_t& q, const bson_t& u) {
    bson_t* base = upsert_base(q);
    bson_t* doc = nullptr;
    try {
        doc = apply_update(*base, u, true);
    } catch (...) {
        bson_destroy(base);
        throw;
    }
    bson_destroy(base);
    bson_iter_t id;
    if (!bson_iter_init_find(&id, doc, "_id")) {
        bson_t* with_id = bson_new();
        bson_oid_t oid;
        bson_oid_init(&oid, nullptr);
        BSON_APPEND_OID(with_id, "_id", &oid);
        bson_concat(with_id, doc);
        bson_destroy(doc);
        doc = with_id;
        bson_iter_init_find(&id, doc, "_id");
    }
    std::string key = id_key(id);
    c.docs[key] = doc_bytes(doc);
    bson_destroy(doc);
    return key;
}

// Appends the stored document's _id as `field` to `out`.
void append_id(bson_t* out, const char* field, const std::string& stored) {
    bson_t d;
    bson_init_static(&d, reinterpret_cast<const std::uint8_t*>(stored.data()), stored.size());
    bson_iter_t id;
    if (bson_iter_init_find(&id, &d, "_id")) bson_append_iter(out, field, -1, &id);
}

}  // namespace

void store::do_update(const bson_t& body, const std::vector<doc_ref>& seq, bson_t* r) {
    collection& c = colls_[ns_of(body, "update")];
    std::vector<doc_ref> ups = items(body, seq, "updates");
    bool ordered = bool_field(body, "ordered", true);
    std::int64_t n = 0, modified = 0;
    int n_errors = 0, n_upserted = 0;
    bson_t errors, upserted;
    bson_init(&errors);
    bson_init(&upserted);
    for (std::size_t i = 0; i < ups.size(); ++i) {
        try {
            bson_t up_doc = ups[i].view();
            bson_t q = doc_field(up_doc, "q"), u = doc_field(up_doc, "u");
            bson_iter_t uit;
            if (bson_iter_init_find(&uit, &up_doc, "u") && BSON_ITER_HOLDS_ARRAY(&uit))
                fail(2, "instant_server: pipeline updates are not supported");
            std::vector<std::string> ids = match(c, q, bool_field(up_doc, "multi", false) ? 0 : 1);
            for (auto& key : ids) {
                ++n;
                if (update_stored(c.docs[key], u)) ++modified;
            }
            if (ids.empty() && bool_field(up_doc, "upsert", false)) {
                std::string key = insert_upsert(c, q, u);
                std::string k = std::to_string(n_upserted++);
                bson_t up;
                bson_append_document_begin(&upserted, k.c_str(), -1, &up);
                BSON_APPEND_INT32(&up, "index", static_cast<std::int32_t>(i));
                append_id(&up, "_id", c.docs[key]);
                bson_append_document_end(&upserted, &up);
                ++n;
            }
        } catch (const command_error& e) {
            append_write_error(&errors, n_errors, i, e);
            if (ordered) break;
        }
    }
    BSON_APPEND_INT32(r, "n", static_cast<std::int32_t>(n));
    BSON_APPEND_INT32(r, "nModified", static_cast<std::int32_t>(modified));
    if (n_upserted) BSON_APPEND_ARRAY(r, "upserted", &upserted);
    if (n_errors) BSON_APPEND_ARRAY(r, "writeErrors", &errors);
    bson_destroy(&errors);
    bson_destroy(&upserted);
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_find_and_modify(const bson_t& body, bson_t* r) {
    collection& c = colls_[ns_of(body, "findAndModify")];
    bson_t q = doc_field(body, "query"), u = doc_field(body, "update"), sort = doc_field(body, "sort");
    bson_t fields = doc_field(body, "fields");
    if (!bson_empty(&sort)) fail(2, "instant_server: findAndModify with a sort is not supported");
    bool remove = bool_field(body, "remove", false), want_new = bool_field(body, "new", false);
    std::vector<std::string> ids = match(c, q, 1);
    std::string value;  // empty: null
    bool updated_existing = false;
    std::string upserted_key;
    if (!ids.empty()) {
        std::string& stored = c.docs[ids[0]];
        value = stored;
        if (remove) c.docs.erase(ids[0]);
        else {
            update_stored(stored, u);
            updated_existing = true;
            if (want_new) value = stored;
        }
    } else if (!remove && bool_field(body, "upsert", false)) {
        upserted_key = insert_upsert(c, q, u);
        if (want_new) value = c.docs[upserted_key];
    }
    bson_t leo;
    BSON_APPEND_DOCUMENT_BEGIN(r, "lastErrorObject", &leo);
    BSON_APPEND_INT32(&leo, "n", ids.empty() && upserted_key.empty() ? 0 : 1);
    if (!remove) BSON_APPEND_BOOL(&leo, "updatedExisting", updated_existing);
    if (!upserted_key.empty()) append_id(&leo, "upserted", c.docs[upserted_key]);
    bson_append_document_end(r, &leo);
    if (value.empty()) {
        BSON_APPEND_NULL(r, "value");
    } else {
        std::string shown = project(value, fields);
        bson_t v;
        bson_init_static(&v, reinterpret_cast<const std::uint8_t*>(shown.data()), shown.size());
        BSON_APPEND_DOCUMENT(r, "value", &v);
    }
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void store::do_delete(const bson_t& body, const std::vector<doc_ref>& seq, bson_t* r) {
    collection& c = colls_[ns_of(body, "delete")];
    std::vector<doc_ref> dels = items(body, seq, "deletes");
    std::int64_t n = 0;
    for (auto& ref : dels) {
        bson_t d = ref.view();
        bson_t q = doc_field(d, "q");
        for (auto& key : match(c, q, int_field(d, "limit", 0) == 1 ? 1 : 0)) n += static_cast<std::int64_t>(c.docs.erase(key));
    }
    BSON_APPEND_INT32(r, "n", static_cast<std::int32_t>(n));
    BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

}  // namespace morm_bench::instant
