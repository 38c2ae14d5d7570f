#include <morm/wire/scram.hpp>

#include <morm/detail/base64.hpp>
#include <morm/wire/saslprep.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <charconv>

namespace morm::wire {

namespace {

const EVP_MD* digest_of(scram_mechanism m) noexcept {
    return m == scram_mechanism::sha1 ? EVP_sha1() : EVP_sha256();
}

std::size_t digest_size(scram_mechanism m) noexcept { return m == scram_mechanism::sha1 ? 20 : 32; }

bool hmac(scram_mechanism m, const unsigned char* key, std::size_t key_len, const void* data,
          std::size_t len, unsigned char* out) noexcept {
    unsigned int out_len = 0;
    return HMAC(digest_of(m), key, static_cast<int>(key_len), static_cast<const unsigned char*>(data),
                len, out, &out_len) != nullptr &&
           out_len == digest_size(m);
}

bool sha256(std::string_view data, std::array<unsigned char, 32>& out) noexcept {
    unsigned int len = 0;
    return EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1;
}

// Zeroes the whole buffer, including the part past size() that a short-string buffer or an
// earlier longer value may still hold, then empties the string.
void wipe(std::string& s) noexcept {
    s.resize(s.capacity());  // within capacity: no allocation, cannot throw
    OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

// Splits "k=value" off the front of `msg` (up to the next ','); false if `msg` does not
// start with `key` followed by '='.
bool take_attribute(std::string_view& msg, char key, std::string_view& value) noexcept {
    if (msg.size() < 2 || msg[0] != key || msg[1] != '=') return false;
    auto comma = msg.find(',');
    value = msg.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2);
    msg = comma == std::string_view::npos ? std::string_view{} : msg.substr(comma + 1);
    return true;
}

// What may follow i=: extensions ("x=value"), never another r/s/i or a mandatory one.
bool valid_extensions(std::string_view rest) noexcept {
    while (!rest.empty()) {
        std::string_view value;
        char key = rest[0];
        bool letter = (key >= 'a' && key <= 'z') || (key >= 'A' && key <= 'Z');
        if (!letter || key == 'r' || key == 's' || key == 'i' || key == 'm' || !take_attribute(rest, key, value))
            return false;
    }
    return true;
}

}  // namespace

std::string_view scram_mechanism_name(scram_mechanism m) noexcept {
    return m == scram_mechanism::sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

namespace detail {

bool scram_derive_keys(scram_mechanism m, std::string_view password, std::string_view salt,
                       std::uint32_t iterations, scram_keys& out) {
    std::array<unsigned char, 32> salted{};
    std::size_t n = digest_size(m);
    if (iterations == 0 || iterations > 0x7fffffffu) return false;
    bool ok = PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                                reinterpret_cast<const unsigned char*>(salt.data()),
                                static_cast<int>(salt.size()), static_cast<int>(iterations),
                                digest_of(m), static_cast<int>(n), salted.data()) == 1 &&
              hmac(m, salted.data(), n, "Client Key", 10, out.client_key.data()) &&
              hmac(m, salted.data(), n, "Server Key", 10, out.server_key.data());
    OPENSSL_cleanse(salted.data(), salted.size());
    out.size = ok ? n : 0;
    return ok;
}

bool scram_sign(scram_mechanism m, const scram_keys& keys, std::string_view auth_message,
                unsigned char* client_proof, unsigned char* server_signature) {
    std::size_t n = keys.size;
    if (n != digest_size(m)) return false;
    std::array<unsigned char, 32> stored_key{}, client_signature{};
    unsigned int len = 0;
    if (EVP_Digest(keys.client_key.data(), n, stored_key.data(), &len, digest_of(m), nullptr) != 1)
        return false;
    if (!hmac(m, stored_key.data(), n, auth_message.data(), auth_message.size(),
              client_signature.data()) ||
        !hmac(m, keys.server_key.data(), n, auth_message.data(), auth_message.size(),
              server_signature))
        return false;
    for (std::size_t i = 0; i < n; ++i)
        client_proof[i] = keys.client_key[i] ^ client_signature[i];
    return true;
}

std::string mongo_sha1_password(std::string_view username, std::string_view password) {
    std::string input;
    input.reserve(username.size() + 7 + password.size());
    input.append(username).append(":mongo:").append(password);
    unsigned char md[16];
    unsigned int len = 0;
    bool ok = EVP_Digest(input.data(), input.size(), md, &len, EVP_md5(), nullptr) == 1;
    wipe(input);
    if (!ok) return {};
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(32, '\0');
    for (int i = 0; i < 16; ++i) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    OPENSSL_cleanse(md, sizeof md);
    return out;
}

std::string scram_escape_username(std::string_view username) {
    std::string out;
    out.reserve(username.size());
    for (char c : username) {
        if (c == '=') out += "=3D";
        else if (c == ',') out += "=2C";
        else out += c;
    }
    return out;
}

}  // namespace detail

// ---- scram_key_cache ----

void scram_key_cache::clear() noexcept {
    OPENSSL_cleanse(keys_.client_key.data(), keys_.client_key.size());
    OPENSSL_cleanse(keys_.server_key.data(), keys_.server_key.size());
    OPENSSL_cleanse(pw_digest_.data(), pw_digest_.size());
    keys_.size = 0;
    salt_.clear();
    iterations_ = 0;
    valid_ = false;
}

bool scram_key_cache::lookup(scram_mechanism m, const std::array<unsigned char, 32>& pw_digest,
                             std::string_view salt, std::uint32_t iterations,
                             detail::scram_keys& out) const {
    if (!valid_ || m != mech_ || iterations != iterations_ || salt != salt_ ||
        CRYPTO_memcmp(pw_digest.data(), pw_digest_.data(), pw_digest.size()) != 0)
        return false;
    out = keys_;
    return true;
}

void scram_key_cache::store(scram_mechanism m, const std::array<unsigned char, 32>& pw_digest,
                            std::string_view salt, std::uint32_t iterations,
                            const detail::scram_keys& keys) {
    mech_ = m;
    pw_digest_ = pw_digest;
    salt_.assign(salt);
    iterations_ = iterations;
    keys_ = keys;
    valid_ = true;
}

// ---- scram_derivation ----

scram_derivation::scram_derivation(scram_mechanism m, std::string password, std::string salt,
                                   std::uint32_t iterations)
    : mech_(m), password_(std::move(password)), salt_(std::move(salt)), iterations_(iterations) {}

scram_derivation::~scram_derivation() {
    wipe(password_);
    OPENSSL_cleanse(keys_.client_key.data(), keys_.client_key.size());
    OPENSSL_cleanse(keys_.server_key.data(), keys_.server_key.size());
}

void scram_derivation::run() noexcept {
    ok_ = detail::scram_derive_keys(mech_, password_, salt_, iterations_, keys_);
    wipe(password_);
}

// ---- scram_client ----

scram_client::scram_client(scram_mechanism m, std::string username, std::string password,
                           std::string client_nonce)
    : mech_(m), username_(std::move(username)), password_(std::move(password)),
      nonce_(std::move(client_nonce)) {
    if (nonce_.empty()) {
        unsigned char raw[24];
        if (RAND_bytes(raw, sizeof raw) != 1)
            throw error(errc::auth_failed, "SCRAM: the random number generator failed");
        morm::detail::base64_encode_append(raw, sizeof raw, nonce_);
    }
}

scram_client::scram_client(scram_client&& other) noexcept
    : mech_(other.mech_), state_(other.state_), username_(std::move(other.username_)),
      password_(std::move(other.password_)), nonce_(std::move(other.nonce_)),
      auth_message_(std::move(other.auth_message_)), combined_nonce_(std::move(other.combined_nonce_)),
      salt_(std::move(other.salt_)), iterations_(other.iterations_), pw_digest_(other.pw_digest_),
      cached_keys_(other.cached_keys_), job_(std::move(other.job_)), server_signature_(other.server_signature_),
      cache_(other.cache_) {
    // A moved-from short string keeps its bytes in the source's inline buffer.
    wipe(other.password_);
    other.state_ = state::failed;
}

scram_client& scram_client::operator=(scram_client&& other) noexcept {
    if (this != &other) {
        wipe(password_);
        mech_ = other.mech_;
        state_ = other.state_;
        username_ = std::move(other.username_);
        password_ = std::move(other.password_);
        nonce_ = std::move(other.nonce_);
        auth_message_ = std::move(other.auth_message_);
        combined_nonce_ = std::move(other.combined_nonce_);
        salt_ = std::move(other.salt_);
        iterations_ = other.iterations_;
        pw_digest_ = other.pw_digest_;
        cached_keys_ = other.cached_keys_;
        job_ = std::move(other.job_);
        server_signature_ = other.server_signature_;
        cache_ = other.cache_;
        wipe(other.password_);
        other.state_ = state::failed;
    }
    return *this;
}

scram_client::~scram_client() {
    wipe(password_);
    OPENSSL_cleanse(cached_keys_.client_key.data(), cached_keys_.client_key.size());
    OPENSSL_cleanse(cached_keys_.server_key.data(), cached_keys_.server_key.size());
    OPENSSL_cleanse(server_signature_.data(), server_signature_.size());
}

[[nodiscard]] error_code scram_client::fail(errc e, diagnostics& diag, std::string_view what) {
    state_ = state::failed;
    diag.clear();
    diag.message.reserve(what.size() + username_.size() + 40);
    diag.message.append(mechanism_name()).append(" authentication of user '").append(username_);
    diag.message.append("' failed: ").append(what);
    return make_error_code(e);
}

std::string scram_client::client_first() {
    auth_message_ = "n=";
    auth_message_ += detail::scram_escape_username(username_);
    auth_message_ += ",r=";
    auth_message_ += nonce_;
    state_ = state::first_sent;
    std::string out;
    out.reserve(3 + auth_message_.size());
    out.append("n,,").append(auth_message_);
    return out;
}

[[nodiscard]] error_code scram_client::handle_server_first(std::string_view server_first, std::string& client_final,
                                             diagnostics& diag) {
    std::shared_ptr<scram_derivation> job;
    if (auto ec = begin_server_first(server_first, job, diag)) return ec;
    if (job) job->run();
    return finish_server_first(client_final, diag);
}

[[nodiscard]] error_code scram_client::begin_server_first(std::string_view server_first,
                                                          std::shared_ptr<scram_derivation>& job, diagnostics& diag) {
    job.reset();
    if (state_ != state::first_sent)
        return fail(errc::invalid_argument, diag, "handle_server_first called out of order");

    std::string_view rest = server_first, nonce, salt_b64, iter_text;
    if (rest.starts_with("m="))
        return fail(errc::auth_failed, diag, "server requires an unsupported SCRAM extension (m=)");
    if (!take_attribute(rest, 'r', nonce) || !take_attribute(rest, 's', salt_b64) ||
        !take_attribute(rest, 'i', iter_text))
        return fail(errc::auth_failed, diag,
                    "malformed server-first message (expected r=...,s=...,i=...)");
    if (server_first.ends_with(",") || !valid_extensions(rest))
        return fail(errc::auth_failed, diag,
                    "malformed server-first message (after i=, only extensions 'x=value' other than r, s, i, m may follow)");

    if (nonce.size() <= nonce_.size() || !nonce.starts_with(nonce_))
        return fail(errc::auth_failed, diag, "server nonce does not extend the client nonce");
    for (char c : nonce)
        if (c < 0x21 || c > 0x7e || c == ',')
            return fail(errc::auth_failed, diag, "server nonce contains invalid characters");

    std::string salt;
    if (salt_b64.empty() || !morm::detail::base64_decode(salt_b64, salt) || salt.empty())
        return fail(errc::auth_failed, diag, "server salt is empty or not valid base64");

    std::uint32_t iterations = 0;
    auto [end, ec] = std::from_chars(iter_text.data(), iter_text.data() + iter_text.size(), iterations);
    if (iter_text.empty() || (ec != std::errc{} && ec != std::errc::result_out_of_range) ||
        end != iter_text.data() + iter_text.size())
        return fail(errc::auth_failed, diag, "server iteration count is not a number");
    if (ec == std::errc::result_out_of_range || iterations > max_iterations)
        return fail(errc::auth_failed, diag,
                    fmt::format("server iteration count {} is above the maximum of {} (a hostile or misconfigured "
                                "server: PBKDF2 would run for that many rounds)",
                                iter_text.substr(0, 20), max_iterations));
    if (iterations < min_iterations)
        return fail(errc::auth_failed, diag, "server iteration count is below the minimum of 4096");

    // The SCRAM password: MongoDB's MD5 transform for SHA-1, SASLprep for SHA-256.
    std::string password;
    if (mech_ == scram_mechanism::sha1) {
        password = detail::mongo_sha1_password(username_, password_);
        if (password.empty()) return fail(errc::auth_failed, diag, "MD5 is not available");
    } else if (error_code pec = saslprep(password_, password)) {
        wipe(password);
        return fail(errc::auth_failed, diag, "the password is not valid under SASLprep (RFC 4013)");
    }

    bool have_keys = false;
    if (cache_) {
        if (!sha256(password, pw_digest_)) {
            wipe(password);
            return fail(errc::auth_failed, diag, "SHA-256 failed");
        }
        have_keys = cache_->lookup(mech_, pw_digest_, salt, iterations, cached_keys_);
    }
    if (!have_keys) {
        job_ = std::make_shared<scram_derivation>(mech_, std::move(password), salt, iterations);
        job = job_;
    }
    wipe(password);
    combined_nonce_.assign(nonce);
    salt_ = std::move(salt);
    iterations_ = iterations;
    // AuthMessage = client-first-bare "," server-first "," client-final-without-proof
    auth_message_.append(",").append(server_first);
    state_ = state::deriving;
    return {};
}

[[nodiscard]] error_code scram_client::finish_server_first(std::string& client_final, diagnostics& diag) {
    if (state_ != state::deriving)
        return fail(errc::invalid_argument, diag, "finish_server_first called out of order");
    detail::scram_keys keys = cached_keys_;
    if (job_) {
        bool ok = job_->ok();
        if (ok) {
            keys = job_->keys();
            if (cache_) cache_->store(mech_, pw_digest_, salt_, iterations_, keys);
        }
        job_.reset();  // its destructor wipes the keys
        if (!ok) return fail(errc::auth_failed, diag, "key derivation failed");
    }
    OPENSSL_cleanse(cached_keys_.client_key.data(), cached_keys_.client_key.size());
    OPENSSL_cleanse(cached_keys_.server_key.data(), cached_keys_.server_key.size());

    std::size_t without_proof_begin = auth_message_.size() + 1;
    auth_message_.append(",c=biws,r=").append(combined_nonce_);

    std::array<unsigned char, 32> proof{};
    bool signed_ok = detail::scram_sign(mech_, keys, auth_message_, proof.data(), server_signature_.data());
    OPENSSL_cleanse(keys.client_key.data(), keys.client_key.size());
    OPENSSL_cleanse(keys.server_key.data(), keys.server_key.size());
    if (!signed_ok) return fail(errc::auth_failed, diag, "HMAC failed");

    std::string_view without_proof = std::string_view(auth_message_).substr(without_proof_begin);
    client_final.clear();
    client_final.reserve(without_proof.size() + 3 + morm::detail::base64_encoded_size(keys.size));
    client_final.append(without_proof).append(",p=");
    morm::detail::base64_encode_append(proof.data(), keys.size, client_final);
    OPENSSL_cleanse(proof.data(), proof.size());
    state_ = state::final_sent;
    return {};
}

[[nodiscard]] error_code scram_client::handle_server_final(std::string_view server_final, diagnostics& diag) {
    if (state_ != state::final_sent)
        return fail(errc::invalid_argument, diag, "handle_server_final called out of order");

    std::string_view rest = server_final, value;
    if (take_attribute(rest, 'e', value)) {
        std::string what = "server error: ";
        what.append(value);
        return fail(errc::auth_failed, diag, what);
    }
    if (!take_attribute(rest, 'v', value))
        return fail(errc::auth_failed, diag, "malformed server-final message (expected v=...)");

    std::size_t n = digest_size(mech_);
    std::array<unsigned char, 48> got{};
    if (value.size() != morm::detail::base64_encoded_size(n) ||
        morm::detail::base64_decode(value, got.data()) != static_cast<std::ptrdiff_t>(n) ||
        CRYPTO_memcmp(got.data(), server_signature_.data(), n) != 0)
        return fail(errc::auth_failed, diag, "server signature mismatch");
    state_ = state::complete;
    diag.clear();
    return {};
}

}  // namespace morm::wire
