// A scriptable wire-protocol server for tests: N members on loopback that play
// replica-set members (primary, secondary, arbiter), mongos routers or standalones, in
// the spirit of libmongoc's mock_server and pymongo's mockupdb. FerretDB cannot hold an
// election; this can, on command, between two operations of the client under test.
//
//   morm_test::mock_cluster rs({member_role::primary, member_role::secondary, member_role::secondary});
//   auto cl = co_await morm::client::connect("mongodb://" + rs.seed_list() + "/?replicaSet=rs0");
//   rs.step_down(1);                               // member 1 wins an election
//   rs.fail_next("insert", 91, "ShutdownInProgress");
//   REQUIRE(rs.commands_named("insert").size() == 2);
//
// The members run on one io_context on the cluster's own thread, so the client under test
// runs on another and may block or stall without stalling the server. Every public member
// function is thread-safe (one mutex guards the state).
//
// What a member does, in short:
//  - hello / isMaster / legacy OP_QUERY isMaster, built from the cluster state, awaitable
//    (topologyVersion + maxAwaitTimeMS) and streamed when the request sets exhaustAllowed;
//  - one in-memory store shared by the whole cluster ("replication" is instant): insert,
//    update, delete, findAndModify, find/getMore/killCursors, count, distinct, aggregate
//    ($match $sort $skip $limit $count and a counting $group), create, drop, dropDatabase,
//    listDatabases, listCollections, ping, buildInfo, endSessions;
//  - writes on a non-primary answer NotWritablePrimary (10107); reads on a secondary are
//    served (and logged with the member index);
//  - retryable writes: (lsid.id, txnNumber) -> the reply it produced, on any member;
//  - transactions: writes with autocommit:false run on a per-session copy and are applied
//    at commitTransaction (no write conflicts are detected);
//  - fault scripting (fail_next, write_concern_error_next, close_connection_on,
//    close_after_writes, on_command) and a log of every command received.
//
// Filters understand equality on (dotted) fields, $eq $ne $gt $gte $lt $lte $in $nin
// $exists, $and and $or; updates $set $setOnInsert $unset $inc on top-level fields and
// replacements. Anything else is a FailedToParse (9) or CommandNotFound (59) reply.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <bson/bson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace morm_test {

/// What a member plays. `down` accepts TCP connections and closes them at once, so a
/// client sees a network error on its handshake.
enum class member_role { primary, secondary, arbiter, mongos, standalone, down };

inline std::string_view to_string(member_role r) {
    switch (r) {
        case member_role::primary: return "primary";
        case member_role::secondary: return "secondary";
        case member_role::arbiter: return "arbiter";
        case member_role::mongos: return "mongos";
        case member_role::standalone: return "standalone";
        case member_role::down: return "down";
    }
    return "?";
}

/// One command as a member received it.
struct recorded_command {
    std::size_t member = 0;
    std::uint64_t connection = 0;  ///< connection id, unique in the cluster (hello's connectionId)
    std::string name;              ///< first key of the body ("insert", "hello", ...)
    std::string db;                ///< $db (OP_MSG) or the prefix of fullCollectionName (OP_QUERY)
    morm::bson::document body;     ///< the kind-0 body as received: lsid, txnNumber, $clusterTime...
    std::string sequence_id;       ///< identifier of the (first) kind-1 section, e.g. "documents"
    std::size_t sequence_documents = 0;          ///< documents in all kind-1 sections
    std::vector<morm::bson::document> documents; ///< those documents, in order
    std::uint32_t flag_bits = 0;   ///< OP_MSG flagBits (moreToCome, exhaustAllowed)
    bool legacy = false;           ///< arrived as OP_QUERY
    std::int32_t request_id = 0;   ///< the request's requestID (what a reply's responseTo names)
};

/// What an on_command hook wants done with a command.
struct mock_action {
    enum class kind { proceed, reply, close, delay, raw };
    kind what = kind::proceed;
    morm::bson::document reply_body;  ///< for reply: sent as is ($clusterTime is added)
    std::chrono::milliseconds wait{0};
    std::vector<std::uint8_t> bytes;  ///< for raw: written to the socket as they are
    bool close_after = false;         ///< for raw: then close the connection
    std::vector<std::uint8_t> later;  ///< for raw_then: written `wait` after `bytes`

    /// Handle the command normally (faults still apply).
    static mock_action proceed() { return {}; }
    /// Send `body` instead of executing the command.
    static mock_action reply(morm::bson::document body) {
        mock_action a;
        a.what = kind::reply;
        a.reply_body = std::move(body);
        return a;
    }
    /// Close the connection without a reply.
    static mock_action close() {
        mock_action a;
        a.what = kind::close;
        return a;
    }
    /// Write `b` instead of a reply (any bytes: corrupt frames, two replies, half a
    /// header...), then keep the connection open or close it. Build them with
    /// mock_detail::op_msg_bytes and the request's `request_id`.
    static mock_action raw(std::vector<std::uint8_t> b, bool close_after = false) {
        mock_action a;
        a.what = kind::raw;
        a.bytes = std::move(b);
        a.close_after = close_after;
        return a;
    }
    /// Write `first`, wait `pause`, write `second` (a reply in pieces, or a frame nobody
    /// asked for arriving while the client's connection sits idle), then keep the
    /// connection open or close it. The member reads nothing from this connection meanwhile.
    static mock_action raw_then(std::vector<std::uint8_t> first, std::chrono::milliseconds pause,
                                std::vector<std::uint8_t> second, bool close_after = false) {
        mock_action a = raw(std::move(first), close_after);
        a.wait = pause;
        a.later = std::move(second);
        return a;
    }
    /// Wait, then handle normally (e.g. to make a client's socket timeout fire).
    static mock_action delay(std::chrono::milliseconds d) {
        mock_action a;
        a.what = kind::delay;
        a.wait = d;
        return a;
    }
};

/// Called on the server thread for every command, after it was logged and before faults
/// and execution. It may call the cluster's functions (step_down, set_role...).
using command_hook = std::function<mock_action(std::size_t member, const recorded_command& cmd)>;

/// Initial state of a cluster.
struct mock_options {
    mock_options() = default;
    std::string set_name = "rs0";
    std::int32_t max_wire_version = 17;  ///< 6.0
    std::int32_t min_wire_version = 0;
    std::int32_t max_bson_object_size = 16 * 1024 * 1024;
    std::int32_t max_message_size_bytes = 48'000'000;
    std::int32_t max_write_batch_size = 100'000;
    std::int32_t set_version = 1;
    std::int32_t logical_session_timeout_minutes = 30;
};

