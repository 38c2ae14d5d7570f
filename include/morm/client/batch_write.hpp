// The client's batch-write API: groups of same-kind writes (insert, update or delete
// statements to one collection) that client::write_groups() encodes straight into
// OP_MSG frames, pipelines over one pooled connection and answers with one outcome per
// item. collection::bulk_write and the ORM's unit of work both write through it; the
// caller never sees a connection, a pool or a frame.
#pragma once

#include <morm/bson/byte_buffer.hpp>
#include <morm/client/options.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace morm {

enum class write_kind : std::uint8_t { insert, update, remove };

/// What happened to one item of a write group.
struct item_outcome {
    enum class state : std::uint8_t {
        pending,         ///< not sent (e.g. after an ordered failure, or the commit aborted)
        ok,              ///< acknowledged by the server
        failed,          ///< rejected (writeError, too large, encode error); see code/message
        unacknowledged,  ///< sent, but the connection died before its reply: outcome unknown
    };
    state st = state::pending;
    errc error = errc::ok;     ///< errc::write_error, document_too_large, encode_error, ...
    std::int32_t code = 0;     ///< server code (e.g. 11000 duplicate key)
    std::string code_name;
    std::string message;
    /// The server's `n` for this item (matched/deleted), when it was alone in its command
    /// (write_group::max_batch == 1): how version-checked writes detect a conflict.
    std::int64_t n = -1;
};

/// What a write group's encoder returns when a statement's appends failed: the statement
/// is not sent (a `q` left out would match every document).
[[nodiscard]] inline error_code statement_not_built(diagnostics& d) {
    d.message = "the write statement could not be built; it was not sent";
    return make_error_code(errc::encode_error);
}

/// One run of same-kind writes to one collection (an insert, update or delete command,
/// split into as many frames as the limits need).
struct write_group {
    std::string db;
    std::string collection;
    write_kind kind = write_kind::insert;
    bool ordered = false;  ///< ordered groups stop at the first error and are not pipelined
    bool bypass_document_validation = false;
    const write_concern* wc = nullptr;
    std::size_t count = 0;
    /// Items per command; 0 = the server's maxWriteBatchSize. 1 gives a per-item `n`
    /// (still pipelined: one frame per item, all in one write).
    std::size_t max_batch = 0;
    /// Appends item `i`'s document (insert: the document; update: {q,u,upsert,multi,...};
    /// delete: {q,limit}) to `dst`. Return an error to fail only that item.
    std::function<error_code(std::size_t i, struct _bson_t* dst, diagnostics& diag)> encode;
    /// Optional faster path: appends item `i` as a complete BSON document straight to the
    /// frame buffer (e.g. with codec::encode_raw), restoring its size on error. Used
    /// instead of `encode` when set.
    std::function<error_code(std::size_t i, bson::byte_buffer& out, diagnostics& diag)> encode_raw;

    // Results, filled by run_write_pipeline.
    std::vector<item_outcome> outcomes;  ///< one per item
    std::int64_t n = 0;                  ///< inserted / matched / deleted
    std::int64_t n_modified = 0;
    struct upsert_info {
        std::size_t index;
        bson_value_t id;
    };
    std::vector<upsert_info> upserted;  ///< owns the values: free with clear_upserted()
    std::optional<diagnostics> write_concern_error;

    write_group() = default;
    write_group(write_group&&) noexcept = default;
    write_group& operator=(write_group&&) noexcept = default;
    ~write_group() { clear_upserted(); }
    void clear_upserted() {
        for (auto& u : upserted) bson_value_destroy(&u.id);
        upserted.clear();
    }
    std::size_t count_in(item_outcome::state s) const {
        std::size_t k = 0;
        for (auto& o : outcomes) k += o.st == s;
        return k;
    }
};

/// Statistics of one pipeline run (for tests and benchmarks).
struct pipeline_stats {
    std::size_t frames = 0;         ///< OP_MSG frames sent
    std::size_t writes = 0;         ///< exchanges (each one socket write of all its frames)
    std::size_t bytes = 0;
};

}  // namespace morm
