// The connection handshake (MongoDB Handshake spec): the `hello` command with client
// metadata, and the server limits read from its reply. Sans-io.
#pragma once

#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <string>
#include <vector>

namespace morm::wire {

/// morm speaks OP_MSG only, which needs MongoDB 3.6 (wire version 6) or newer.
inline constexpr std::int32_t min_wire_version = 6;
inline constexpr std::int32_t max_supported_wire_version = 25;

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

/// Parses a hello reply; fails with errc::server_too_old below min_wire_version.
[[nodiscard]] error_code parse_hello(const bson_t* body, server_description& out, diagnostics& diag);

}  // namespace morm::wire
