#include <morm/wire/op_msg.hpp>

#include <morm/bson/validate.hpp>

#include <array>
#include <cassert>
#include <cstring>
#include <fmt/format.h>

namespace morm::wire {

namespace {
constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        t[i] = c;
    }
    return t;
}
constexpr auto crc_table = make_crc_table();

std::int32_t read_i32(const std::uint8_t* p) noexcept {
    std::uint32_t u;
    std::memcpy(&u, p, 4);
    return static_cast<std::int32_t>(BSON_UINT32_FROM_LE(u));
}

[[nodiscard]] error_code fail(diagnostics& diag, std::string msg) {
    diag.clear();
    diag.message = std::move(msg);
    return make_error_code(errc::protocol);
}

// Every document from the network is validated here, once, before anything decodes it: the
// decoders then walk it with libbson's iterators without checking again. `what` names the
// document for the message ("OP_MSG body").
template <class What>
[[nodiscard]] error_code check_document(const std::uint8_t* d, std::size_t n, diagnostics& diag, What what) {
    std::string path;  // filled (and so allocated) only for an invalid document
    const bson::validation v = bson::validate(d, n, &path);
    if (v.ok()) return {};
    return fail(diag, fmt::format("{} is not a valid BSON document: {}", what(), bson::describe(v, path)));
}

// A kind-1 section's payload [start, end): a C string identifier, then BSON documents that
// fill the rest exactly.
[[nodiscard]] error_code check_sequence(const std::uint8_t* p, std::size_t start, std::size_t end, diagnostics& diag) {
    const void* nul = std::memchr(p + start, 0, end - start);
    if (!nul) return fail(diag, "OP_MSG document sequence identifier is not terminated inside its section");
    const std::size_t ident_len = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - (p + start));
    if (!bson::utf8_valid(p + start, ident_len)) return fail(diag, "OP_MSG document sequence identifier is not valid UTF-8");
    const std::string_view ident(reinterpret_cast<const char*>(p + start), ident_len);
    std::size_t pos = start + ident_len + 1;
    for (std::size_t i = 0; pos < end; ++i) {
        if (end - pos < 5)
            return fail(diag, fmt::format("OP_MSG document sequence '{}' ends with {} bytes too short for document {}",
                                          ident, end - pos, i));
        const std::int32_t len = read_i32(p + pos);
        if (len < 5 || static_cast<std::size_t>(len) > end - pos)
            return fail(diag, fmt::format("OP_MSG document sequence '{}' document {}: length {} overruns the section",
                                          ident, i, len));
        if (auto e = check_document(p + pos, static_cast<std::size_t>(len), diag, [&] {
                return fmt::format("OP_MSG document sequence '{}' document {}", ident, i);
            }))
            return e;
        pos += static_cast<std::size_t>(len);
    }
    return {};
}
}  // namespace

