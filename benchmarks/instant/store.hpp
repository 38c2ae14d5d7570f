// The instant server's in-memory store and command handler: a MEASURING INSTRUMENT for
// client-bound benchmarks, not a database. It keeps documents by `_id` in hash maps so a
// client reads back what it wrote, answers at once, and refuses what it does not implement
// with a clear error (code 59, CommandNotFound, or 2, BadValue, naming the command, operator
// or option) rather than pretending. Tests of behaviour use FerretDB.
//
// Implemented: hello / isMaster (OP_MSG and the legacy OP_QUERY handshake), ping, buildInfo,
// endSessions, insert, update ($set, $unset, $inc, $setOnInsert, replacement, upsert, multi),
// delete, findAndModify (no sort), find (filters: equality on a dotted path, array elements
// included, `$eq`, `$in`; sort on dotted paths for numbers, strings, ObjectIds, dates and
// booleans; projection of top-level fields; limit, skip, batchSize, singleBatch), getMore, killCursors,
// count, drop, dropDatabase, create, createIndexes and listIndexes (no indexes are kept),
// listCollections. Not implemented (refused): aggregate, transactions, auth, every other
// query operator. Write concern, read concern, lsid, $clusterTime are accepted and ignored.
//
// Sans-io: `handle(frame, out)` takes one complete frame and appends the reply frame (if
// any); the network loop lives in instant_server.cpp. One store per process, one thread.
#pragma once

#include <morm/wire/frame_buffer.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace morm_bench::instant {

/// A collection: documents (raw BSON) keyed by their `_id` value's type byte + value bytes.
struct collection {
    std::unordered_map<std::string, std::string> docs;
};

/// An open cursor: copies of the documents still to return (a snapshot: later writes do not
/// change what it yields, as with a server's snapshot read).
struct cursor {
    std::string ns;
    std::vector<std::string> docs;
    std::size_t pos = 0;
};

/// A document inside a request frame (a vector of bson_t would drop its 128-byte alignment).
struct doc_ref {
    const std::uint8_t* data = nullptr;
    std::size_t len = 0;
    bson_t view() const {
        bson_t b;
        bson_init_static(&b, data, len);
        return b;
    }
};

/// The error a command fails with: {ok: 0, errmsg, code, codeName}.
struct command_error {
    int code = 0;
    std::string message;
};

class store {
public:
    /// Handles one complete frame (header included, already length-checked); appends the
    /// reply to `out` unless the request set moreToCome. Returns false when the frame is
    /// not OP_MSG/OP_QUERY or not valid: the caller closes the connection.
    bool handle(const std::uint8_t* frame, std::size_t len, morm::wire::frame_buffer& out);

    /// Command names refused for the first time since the last call (each is logged once).
    std::vector<std::string> take_new_refusals() { return std::exchange(new_refusals_, {}); }

private:
    bool handle_op_query(const std::uint8_t* frame, std::size_t len, morm::wire::frame_buffer& out);
    void dispatch(std::string_view cmd, const bson_t& body, const std::vector<doc_ref>& docs, bson_t* reply);

    void do_insert(const bson_t& body, const std::vector<doc_ref>& docs, bson_t* reply);
    void do_update(const bson_t& body, const std::vector<doc_ref>& docs, bson_t* reply);
    void do_delete(const bson_t& body, const std::vector<doc_ref>& docs, bson_t* reply);
    void do_find_and_modify(const bson_t& body, bson_t* reply);
    void do_find(const bson_t& body, bson_t* reply);
    void do_get_more(const bson_t& body, bson_t* reply);
    void do_kill_cursors(const bson_t& body, bson_t* reply);
    void do_count(const bson_t& body, bson_t* reply);
    void do_drop(const bson_t& body, bson_t* reply);
    void do_drop_database(const bson_t& body, bson_t* reply);
    void do_list_collections(const bson_t& body, bson_t* reply);

    /// Ids of the documents of `c` that `filter` matches, at most `limit` (0: all).
    std::vector<std::string> match(const collection& c, const bson_t& filter, std::size_t limit);

    std::map<std::string, collection, std::less<>> colls_;  // "db.coll"
    std::unordered_map<std::int64_t, cursor> cursors_;
    std::int64_t next_cursor_ = 0;
    std::int32_t reply_id_ = 0;
    std::int32_t connection_id_ = 0;
    std::set<std::string> refused_;
    std::vector<std::string> new_refusals_;
};

}  // namespace morm_bench::instant
