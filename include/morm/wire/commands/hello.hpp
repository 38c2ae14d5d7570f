// The `hello` command as a value: its document (client metadata, saslSupportedMechs) and
// its reply parsed into the server's limits. Sans-io.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/handshake.hpp>

#include <bson/bson.h>

namespace morm::wire::commands {

struct hello {
    hello_params params;

    /// Appends the whole command, `$db: admin` included.
    void serialize(bson_t* body) const { build_hello(body, params); }
    /// ok:0 is errc::server_error; a wire version below morm's minimum is server_too_old.
    [[nodiscard]] static error_code parse_reply(const bson_t* reply, server_description& out, diagnostics& diag);
};

}  // namespace morm::wire::commands