std::uint32_t crc32c(const std::uint8_t* data, std::size_t n, std::uint32_t crc) noexcept {
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

[[nodiscard]] error_code parse_header(std::span<const std::uint8_t, header_size> b, message_header& out,
                        std::int32_t max_message_size, diagnostics& diag) noexcept {
    out.message_length = read_i32(b.data());
    out.request_id = read_i32(b.data() + 4);
    out.response_to = read_i32(b.data() + 8);
    out.op_code = read_i32(b.data() + 12);
    if (out.message_length < static_cast<std::int32_t>(header_size))
        return fail(diag, fmt::format("messageLength {} is smaller than a message header", out.message_length));
    if (out.message_length > max_message_size)
        return fail(diag, fmt::format("messageLength {} exceeds maxMessageSizeBytes {}", out.message_length,
                                      max_message_size));
    if (out.op_code != op_msg_opcode) {
        if (out.op_code == op_compressed_opcode)
            return fail(diag, "received OP_COMPRESSED but no compressor was negotiated");
        return fail(diag, fmt::format("unexpected opCode {} (expected OP_MSG 2013)", out.op_code));
    }
    if (out.message_length < static_cast<std::int32_t>(min_op_msg_size))
        return fail(diag, fmt::format("messageLength {} is too small for an OP_MSG", out.message_length));
    return {};
}

op_msg_writer::op_msg_writer(frame_buffer& buf, std::int32_t request_id, std::uint32_t flag_bits)
    : buf_(buf), start_(buf.size()), request_id_(request_id), flags_(flag_bits) {
    buf_.reserve(start_ + 512);
    buf_.append_int32_le(0);  // messageLength, patched by finish()
    buf_.append_int32_le(request_id);
    buf_.append_int32_le(0);
    buf_.append_int32_le(op_msg_opcode);
    buf_.append_int32_le(static_cast<std::int32_t>(flag_bits));
}

op_msg_writer::~op_msg_writer() { close_writer(); }

void op_msg_writer::open_writer() {
    assert(!writer_);
    writer_ = bson_writer_new(buf_.data_slot(), buf_.capacity_slot(), buf_.size(), bson_realloc_ctx, nullptr);
}

void op_msg_writer::close_writer() {
    if (!writer_) return;
    if (open_doc_) {
        bson_writer_rollback(writer_);
        open_doc_ = nullptr;
    }
    buf_.set_size_unchecked(bson_writer_get_length(writer_));
    bson_writer_destroy(writer_);
    writer_ = nullptr;
}

bson_t* op_msg_writer::begin_body() {
    buf_.push_back(0);
    open_writer();
    bson_writer_begin(writer_, &open_doc_);
    return open_doc_;
}

void op_msg_writer::end_body() {
    bson_writer_end(writer_);
    open_doc_ = nullptr;
    close_writer();
}

void op_msg_writer::begin_sequence(std::string_view identifier, bool raw) {
    buf_.push_back(1);
    seq_start_ = buf_.size();
    buf_.append_int32_le(0);
    buf_.append(identifier.data(), identifier.size());
    buf_.push_back(0);
    if (!raw) open_writer();
}

bson_t* op_msg_writer::begin_document() {
    bson_writer_begin(writer_, &open_doc_);
    return open_doc_;
}

std::size_t op_msg_writer::end_document() {
    std::size_t len = open_doc_->len;
    bson_writer_end(writer_);
    open_doc_ = nullptr;
    return len;
}

void op_msg_writer::rollback_document() {
    bson_writer_rollback(writer_);
    open_doc_ = nullptr;
}

void op_msg_writer::end_sequence() {
    close_writer();
    buf_.write_int32_le_at(seq_start_, static_cast<std::int32_t>(buf_.size() - seq_start_));
}

std::size_t op_msg_writer::size() const noexcept {
    std::size_t end = writer_ ? bson_writer_get_length(writer_) : buf_.size();
    return end - start_;
}

std::size_t op_msg_writer::finish() {
    close_writer();
    if (flags_ & flags::checksum_present) {
        buf_.append_int32_le(0);
        buf_.write_int32_le_at(start_, static_cast<std::int32_t>(buf_.size() - start_));
        std::uint32_t crc = crc32c(buf_.data() + start_, buf_.size() - start_ - 4);
        buf_.write_int32_le_at(buf_.size() - 4, static_cast<std::int32_t>(crc));
    } else {
        buf_.write_int32_le_at(start_, static_cast<std::int32_t>(buf_.size() - start_));
    }
    finished_ = true;
    return buf_.size() - start_;
}

void op_msg_writer::abandon() noexcept {
    close_writer();
    buf_.set_size_unchecked(start_);
}

[[nodiscard]] error_code parse_op_msg(std::span<const std::uint8_t> frame, op_msg_view& out, diagnostics& diag) noexcept {
    if (frame.size() < min_op_msg_size)
        return fail(diag, fmt::format("OP_MSG of {} bytes is shorter than the minimum {}", frame.size(),
                                      min_op_msg_size));
    const std::uint8_t* p = frame.data();
    out.header.message_length = read_i32(p);
    out.header.request_id = read_i32(p + 4);
    out.header.response_to = read_i32(p + 8);
    out.header.op_code = read_i32(p + 12);
    if (out.header.op_code != op_msg_opcode)
        return fail(diag, fmt::format("unexpected opCode {} (expected OP_MSG 2013)", out.header.op_code));
    if (out.header.message_length != static_cast<std::int32_t>(frame.size()))
        return fail(diag, fmt::format("messageLength {} does not match the {} bytes received",
                                      out.header.message_length, frame.size()));
    out.flag_bits = static_cast<std::uint32_t>(read_i32(p + 16));
    if ((out.flag_bits & 0xFFFFu) & ~flags::known_required)
        return fail(diag, fmt::format("unknown required flag bits 0x{:x}", out.flag_bits & 0xFFFFu));
    std::size_t end = frame.size();
    if (out.flag_bits & flags::checksum_present) {
        if (end < min_op_msg_size + 4) return fail(diag, "OP_MSG too short for its checksum");
        end -= 4;
        std::uint32_t want = static_cast<std::uint32_t>(read_i32(p + end));
        std::uint32_t got = crc32c(p, end);
        if (want != got) return fail(diag, fmt::format("OP_MSG checksum mismatch (0x{:08x} != 0x{:08x})", want, got));
    }
    out.has_body = false;
    std::size_t pos = header_size + 4;
    while (pos < end) {
        std::uint8_t kind = p[pos++];
        if (kind == 0) {
            if (out.has_body) return fail(diag, "OP_MSG has more than one body section");
            if (end - pos < 5) return fail(diag, "truncated OP_MSG body section");
            std::int32_t len = read_i32(p + pos);
            if (len < 5 || static_cast<std::size_t>(len) > end - pos)
                return fail(diag, fmt::format("OP_MSG body document length {} overruns the message", len));
            if (auto e = check_document(p + pos, static_cast<std::size_t>(len), diag, [] { return "OP_MSG body"; }))
                return e;
            if (!bson_init_static(&out.body, p + pos, static_cast<std::size_t>(len)))
                return fail(diag, "OP_MSG body is not a valid BSON document");
            out.has_body = true;
            pos += static_cast<std::size_t>(len);
        } else if (kind == 1) {
            if (end - pos < 4) return fail(diag, "truncated OP_MSG document sequence");
            std::int32_t len = read_i32(p + pos);
            if (len < 5 || static_cast<std::size_t>(len) > end - pos)
                return fail(diag, fmt::format("OP_MSG document sequence length {} overruns the message", len));
            if (auto e = check_sequence(p, pos + 4, pos + static_cast<std::size_t>(len), diag)) return e;
            pos += static_cast<std::size_t>(len);
        } else {
            return fail(diag, fmt::format("unknown OP_MSG section kind {}", kind));
        }
    }
    if (!out.has_body) return fail(diag, "OP_MSG reply has no body section");
    return {};
}

}  // namespace morm::wire
