// saslStart / saslContinue as values (the carriers of a SCRAM conversation) and their
// common reply. Sans-io; the payloads are views the caller keeps alive while serializing.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/scram.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace morm::wire::commands {

struct sasl_start {
    scram_mechanism mechanism = scram_mechanism::sha256;
    std::string_view payload;  ///< the SCRAM client-first message
    std::string_view db;       ///< the credential's source database
    void serialize(bson_t* body) const;
};

struct sasl_continue {
    std::int32_t conversation_id = 0;
    std::string_view payload;  ///< client-final, or empty to finish a conversation
    std::string_view db;
    void serialize(bson_t* body) const;
};

/// The reply of either command. `payload` is copied: the frame it came in is reused.
struct sasl_reply {
    std::int32_t conversation_id = 0;
    bool done = false;
    std::string payload;
};

/// ok:0 is errc::server_error with the server's message (the caller words it as auth_failed);
/// a conversationId that is not an int32, a done that is not a boolean, or a payload that is
/// missing or not BinData is errc::auth_failed naming the field.
[[nodiscard]] error_code parse_sasl_reply(const bson_t* reply, sasl_reply& out, diagnostics& diag);

}  // namespace morm::wire::commands
