// Command replies parsed into typed results and typed errors. Sans-io: input is the
// body document of an OP_MSG reply.
#pragma once

#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace morm::wire {

/// ok:0 replies become errc::server_error with the server's code, codeName, errmsg and
/// errorLabels in `diag`. Returns success for ok:1.
[[nodiscard]] error_code check_command_reply(const bson_t* body, diagnostics& diag);

/// One rejected document of a write command; `index` is relative to that command's batch.
struct write_error {
    std::int32_t index = 0;
    std::int32_t code = 0;
    std::string code_name;
    std::string message;
};

/// An integer field of a reply: int32, int64, or a double holding an integer in int64's
/// range. False for any other type (never a silent 0, never an out-of-range cast).
[[nodiscard]] bool read_integer(const bson_iter_t& it, std::int64_t& out) noexcept;

/// Result of insert/update/delete commands.
struct write_reply {
    std::int64_t n = 0;            ///< inserted / matched / deleted
    std::int64_t n_modified = 0;   ///< update only
    std::vector<write_error> write_errors;
    std::optional<diagnostics> write_concern_error;
    /// Upserted documents: index in the batch + the _id value (owned copy).
    struct upserted_id {
        std::int32_t index = 0;
        bson_value_t id{};
    };
    std::vector<upserted_id> upserted;

    write_reply() = default;
    write_reply(const write_reply&) = delete;
    write_reply& operator=(const write_reply&) = delete;
    write_reply(write_reply&& o) noexcept;
    write_reply& operator=(write_reply&& o) noexcept;
    ~write_reply();
    void clear();
};

/// Parses a write command reply. ok:0 gives errc::server_error (the whole command failed);
/// writeErrors do NOT make this fail — they are per-document outcomes in `out`.
/// A reply that does not have the documented shape is errc::protocol and `out` is left
/// empty: `n`/`nModified` not non-negative integers; writeErrors not an array of documents
/// each with an integer index >= 0 and an integer code (codeName/errmsg strings when
/// present), or naming an index twice; writeConcernError not a document with an integer
/// code; upserted not an array of {index, _id} documents. Whether each index lies inside
/// the command's batch is the caller's to check (write_run_algo does).
[[nodiscard]] error_code parse_write_reply(const bson_t* body, write_reply& out, diagnostics& diag);

/// The `cursor` sub-document of find/aggregate/getMore/listX replies. The batch is a view
/// into the reply body: valid while the reply bytes are.
struct cursor_reply {
    std::int64_t id = 0;
    std::string ns;
    const std::uint8_t* batch_data = nullptr;  ///< BSON array document (firstBatch/nextBatch)
    std::uint32_t batch_len = 0;
};
/// errc::protocol unless the reply has a `cursor` document with an int32/int64 `id`, a
/// string `ns` when present, and a firstBatch/nextBatch array whose every element is a
/// document (an entry of another type is never skipped silently).
[[nodiscard]] error_code parse_cursor_reply(const bson_t* body, cursor_reply& out, diagnostics& diag);

/// errc::protocol unless [data, data+len) is a BSON array of documents only; `what` names
/// it in the message (e.g. "cursor.firstBatch").
[[nodiscard]] error_code check_batch(const std::uint8_t* data, std::uint32_t len, std::string_view what,
                                     diagnostics& diag);

/// Copies a reply's message into diagnostics (helper for server errors).
void fill_server_error(const bson_t* body, diagnostics& diag);

}  // namespace morm::wire