namespace mock_detail {

namespace asio = boost::asio;
using morm::bson::document;
using morm::bson::document_view;

// ---- BSON values -----------------------------------------------------------------

/// The bytes of an element's value (libbson's iterator offsets: d1 is where the value
/// starts, next_off where the next element does).
inline std::string_view raw_value(const bson_iter_t& it) {
    return {reinterpret_cast<const char*>(it.raw + it.d1), static_cast<std::size_t>(it.next_off - it.d1)};
}

inline bool is_number(bson_type_t t) {
    return t == BSON_TYPE_DOUBLE || t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64;
}

inline bool values_equal(const bson_iter_t& a, const bson_iter_t& b) {
    auto ta = bson_iter_type(&a), tb = bson_iter_type(&b);
    if (is_number(ta) && is_number(tb)) return bson_iter_as_double(&a) == bson_iter_as_double(&b);
    return ta == tb && raw_value(a) == raw_value(b);
}

/// Total order good enough for sorting test data: numbers, then strings, then other
/// types by type number and bytes.
inline int compare_values(const bson_iter_t& a, const bson_iter_t& b) {
    auto ta = bson_iter_type(&a), tb = bson_iter_type(&b);
    if (is_number(ta) && is_number(tb)) {
        double x = bson_iter_as_double(&a), y = bson_iter_as_double(&b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    auto rank = [](bson_type_t t) { return is_number(t) ? 1 : t == BSON_TYPE_UTF8 ? 2 : 3 + int(t); };
    if (rank(ta) != rank(tb)) return rank(ta) < rank(tb) ? -1 : 1;
    if (ta == BSON_TYPE_UTF8) {
        std::uint32_t la, lb;
        std::string_view x(bson_iter_utf8(&a, &la)), y(bson_iter_utf8(&b, &lb));
        return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
    }
    if (ta == BSON_TYPE_DATE_TIME) {
        auto x = bson_iter_date_time(&a), y = bson_iter_date_time(&b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    int c = raw_value(a).compare(raw_value(b));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

inline std::optional<bson_iter_t> find(document_view d, std::string_view key) {
    return d.find(key);
}

inline std::string first_key(document_view d) {
    bson_iter_t it;
    if (!d.init_iter(it) || !bson_iter_next(&it)) return {};
    return {bson_iter_key(&it), bson_iter_key_len(&it)};
}

inline std::string get_string(document_view d, std::string_view key) {
    auto it = find(d, key);
    if (!it || !BSON_ITER_HOLDS_UTF8(&*it)) return {};
    std::uint32_t n = 0;
    const char* s = bson_iter_utf8(&*it, &n);
    return {s, n};
}

inline std::optional<std::int64_t> get_int(document_view d, std::string_view key) {
    auto it = find(d, key);
    if (!it || !(is_number(bson_iter_type(&*it)) || BSON_ITER_HOLDS_BOOL(&*it))) return std::nullopt;
    return bson_iter_as_int64(&*it);
}

inline bool get_bool(document_view d, std::string_view key, bool dflt) {
    auto it = find(d, key);
    return it ? bson_iter_as_bool(&*it) : dflt;
}

/// A sub-document or array under `key` (an empty view if absent or of another type).
inline document_view get_doc(document_view d, std::string_view key) {
    auto it = find(d, key);
    if (!it || !(BSON_ITER_HOLDS_DOCUMENT(&*it) || BSON_ITER_HOLDS_ARRAY(&*it))) return {};
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(&*it)) bson_iter_document(&*it, &len, &data);
    else bson_iter_array(&*it, &len, &data);
    return {data, len};
}

inline document_view sub_view(const bson_iter_t& it) {
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(&it)) bson_iter_array(&it, &len, &data);
    return {data, len};
}

/// Copies of the documents of an array (or of a document's values).
inline std::vector<document> elements(document_view arr) {
    std::vector<document> out;
    for (auto& e : arr)
        if (BSON_ITER_HOLDS_DOCUMENT(&e)) out.push_back(document::from_bytes(sub_view(e)));
    return out;
}

/// Appends `docs` as an array under `key`.
template <class Range>
void append_array(bson_t* b, const char* key, const Range& docs) {
    bson_t arr;
    bson_append_array_begin(b, key, -1, &arr);
    std::uint32_t i = 0;
    for (auto& d : docs) {
        char buf[16];
        const char* k;
        bson_uint32_to_string(i++, &k, buf, sizeof buf);
        document_view v = d;
        bson_t child;
        if (bson_init_static(&child, v.data(), v.size())) bson_append_document(&arr, k, -1, &child);
    }
    bson_append_array_end(b, &arr);
}

inline void append_strings(bson_t* b, const char* key, const std::vector<std::string>& items) {
    bson_t arr;
    bson_append_array_begin(b, key, -1, &arr);
    std::uint32_t i = 0;
    for (auto& s : items) {
        char buf[16];
        const char* k;
        bson_uint32_to_string(i++, &k, buf, sizeof buf);
        bson_append_utf8(&arr, k, -1, s.data(), static_cast<int>(s.size()));
    }
    bson_append_array_end(b, &arr);
}

inline void append_view(bson_t* b, const char* key, document_view v) {
    bson_t child;
    if (v.data() && bson_init_static(&child, v.data(), v.size())) bson_append_document(b, key, -1, &child);
}

inline void append_oid(bson_t* b, const char* key, const morm::bson::object_id& id) {
    bson_oid_t oid;
    std::memcpy(oid.bytes, id.bytes().data(), 12);
    bson_append_oid(b, key, -1, &oid);
}

/// `d` with `_id` first (a generated ObjectId when it has none), as a server stores it.
inline document with_id_first(document_view d) {
    document out;
    auto id = find(d, "_id");
    if (id && std::string_view(bson_iter_key(&*id)) == "_id") {
        bson_append_iter(out.get(), "_id", 3, &*id);
    } else {
        append_oid(out.get(), "_id", morm::bson::object_id::generate());
    }
    for (auto& e : d)
        if (std::string_view(bson_iter_key(&e)) != "_id") bson_append_iter(out.get(), nullptr, 0, &e);
    return out;
}

// ---- filters, sorts and updates -----------------------------------------------------

inline bool matches(document_view doc, document_view filter);

/// One `{$op: value}` condition on a field that may be absent.
inline bool match_operator(const std::optional<bson_iter_t>& field, std::string_view op, const bson_iter_t& arg) {
    const bool has = field.has_value();
    if (op == "$eq") return has && values_equal(*field, arg);
    if (op == "$ne") return !(has && values_equal(*field, arg));
    if (op == "$exists") return has == bson_iter_as_bool(&arg);
    if (op == "$in" || op == "$nin") {
        bool any = false;
        for (auto& v : sub_view(arg)) any = any || (has && values_equal(*field, v));
        return op == "$in" ? any : !any;
    }
    if (!has) return false;
    int c = compare_values(*field, arg);
    if (op == "$gt") return c > 0;
    if (op == "$gte") return c >= 0;
    if (op == "$lt") return c < 0;
    if (op == "$lte") return c <= 0;
    return false;  // an operator the mock does not know matches nothing
}

inline bool is_operator_doc(const bson_iter_t& v) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&v)) return false;
    auto k = first_key(sub_view(v));
    return !k.empty() && k[0] == '$';
}

inline bool match_field(document_view doc, const bson_iter_t& cond) {
    std::string_view key = bson_iter_key(&cond);
    auto field = doc.find(key);
    if (!is_operator_doc(cond)) return field && values_equal(*field, cond);
    for (auto& op : sub_view(cond))
        if (!match_operator(field, bson_iter_key(&op), op)) return false;
    return true;
}

inline bool matches(document_view doc, document_view filter) {
    if (!filter.data()) return true;
    for (auto& cond : filter) {
        std::string_view key = bson_iter_key(&cond);
        if (key == "$and" || key == "$or") {
            bool any = false, all = true;
            for (auto& f : sub_view(cond)) {
                bool m = matches(doc, sub_view(f));
                any = any || m;
                all = all && m;
            }
            if (!(key == "$and" ? all : any)) return false;
        } else if (!match_field(doc, cond)) {
            return false;
        }
    }
    return true;
}

/// Sorts by the keys of `spec` (1 ascending, -1 descending); absent fields first.
/// Top-level inclusion ({a: 1}, _id kept unless {_id: 0}) or exclusion ({a: 0}).
inline document project(document_view d, document_view spec) {
    if (!spec.data() || spec.empty()) return document::from_bytes(d);
    bool include = false, keep_id = true;
    for (auto& f : spec) {
        if (std::string_view(bson_iter_key(&f)) == "_id") keep_id = bson_iter_as_bool(&f);
        else include = include || bson_iter_as_bool(&f);
    }
    document out;
    for (auto& e : d) {
        std::string_view k = bson_iter_key(&e);
        auto s = spec.find(k);
        bool keep = k == "_id" ? keep_id : (include ? (s && bson_iter_as_bool(&*s)) : !(s && !bson_iter_as_bool(&*s)));
        if (keep) bson_append_iter(out.get(), nullptr, 0, &e);
    }
    return out;
}

inline void sort_docs(std::vector<document>& docs, document_view spec) {
    if (!spec.data() || spec.empty()) return;
    std::stable_sort(docs.begin(), docs.end(), [&](const document& a, const document& b) {
        for (auto& k : spec) {
            auto fa = a.find(bson_iter_key(&k)), fb = b.find(bson_iter_key(&k));
            int c = (fa && fb) ? compare_values(*fa, *fb) : (fa ? 1 : (fb ? -1 : 0));
            if (bson_iter_as_int64(&k) < 0) c = -c;
            if (c != 0) return c < 0;
        }
        return false;
    });
}

/// a + b with the result type a server would pick (int32 unless it overflows).
inline void append_sum(bson_t* out, const char* key, const bson_iter_t* a, const bson_iter_t& b) {
    auto ta = a ? bson_iter_type(a) : BSON_TYPE_INT32;
    auto tb = bson_iter_type(&b);
    if (ta == BSON_TYPE_DOUBLE || tb == BSON_TYPE_DOUBLE) {
        bson_append_double(out, key, -1, (a ? bson_iter_as_double(a) : 0.0) + bson_iter_as_double(&b));
        return;
    }
    std::int64_t s = (a ? bson_iter_as_int64(a) : 0) + bson_iter_as_int64(&b);
    if (ta == BSON_TYPE_INT32 && tb == BSON_TYPE_INT32 && s >= INT32_MIN && s <= INT32_MAX)
        bson_append_int32(out, key, -1, static_cast<std::int32_t>(s));
    else
        bson_append_int64(out, key, -1, s);
}

/// Applies an update document (operators or a replacement) to `old`. `inserting`: this
/// is an upsert's new document ($setOnInsert applies). Returns false with `err` set for
/// what the mock does not support.
inline bool apply_update(document_view old, document_view u, bool inserting, document& out, std::string& err) {
    out.clear();
    auto fk = first_key(u);
    if (fk.empty() || fk[0] != '$') {  // replacement: keeps the old _id
        if (auto id = old.find("_id")) bson_append_iter(out.get(), "_id", 3, &*id);
        for (auto& e : u)
            if (std::string_view(bson_iter_key(&e)) != "_id" || !old.find("_id"))
                bson_append_iter(out.get(), nullptr, 0, &e);
        return true;
    }
    std::map<std::string, bson_iter_t> sets, incs;
    std::set<std::string> unsets;
    for (auto& op : u) {
        std::string_view name = bson_iter_key(&op);
        if (!BSON_ITER_HOLDS_DOCUMENT(&op)) {
            err = std::string("update operator ") + std::string(name) + " needs a document";
            return false;
        }
        for (auto& f : sub_view(op)) {
            std::string k = bson_iter_key(&f);
            if (name == "$set" || (name == "$setOnInsert" && inserting)) sets[k] = f;
            else if (name == "$inc") incs[k] = f;
            else if (name == "$unset") unsets.insert(k);
            else if (name != "$setOnInsert") {
                err = "the mock server does not support the update operator " + std::string(name);
                return false;
            }
        }
    }
    std::set<std::string> done;
    for (auto& e : old) {
        std::string k = bson_iter_key(&e);
        if (unsets.count(k)) continue;
        if (auto s = sets.find(k); s != sets.end()) bson_append_iter(out.get(), k.c_str(), -1, &s->second);
        else if (auto i = incs.find(k); i != incs.end()) append_sum(out.get(), k.c_str(), &e, i->second);
        else bson_append_iter(out.get(), nullptr, 0, &e);
        done.insert(k);
    }
    for (auto& [k, v] : sets)
        if (!done.count(k)) bson_append_iter(out.get(), k.c_str(), -1, &v);
    for (auto& [k, v] : incs)
        if (!done.count(k)) append_sum(out.get(), k.c_str(), nullptr, v);
    return true;
}

/// The equality part of a filter: an upsert's starting document.
inline document upsert_seed(document_view filter) {
    document seed;
    for (auto& e : filter) {
        std::string_view k = bson_iter_key(&e);
        if (k.empty() || k[0] == '$' || k.find('.') != std::string_view::npos) continue;
        if (is_operator_doc(e)) {
            auto eq = sub_view(e).find("$eq");
            if (eq) bson_append_iter(seed.get(), bson_iter_key(&e), -1, &*eq);
            continue;
        }
        bson_append_iter(seed.get(), nullptr, 0, &e);
    }
    return seed;
}

// ---- replies ------------------------------------------------------------------------

/// ok:0 reply with the fields drivers read.
inline document error_reply(std::int32_t code, std::string_view code_name, std::string_view msg,
                            const std::vector<std::string>& labels = {}) {
    document d;
    bson_append_double(d.get(), "ok", 2, 0.0);
    bson_append_utf8(d.get(), "errmsg", 6, msg.data(), static_cast<int>(msg.size()));
    bson_append_int32(d.get(), "code", 4, code);
    bson_append_utf8(d.get(), "codeName", 8, code_name.data(), static_cast<int>(code_name.size()));
    if (!labels.empty()) append_strings(d.get(), "errorLabels", labels);
    return d;
}

/// Codes the retryable-writes spec lists as retryable (a 4.4+ server labels them).
inline bool retryable_code(std::int32_t code) {
    static constexpr std::int32_t codes[] = {11600, 11602, 10107, 13435, 13436, 189, 91, 7, 6, 89, 9001, 262};
    return std::find(std::begin(codes), std::end(codes), code) != std::end(codes);
}

/// State change errors carry the member's topologyVersion (SDAM compares it).
inline bool state_change_code(std::int32_t code) {
    static constexpr std::int32_t codes[] = {11600, 11602, 10107, 13435, 13436, 189, 91};
    return std::find(std::begin(codes), std::end(codes), code) != std::end(codes);
}

inline bool is_write_command(std::string_view n) {
    return n == "insert" || n == "update" || n == "delete" || n == "findAndModify" || n == "findandmodify";
}

inline bool needs_primary(std::string_view n) {
    return is_write_command(n) || n == "create" || n == "drop" || n == "dropDatabase" || n == "createIndexes" ||
           n == "dropIndexes" || n == "commitTransaction" || n == "abortTransaction";
}

inline bool is_hello(std::string_view n) { return n == "hello" || n == "isMaster" || n == "ismaster"; }

// ---- frames -------------------------------------------------------------------------

/// A request as received: OP_MSG (body + kind-1 sections) or OP_QUERY (legacy hello).
struct request {
    std::int32_t op_code = 0;
    std::int32_t request_id = 0;
    std::uint32_t flag_bits = 0;
    document body;
    std::vector<std::pair<std::string, std::vector<document>>> sequences;
    std::string query_ns;  ///< OP_QUERY fullCollectionName

