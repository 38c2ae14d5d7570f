// Splits a write group (insert/update/delete statements to one collection) into OP_MSG
// frames by the server's limits: at most maxWriteBatchSize statements per command, frames
// no larger than maxMessageSizeBytes, and no statement above maxBsonObjectSize (+16 KiB of
// update/delete overhead, as the server allows). Statements are encoded straight into the
// frame buffer; a statement that cannot be encoded or is too large is marked failed in
// the group's outcomes and not sent.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/handshake.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace morm::wire::algo {

/// One encoded frame of a write run.
struct write_frame {
    std::size_t group = 0;
    std::int32_t request_id = 0;
    std::vector<std::uint32_t> items;  ///< item index of each statement in the frame, in order
    std::int64_t txn_number = 0;        ///< its txnNumber (retryable writes), 0 = none
};

/// The session a write run belongs to: fields appended to every command (lsid,
/// $clusterTime, transaction fields) and, for retryable writes, the counter each command
/// draws its txnNumber from.
struct write_session {
    std::function<void(struct _bson_t*)> fields;
    std::int64_t* txn_counter = nullptr;  ///< null: no txnNumber (not retryable)
    bool one_txn_number = false;          ///< a transaction: every command shares one number
};

struct write_limits {
    std::size_t max_bson_object_size = 16 * 1024 * 1024;
    std::size_t max_message_size = 48'000'000;
    std::size_t max_write_batch_size = 100'000;
    static write_limits from(const server_description& sd) noexcept {
        return {static_cast<std::size_t>(sd.max_bson_object_size), static_cast<std::size_t>(sd.max_message_size_bytes),
                static_cast<std::size_t>(sd.max_write_batch_size)};
    }
};

/// Encodes items [next, g.count) of group `g` (index `gi` in its run) as frames appended
/// to `out`, at most `max_frames` of them (0 = no limit), each with a fresh request id
/// from `request_id`. Returns the index of the first item not encoded.
std::size_t split_write_group(frame_buffer& out, std::int32_t& request_id, const write_limits& limits,
                              write_group& g, std::size_t gi, std::size_t next, std::size_t max_frames,
                              std::vector<write_frame>& frames, const write_session* session = nullptr);

/// Encodes frame `f` again, exactly (the same items, the same txnNumber), with a fresh
/// request id: the retry of a retryable write on another connection. Returns false if an
/// item no longer encodes (it is then marked failed and the frame is not written).
bool reencode_write_frame(frame_buffer& out, std::int32_t& request_id, const write_limits& limits, write_group& g,
                          write_frame& f, const write_session* session);

}  // namespace morm::wire::algo
