#include <morm/wire/algo/frame_reader.hpp>

#include <cstring>

namespace morm::wire::algo {

std::span<std::uint8_t> frame_reader::prepare(std::size_t min_size) {
    const std::size_t old = buf_.size();
    if (buf_.capacity() - old < min_size) buf_.reserve(old + min_size);
    return {buf_.data() + old, buf_.capacity() - old};
}

void frame_reader::commit(std::size_t n) noexcept { buf_.set_size_unchecked(buf_.size() + n); }

[[nodiscard]] error_code frame_reader::next_frame(std::int32_t max_message_size, bool& ready, frame_ref& out, diagnostics& diag) {
    ready = false;
    if (buffered() < header_size) return {};
    message_header h;
    if (auto e = parse_header(std::span<const std::uint8_t, header_size>(buf_.data() + begin_, header_size), h,
                              max_message_size, diag))
        return e;
    const auto len = static_cast<std::size_t>(h.message_length);
    if (buffered() < len) {
        buf_.reserve(begin_ + len);  // the length passed the limit check: safe to reserve
        return {};
    }
    out = {begin_, len};
    begin_ += len;
    ready = true;
    return {};
}

void frame_reader::discard_taken() noexcept {
    if (begin_ == 0) return;
    const std::size_t rest = buf_.size() - begin_;
    if (rest > 0) std::memmove(buf_.data(), buf_.data() + begin_, rest);
    buf_.set_size_unchecked(rest);
    begin_ = 0;
}

void frame_reader::reset() noexcept {
    buf_.clear();
    begin_ = 0;
}

}  // namespace morm::wire::algo