    bool more_to_come() const {
        return op_code == morm::wire::op_msg_opcode && (flag_bits & morm::wire::flags::more_to_come);
    }
    bool exhaust_allowed() const { return flag_bits & morm::wire::flags::exhaust_allowed; }
    /// Documents of the field `name`: the body's array plus the kind-1 section of that name.
    std::vector<document> items(std::string_view name) const {
        auto out = elements(get_doc(body, name));
        for (auto& [id, docs] : sequences)
            if (id == name) out.insert(out.end(), docs.begin(), docs.end());
        return out;
    }
};

inline std::int32_t read_i32(const std::uint8_t* p) {
    std::uint32_t u;
    std::memcpy(&u, p, 4);
    return static_cast<std::int32_t>(BSON_UINT32_FROM_LE(u));
}

/// Reads one BSON document at [p, end); advances p. Throws morm::error when invalid.
inline document read_doc(const std::uint8_t*& p, const std::uint8_t* end) {
    if (end - p < 5) throw std::runtime_error("truncated document");
    auto len = read_i32(p);
    if (len < 5 || len > end - p) throw std::runtime_error("bad document length");
    auto d = document::from_bytes(p, static_cast<std::size_t>(len));
    p += len;
    return d;
}

inline std::string read_cstring(const std::uint8_t*& p, const std::uint8_t* end) {
    auto nul = std::find(p, end, std::uint8_t(0));
    if (nul == end) throw std::runtime_error("unterminated cstring");
    std::string s(reinterpret_cast<const char*>(p), static_cast<std::size_t>(nul - p));
    p = nul + 1;
    return s;
}

inline void parse_op_msg_sections(const std::uint8_t* p, const std::uint8_t* end, request& out) {
    bool has_body = false;
    while (p < end) {
        std::uint8_t kind = *p++;
        if (kind == 0) {
            out.body = read_doc(p, end);
            has_body = true;
        } else if (kind == 1) {
            if (end - p < 4) throw std::runtime_error("truncated section");
            auto size = read_i32(p);
            if (size < 5 || size > end - p) throw std::runtime_error("bad section size");
            const std::uint8_t* sec_end = p + size;
            p += 4;
            std::pair<std::string, std::vector<document>> seq;
            seq.first = read_cstring(p, sec_end);
            while (p < sec_end) seq.second.push_back(read_doc(p, sec_end));
            out.sequences.push_back(std::move(seq));
        } else {
            throw std::runtime_error("unknown section kind");
        }
    }
    if (!has_body) throw std::runtime_error("OP_MSG without a body");
}

/// Parses a whole frame (header included). Throws on malformed input: the caller closes
/// the connection, as a server does.
inline request parse_request(const std::vector<std::uint8_t>& f) {
    request r;
    r.request_id = read_i32(f.data() + 4);
    r.op_code = read_i32(f.data() + 12);
    const std::uint8_t* p = f.data() + 16;
    const std::uint8_t* end = f.data() + f.size();
    if (r.op_code == morm::wire::op_msg_opcode) {
        if (end - p < 4) throw std::runtime_error("truncated OP_MSG");
        r.flag_bits = static_cast<std::uint32_t>(read_i32(p));
        p += 4;
        if (r.flag_bits & morm::wire::flags::checksum_present) end -= 4;
        parse_op_msg_sections(p, end, r);
    } else if (r.op_code == 2004) {  // OP_QUERY: flags, ns, skip, return, query
        p += 4;
        r.query_ns = read_cstring(p, end);
        p += 8;
        document q = read_doc(p, end);
        document_view inner = get_doc(q, "$query");
        r.body = inner.data() ? document::from_bytes(inner) : std::move(q);
    } else {
        throw std::runtime_error("unsupported opCode");
    }
    return r;
}

/// An OP_MSG reply frame.
inline void build_op_msg(morm::wire::frame_buffer& buf, std::int32_t request_id, std::int32_t response_to,
                         std::uint32_t flags, const document& body) {
    morm::wire::op_msg_writer w(buf, request_id, flags);
    bson_concat(w.begin_body(), body.get());
    w.end_body();
    w.finish();
    buf.write_int32_le_at(w.start() + 8, response_to);
}

/// The bytes of an OP_MSG reply frame whose body is `body` (as is: no $clusterTime), for
/// mock_action::raw; corrupt them at will.
inline std::vector<std::uint8_t> op_msg_bytes(std::int32_t request_id, std::int32_t response_to,
                                              const document& body, std::uint32_t flags = 0) {
    morm::wire::frame_buffer buf;
    build_op_msg(buf, request_id, response_to, flags, body);
    return {buf.data(), buf.data() + buf.size()};
}

/// An OP_REPLY frame (the answer to a legacy OP_QUERY hello).
inline void build_op_reply(morm::wire::frame_buffer& buf, std::int32_t request_id, std::int32_t response_to,
                           const document& body) {
    const std::size_t start = buf.size();
    buf.append_int32_le(0);
    buf.append_int32_le(request_id);
    buf.append_int32_le(response_to);
    buf.append_int32_le(morm::wire::op_reply_opcode);
    buf.append_int32_le(8);  // responseFlags: AwaitCapable
    buf.append_int32_le(0);  // cursorID (int64)
    buf.append_int32_le(0);
    buf.append_int32_le(0);  // startingFrom
    buf.append_int32_le(1);  // numberReturned
    buf.append(body.data(), body.size());
    buf.write_int32_le_at(start, static_cast<std::int32_t>(buf.size() - start));
}

}  // namespace mock_detail

namespace mock_detail {

/// The replica set's data: documents by namespace, in insertion order. Plain values, no
/// I/O: each write command maps to one function returning the reply body (without ok).
struct data_store {
    std::map<std::string, std::vector<document>> colls;

    static std::string ns(std::string_view db, std::string_view coll) {
        return std::string(db) + "." + std::string(coll);
    }

    std::vector<document> select(const std::string& n, document_view filter) const {
        std::vector<document> out;
        if (auto c = colls.find(n); c != colls.end())
            for (auto& d : c->second)
                if (matches(d, filter)) out.push_back(d);
        return out;
    }

    bool has_id(const std::vector<document>& c, const bson_iter_t& id) const {
        for (auto& d : c)
            if (auto x = d.find("_id"); x && values_equal(*x, id)) return true;
        return false;
    }

    static document write_error(std::size_t index, std::int32_t code, std::string_view name, std::string_view msg) {
        document e;
        bson_append_int32(e.get(), "index", 5, static_cast<std::int32_t>(index));
        bson_append_int32(e.get(), "code", 4, code);
        bson_append_utf8(e.get(), "codeName", 8, name.data(), static_cast<int>(name.size()));
        bson_append_utf8(e.get(), "errmsg", 6, msg.data(), static_cast<int>(msg.size()));
        return e;
    }

    document insert(const request& r, std::string_view db) {
        const std::string n = ns(db, get_string(r.body, "insert"));
        const bool ordered = get_bool(r.body, "ordered", true);
        auto& c = colls[n];
        std::int32_t inserted = 0;
        std::vector<document> errors;
        auto items = r.items("documents");
        for (std::size_t i = 0; i < items.size(); ++i) {
            document d = with_id_first(items[i]);
            auto id = d.find("_id");
            if (has_id(c, *id)) {
                errors.push_back(write_error(i, 11000, "DuplicateKey",
                                             "E11000 duplicate key error collection: " + n + " index: _id_"));
                if (ordered) break;
                continue;
            }
            c.push_back(std::move(d));
            ++inserted;
        }
        document reply;
        bson_append_int32(reply.get(), "n", 1, inserted);
        if (!errors.empty()) append_array(reply.get(), "writeErrors", errors);
        return reply;
    }

    /// One update statement; false with `err` when the mock cannot do it.
    bool update_one_statement(const std::string& n, document_view stmt, std::int64_t& matched,
                              std::int64_t& modified, std::optional<document>& upserted_id, std::string& err) {
        document_view q = get_doc(stmt, "q");
        document_view u = get_doc(stmt, "u");
        auto uit = stmt.find("u");
        if (!uit || !BSON_ITER_HOLDS_DOCUMENT(&*uit)) {
            err = "the mock server supports no pipeline updates";
            return false;
        }
        const bool multi = get_bool(stmt, "multi", false);
        auto& c = colls[n];
        for (auto& d : c) {
            if (!matches(d, q)) continue;
            document nd;
            if (!apply_update(d, u, false, nd, err)) return false;
            ++matched;
            if (!(nd == d)) {
                ++modified;
                d = std::move(nd);
            }
            if (!multi) break;
        }
        if (matched > 0 || !get_bool(stmt, "upsert", false)) return true;
        document nd;
        if (!apply_update(upsert_seed(q), u, true, nd, err)) return false;
        document stored = with_id_first(nd);
        document id;
        auto sid = stored.find("_id");
        bson_append_iter(id.get(), "_id", 3, &*sid);
        upserted_id = std::move(id);
        c.push_back(std::move(stored));
        return true;
    }

    document update(const request& r, std::string_view db) {
        const std::string n = ns(db, get_string(r.body, "update"));
        const bool ordered = get_bool(r.body, "ordered", true);
        std::int64_t matched = 0, modified = 0;
        std::vector<document> upserted, errors;
        auto items = r.items("updates");
        for (std::size_t i = 0; i < items.size(); ++i) {
            std::optional<document> up;
            std::string err;
            if (!update_one_statement(n, items[i], matched, modified, up, err)) {
                errors.push_back(write_error(i, 9, "FailedToParse", err));
                if (ordered) break;
                continue;
            }
            if (up) {
                document e;
                bson_append_int32(e.get(), "index", 5, static_cast<std::int32_t>(i));
                bson_concat(e.get(), up->get());
                upserted.push_back(std::move(e));
            }
        }
        document reply;
        bson_append_int64(reply.get(), "n", 1, matched + static_cast<std::int64_t>(upserted.size()));
        bson_append_int64(reply.get(), "nModified", 9, modified);
        if (!upserted.empty()) append_array(reply.get(), "upserted", upserted);
        if (!errors.empty()) append_array(reply.get(), "writeErrors", errors);
        return reply;
    }

    document remove(const request& r, std::string_view db) {
        const std::string n = ns(db, get_string(r.body, "delete"));
        std::int64_t deleted = 0;
        auto& c = colls[n];
        for (auto& stmt : r.items("deletes")) {
            document_view q = get_doc(stmt, "q");
            const bool one = get_int(stmt, "limit").value_or(0) == 1;
            for (auto it = c.begin(); it != c.end();) {
                if (!matches(*it, q)) {
                    ++it;
                    continue;
                }
                it = c.erase(it);
                ++deleted;
                if (one) break;
            }
        }
        document reply;
        bson_append_int64(reply.get(), "n", 1, deleted);
        return reply;
    }

    /// findAndModify: sort, remove, update, upsert, new (fields are ignored).
    document find_and_modify(const request& r, std::string_view db, std::string& err) {
        const std::string n = ns(db, first_key(r.body) == "findandmodify" ? get_string(r.body, "findandmodify")
                                                                         : get_string(r.body, "findAndModify"));
        auto& c = colls[n];
        std::vector<document> hits = select(n, get_doc(r.body, "query"));
        sort_docs(hits, get_doc(r.body, "sort"));
        document reply, leo, before, after;
        bool found = !hits.empty(), upserted = false;
        if (found) before = hits.front();
        auto pos = std::find_if(c.begin(), c.end(), [&](const document& d) { return found && d == before; });
        if (get_bool(r.body, "remove", false)) {
            if (pos != c.end()) c.erase(pos);
        } else if (auto u = r.body.find("update"); u && BSON_ITER_HOLDS_DOCUMENT(&*u)) {
            if (found) {
                if (!apply_update(before, sub_view(*u), false, after, err)) return {};
                *pos = after;
            } else if (get_bool(r.body, "upsert", false)) {
                document nd;
                if (!apply_update(upsert_seed(get_doc(r.body, "query")), sub_view(*u), true, nd, err)) return {};
                after = with_id_first(nd);
                c.push_back(after);
                upserted = true;
            }
        } else {
            err = "findAndModify needs remove or a document update";
            return {};
        }
        bson_append_int32(leo.get(), "n", 1, (found || upserted) ? 1 : 0);
        if (!get_bool(r.body, "remove", false)) bson_append_bool(leo.get(), "updatedExisting", -1, found);
        if (auto aid = after.find("_id"); upserted && aid) bson_append_iter(leo.get(), "upserted", -1, &*aid);
        append_view(reply.get(), "lastErrorObject", leo);
        const bool want_new = get_bool(r.body, "new", false);
        const document* v = want_new ? (after.empty() ? nullptr : &after) : (found ? &before : nullptr);
        if (v) append_view(reply.get(), "value", *v);
        else bson_append_null(reply.get(), "value", 5);
        return reply;
    }

