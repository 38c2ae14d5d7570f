// OP_MSG framing, sans-io: build request frames into a frame_buffer and parse reply
// frames from received bytes. No sockets here; everything is testable with byte fixtures.
//
// Frame layout (little-endian):
//   int32 messageLength | int32 requestID | int32 responseTo | int32 opCode (2013)
//   uint32 flagBits | sections... | [uint32 CRC-32C when checksumPresent]
//   section kind 0: byte 0, one BSON document (the command body)
//   section kind 1: byte 1, int32 size, cstring identifier, BSON documents...
#pragma once

#include <morm/error.hpp>
#include <morm/wire/frame_buffer.hpp>

#include <bson/bson.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace morm::wire {

inline constexpr std::int32_t op_msg_opcode = 2013;
inline constexpr std::int32_t op_reply_opcode = 1;
inline constexpr std::int32_t op_compressed_opcode = 2012;
inline constexpr std::size_t header_size = 16;
/// Header + flagBits + kind byte + smallest BSON document.
inline constexpr std::size_t min_op_msg_size = header_size + 4 + 1 + 5;
/// Server default until hello tells otherwise.
inline constexpr std::int32_t default_max_message_size = 48'000'000;
inline constexpr std::int32_t default_max_bson_object_size = 16 * 1024 * 1024;
inline constexpr std::int32_t default_max_write_batch_size = 100'000;

namespace flags {
inline constexpr std::uint32_t checksum_present = 1u << 0;
inline constexpr std::uint32_t more_to_come = 1u << 1;
inline constexpr std::uint32_t exhaust_allowed = 1u << 16;
/// Bits 0-15 are "required": a receiver must reject unknown ones.
inline constexpr std::uint32_t known_required = checksum_present | more_to_come;
}  // namespace flags

/// CRC-32C (Castagnoli), as OP_MSG's optional checksum uses.
std::uint32_t crc32c(const std::uint8_t* data, std::size_t n, std::uint32_t crc = 0) noexcept;

struct message_header {
    std::int32_t message_length = 0;
    std::int32_t request_id = 0;
    std::int32_t response_to = 0;
    std::int32_t op_code = 0;
};

/// Decodes the 16-byte header and checks messageLength against [min, max_message_size].
/// Called as soon as 16 bytes have arrived, so a hostile length never causes a giant
/// allocation: the caller only reserves messageLength after this check passed.
[[nodiscard]] error_code parse_header(std::span<const std::uint8_t, header_size> bytes, message_header& out,
                        std::int32_t max_message_size, diagnostics& diag) noexcept;

/// Appends one OP_MSG frame to a frame_buffer, documents encoded in place.
///
/// Usage: construct, then either begin_body()/end_body() once plus any number of
/// sequences (begin_sequence, begin_document/end_document..., end_sequence), then
/// finish(). Several messages can be appended to one buffer back-to-back: that is how
/// a pipelined batch goes out in one write.
class op_msg_writer {
public:
    op_msg_writer(frame_buffer& buf, std::int32_t request_id, std::uint32_t flag_bits = 0);
    op_msg_writer(const op_msg_writer&) = delete;
    op_msg_writer& operator=(const op_msg_writer&) = delete;
    ~op_msg_writer();

    /// Returns the kind-0 body document, open for appending.
    bson_t* begin_body();
    void end_body();

    /// Opens a kind-1 section. With `raw`, documents are not built through libbson: the
    /// caller appends complete BSON documents straight to buffer() (e.g. with
    /// codec::encode_raw) and may truncate back to drop one.
    void begin_sequence(std::string_view identifier, bool raw = false);
    /// The frame's buffer, for raw sequences.
    frame_buffer& buffer() noexcept { return buf_; }
    /// Opens the next document of the current sequence.
    bson_t* begin_document();
    /// Closes it and returns its length in bytes.
    std::size_t end_document();
    /// Drops the document being built (e.g. it turned out too large).
    void rollback_document();
    void end_sequence();

    /// Patches messageLength (and the CRC when requested); returns the frame size.
    std::size_t finish();

    /// Bytes of this frame so far (including an open document).
    std::size_t size() const noexcept;
    std::size_t start() const noexcept { return start_; }
    std::int32_t request_id() const noexcept { return request_id_; }
    /// Discards the whole frame from the buffer.
    void abandon() noexcept;

private:
    void open_writer();
    void close_writer();

    frame_buffer& buf_;
    std::size_t start_;
    std::size_t seq_start_ = 0;
    std::int32_t request_id_;
    std::uint32_t flags_;
    bson_writer_t* writer_ = nullptr;
    bson_t* open_doc_ = nullptr;
    bool finished_ = false;
};

/// A parsed reply frame: views into the received bytes (valid as long as they are).
struct op_msg_view {
    message_header header;
    std::uint32_t flag_bits = 0;
    bson_t body;  // static bson_t over the body bytes (bson_init_static); never destroyed
    bool has_body = false;

    bool more_to_come() const noexcept { return (flag_bits & flags::more_to_come) != 0; }
};

/// Parses a complete frame (header included). Validates section kinds, sizes and the
/// checksum when present, and every document in full with `bson::validate` (depth-bounded,
/// every decode rule of the BSON specification): the body and each document of each kind-1
/// section, whose identifier must be a UTF-8 C string and whose documents must fill it
/// exactly. So nothing downstream ever sees a corrupt document, and decoders may iterate
/// the body without checking again. Kind-1 sections are then skipped (servers only send
/// them on exhaust cursors, which morm does not request). Any problem is errc::protocol
/// with a diagnostics message saying what is wrong and where (section, document, byte
/// offset, field path). No allocation for valid documents.
[[nodiscard]] error_code parse_op_msg(std::span<const std::uint8_t> frame, op_msg_view& out, diagnostics& diag) noexcept;

}  // namespace morm::wire
