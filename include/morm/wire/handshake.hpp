// The connection handshake (MongoDB Handshake spec): the `hello` command with client
// metadata, and the server limits read from its reply. Sans-io.
#pragma once

#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace morm::wire {

/// morm speaks OP_MSG only, which needs MongoDB 3.6 (wire version 6) or newer.
inline constexpr std::int32_t min_wire_version = 6;
inline constexpr std::int32_t max_supported_wire_version = 25;

/// MongoDB's own values of the limits a hello reply announces, which no MongoDB exceeds:
/// a larger value is clamped to them (the client sizes buffers and batches from these, so a
/// hostile `maxMessageSizeBytes: 2147483647` must not make it accept a 2 GiB frame).
inline constexpr std::int32_t max_bson_object_size_cap = 16 * 1024 * 1024;
inline constexpr std::int32_t max_message_size_bytes_cap = 48'000'000;
inline constexpr std::int32_t max_write_batch_size_cap = 100'000;

/// A number of a hello reply as int64: int32, int64, or a finite double (truncated toward
/// zero, saturated to the int64 range). nullopt for any other type, NaN or infinity.
std::optional<std::int64_t> hello_number(const bson_iter_t& it) noexcept;

struct hello_params {
    std::string app_name;               ///< appName from the URI (<= 128 bytes)
    std::string sasl_user;              ///< "db.user" for saslSupportedMechs, empty for none
    bool load_balanced = false;
};

/// Appends the hello command (with `client` metadata and `$db: admin`) to `body`.
void build_hello(bson_t* body, const hello_params& params);

/// What the server told us about itself.
struct server_description {
    std::int32_t max_bson_object_size = 16 * 1024 * 1024;
    std::int32_t max_message_size_bytes = 48'000'000;
    std::int32_t max_write_batch_size = 100'000;
    std::int32_t min_wire_version = 0;
    std::int32_t max_wire_version = 0;
    bool is_writable_primary = false;
    bool is_mongos = false;            ///< msg: "isdbgrid"
    std::string set_name;              ///< replica set name, empty if standalone
    std::vector<std::string> hosts;    ///< replica set members
    std::vector<std::string> sasl_supported_mechs;
    std::int32_t logical_session_timeout_minutes = -1;  ///< -1: sessions unsupported
    std::string server_version;        ///< from buildInfo when known, otherwise empty
};

/// Parses a hello reply. Fails with errc::server_too_old when maxWireVersion is below
/// min_wire_version, errc::not_supported when minWireVersion is above
/// max_supported_wire_version, and errc::protocol (naming the field) when a limit
/// (maxBsonObjectSize, maxMessageSizeBytes, maxWriteBatchSize) or a wire version is not a
/// number, a limit is zero or negative, or minWireVersion exceeds maxWireVersion. A limit
/// above MongoDB's own (the *_cap constants) is clamped to it; an absent one keeps its
/// default. A host list entry or mechanism that is not a string is skipped.
[[nodiscard]] error_code parse_hello(const bson_t* body, server_description& out, diagnostics& diag);

}  // namespace morm::wire
