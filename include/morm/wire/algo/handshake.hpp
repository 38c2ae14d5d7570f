// Connection setup as one algorithm: hello (client metadata, saslSupportedMechs when the
// mechanism is negotiated), then, with credentials, the SCRAM-SHA-1/256 conversation:
// saslStart, saslContinue with the client proof, and an empty saslContinue while the
// server has not said done. Speculative authentication is not used (morm never sent it).
// SCRAM's PBKDF2 is handed to the driver as an `offload` action (it runs off the I/O
// thread, bounded by the connect timeout); the conversation is at most saslStart and three
// saslContinue, on one conversationId, and every reply is checked before it is used.
#pragma once

#include <morm/error.hpp>
#include <morm/wire/algo/next_action.hpp>
#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/scram.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace morm::wire::algo {

struct auth_params {
    std::string username;
    std::string password;
    std::string source = "admin";
    std::string mechanism;  ///< "SCRAM-SHA-256", "SCRAM-SHA-1", or empty = negotiate
};

struct handshake_params {
    hello_params hello;
    std::optional<auth_params> auth;
    std::string client_nonce;  ///< tests only: a fixed SCRAM nonce (empty = random)
};

/// Fills `server` from the hello reply. Failures: network/protocol errors as the driver
/// reports them, errc::server_error or server_too_old from hello, errc::auth_failed
/// (naming user, source and mechanism, never the password), errc::not_supported for a
/// mechanism other than SCRAM.
class handshake_algo {
public:
    /// `params`, `out`, `request_id` and `server` must outlive the algorithm.
    handshake_algo(const handshake_params& params, frame_buffer& out, std::int32_t& request_id,
                   server_description& server)
        : p_(params), out_(out), rid_(request_id), server_(server) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame);
    diagnostics& diag() noexcept { return diag_; }
    /// The mechanism used (after authentication started).
    scram_mechanism mechanism() const noexcept { return mech_; }

private:
    enum class step : std::uint8_t { start, hello, sasl_start, deriving, sasl_continue };
    template <class Command>
    next_action send(step s, const Command& cmd);
    next_action on_reply(std::span<const std::uint8_t> frame);
    next_action on_hello(const bson_t* body);
    next_action start_auth();
    next_action on_sasl(const bson_t* body);
    next_action send_client_final();
    next_action auth_failed(std::string_view why);

    const handshake_params& p_;
    frame_buffer& out_;
    std::int32_t& rid_;
    server_description& server_;
    diagnostics diag_;
    step step_ = step::start;
    bool awaiting_write_ = false;  // the last action was a write
    std::int32_t sent_id_ = 0;
    scram_mechanism mech_ = scram_mechanism::sha256;
    std::optional<scram_client> scram_;
    std::int32_t conversation_id_ = 0;
    int rounds_ = 0;  // saslContinue commands sent
    std::shared_ptr<scram_derivation> job_;  // PBKDF2 handed to the driver (offload)
    std::string client_msg_;
};

}  // namespace morm::wire::algo
