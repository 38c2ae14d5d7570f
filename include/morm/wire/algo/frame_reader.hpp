// Cuts a received byte stream into OP_MSG frames, sans-io: the driver reads into
// prepare(), reports how much arrived with commit(), and takes complete frames with
// next_frame(). A reply split across any number of reads comes out whole.
//
// Frames are handed out as offsets (a frame_ref), because the buffer may grow (and move)
// while later frames are still arriving; frame() turns one into bytes.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/op_msg.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace morm::wire::algo {

struct frame_ref {
    std::size_t offset = 0;
    std::size_t size = 0;
};

class frame_reader {
public:
    /// Writable space of at least `min_size` bytes after the data already received.
    std::span<std::uint8_t> prepare(std::size_t min_size = 64 * 1024);
    /// `n` bytes were written into the span prepare() returned.
    void commit(std::size_t n) noexcept;

    /// Takes the next complete frame if one is buffered (`ready`); the header's length is
    /// checked against `max_message_size` before anything is reserved for the body.
    [[nodiscard]] error_code next_frame(std::int32_t max_message_size, bool& ready, frame_ref& out,
                                        diagnostics& diag);

    std::span<const std::uint8_t> frame(frame_ref r) const noexcept { return {buf_.data() + r.offset, r.size}; }

    /// Forgets the frames already taken (moves the unread rest to the front). Invalidates
    /// every frame_ref and span handed out so far.
    void discard_taken() noexcept;
    /// Drops everything (a new connection).
    void reset() noexcept;
    std::size_t buffered() const noexcept { return buf_.size() - begin_; }

private:
    frame_buffer buf_;
    std::size_t begin_ = 0;  // unread window is [begin_, buf_.size())
};

}  // namespace morm::wire::algo
