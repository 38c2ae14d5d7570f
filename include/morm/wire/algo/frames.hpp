// Helpers the algorithms and the driver share to look at OP_MSG frames: check that a
// reply answers the request it should, encode a command value into a frame, walk the
// frames of an outgoing buffer, and rebuild a command document (body plus kind-1
// sequences as arrays) for command monitoring. Sans-io.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/op_msg.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace morm::wire::algo {

/// Parses `frame` and checks it is the reply to `request_id` (and not a moreToCome
/// stream, which morm never asks for). Failures are errc::protocol.
[[nodiscard]] error_code parse_reply_frame(std::span<const std::uint8_t> frame, std::int32_t request_id,
                                           op_msg_view& out, diagnostics& diag);

/// Appends one frame holding `cmd.serialize(body)` (a command value) to `out`.
template <class Command>
void encode_command(frame_buffer& out, std::int32_t request_id, const Command& cmd) {
    op_msg_writer w(out, request_id);
    cmd.serialize(w.begin_body());
    w.end_body();
    w.finish();
}

/// One frame of an outgoing buffer, as the driver sees it.
struct frame_info {
    std::span<const std::uint8_t> bytes;
    std::int32_t request_id = 0;
    bool expects_reply = true;  ///< false for moreToCome frames
};

/// Calls `f(frame_info)` for each complete frame in `bytes`; returns how many expect a reply.
template <class F>
std::size_t for_each_frame(std::span<const std::uint8_t> bytes, F&& f) {
    std::size_t off = 0, replies = 0;
    while (off + header_size + 4 <= bytes.size()) {
        auto le32 = [&](std::size_t at) {
            const std::uint8_t* p = bytes.data() + at;
            return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                   static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
        };
        const std::size_t len = le32(off);
        if (len < header_size + 4 || off + len > bytes.size()) break;
        frame_info fi{bytes.subspan(off, len), static_cast<std::int32_t>(le32(off + 4)),
                      (le32(off + header_size) & flags::more_to_come) == 0};
        replies += fi.expects_reply;
        f(fi);
        off += len;
    }
    return replies;
}

/// Builds into `out` (initialised by the callee; destroy it) the command a request frame
/// carries: its body plus each kind-1 sequence as an array field, as command monitoring
/// reports it. `name`/`db` are views into the frame. False on a malformed frame.
bool command_from_frame(std::span<const std::uint8_t> frame, bson_t* out, std::string_view& name,
                        std::string_view& db);

}  // namespace morm::wire::algo
