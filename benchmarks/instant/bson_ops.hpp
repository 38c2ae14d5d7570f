// BSON helpers of the instant server (a benchmark instrument): value equality, dotted-path
// matching with array traversal, and the update operators it implements. Inputs are
// documents the wire layer already validated.
#pragma once

#include "store.hpp"

#include <bson/bson.h>

#include <cstring>
#include <string>
#include <string_view>

namespace morm_bench::instant {

[[noreturn]] inline void fail(int code, std::string message) { throw command_error{code, std::move(message)}; }

inline std::string str_field(const bson_t& body, const char* key) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, &body, key) && BSON_ITER_HOLDS_UTF8(&it)) return bson_iter_utf8(&it, nullptr);
    return {};
}

inline std::int64_t int_field(const bson_t& body, const char* key, std::int64_t dflt) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, &body, key) && BSON_ITER_HOLDS_NUMBER(&it)) return bson_iter_as_int64(&it);
    return dflt;
}

inline bool bool_field(const bson_t& body, const char* key, bool dflt) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, &body, key)) return bson_iter_as_bool(&it);
    return dflt;
}

/// A sub-document (or array) field as a static bson_t; an empty document when missing.
inline bson_t doc_field(const bson_t& body, const char* key) {
    bson_iter_t it;
    bson_t out;
    if (bson_iter_init_find(&it, &body, key) && (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it))) {
        std::uint32_t len;
        const std::uint8_t* data;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &len, &data);
        else bson_iter_array(&it, &len, &data);
        bson_init_static(&out, data, len);
        return out;
    }
    bson_init(&out);
    return out;
}

/// "<$db>.<the command's collection>".
inline std::string ns_of(const bson_t& body, const char* cmd) {
    std::string coll = str_field(body, cmd);
    if (coll.empty()) fail(73, std::string("instant_server: '") + cmd + "' needs a collection name");
    std::string db = str_field(body, "$db");
    return (db.empty() ? "test" : db) + "." + coll;
}

/// The value bytes of the element `it` is on (everything after the key).
inline std::string_view value_bytes(const bson_iter_t& it) {
    return {reinterpret_cast<const char*>(it.raw + it.d1), it.next_off - it.d1};
}

/// The identity of an `_id`: type byte + value bytes (so 1 and "1" differ, as on a server
/// for the purpose of the hash map; numeric _ids of different types are normalised below).
inline std::string id_key(const bson_iter_t& it) {
    bson_type_t t = bson_iter_type(&it);
    if (t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE) {
        double d = bson_iter_as_double(&it);
        std::string k(1, 'n');
        k.append(reinterpret_cast<const char*>(&d), sizeof d);
        return k;
    }
    std::string k(1, static_cast<char>(t));
    k.append(value_bytes(it));
    return k;
}

inline bool is_number(bson_type_t t) {
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE;
}

inline bool values_equal(const bson_iter_t& a, const bson_iter_t& b) {
    bson_type_t ta = bson_iter_type(&a), tb = bson_iter_type(&b);
    if (is_number(ta) && is_number(tb)) {
        if (ta != BSON_TYPE_DOUBLE && tb != BSON_TYPE_DOUBLE) return bson_iter_as_int64(&a) == bson_iter_as_int64(&b);
        return bson_iter_as_double(&a) == bson_iter_as_double(&b);
    }
    return ta == tb && value_bytes(a) == value_bytes(b);
}

/// Does `doc` hold `value` at the dotted `path`? Arrays on the way match if any element
/// does (MongoDB's implicit array traversal); a numeric part indexes an array.
bool path_equals(const std::uint8_t* doc, std::size_t len, std::string_view path, const bson_iter_t& value);

/// `doc` with a top-level 0/1 projection applied (the whole document when `proj` is empty).
std::string project(const std::string& doc, const bson_t& proj);

/// Orders documents by a sort specification ({path: 1 | -1, ...}), MongoDB's type order for
/// the types it knows (missing < null < numbers < strings < documents < ObjectId < bool < date).
bool sort_less(const std::string& a, const std::string& b, const bson_t& sort);

/// The document with `path` set to `value` (sub-documents created as needed).
bson_t* with_path_set(const bson_t& doc, std::string_view path, const bson_iter_t& value);
/// The document without `path`.
bson_t* with_path_unset(const bson_t& doc, std::string_view path);
/// The document with the number at `path` incremented by `by` (created when missing).
bson_t* with_path_inc(const bson_t& doc, std::string_view path, const bson_iter_t& by);

}  // namespace morm_bench::instant