    std::vector<std::string> database_names() const {
        std::set<std::string> names;
        for (auto& [n, _] : colls) names.insert(n.substr(0, n.find('.')));
        return {names.begin(), names.end()};
    }
};

/// Runs an aggregation pipeline of $match $sort $skip $limit $count and a counting
/// $group ({_id: <constant>, <field>: {$sum: 1}}). False with `err` for other stages.
inline bool run_pipeline(std::vector<document>& docs, document_view pipeline, std::string& err) {
    for (auto& st : pipeline) {
        document_view stage = sub_view(st);
        auto op = first_key(stage);
        auto arg = stage.find(op);
        if (op == "$match") {
            std::vector<document> kept;
            for (auto& d : docs)
                if (matches(d, sub_view(*arg))) kept.push_back(std::move(d));
            docs = std::move(kept);
        } else if (op == "$sort") {
            sort_docs(docs, sub_view(*arg));
        } else if (op == "$skip" || op == "$limit") {
            auto k = static_cast<std::size_t>(std::max<std::int64_t>(0, bson_iter_as_int64(&*arg)));
            if (op == "$skip") docs.erase(docs.begin(),
                                        docs.begin() + static_cast<std::ptrdiff_t>(std::min(k, docs.size())));
            else if (docs.size() > k) docs.resize(k);
        } else if (op == "$count" || op == "$group") {
            document out;
            if (op == "$count") {
                const auto n = static_cast<std::int32_t>(docs.size());
                bson_append_int32(out.get(), bson_iter_utf8(&*arg, nullptr), -1, n);
            } else {
                for (auto& f : sub_view(*arg)) {
                    if (std::string_view(bson_iter_key(&f)) == "_id") bson_append_iter(out.get(), nullptr, 0, &f);
                    else bson_append_int32(out.get(), bson_iter_key(&f), -1, static_cast<std::int32_t>(docs.size()));
                }
            }
            const bool empty = docs.empty();
            docs.clear();
            if (!empty) docs.push_back(std::move(out));
        } else {
            err = "the mock server does not support the stage " + op;
            return false;
        }
    }
    return true;
}

}  // namespace mock_detail

/// N members on loopback sharing one replica-set state. See the top of this file.
class mock_cluster {
public:
    /// Starts one member per role, each on 127.0.0.1 with a free port, and the server
    /// thread. Members given primary/secondary/arbiter form the replica set `set_name`; a
    /// primary among them starts elected (term 1).
    explicit mock_cluster(std::vector<member_role> roles, mock_options opts = mock_options())
        : opts_(std::move(opts)) {
        using tcp = boost::asio::ip::tcp;
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        ct_secs_ = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
        for (auto r : roles) {
            auto io = std::make_unique<member_io>(ioc_);
            tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
            io->acceptor.open(ep.protocol());
            io->acceptor.set_option(tcp::acceptor::reuse_address(true));
            io->acceptor.bind(ep);
            io->acceptor.listen();
            member_state m;
            m.role = r;
            m.rs_member = r == member_role::primary || r == member_role::secondary || r == member_role::arbiter;
            m.port = io->acceptor.local_endpoint().port();
            m.process_id = morm::bson::object_id::generate();
            m.max_wire_version = opts_.max_wire_version;
            if (r == member_role::primary) m.term = ++term_;
            members_.push_back(std::move(m));
            io_.push_back(std::move(io));
        }
        for (std::size_t i = 0; i < io_.size(); ++i)
            boost::asio::co_spawn(ioc_, accept_loop(i), [](std::exception_ptr) {});
        thread_ = std::thread([this] { ioc_.run(); });
    }
    mock_cluster(const mock_cluster&) = delete;
    mock_cluster& operator=(const mock_cluster&) = delete;
    ~mock_cluster() {
        on_io([this] {
            stopping_ = true;
            for (std::size_t i = 0; i < io_.size(); ++i) {
                boost::system::error_code ignored;
                io_[i]->acceptor.close(ignored);
                close_connections_io(i);
            }
            ioc_.stop();
        });
        thread_.join();
        // Coroutine frames still suspended are destroyed with ioc_ (declared first, so
        // destroyed last); they touch nothing of *this on the way out.
    }

    // ---- members --------------------------------------------------------------------

    std::size_t size() const { return members_.size(); }
    std::uint16_t port(std::size_t i) const { return members_.at(i).port; }
    /// "127.0.0.1:port", as the member names itself in hello (me, hosts, primary).
    std::string address(std::size_t i) const { return "127.0.0.1:" + std::to_string(port(i)); }
    /// Every member's address, comma-separated: the host list of a connection string.
    std::string seed_list() const {
        std::string s;
        for (std::size_t i = 0; i < size(); ++i) s += (i ? "," : "") + address(i);
        return s;
    }
    /// "mongodb://<address(i)>/?directConnection=true" plus `&extra` when given.
    std::string direct_uri(std::size_t i, std::string_view extra = {}) const {
        std::string u = "mongodb://" + address(i) + "/?directConnection=true";
        if (!extra.empty()) u += "&" + std::string(extra);
        return u;
    }
    const std::string& set_name() const { return opts_.set_name; }

    member_role role(std::size_t i) const {
        std::lock_guard lk(mu_);
        return members_.at(i).role;
    }
    /// The newest primary (highest election term), if any.
    std::optional<std::size_t> primary() const {
        std::lock_guard lk(mu_);
        return primary_locked();
    }

    /// Sets member i's role as is: no other member changes, so a test can make two
    /// primaries (the older keeps its older electionId). Becoming primary is an election
    /// (term and electionId bumped). Becoming `down` closes the member's connections.
    /// Every change bumps each member's topologyVersion counter and wakes awaitable hellos.
    void set_role(std::size_t i, member_role r) {
        {
            std::lock_guard lk(mu_);
            auto& m = members_.at(i);
            if (r == member_role::primary && m.role != member_role::primary) elect_locked(i);
            m.role = r;
            if (r == member_role::primary || r == member_role::secondary || r == member_role::arbiter)
                m.rs_member = true;
            if (r == member_role::mongos || r == member_role::standalone) m.rs_member = false;
            bump_locked();
        }
        if (r == member_role::down) close_connections(i);
        notify_change();
    }

    /// An election won by member i: every other primary becomes secondary, i becomes
    /// primary with a new electionId. With `close_old_connections` the old primaries'
    /// connections are closed, as a stepping-down server does with its clients.
    void step_down(std::size_t new_primary, bool close_old_connections = true) {
        std::vector<std::size_t> old;
        {
            std::lock_guard lk(mu_);
            for (std::size_t j = 0; j < members_.size(); ++j)
                if (j != new_primary && members_[j].role == member_role::primary) {
                    members_[j].role = member_role::secondary;
                    old.push_back(j);
                }
            auto& m = members_.at(new_primary);
            if (m.role != member_role::primary) elect_locked(new_primary);
            m.role = member_role::primary;
            m.rs_member = true;
            bump_locked();
        }
        if (close_old_connections)
            for (auto j : old) close_connections(j);
        notify_change();
    }

    /// A process restart: new topologyVersion.processId, counter 0, connections closed.
    void restart(std::size_t i) {
        {
            std::lock_guard lk(mu_);
            members_.at(i).process_id = morm::bson::object_id::generate();
            members_.at(i).counter = 0;
        }
        close_connections(i);
        notify_change();
    }

    /// The electionId member i was elected with (all zero if it never was).
    morm::bson::object_id election_id(std::size_t i) const {
        std::lock_guard lk(mu_);
        return election_oid(members_.at(i).term);
    }
    /// Elections so far.
    std::int64_t term() const {
        std::lock_guard lk(mu_);
        return term_;
    }
    morm::bson::object_id process_id(std::size_t i) const {
        std::lock_guard lk(mu_);
        return members_.at(i).process_id;
    }
    std::int64_t topology_counter(std::size_t i) const {
        std::lock_guard lk(mu_);
        return members_.at(i).counter;
    }

    /// Replica-set tags reported in member i's hello.
    void set_tags(std::size_t i, std::map<std::string, std::string> tags) {
        change([&] { members_.at(i).tags = std::move(tags); });
    }
    /// Replication lag: member i's lastWrite.lastWriteDate is now - lag (the primary's is now).
    void set_lag(std::size_t i, std::chrono::milliseconds lag) {
        change([&] { members_.at(i).lag = lag; });
    }
    void set_max_wire_version(std::int32_t v) {
        change([&] {
            for (auto& m : members_) m.max_wire_version = v;
        });
    }
    void set_max_wire_version(std::size_t i, std::int32_t v) {
        change([&] { members_.at(i).max_wire_version = v; });
    }
    /// Limits reported by hello, and enforced: a frame over max_message_size_bytes closes
    /// the connection; a write of more than max_write_batch_size statements fails with
    /// InvalidLength (16).
    void set_limits(std::int32_t max_bson_object_size, std::int32_t max_message_size_bytes,
                    std::int32_t max_write_batch_size) {
        change([&] {
            opts_.max_bson_object_size = max_bson_object_size;
            opts_.max_message_size_bytes = max_message_size_bytes;
            opts_.max_write_batch_size = max_write_batch_size;
        });
    }
    void set_max_write_batch_size(std::int32_t n) {
        change([&] { opts_.max_write_batch_size = n; });
    }
    void set_set_version(std::int32_t v) {
        change([&] { opts_.set_version = v; });
    }

    /// Closes every connection member i has open (the clients see a network error).
    void close_connections(std::size_t i) {
        on_io([this, i] { close_connections_io(i); });
    }
    std::size_t connections_accepted(std::size_t i) const {
        std::lock_guard lk(mu_);
        return members_.at(i).accepted;
    }
    std::size_t open_connections(std::size_t i) {
        std::size_t n = 0;
        on_io([&] { n = io_.at(i)->conns.size(); });
        return n;
    }

    // ---- faults ---------------------------------------------------------------------

    /// The next `count` commands named `command` ("*": any command but hello; "hello"
    /// also matches isMaster) fail with ok:0, `code` and `code_name`, without being
    /// executed. Labels: as given, or when nullopt as a 4.4+ server adds them:
    /// "RetryableWriteError" for a retryable code (retryable-writes spec) on a retryable
    /// write (lsid + txnNumber outside a transaction, or commit/abortTransaction), when
    /// the member's maxWireVersion >= 9. State change codes carry the member's topologyVersion.
    void fail_next(std::string command, std::int32_t code, std::string code_name, std::size_t count = 1,
                   std::optional<std::vector<std::string>> error_labels = std::nullopt,
                   std::optional<std::size_t> member = std::nullopt) {
        add_fault(fault_kind::error, std::move(command), code, std::move(code_name), count, std::move(error_labels),
                  member);
    }
    /// The next `count` writes named `command` are applied, then answered ok:1 with a
    /// writeConcernError {code, codeName} (labels as for fail_next).
    void write_concern_error_next(std::string command, std::int32_t code, std::string code_name, std::size_t count = 1,
                                  std::optional<std::vector<std::string>> error_labels = std::nullopt,
                                  std::optional<std::size_t> member = std::nullopt) {
        add_fault(fault_kind::write_concern_error, std::move(command), code, std::move(code_name), count,
                  std::move(error_labels), member);
    }
    /// The next `count` commands named `command` are not executed and their connection is
    /// closed: the client sees a network error.
    void close_connection_on(std::string command, std::size_t count = 1,
                             std::optional<std::size_t> member = std::nullopt) {
        add_fault(fault_kind::close, std::move(command), 0, {}, count, std::nullopt, member);
    }
    /// Once `n` more write commands (insert, update, delete, findAndModify,
    /// commitTransaction; retries answered from the store do not count) have been applied,
    /// the connection that applied the n-th is closed: without its reply unless
    /// `send_last_reply`; frames the client pipelined behind it are never read.
    void close_after_writes(std::size_t n, bool send_last_reply = false) {
        std::lock_guard lk(mu_);
        cut_after_ = n;
        cut_send_last_ = send_last_reply;
    }
    void clear_faults() {
        std::lock_guard lk(mu_);
        faults_.clear();
        cut_after_.reset();
    }

