// getMore as a value, and its reply (the next batch of a cursor). Sans-io.
#pragma once

#include <array>
#include <cstdint>

#include <morm/error.hpp>
#include <morm/wire/reply.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <string_view>

namespace morm::wire::commands {

struct get_more {
    std::int64_t cursor_id = 0;
    std::string_view collection;
    std::string_view db;
    std::int32_t batch_size = 0;  ///< 0: the server's default
    const std::array<std::uint8_t, 16>* lsid = nullptr;  ///< the cursor's session, sent as lsid
    void serialize(bson_t* body) const;
};

/// The batch is a view into `reply` (nextBatch). ok:0 is errc::server_error (e.g.
/// CursorNotFound); a reply without a cursor is errc::protocol.
[[nodiscard]] error_code parse_get_more_reply(const bson_t* reply, cursor_reply& out, diagnostics& diag);

}  // namespace morm::wire::commands
