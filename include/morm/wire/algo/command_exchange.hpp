// The two simplest algorithms: one prebuilt command and its reply, and a pipelined run of
// prebuilt frames whose replies are handed to a callback in request order. What
// connection::async_command and connection::async_exchange run.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/algo/next_action.hpp>
#include <morm/wire/op_msg.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <functional>
#include <span>

namespace morm::wire::algo {

/// write(frame) -> read -> done. ok:0 finishes with errc::server_error (the server's
/// code and message in diag()); `on_reply` (may be empty) sees an ok:1 body.
class command_algo {
public:
    using reply_fn = std::function<void(const struct _bson_t*)>;
    command_algo(std::span<const std::uint8_t> frame, std::int32_t request_id, const reply_fn* on_reply) noexcept
        : frame_(frame), request_id_(request_id), on_reply_(on_reply) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }

private:
    std::span<const std::uint8_t> frame_;
    std::int32_t request_id_;
    const reply_fn* on_reply_;
    diagnostics diag_;
    int step_ = 0;
};

/// write(all frames) -> read x N -> done. Each reply is checked against its request id
/// and given to `on_reply(index, reply)`; replies_done() tells how many were.
class exchange_algo {
public:
    using reply_fn = std::function<void(std::size_t, const op_msg_view&)>;
    exchange_algo(std::span<const std::uint8_t> frames, std::span<const std::int32_t> request_ids,
                  const reply_fn& on_reply) noexcept
        : frames_(frames), ids_(request_ids), on_reply_(on_reply) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }
    std::size_t replies_done() const noexcept { return done_; }

private:
    std::span<const std::uint8_t> frames_;
    std::span<const std::int32_t> ids_;
    const reply_fn& on_reply_;
    diagnostics diag_;
    std::size_t done_ = 0;
    int step_ = 0;  // 0: write next, 1: the write completed, 2: reading replies
};

}  // namespace morm::wire::algo