    /// Installs a hook called for every command (see command_hook). `hook` returns a
    /// mock_action, or void for "proceed". Replaces the previous hook.
    template <class F>
    void on_command(F hook) {
        command_hook h;
        if constexpr (std::is_void_v<std::invoke_result_t<F&, std::size_t, const recorded_command&>>)
            h = [f = std::move(hook)](std::size_t m, const recorded_command& c) mutable {
                f(m, c);
                return mock_action::proceed();
            };
        else
            h = std::move(hook);
        std::lock_guard lk(mu_);
        hook_ = std::move(h);
    }
    void clear_command_hook() {
        std::lock_guard lk(mu_);
        hook_ = nullptr;
    }

    // ---- data and counters ------------------------------------------------------------

    /// The documents of namespace "db.coll", in insertion order.
    std::vector<morm::bson::document> documents(std::string_view ns) const {
        std::lock_guard lk(mu_);
        auto it = data_.colls.find(std::string(ns));
        return it == data_.colls.end() ? std::vector<morm::bson::document>{} : it->second;
    }
    /// Seeds a document (an _id is added first when missing).
    void insert_document(std::string_view ns, const morm::bson::document& doc) {
        std::lock_guard lk(mu_);
        data_.colls[std::string(ns)].push_back(mock_detail::with_id_first(doc));
    }
    void clear_data() {
        std::lock_guard lk(mu_);
        data_.colls.clear();
        cursors_.clear();
    }
    /// Writes answered from the retryable-write store instead of being applied again
    /// (and retried commitTransaction of a committed transaction).
    std::size_t retried_writes() const {
        std::lock_guard lk(mu_);
        return retried_;
    }
    /// Write commands applied (see close_after_writes for what counts).
    std::size_t writes_applied() const {
        std::lock_guard lk(mu_);
        return writes_applied_;
    }
    /// The cluster time: (seconds, increment); the increment grows with each applied write.
    std::pair<std::uint32_t, std::uint32_t> cluster_time() const {
        std::lock_guard lk(mu_);
        return {ct_secs_, ct_inc_};
    }

    // ---- log ---------------------------------------------------------------------------

    std::vector<recorded_command> commands() const {
        std::lock_guard lk(mu_);
        return log_;
    }
    std::vector<recorded_command> commands_named(std::string_view name,
                                                 std::optional<std::size_t> member = std::nullopt) const {
        std::lock_guard lk(mu_);
        std::vector<recorded_command> out;
        for (auto& c : log_)
            if (c.name == name && (!member || c.member == *member)) out.push_back(c);
        return out;
    }
    std::size_t count_named(std::string_view name, std::optional<std::size_t> member = std::nullopt) const {
        std::lock_guard lk(mu_);
        return static_cast<std::size_t>(std::count_if(log_.begin(), log_.end(), [&](const recorded_command& c) {
            return c.name == name && (!member || c.member == *member);
        }));
    }
    /// Polls the log until `count` commands named `name` (on `member`, if given) have
    /// arrived or `timeout` passes; true if they did. For clients that talk on their own
    /// (monitors, background killCursors).
    bool wait_for_commands(std::string_view name, std::size_t count, std::chrono::milliseconds timeout,
                           std::optional<std::size_t> member = std::nullopt) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (count_named(name, member) >= count) return true;
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    void clear_log() {
        std::lock_guard lk(mu_);
        log_.clear();
    }

private:
    using document = morm::bson::document;
    using document_view = morm::bson::document_view;
    using request = mock_detail::request;
    using tcp = boost::asio::ip::tcp;
    static constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

    struct member_state {
        member_role role = member_role::standalone;
        bool rs_member = false;
        std::uint16_t port = 0;
        morm::bson::object_id process_id;
        std::int64_t counter = 0;
        std::int64_t term = 0;  ///< the election it won (0: never primary)
        std::map<std::string, std::string> tags;
        std::chrono::milliseconds lag{0};
        std::int32_t max_wire_version = 17;
        std::size_t accepted = 0;
    };
    struct conn {
        conn(tcp::socket s, std::size_t m, std::uint64_t i) : sock(std::move(s)), member(m), id(i) {}
        tcp::socket sock;
        std::size_t member;
        std::uint64_t id;
        bool closed = false;
    };
    struct member_io {
        explicit member_io(boost::asio::io_context& ioc) : acceptor(ioc) {}
        tcp::acceptor acceptor;
        std::list<std::shared_ptr<conn>> conns;
    };
    enum class fault_kind { error, write_concern_error, close };
    struct fault {
        fault_kind kind;
        std::string command;
        std::int32_t code = 0;
        std::string code_name;
        std::size_t remaining = 0;
        std::optional<std::vector<std::string>> labels;
        std::optional<std::size_t> member;
    };
    struct cursor_state {
        std::string ns;
        std::size_t member = 0;
        std::vector<document> docs;
        std::size_t pos = 0;
    };
    struct txn_op {
        std::string name, db;
        request req;
    };
    struct txn_state {
        enum class phase { none, open, committed, aborted };
        std::int64_t number = -1;
        phase state = phase::none;
        mock_detail::data_store view;  ///< the data as this transaction sees it
        std::vector<txn_op> ops;       ///< replayed on the real data at commit
    };

    // ---- small helpers (the _locked ones need mu_ held) ---------------------------------

    template <class F>
    void on_io(F&& f) {
        if (thread_.get_id() == std::this_thread::get_id()) {
            f();
            return;
        }
        std::promise<void> done;
        boost::asio::post(ioc_, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }

    template <class F>
    void change(F&& f) {
        {
            std::lock_guard lk(mu_);
            f();
            bump_locked();
        }
        notify_change();
    }

    void bump_locked() {
        for (auto& m : members_) ++m.counter;
    }

    void elect_locked(std::size_t i) {
        members_.at(i).term = ++term_;
    }

    static morm::bson::object_id election_oid(std::int64_t term) {
        std::array<std::uint8_t, 12> b{};
        if (term > 0) {
            b[0] = 0x7f, b[1] = 0xff, b[2] = 0xff, b[3] = 0xff;
            for (int k = 0; k < 8; ++k) b[4 + k] = static_cast<std::uint8_t>(std::uint64_t(term) >> (56 - 8 * k));
        }
        return morm::bson::object_id(b);
    }

    std::optional<std::size_t> primary_locked() const {
        std::optional<std::size_t> p;
        for (std::size_t i = 0; i < members_.size(); ++i)
            if (members_[i].role == member_role::primary && (!p || members_[i].term > members_[*p].term)) p = i;
        return p;
    }

    static bool writable(member_role r) {
        return r == member_role::primary || r == member_role::mongos || r == member_role::standalone;
    }
    bool gossips_locked(std::size_t m) const {
        auto r = members_[m].role;
        return r != member_role::standalone;
    }

    /// Wakes awaitable hellos (they re-check the state). Runs on the server thread.
    void notify_change() {
        boost::asio::post(ioc_, [this] {
            for (auto* t : waiters_) t->cancel();
        });
    }

    void close_connections_io(std::size_t i) {
        auto conns = io_.at(i)->conns;
        for (auto& c : conns) close_conn(*c);
        for (auto* t : waiters_) t->cancel();
    }

    static void close_conn(conn& c) {
        boost::system::error_code ignored;
        c.closed = true;
        c.sock.shutdown(tcp::socket::shutdown_both, ignored);
        c.sock.close(ignored);
    }

    void add_fault(fault_kind k, std::string command, std::int32_t code, std::string code_name, std::size_t count,
                   std::optional<std::vector<std::string>> labels, std::optional<std::size_t> member) {
        std::lock_guard lk(mu_);
        faults_.push_back(fault{k, std::move(command), code, std::move(code_name), count, std::move(labels), member});
    }

    /// Consumes the first armed fault of kind `k` that matches.
    std::optional<fault> take_fault_locked(fault_kind k, std::size_t m, const std::string& name) {
        for (auto& f : faults_) {
            if (f.kind != k || f.remaining == 0 || (f.member && *f.member != m)) continue;
            bool hit = f.command == name || (f.command == "hello" && mock_detail::is_hello(name)) ||
                       (f.command == "*" && !mock_detail::is_hello(name));
            if (!hit) continue;
            --f.remaining;
            return f;
        }
        return std::nullopt;
    }

    // ---- the server side (server thread) -------------------------------------------------

    boost::asio::awaitable<void> accept_loop(std::size_t m) {
        for (;;) {
            tcp::socket s(ioc_);
            auto [e] = co_await io_[m]->acceptor.async_accept(s, nothrow);
            if (e) {
                if (stopping_ || e == boost::asio::error::operation_aborted) co_return;
                continue;
            }
            bool down;
            std::uint64_t id;
            {
                std::lock_guard lk(mu_);
                ++members_[m].accepted;
                down = members_[m].role == member_role::down;
                id = ++next_conn_id_;
            }
            if (down) {
                boost::system::error_code ignored;
                s.close(ignored);
                continue;
            }
            boost::system::error_code ignored;
            s.set_option(tcp::no_delay(true), ignored);
            auto c = std::make_shared<conn>(std::move(s), m, id);
            io_[m]->conns.push_back(c);
            boost::asio::co_spawn(ioc_, serve(c), [](std::exception_ptr) {});
        }
    }

    boost::asio::awaitable<void> serve(std::shared_ptr<conn> c) {
        for (;;) {
            std::vector<std::uint8_t> frame;
            if (!co_await read_frame(*c, frame)) break;
            request req;
            try {
                req = mock_detail::parse_request(frame);
            } catch (const std::exception&) {
                break;  // a server closes a connection that sends garbage
            }
            bool keep = false;
            try {
                keep = co_await process(c, req);
            } catch (const std::exception&) {
                // e.g. a throwing hook: the client sees a closed connection, the server lives on
            }
            if (!keep) break;
        }
        close_conn(*c);
        io_[c->member]->conns.remove(c);
    }

    boost::asio::awaitable<bool> read_frame(conn& c, std::vector<std::uint8_t>& f) {
        f.resize(morm::wire::header_size);
        auto [e, n] = co_await boost::asio::async_read(c.sock, boost::asio::buffer(f.data(), f.size()), nothrow);
        if (e) co_return false;
        const std::int32_t len = mock_detail::read_i32(f.data());
        std::int32_t max;
        {
            std::lock_guard lk(mu_);
            max = opts_.max_message_size_bytes;
        }
        if (len < static_cast<std::int32_t>(morm::wire::header_size) + 5 || len > max) co_return false;
        f.resize(static_cast<std::size_t>(len));
        auto rest = boost::asio::buffer(f.data() + morm::wire::header_size, f.size() - morm::wire::header_size);
        auto [e2, n2] = co_await boost::asio::async_read(c.sock, rest, nothrow);
        co_return !e2;
    }

    recorded_command record(const conn& c, const request& r) {
        recorded_command rec;
        rec.member = c.member;
        rec.connection = c.id;
        rec.name = mock_detail::first_key(r.body);
        rec.db = r.op_code == morm::wire::op_msg_opcode ? mock_detail::get_string(r.body, "$db")
                                                         : r.query_ns.substr(0, r.query_ns.find('.'));
        rec.body = r.body;
        for (auto& [id, docs] : r.sequences) {
            if (rec.sequence_id.empty()) rec.sequence_id = id;
            rec.sequence_documents += docs.size();
            rec.documents.insert(rec.documents.end(), docs.begin(), docs.end());
        }
        rec.flag_bits = r.flag_bits;
        rec.legacy = r.op_code != morm::wire::op_msg_opcode;
        rec.request_id = r.request_id;
        std::lock_guard lk(mu_);
        log_.push_back(rec);
        return rec;
    }

    /// One request: hook, faults, execution, reply. False: close the connection.
    boost::asio::awaitable<bool> process(std::shared_ptr<conn> c, const request& req) {
        const std::size_t m = c->member;
        recorded_command rec = record(*c, req);
        command_hook hook;
        {
            std::lock_guard lk(mu_);
            if (members_[m].role == member_role::down) co_return false;
            hook = hook_;
        }
        std::optional<document> reply;
        if (hook) {
            mock_action act = hook(m, rec);
            if (act.what == mock_action::kind::close) co_return false;
            if (act.what == mock_action::kind::delay) co_await sleep(act.wait);
            if (act.what == mock_action::kind::reply) reply = std::move(act.reply_body);
            if (act.what == mock_action::kind::raw) {
                auto [e, n] = co_await boost::asio::async_write(
                    c->sock, boost::asio::buffer(act.bytes.data(), act.bytes.size()), nothrow);
                if (!e && !act.later.empty()) {
                    co_await sleep(act.wait);
                    auto [e2, n2] = co_await boost::asio::async_write(
                        c->sock, boost::asio::buffer(act.later.data(), act.later.size()), nothrow);
                    e = e2;
                }
                co_return !e && !act.close_after;
            }
        }
        bool cut = false, send_last = false;
        {
            std::lock_guard lk(mu_);
            if (!reply) {
                if (auto f = take_fault_locked(fault_kind::close, m, rec.name)) co_return false;
                if (auto f = take_fault_locked(fault_kind::error, m, rec.name))
                    reply = error_for_locked(m, req, rec.name, f->code, f->code_name,
                                             "failure injected by the mock server", f->labels);
            }
            if (!reply && !mock_detail::is_hello(rec.name)) reply = execute_locked(m, req, rec, cut, send_last);
            if (reply) reply = envelope_locked(m, *reply);
        }
        if (!reply) co_return co_await serve_hello(c, req, rec.name);
        if (cut && !send_last) co_return false;
        if (!req.more_to_come() && !co_await send(*c, req, *reply, 0, req.request_id)) co_return false;
        co_return !cut;
    }

    boost::asio::awaitable<void> sleep(std::chrono::milliseconds d) {
        boost::asio::steady_timer t(ioc_);
        t.expires_after(d);
        co_await t.async_wait(nothrow);
    }

    boost::asio::awaitable<bool> send(conn& c, const request& req, const document& body, std::uint32_t flags,
                                      std::int32_t response_to, std::int32_t* sent_id = nullptr) {
        morm::wire::frame_buffer buf;
        const std::int32_t rid = ++next_request_id_;
        if (req.op_code == morm::wire::op_msg_opcode) mock_detail::build_op_msg(buf, rid, response_to, flags, body);
        else mock_detail::build_op_reply(buf, rid, response_to, body);
        if (sent_id) *sent_id = rid;
        auto [e, n] = co_await boost::asio::async_write(c.sock, boost::asio::buffer(buf.data(), buf.size()), nothrow);
        co_return !e;
    }

    using topology_version = std::pair<morm::bson::object_id, std::int64_t>;

    /// Waits until member m's topologyVersion differs from `known`, `timeout` passes or
    /// the connection closes.
    boost::asio::awaitable<void> wait_for_change(const conn& c, const topology_version& known,
                                                 std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            {
                std::lock_guard lk(mu_);
                auto& mem = members_[c.member];
                if (mem.process_id != known.first || mem.counter != known.second) co_return;
            }
            if (c.closed || stopping_ || std::chrono::steady_clock::now() >= deadline) co_return;
            boost::asio::steady_timer t(ioc_);
            t.expires_at(deadline);
            waiters_.insert(&t);
            co_await t.async_wait(nothrow);
            waiters_.erase(&t);
        }
    }

