// SCRAM-SHA-1 / SCRAM-SHA-256 client conversation (RFC 5802, RFC 7677), sans-io.
//
// This is only the message algebra and the crypto; the caller (net layer) carries the
// messages in `saslStart` / `saslContinue` commands:
//
//   scram_client sc{scram_mechanism::sha256, user, password};
//   saslStart    {mechanism: sc.mechanism_name(), payload: BinData(sc.client_first()), options: {skipEmptyExchange: true}}
//   reply payload -> sc.handle_server_first(payload, client_final, diag)
//   saslContinue {conversationId, payload: BinData(client_final)}
//   reply payload -> sc.handle_server_final(payload, diag)
//   if the reply still says done:false, send one more saslContinue with an empty payload.
//
// MongoDB specifics (Authentication spec): for SCRAM-SHA-1 the SCRAM password is
// hex(MD5(username ":mongo:" password)); for SCRAM-SHA-256 it is SASLprep(password). The
// username is never SASLprep'ed, only escaped ('=' -> "=3D", ',' -> "=2C").
//
// The password never appears in any message or diagnostic; the client wipes its copy of
// the password and the derived keys on destruction.
#pragma once

#include <morm/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace morm::wire {

enum class scram_mechanism { sha1, sha256 };

/// "SCRAM-SHA-1" or "SCRAM-SHA-256".
std::string_view scram_mechanism_name(scram_mechanism m) noexcept;

namespace detail {

/// Derived per-credential keys: ClientKey and ServerKey (RFC 5802 section 3).
struct scram_keys {
    std::array<unsigned char, 32> client_key{};
    std::array<unsigned char, 32> server_key{};
    std::size_t size = 0;  ///< digest size: 20 (SHA-1) or 32 (SHA-256)
};

/// SaltedPassword = Hi(password, salt, i), then ClientKey = HMAC(SaltedPassword, "Client Key")
/// and ServerKey = HMAC(SaltedPassword, "Server Key"). `password` is already transformed
/// (SASLprep'ed or MD5-hex'ed); `salt` is the decoded salt. Returns false if OpenSSL fails.
bool scram_derive_keys(scram_mechanism m, std::string_view password, std::string_view salt,
                       std::uint32_t iterations, scram_keys& out);

/// ClientProof = ClientKey XOR HMAC(H(ClientKey), auth_message) and
/// ServerSignature = HMAC(ServerKey, auth_message). Both outputs hold `keys.size` bytes.
/// Returns false if OpenSSL fails.
bool scram_sign(scram_mechanism m, const scram_keys& keys, std::string_view auth_message,
                unsigned char* client_proof, unsigned char* server_signature);

/// hex(MD5(username ":mongo:" password)), MongoDB's SCRAM-SHA-1 password transform.
std::string mongo_sha1_password(std::string_view username, std::string_view password);

/// Escapes a SCRAM username: '=' -> "=3D", ',' -> "=2C".
std::string scram_escape_username(std::string_view username);

}  // namespace detail

/// Optional one-entry cache of derived keys, so a pool that opens many connections with the
/// same credential runs PBKDF2 (thousands of HMACs) once instead of per connection.
///
/// Keyed by mechanism, salt, iteration count and a SHA-256 digest of the transformed password
/// (the password itself is not stored). Not synchronized: share it only among clients
/// running on one strand/thread. A server that rotates salt simply misses and refills.
class scram_key_cache {
public:
    scram_key_cache() = default;
    scram_key_cache(const scram_key_cache&) = delete;
    scram_key_cache& operator=(const scram_key_cache&) = delete;
    ~scram_key_cache() { clear(); }

    /// Forgets the cached entry and wipes the keys.
    void clear() noexcept;
    /// True if an entry is cached.
    bool has_value() const noexcept { return valid_; }

private:
    friend class scram_client;
    bool lookup(scram_mechanism m, const std::array<unsigned char, 32>& pw_digest,
                std::string_view salt, std::uint32_t iterations, detail::scram_keys& out) const;
    void store(scram_mechanism m, const std::array<unsigned char, 32>& pw_digest,
               std::string_view salt, std::uint32_t iterations, const detail::scram_keys& keys);

    bool valid_ = false;
    scram_mechanism mech_ = scram_mechanism::sha256;
    std::uint32_t iterations_ = 0;
    std::string salt_;
    std::array<unsigned char, 32> pw_digest_{};
    detail::scram_keys keys_;
};

/// The PBKDF2 step of one conversation as a self-contained job: it owns copies of its
/// inputs (the transformed password, the salt) and its output, so it can run on another
/// thread and outlive the conversation that asked for it (an abandoned job's result is
/// simply dropped; the destructor wipes the password and the keys).
class scram_derivation {
public:
    scram_derivation(scram_mechanism m, std::string password, std::string salt, std::uint32_t iterations);
    scram_derivation(const scram_derivation&) = delete;
    scram_derivation& operator=(const scram_derivation&) = delete;
    ~scram_derivation();

