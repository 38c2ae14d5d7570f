// Cursor iteration as algorithms: getMore until a batch holds documents or the cursor is
// exhausted (a live cursor may answer with an empty batch, e.g. a tailable one or a slow
// aggregation), and killCursors.
#pragma once

#include <array>

#include <morm/error.hpp>
#include <morm/wire/algo/next_action.hpp>
#include <morm/wire/frame_buffer.hpp>

#include <cstdint>
#include <span>
#include <string_view>

namespace morm::wire::algo {

/// Done with success once a non-empty batch arrived or the server returned cursor id 0;
/// batch() then views the batch inside the last reply frame (valid until the driver's
/// next write on that connection). ok:0 (e.g. CursorNotFound) is errc::server_error:
/// the cursor is gone, cursor_id() reads 0.
///
/// Empty batches of a live cursor: the algorithm asks again, in a loop (one frame buffer,
/// constant memory, any number of round trips in one driver run, so the run's deadline,
/// each read's socket timeout and a cancellation all end it). morm's cursors are never
/// tailable, and a server answers an empty batch of a live non-tailable cursor only
/// rarely (a slow shard behind mongos); one that keeps doing so is broken or hostile.
/// After `max_empty_batches` consecutive empty batches the algorithm stops with
/// errc::protocol; the cursor id is kept, so the caller can still kill the cursor.
/// Also errc::protocol: a reply whose cursor is malformed (see wire::parse_cursor_reply)
/// or names another namespace than "db.collection".
class get_more_algo {
public:
    /// Consecutive empty batches tolerated from a live cursor (see above).
    static constexpr std::size_t default_max_empty_batches = 1000;

    /// `db`, `collection`, `out` and `request_id` must outlive the algorithm.
    get_more_algo(frame_buffer& out, std::int32_t& request_id, std::string_view db, std::string_view collection,
                  std::int64_t cursor_id, std::int32_t batch_size,
                  const std::array<std::uint8_t, 16>* lsid = nullptr,
                  std::size_t max_empty_batches = default_max_empty_batches) noexcept
        : out_(out), rid_(request_id), db_(db), coll_(collection), id_(cursor_id), batch_size_(batch_size), lsid_(lsid),
          max_empty_(max_empty_batches) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }

    std::int64_t cursor_id() const noexcept { return id_; }
    std::span<const std::uint8_t> batch() const noexcept { return {batch_data_, batch_len_}; }
    std::size_t batch_count() const noexcept { return count_; }
    std::size_t round_trips() const noexcept { return round_trips_; }

private:
    next_action send();
    bool ns_matches(std::string_view ns) const noexcept;

    frame_buffer& out_;
    std::int32_t& rid_;
    std::string_view db_, coll_;
    std::int64_t id_;
    std::int32_t batch_size_;
    const std::array<std::uint8_t, 16>* lsid_;
    diagnostics diag_;
    std::int32_t sent_id_ = 0;
    bool awaiting_write_ = false;
    const std::uint8_t* batch_data_ = nullptr;
    std::uint32_t batch_len_ = 0;
    std::size_t count_ = 0;
    std::size_t round_trips_ = 0;
    std::size_t max_empty_;
    std::size_t empty_ = 0;  // consecutive empty batches so far
};

/// killCursors for one cursor; done with the reply's outcome (ok:0 is errc::server_error).
class kill_cursors_algo {
public:
    kill_cursors_algo(frame_buffer& out, std::int32_t& request_id, std::string_view db, std::string_view collection,
                      std::int64_t cursor_id, const std::array<std::uint8_t, 16>* lsid = nullptr) noexcept
        : out_(out), rid_(request_id), db_(db), coll_(collection), id_(cursor_id), lsid_(lsid) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }
    std::size_t killed() const noexcept { return killed_; }

private:
    frame_buffer& out_;
    std::int32_t& rid_;
    std::string_view db_, coll_;
    std::int64_t id_;
    const std::array<std::uint8_t, 16>* lsid_;
    diagnostics diag_;
    std::int32_t sent_id_ = 0;
    int step_ = 0;
    std::size_t killed_ = 0;
};

}  // namespace morm::wire::algo