    /// hello / isMaster: immediate, awaitable (topologyVersion + maxAwaitTimeMS) or, with
    /// exhaustAllowed on an awaitable OP_MSG hello, streamed with moreToCome until the
    /// connection closes.
    boost::asio::awaitable<bool> serve_hello(std::shared_ptr<conn> c, const request& req, const std::string& name) {
        const std::size_t m = c->member;
        auto tv = mock_detail::get_doc(req.body, "topologyVersion");
        auto max_await = mock_detail::get_int(req.body, "maxAwaitTimeMS");
        if ((tv.data() != nullptr) != max_await.has_value()) {
            document err = mock_detail::error_reply(9, "FailedToParse",
                                                    "topologyVersion and maxAwaitTimeMS must be given together");
            co_return co_await send(*c, req, err, 0, req.request_id);
        }
        std::optional<topology_version> known;
        if (tv.data()) {
            auto pid = tv.find("processId");
            morm::bson::object_id id;
            if (pid && BSON_ITER_HOLDS_OID(&*pid)) id = morm::bson::object_id(*bson_iter_oid(&*pid));
            known = topology_version{id, mock_detail::get_int(tv, "counter").value_or(-1)};
        }
        const bool stream = known && req.exhaust_allowed() && req.op_code == morm::wire::op_msg_opcode;
        std::int32_t response_to = req.request_id;
        const std::chrono::milliseconds await_time(max_await.value_or(0));
        for (;;) {
            if (known) co_await wait_for_change(*c, *known, await_time);
            if (c->closed || stopping_) co_return false;
            document reply;
            {
                std::lock_guard lk(mu_);
                if (members_[m].role == member_role::down) co_return false;
                reply = envelope_locked(m, hello_reply_locked(m, req, name, c->id));
                known = topology_version{members_[m].process_id, members_[m].counter};
            }
            std::int32_t sent = 0;
            const std::uint32_t flags = stream ? morm::wire::flags::more_to_come : 0;
            if (!co_await send(*c, req, reply, flags, response_to, &sent)) co_return false;
            if (!stream) co_return true;
            response_to = sent;  // each streamed reply answers the previous one
        }
    }

    // ---- replies (mu_ held) ----------------------------------------------------------------

    void append_topology_version_locked(bson_t* b, std::size_t m) const {
        bson_t tv;
        bson_append_document_begin(b, "topologyVersion", -1, &tv);
        mock_detail::append_oid(&tv, "processId", members_[m].process_id);
        bson_append_int64(&tv, "counter", 7, members_[m].counter);
        bson_append_document_end(b, &tv);
    }

    /// Adds $clusterTime (zero signature, keyId 0) and operationTime, as replica-set
    /// members and mongos do (a standalone does not).
    document envelope_locked(std::size_t m, const document& body) const {
        if (!gossips_locked(m) || body.find("$clusterTime")) return body;
        document out = body;
        bson_t ct, sig;
        bson_append_document_begin(out.get(), "$clusterTime", -1, &ct);
        bson_append_timestamp(&ct, "clusterTime", -1, ct_secs_, ct_inc_);
        bson_append_document_begin(&ct, "signature", -1, &sig);
        const std::uint8_t zero[20] = {};
        bson_append_binary(&sig, "hash", -1, BSON_SUBTYPE_BINARY, zero, sizeof zero);
        bson_append_int64(&sig, "keyId", -1, 0);
        bson_append_document_end(&ct, &sig);
        bson_append_document_end(out.get(), &ct);
        bson_append_timestamp(out.get(), "operationTime", -1, ct_secs_, ct_inc_);
        return out;
    }

    /// A client's $clusterTime that is ahead moves ours forward (gossip).
    void gossip_locked(const document& body) {
        auto it = body.find("$clusterTime.clusterTime");
        if (!it || !BSON_ITER_HOLDS_TIMESTAMP(&*it)) return;
        std::uint32_t t = 0, i = 0;
        bson_iter_timestamp(&*it, &t, &i);
        if (t > ct_secs_ || (t == ct_secs_ && i > ct_inc_)) ct_secs_ = t, ct_inc_ = i;
    }

    static bool in_transaction(const request& r) {
        return r.body.find("autocommit") && !mock_detail::get_bool(r.body, "autocommit", true);
    }
    static bool retryable_write(const request& r, const std::string& name) {
        if (name == "commitTransaction" || name == "abortTransaction") return true;
        return mock_detail::is_write_command(name) && r.body.find("txnNumber") && !in_transaction(r);
    }

    /// An ok:0 reply with the labels a 4.4+ server would add when `labels` is nullopt,
    /// and the topologyVersion on state change errors.
    document error_for_locked(std::size_t m, const request& r, const std::string& name, std::int32_t code,
                              const std::string& code_name, std::string_view msg,
                              const std::optional<std::vector<std::string>>& labels) const {
        std::vector<std::string> l;
        if (labels) l = *labels;
        else if (members_[m].max_wire_version >= 9 && mock_detail::retryable_code(code) && retryable_write(r, name))
            l.push_back("RetryableWriteError");
        document d = mock_detail::error_reply(code, code_name, msg, l);
        if (mock_detail::state_change_code(code)) append_topology_version_locked(d.get(), m);
        return d;
    }

    document hello_reply_locked(std::size_t m, const request& r, const std::string& name, std::uint64_t conn_id) const {
        const auto& mem = members_[m];
        const bool legacy = name != "hello";
        document d;
        bson_t* b = d.get();
        const bool wp = writable(mem.role);
        bson_append_bool(b, legacy ? "ismaster" : "isWritablePrimary", -1, wp);
        if (mock_detail::get_bool(r.body, "helloOk", false)) bson_append_bool(b, "helloOk", -1, true);
        if (mem.role == member_role::mongos) bson_append_utf8(b, "msg", -1, "isdbgrid", -1);
        if (mem.rs_member && mem.role != member_role::mongos && mem.role != member_role::standalone)
            append_replica_set_fields_locked(b, m);
        append_topology_version_locked(b, m);
        bson_append_int32(b, "maxBsonObjectSize", -1, opts_.max_bson_object_size);
        bson_append_int32(b, "maxMessageSizeBytes", -1, opts_.max_message_size_bytes);
        bson_append_int32(b, "maxWriteBatchSize", -1, opts_.max_write_batch_size);
        bson_append_date_time(b, "localTime", -1, now_ms());
        bson_append_int32(b, "logicalSessionTimeoutMinutes", -1, opts_.logical_session_timeout_minutes);
        bson_append_int64(b, "connectionId", -1, static_cast<std::int64_t>(conn_id));
        bson_append_int32(b, "minWireVersion", -1, opts_.min_wire_version);
        bson_append_int32(b, "maxWireVersion", -1, mem.max_wire_version);
        bson_append_bool(b, "readOnly", -1, false);
        bson_append_double(b, "ok", 2, 1.0);
        return d;
    }

