// Command replies parsed into typed results and typed errors. Sans-io: input is the
// body document of an OP_MSG reply.
#pragma once

#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <optional>
#include <string>
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
[[nodiscard]] error_code parse_write_reply(const bson_t* body, write_reply& out, diagnostics& diag);

/// The `cursor` sub-document of find/aggregate/getMore/listX replies. The batch is a view
/// into the reply body: valid while the reply bytes are.
struct cursor_reply {
    std::int64_t id = 0;
    std::string ns;
    const std::uint8_t* batch_data = nullptr;  ///< BSON array document (firstBatch/nextBatch)
    std::uint32_t batch_len = 0;
};
[[nodiscard]] error_code parse_cursor_reply(const bson_t* body, cursor_reply& out, diagnostics& diag);

/// Copies a reply's message into diagnostics (helper for server errors).
void fill_server_error(const bson_t* body, diagnostics& diag);

}  // namespace morm::wire
