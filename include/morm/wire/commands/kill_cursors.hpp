// killCursors as a value, and its reply. Sans-io.
#pragma once

#include <array>
#include <cstdint>

#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace morm::wire::commands {

struct kill_cursors {
    std::string_view collection;
    std::string_view db;
    std::span<const std::int64_t> cursor_ids;
    const std::array<std::uint8_t, 16>* lsid = nullptr;  ///< the cursor's session, sent as lsid
    void serialize(bson_t* body) const;
};

struct kill_cursors_result {
    std::size_t killed = 0;     ///< length of cursorsKilled
    std::size_t not_found = 0;  ///< length of cursorsNotFound
};

[[nodiscard]] error_code parse_kill_cursors_reply(const bson_t* reply, kill_cursors_result& out, diagnostics& diag);

}  // namespace morm::wire::commands