    static std::int64_t now_ms() {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }

    void append_replica_set_fields_locked(bson_t* b, std::size_t m) const {
        const auto& mem = members_[m];
        std::vector<std::string> hosts, arbiters;
        for (std::size_t j = 0; j < members_.size(); ++j) {
            if (!members_[j].rs_member) continue;
            (members_[j].role == member_role::arbiter ? arbiters : hosts).push_back(address(j));
        }
        bson_append_bool(b, "secondary", -1, mem.role == member_role::secondary);
        if (mem.role == member_role::arbiter) bson_append_bool(b, "arbiterOnly", -1, true);
        bson_append_utf8(b, "setName", -1, opts_.set_name.c_str(), -1);
        bson_append_int32(b, "setVersion", -1, opts_.set_version);
        mock_detail::append_strings(b, "hosts", hosts);
        if (!arbiters.empty()) mock_detail::append_strings(b, "arbiters", arbiters);
        // A primary names itself; the others name the newest primary.
        std::optional<std::size_t> p = primary_locked();
        if (mem.role == member_role::primary) p = m;
        if (p) bson_append_utf8(b, "primary", -1, address(*p).c_str(), -1);
        bson_append_utf8(b, "me", -1, address(m).c_str(), -1);
        if (mem.role == member_role::primary) mock_detail::append_oid(b, "electionId", election_oid(mem.term));
        if (!mem.tags.empty()) {
            bson_t t;
            bson_append_document_begin(b, "tags", -1, &t);
            for (auto& [k, v] : mem.tags) bson_append_utf8(&t, k.c_str(), -1, v.c_str(), -1);
            bson_append_document_end(b, &t);
        }
        if (mem.role == member_role::arbiter) return;
        const std::int64_t date = now_ms() - (mem.role == member_role::primary ? 0 : mem.lag.count());
        bson_t lw, op;
        bson_append_document_begin(b, "lastWrite", -1, &lw);
        bson_append_document_begin(&lw, "opTime", -1, &op);
        bson_append_timestamp(&op, "ts", -1, ct_secs_, ct_inc_);
        bson_append_int64(&op, "t", -1, term_);
        bson_append_document_end(&lw, &op);
        bson_append_date_time(&lw, "lastWriteDate", -1, date);
        bson_append_date_time(&lw, "majorityWriteDate", -1, date);
        bson_append_document_end(b, &lw);
    }

    // ---- execution (mu_ held) --------------------------------------------------------------

    static document ok(document d = document()) {
        bson_append_double(d.get(), "ok", 2, 1.0);
        return d;
    }

    document execute_locked(std::size_t m, const request& r, const recorded_command& rec, bool& cut, bool& send_last) {
        const std::string& name = rec.name;
        const member_role role = members_[m].role;
        gossip_locked(r.body);
        const bool always = name == "ping" || name == "buildInfo" || name == "buildinfo" || name == "endSessions";
        if (role == member_role::arbiter && !always)
            return error_for_locked(m, r, name, 13436, "NotPrimaryOrSecondary", "node is an arbiter", std::nullopt);
        if ((mock_detail::needs_primary(name) || in_transaction(r)) && !writable(role))
            return error_for_locked(m, r, name, 10107, "NotWritablePrimary", "not primary", std::nullopt);
        if (role == member_role::standalone && r.body.find("txnNumber"))
            return mock_detail::error_reply(20, "IllegalOperation",
                                            "Transaction numbers are only allowed on a replica set member or mongos");
        if (name == "commitTransaction" || name == "abortTransaction")
            return end_transaction_locked(m, r, name, cut, send_last);
        if (in_transaction(r)) return in_transaction_locked(m, r, name, rec.db);
        if (mock_detail::is_write_command(name)) return retryable_write_locked(m, r, name, rec.db, cut, send_last);
        if (auto d = ddl_locked(r, name, rec.db)) return std::move(*d);
        return read_locked(m, r, name, rec.db, data_);
    }

    /// The key of the retryable-write store: lsid.id's bytes.
    static std::optional<std::string> lsid_key(const request& r) {
        auto id = r.body.find("lsid.id");
        if (!id) return std::nullopt;
        return std::string(mock_detail::raw_value(*id));
    }

    /// A write has been applied: time moves on, and close_after_writes may trigger.
    void count_write_locked(bool& cut, bool& send_last) {
        ++ct_inc_;
        ++writes_applied_;
        if (cut_after_ && --*cut_after_ == 0) {
            cut_after_.reset();
            cut = true;
            send_last = cut_send_last_;
        }
    }

    void add_write_concern_error_locked(std::size_t m, const request& r, const std::string& name, document& reply) {
        auto f = take_fault_locked(fault_kind::write_concern_error, m, name);
        if (!f) return;
        bson_t wce;
        bson_append_document_begin(reply.get(), "writeConcernError", -1, &wce);
        bson_append_int32(&wce, "code", 4, f->code);
        bson_append_utf8(&wce, "codeName", 8, f->code_name.c_str(), -1);
        bson_append_utf8(&wce, "errmsg", 6, "write concern error injected by the mock server", -1);
        bson_append_document_end(reply.get(), &wce);
        std::vector<std::string> l;
        if (f->labels) l = *f->labels;
        else if (members_[m].max_wire_version >= 9 && mock_detail::retryable_code(f->code) && retryable_write(r, name))
            l.push_back("RetryableWriteError");
        if (!l.empty()) mock_detail::append_strings(reply.get(), "errorLabels", l);
    }

    /// insert/update/delete/findAndModify on `st` (the data or a transaction's view).
    document apply_write_locked(mock_detail::data_store& st, const request& r, const std::string& name,
                                const std::string& db) const {
        const char* field = name == "insert"   ? "documents"
                            : name == "update" ? "updates"
                            : name == "delete" ? "deletes"
                                               : nullptr;
        if (field) {
            const auto n = r.items(field).size();
            if (n == 0 || n > static_cast<std::size_t>(opts_.max_write_batch_size))
                return mock_detail::error_reply(16, "InvalidLength",
                                                "Write batch sizes must be between 1 and " +
                                                    std::to_string(opts_.max_write_batch_size) + ". Got " +
                                                    std::to_string(n) + " operations.");
        }
        if (name == "insert") return ok(st.insert(r, db));
        if (name == "update") return ok(st.update(r, db));
        if (name == "delete") return ok(st.remove(r, db));
        std::string err;
        document d = st.find_and_modify(r, db, err);
        if (!err.empty()) return mock_detail::error_reply(9, "FailedToParse", err);
        return ok(std::move(d));
    }

    document retryable_write_locked(std::size_t m, const request& r, const std::string& name, const std::string& db,
                                    bool& cut, bool& send_last) {
        auto lsid = lsid_key(r);
        auto txn = mock_detail::get_int(r.body, "txnNumber");
        std::optional<std::string> key;
        if (lsid && txn) {
            key = *lsid + "#" + std::to_string(*txn);
            if (auto s = retry_store_.find(*key); s != retry_store_.end()) {
                ++retried_;
                document reply = s->second;
                add_write_concern_error_locked(m, r, name, reply);
                return reply;
            }
            auto& hi = highest_txn_[*lsid];
            if (*txn < hi)
                return mock_detail::error_reply(225, "TransactionTooOld",
                                                "txnNumber " + std::to_string(*txn) + " is older than " +
                                                    std::to_string(hi));
            hi = *txn;
        }
        document reply = apply_write_locked(data_, r, name, db);
        if (mock_detail::get_int(reply, "ok").value_or(0) != 1) return reply;
        count_write_locked(cut, send_last);
        if (key) retry_store_[*key] = reply;
        add_write_concern_error_locked(m, r, name, reply);
        return reply;
    }

    static document no_such_transaction(std::int64_t txn) {
        return mock_detail::error_reply(251, "NoSuchTransaction",
                                        "Transaction " + std::to_string(txn) + " has been aborted or never started",
                                        {"TransientTransactionError"});
    }

    /// A command with autocommit:false: starts the transaction or runs in it, on the
    /// session's view of the data.
    document in_transaction_locked(std::size_t m, const request& r, const std::string& name, const std::string& db) {
        auto lsid = lsid_key(r);
        auto txn = mock_detail::get_int(r.body, "txnNumber");
        if (!lsid || !txn)
            return mock_detail::error_reply(72, "InvalidOptions", "autocommit:false needs lsid and txnNumber");
        auto& t = txns_[*lsid];
        if (mock_detail::get_bool(r.body, "startTransaction", false)) {
            if (*txn <= t.number)
                return mock_detail::error_reply(225, "TransactionTooOld",
                                                "txnNumber " + std::to_string(*txn) + " is too old");
            t = txn_state{};
            t.number = *txn;
            t.state = txn_state::phase::open;
            t.view = data_;
        } else if (t.number != *txn || t.state != txn_state::phase::open) {
            return no_such_transaction(*txn);
        }
        if (!mock_detail::is_write_command(name)) {
            if (auto d = ddl_locked(r, name, db)) return std::move(*d);
            return read_locked(m, r, name, db, t.view);
        }
        document reply = apply_write_locked(t.view, r, name, db);
        if (mock_detail::get_int(reply, "ok").value_or(0) == 1) t.ops.push_back(txn_op{name, db, r});
        return reply;
    }

    document end_transaction_locked(std::size_t m, const request& r, const std::string& name, bool& cut,
                                    bool& send_last) {
        auto lsid = lsid_key(r);
        auto txn = mock_detail::get_int(r.body, "txnNumber");
        if (!lsid || !txn) return mock_detail::error_reply(72, "InvalidOptions", name + " needs lsid and txnNumber");
        auto& t = txns_[*lsid];
        if (name == "abortTransaction") {
            if (t.number != *txn || t.state != txn_state::phase::open) return no_such_transaction(*txn);
            t.state = txn_state::phase::aborted;
            t.ops.clear();
            t.view = {};
            return ok();
        }
        if (t.number == *txn && t.state == txn_state::phase::committed) {  // a retried commit
            ++retried_;
            document reply = ok();
            add_write_concern_error_locked(m, r, name, reply);
            return reply;
        }
        if (t.number != *txn || t.state != txn_state::phase::open) return no_such_transaction(*txn);
        for (auto& op : t.ops) (void)apply_write_locked(data_, op.req, op.name, op.db);
        t.state = txn_state::phase::committed;
        t.ops.clear();
        t.view = {};
        count_write_locked(cut, send_last);
        document reply = ok();
        add_write_concern_error_locked(m, r, name, reply);
        return reply;
    }

    /// create, drop, dropDatabase, createIndexes, dropIndexes; nullopt for other commands.
    std::optional<document> ddl_locked(const request& r, const std::string& name, const std::string& db) {
        const std::string coll = mock_detail::get_string(r.body, name);
        const std::string ns = mock_detail::data_store::ns(db, coll);
        auto& colls = data_.colls;
        if (name == "create") {
            if (colls.count(ns))
                return mock_detail::error_reply(48, "NamespaceExists", "Collection " + ns + " already exists.");
            colls[ns];
            return ok();
        }
        if (name == "drop") {
            if (!colls.erase(ns)) return mock_detail::error_reply(26, "NamespaceNotFound", "ns not found");
            return ok();
        }
        if (name == "dropDatabase") {
            for (auto it = colls.begin(); it != colls.end();)
                it = it->first.rfind(db + ".", 0) == 0 ? colls.erase(it) : std::next(it);
            document d;
            bson_append_utf8(d.get(), "dropped", -1, db.c_str(), -1);
            return ok(std::move(d));
        }
        if (name == "createIndexes" || name == "dropIndexes") {
            const bool created = !colls.count(ns);
            colls[ns];
            document d;
            if (name == "createIndexes") {
                bson_append_int32(d.get(), "numIndexesBefore", -1, 1);
                bson_append_int32(d.get(), "numIndexesAfter", -1, 2);
                bson_append_bool(d.get(), "createdCollectionAutomatically", -1, created);
            }
            return ok(std::move(d));
        }
        return std::nullopt;
    }