    /// Runs PBKDF2 (slow: `iterations` HMACs) and wipes the password. Call once; nothing
    /// else may touch the object meanwhile.
    void run() noexcept;
    /// After run(): true if the keys were derived.
    bool ok() const noexcept { return ok_; }
    const detail::scram_keys& keys() const noexcept { return keys_; }

private:
    scram_mechanism mech_;
    std::string password_;
    std::string salt_;
    std::uint32_t iterations_;
    detail::scram_keys keys_;
    bool ok_ = false;
};

/// One SCRAM conversation for one connection. Use each object once, in order:
/// `client_first()`, `handle_server_first()`, `handle_server_final()`.
///
/// All failures are `errc::auth_failed` with an explanation in `diagnostics::message`
/// (naming the mechanism and the user, never the password), except calls out of order,
/// which are `errc::invalid_argument`.
class scram_client {
public:
    /// `client_nonce` empty means 24 random bytes (OpenSSL RAND_bytes), base64-encoded;
    /// pass one only for tests. Throws `morm::error` if the random generator fails.
    scram_client(scram_mechanism m, std::string username, std::string password,
                 std::string client_nonce = {});
    scram_client(const scram_client&) = delete;
    scram_client& operator=(const scram_client&) = delete;
    /// Moves wipe the source's password; the source can no longer be used.
    scram_client(scram_client&& other) noexcept;
    scram_client& operator=(scram_client&& other) noexcept;
    ~scram_client();

    /// Uses `cache` (may be null) to skip PBKDF2 when salt and iterations match. The cache
    /// must outlive the call to `handle_server_first`.
    void set_key_cache(scram_key_cache* cache) noexcept { cache_ = cache; }

    scram_mechanism mechanism() const noexcept { return mech_; }
    /// "SCRAM-SHA-1" or "SCRAM-SHA-256", the saslStart `mechanism` field.
    std::string_view mechanism_name() const noexcept { return scram_mechanism_name(mech_); }
    /// The client nonce (generated or given).
    const std::string& client_nonce() const noexcept { return nonce_; }

    /// The client-first message, "n,,n=<escaped user>,r=<nonce>" (no channel binding).
    std::string client_first();

    /// Validates the server-first message ("r=<nonce>,s=<salt>,i=<count>"): the combined
    /// nonce must extend the client nonce, the salt must be non-empty valid base64, the
    /// iteration count must be in [min_iterations, max_iterations], no mandatory extension
    /// (m=) may be present, and whatever follows i= must be well-formed extensions
    /// ("x=value", x not one of r, s, i, m; RFC 5802 lets them be ignored).
    /// On success writes the client-final message ("c=biws,r=<nonce>,p=<proof>").
    /// Runs PBKDF2 on the calling thread: equivalent to `begin_server_first`, running the
    /// returned job if any, then `finish_server_first`.
    [[nodiscard]] error_code handle_server_first(std::string_view server_first, std::string& client_final,
                                   diagnostics& diag);

    /// The first half of `handle_server_first`: validates the message. On success `job` is
    /// the PBKDF2 work still to run (on any thread) before `finish_server_first`, or null
    /// when the key cache already held the keys.
    [[nodiscard]] error_code begin_server_first(std::string_view server_first,
                                                std::shared_ptr<scram_derivation>& job, diagnostics& diag);
    /// The second half: uses the keys of the job returned by `begin_server_first` (which
    /// must have run) or of the cache, fills the cache, writes the client-final message.
    [[nodiscard]] error_code finish_server_first(std::string& client_final, diagnostics& diag);

    /// Checks the server-final message: "e=<error>" fails with the server's text, a
    /// "v=<signature>" that does not match ServerSignature fails with
    /// "server signature mismatch". On success the conversation is complete.
    [[nodiscard]] error_code handle_server_final(std::string_view server_final, diagnostics& diag);

    /// True once the server signature was verified.
    bool complete() const noexcept { return state_ == state::complete; }

    /// The minimum iteration count accepted (RFC 7677 section 4, MongoDB Authentication spec).
    static constexpr std::uint32_t min_iterations = 4096;
    /// The maximum iteration count accepted. PBKDF2's cost grows linearly with it and the
    /// server chooses it: i=2147483647 is minutes of CPU per connection. MongoDB's defaults
    /// are 10,000 (SHA-1) and 15,000 (SHA-256); this is 66x the larger one and takes well
    /// under a second, so no real deployment is refused and a hostile one is bounded.
    static constexpr std::uint32_t max_iterations = 1'000'000;

private:
    enum class state { initial, first_sent, deriving, final_sent, complete, failed };

    [[nodiscard]] error_code fail(errc e, diagnostics& diag, std::string_view what);

    scram_mechanism mech_;
    state state_ = state::initial;
    std::string username_;
    std::string password_;
    std::string nonce_;
    std::string auth_message_;  // client-first-bare, later the whole AuthMessage
    // Between begin_server_first and finish_server_first:
    std::string combined_nonce_;
    std::string salt_;
    std::uint32_t iterations_ = 0;
    std::array<unsigned char, 32> pw_digest_{};  // for the cache
    detail::scram_keys cached_keys_;             // the cache's keys when it hit
    std::shared_ptr<scram_derivation> job_;
    std::array<unsigned char, 32> server_signature_{};
    scram_key_cache* cache_ = nullptr;
};

}  // namespace morm::wire
