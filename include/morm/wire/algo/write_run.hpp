// The pipelined write run: the write groups of a bulk write or a commit, encoded into
// frames (batch_splitter.hpp) and exchanged so that
//   - a run of consecutive unordered groups goes out as ONE write of all its frames
//     before the first reply is read;
//   - an ordered group goes one frame at a time and the whole run stops at its first
//     failed item;
// and every reply is mapped back to per-item outcomes: ok / failed (writeError, ok:0,
// too large) / unacknowledged (its frame was written, its reply never came) / pending
// (never sent). On an I/O or protocol failure the run is done with that error; items
// acknowledged before keep their outcome. A reply that parses as OP_MSG but whose body is
// malformed (see wire::parse_write_reply: corrupt writeErrors, an index outside the
// command, counts of the wrong type) is a protocol failure too: its frame and the frames
// after it are `unacknowledged` (outcome unknown), never `ok`, and are not retried.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/error.hpp>
#include <morm/wire/algo/batch_splitter.hpp>
#include <morm/wire/algo/next_action.hpp>
#include <morm/wire/frame_buffer.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace morm::wire {
struct write_reply;
}

namespace morm::wire::algo {

class write_run_algo {
public:
    /// `groups`, `out`, `request_id` and `stats` (may be null) must outlive the algorithm.
    /// Resets every group's results on the first resume.
    /// `session` (may be null; must outlive the algorithm) adds lsid/$clusterTime and, when
    /// it has a txn counter, makes the run retryable: commands that fail on the network or
    /// with a retryable error are kept for one retry (needs_retry(), retry_on()).
    write_run_algo(std::span<write_group> groups, frame_buffer& out, std::int32_t& request_id,
                   const write_limits& limits, pipeline_stats* stats = nullptr,
                   const write_session* session = nullptr)
        : groups_(groups), out_(&out), rid_(&request_id), limits_(limits), stats_(stats), session_(session) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }

    /// The run stopped on a retryable failure (network error, or a command refused with a
    /// retryable error) and has commands to send again; false after the one retry.
    bool needs_retry() const noexcept { return !retry_.empty() && !retried_; }
    /// Prepares the retry on another connection: the commands whose outcome is unknown (and
    /// those refused with a retryable error) are encoded again with their txnNumbers, then
    /// the run goes on with the groups not sent yet. Run the algorithm again afterwards.
    void retry_on(frame_buffer& out, std::int32_t& request_id, const write_limits& limits);
    /// Commands re-sent by the retry, and their statements.
    std::size_t retried_frames() const noexcept { return retried_frames_; }
    std::size_t retried_items() const noexcept { return retried_items_; }
    /// Address of the server whose reply asked for the retry (empty on a network error).
    std::int32_t retry_code() const noexcept { return retry_code_; }

    /// The frames of the exchange in flight (or the last one).
    const std::vector<write_frame>& frames() const noexcept { return frames_; }

private:
    enum class step : std::uint8_t { start, planning, writing, reading, finished, retrying };
    next_action plan_next();
    next_action on_reply(std::span<const std::uint8_t> frame);
    next_action fail(error_code ec, std::size_t first_unanswered, bool retry = true);
    /// Maps one reply to its frame's outcomes; errc::protocol (diag_ says why) when the
    /// reply is malformed, and then nothing of it is applied.
    [[nodiscard]] error_code apply_reply(const write_frame& f, const bson_t* body);
    [[nodiscard]] error_code check_reply_indexes(const write_frame& f, const write_reply& r, diagnostics& d) const;
    bool ordered_failed(std::size_t gi) const;
    bool retryable_reply(const diagnostics& d) const;
    void keep_for_retry(std::size_t first, std::size_t last);

    std::span<write_group> groups_;
    frame_buffer* out_;
    std::int32_t* rid_;
    write_limits limits_;
    pipeline_stats* stats_;
    const write_session* session_;
    std::vector<write_frame> retry_;
    bool retried_ = false;
    std::size_t retried_frames_ = 0, retried_items_ = 0;
    std::int32_t retry_code_ = 0;
    diagnostics diag_;
    step step_ = step::start;
    std::vector<write_frame> frames_;
    std::size_t replies_ = 0;   // replies applied in the current exchange
    std::size_t gi_ = 0;        // next group to plan
    std::size_t next_item_ = 0; // ordered group: next item to encode
};

}  // namespace morm::wire::algo