    // ---- reads (mu_ held) --------------------------------------------------------------------

    /// First batch of `docs` and, when more remain, a cursor pinned to member m.
    document cursor_reply_locked(std::size_t m, const std::string& ns, std::vector<document> docs,
                                 std::optional<std::int64_t> batch_size, bool single_batch) {
        const auto want = static_cast<std::size_t>(std::max<std::int64_t>(0, batch_size.value_or(101)));
        const std::size_t n = std::min(docs.size(), want);
        std::int64_t id = 0;
        std::vector<document> first(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(n));
        if (!single_batch && n < docs.size()) {
            id = next_cursor_id_++;
            cursors_[id] = cursor_state{ns, m, std::move(docs), n};
        }
        return batch_reply(ns, id, "firstBatch", first);
    }

    static document batch_reply(const std::string& ns, std::int64_t id, const char* field,
                                const std::vector<document>& batch) {
        document d;
        bson_t c;
        bson_append_document_begin(d.get(), "cursor", -1, &c);
        mock_detail::append_array(&c, field, batch);
        bson_append_int64(&c, "id", 2, id);
        bson_append_utf8(&c, "ns", 2, ns.c_str(), -1);
        bson_append_document_end(d.get(), &c);
        return ok(std::move(d));
    }

    document find_locked(std::size_t m, const request& r, const std::string& db, const mock_detail::data_store& st) {
        const std::string ns = mock_detail::data_store::ns(db, mock_detail::get_string(r.body, "find"));
        auto docs = st.select(ns, mock_detail::get_doc(r.body, "filter"));
        mock_detail::sort_docs(docs, mock_detail::get_doc(r.body, "sort"));
        const std::int64_t skip_arg = mock_detail::get_int(r.body, "skip").value_or(0);
        auto skip = static_cast<std::size_t>(std::max<std::int64_t>(0, skip_arg));
        docs.erase(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(std::min(skip, docs.size())));
        const std::int64_t limit = mock_detail::get_int(r.body, "limit").value_or(0);
        const auto cap = static_cast<std::size_t>(std::abs(limit));
        if (limit != 0 && docs.size() > cap) docs.resize(cap);
        const auto projection = mock_detail::get_doc(r.body, "projection");
        for (auto& d : docs) d = mock_detail::project(d, projection);
        const bool single = mock_detail::get_bool(r.body, "singleBatch", false) || limit < 0;
        return cursor_reply_locked(m, ns, std::move(docs), mock_detail::get_int(r.body, "batchSize"), single);
    }

    document get_more_locked(std::size_t m, const request& r) {
        const std::int64_t id = mock_detail::get_int(r.body, "getMore").value_or(0);
        auto it = cursors_.find(id);
        if (it == cursors_.end() || it->second.member != m)
            return mock_detail::error_reply(43, "CursorNotFound", "cursor id " + std::to_string(id) + " not found");
        auto& cs = it->second;
        const std::size_t left = cs.docs.size() - cs.pos;
        const auto bs = mock_detail::get_int(r.body, "batchSize").value_or(0);
        const std::size_t n = bs > 0 ? std::min(left, static_cast<std::size_t>(bs)) : left;
        auto from = cs.docs.begin() + static_cast<std::ptrdiff_t>(cs.pos);
        std::vector<document> batch(from, from + static_cast<std::ptrdiff_t>(n));
        cs.pos += n;
        const std::string ns = cs.ns;
        std::int64_t next = id;
        if (cs.pos == cs.docs.size()) {
            cursors_.erase(it);
            next = 0;
        }
        return batch_reply(ns, next, "nextBatch", batch);
    }

    document kill_cursors_locked(const request& r) {
        std::vector<std::int64_t> killed, missing;
        for (auto& e : mock_detail::get_doc(r.body, "cursors")) {
            auto id = bson_iter_as_int64(&e);
            (cursors_.erase(id) ? killed : missing).push_back(id);
        }
        document d;
        auto put = [&](const char* key, const std::vector<std::int64_t>& ids) {
            bson_t arr;
            bson_append_array_begin(d.get(), key, -1, &arr);
            for (std::size_t i = 0; i < ids.size(); ++i) bson_append_int64(&arr, std::to_string(i).c_str(), -1, ids[i]);
            bson_append_array_end(d.get(), &arr);
        };
        put("cursorsKilled", killed);
        put("cursorsNotFound", missing);
        put("cursorsAlive", {});
        put("cursorsUnknown", {});
        return ok(std::move(d));
    }

    document distinct_locked(const request& r, const std::string& db, const mock_detail::data_store& st) const {
        const std::string ns = mock_detail::data_store::ns(db, mock_detail::get_string(r.body, "distinct"));
        const std::string key = mock_detail::get_string(r.body, "key");
        document values;  // the distinct values so far, as an array document
        std::uint32_t n = 0;
        for (auto& d : st.select(ns, mock_detail::get_doc(r.body, "query"))) {
            auto v = d.find(key);
            if (!v) continue;
            bool seen = false;
            for (auto& e : values.view()) seen = seen || mock_detail::values_equal(e, *v);
            if (!seen) bson_append_iter(values.get(), std::to_string(n++).c_str(), -1, &*v);
        }
        document d;
        bson_append_array(d.get(), "values", -1, values.get());
        return ok(std::move(d));
    }

    document aggregate_locked(std::size_t m, const request& r, const std::string& db,
                              const mock_detail::data_store& st) {
        const std::string ns = mock_detail::data_store::ns(db, mock_detail::get_string(r.body, "aggregate"));
        auto docs = st.select(ns, {});
        std::string err;
        if (!mock_detail::run_pipeline(docs, mock_detail::get_doc(r.body, "pipeline"), err))
            return mock_detail::error_reply(9, "FailedToParse", err);
        auto cur = mock_detail::get_doc(r.body, "cursor");
        return cursor_reply_locked(m, ns, std::move(docs), mock_detail::get_int(cur, "batchSize"), false);
    }

    document list_collections_locked(std::size_t m, const std::string& db, const mock_detail::data_store& st) {
        std::vector<document> out;
        for (auto& [n, _] : st.colls) {
            if (n.rfind(db + ".", 0) != 0) continue;
            document c;
            bson_append_utf8(c.get(), "name", 4, n.substr(db.size() + 1).c_str(), -1);
            bson_append_utf8(c.get(), "type", 4, "collection", -1);
            out.push_back(std::move(c));
        }
        return cursor_reply_locked(m, db + ".$cmd.listCollections", std::move(out), std::nullopt, false);
    }

    document list_databases_locked(const mock_detail::data_store& st) const {
        std::vector<document> dbs;
        for (auto& n : st.database_names()) {
            document e;
            bson_append_utf8(e.get(), "name", 4, n.c_str(), -1);
            bson_append_int64(e.get(), "sizeOnDisk", -1, 0);
            bson_append_bool(e.get(), "empty", -1, false);
            dbs.push_back(std::move(e));
        }
        document d;
        mock_detail::append_array(d.get(), "databases", dbs);
        bson_append_int64(d.get(), "totalSize", -1, 0);
        return ok(std::move(d));
    }

    document build_info_locked() const {
        // The release that introduced the wire version (17: 6.0).
        const std::int32_t w = opts_.max_wire_version;
        const int major = w >= 25 ? 8 : w >= 21 ? 7 : w >= 17 ? 6 : w >= 13 ? 5 : 4;
        const int minor = w >= 13 ? 0 : w >= 9 ? 4 : w >= 8 ? 2 : 0;
        document d;
        const std::string v = std::to_string(major) + "." + std::to_string(minor) + ".0";
        bson_append_utf8(d.get(), "version", -1, v.c_str(), -1);
        bson_t arr;
        bson_append_array_begin(d.get(), "versionArray", -1, &arr);
        const int parts[] = {major, minor, 0, 0};
        for (int i = 0; i < 4; ++i) bson_append_int32(&arr, std::to_string(i).c_str(), -1, parts[i]);
        bson_append_array_end(d.get(), &arr);
        bson_append_utf8(d.get(), "gitVersion", -1, "morm-mock", -1);
        bson_append_int32(d.get(), "maxBsonObjectSize", -1, opts_.max_bson_object_size);
        return ok(std::move(d));
    }

    document read_locked(std::size_t m, const request& r, const std::string& name, const std::string& db,
                         const mock_detail::data_store& st) {
        if (name == "ping" || name == "endSessions") return ok();
        if (name == "buildInfo" || name == "buildinfo") return build_info_locked();
        if (name == "find") return find_locked(m, r, db, st);
        if (name == "getMore") return get_more_locked(m, r);
        if (name == "killCursors") return kill_cursors_locked(r);
        if (name == "aggregate") return aggregate_locked(m, r, db, st);
        if (name == "distinct") return distinct_locked(r, db, st);
        if (name == "listDatabases") return list_databases_locked(st);
        if (name == "listCollections") return list_collections_locked(m, db, st);
        if (name == "count") {
            const std::string ns = mock_detail::data_store::ns(db, mock_detail::get_string(r.body, "count"));
            document d;
            bson_append_int32(d.get(), "n", 1,
                              static_cast<std::int32_t>(st.select(ns, mock_detail::get_doc(r.body, "query")).size()));
            return ok(std::move(d));
        }
        if (name == "listIndexes") {
            const std::string ns = mock_detail::data_store::ns(db, mock_detail::get_string(r.body, "listIndexes"));
            if (!st.colls.count(ns))
                return mock_detail::error_reply(26, "NamespaceNotFound", "ns does not exist: " + ns);
            std::vector<document> idx{document::from_json(R"({"v": 2, "key": {"_id": 1}, "name": "_id_"})")};
            return cursor_reply_locked(m, ns, std::move(idx), std::nullopt, false);
        }
        return mock_detail::error_reply(59, "CommandNotFound", "no such command: '" + name + "'");
    }

    // ---- state ----------------------------------------------------------------------------

    boost::asio::io_context ioc_;  // first: destroyed last, after every io object below
    mutable std::mutex mu_;
    mock_options opts_;
    std::vector<member_state> members_;
    std::int64_t term_ = 0;
    std::uint32_t ct_secs_ = 0, ct_inc_ = 1;
    mock_detail::data_store data_;
    std::map<std::int64_t, cursor_state> cursors_;
    std::int64_t next_cursor_id_ = 7001;
    std::map<std::string, document> retry_store_;  // lsid bytes # txnNumber -> reply
    std::map<std::string, std::int64_t> highest_txn_;
    std::map<std::string, txn_state> txns_;
    std::size_t retried_ = 0, writes_applied_ = 0;
    std::vector<fault> faults_;
    std::optional<std::size_t> cut_after_;
    bool cut_send_last_ = false;
    command_hook hook_;
    std::vector<recorded_command> log_;
    std::uint64_t next_conn_id_ = 0;
    // Server thread only.
    std::vector<std::unique_ptr<member_io>> io_;
    std::set<boost::asio::steady_timer*> waiters_;
    std::int32_t next_request_id_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace morm_test
