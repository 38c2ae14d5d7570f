// morm error codes, diagnostics and the exception type.
//
// Every fallible operation reports an `error_code` in the morm category (or a system/Asio
// code for socket failures) plus a `diagnostics` object with the human-readable detail:
// the server's errmsg, code and codeName, or the field path of a decode failure.
// The throwing forms throw `morm::error`, which carries both.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace morm {

using error_code = boost::system::error_code;

/// Named error conditions of morm itself.
enum class errc : int {
    ok = 0,
    network = 1,          ///< connection refused, reset or closed by the peer
    timeout,              ///< connect, socket or operation deadline passed
    protocol,             ///< malformed or unexpected bytes from the server
    server_error,         ///< the server answered ok:0; see diagnostics for code/codeName
    write_error,          ///< some writes of a batch were rejected (writeErrors)
    write_concern_error,  ///< the write happened but its write concern was not satisfied
    decode_error,         ///< a document does not match the model (field path in diagnostics)
    encode_error,         ///< a value cannot be encoded (bad UTF-8, bad key, ...)
    document_too_large,   ///< document over maxBsonObjectSize; nothing was sent
    bad_uri,              ///< malformed connection string (position in diagnostics)
    auth_failed,          ///< authentication rejected; names mechanism and user, never password
    tls_error,            ///< TLS handshake or certificate failure
    not_supported,        ///< the server or configuration lacks a feature
    server_too_old,       ///< maxWireVersion below the minimum morm speaks
    pool_timeout,         ///< waitQueueTimeoutMS passed while waiting for a connection
    pool_closed,          ///< the pool/client was closed
    connection_closed,    ///< the connection was closed while the request was in flight
    cursor_exhausted,     ///< next() on a cursor that has no more documents
    not_found,            ///< one() / get() found nothing
    multiple_results,     ///< one() found more than one document
    conflict,             ///< optimistic-concurrency version mismatch
    outcome_unknown,      ///< the connection died before the reply: the write may or may not have happened
    invalid_argument,     ///< a caller-supplied value is not valid for the operation
    pool_cleared,         ///< the server's pool was cleared or is not ready yet: retryable, the server is not marked unknown
    dns_error,            ///< a DNS lookup failed (the name and the reason in diagnostics)
    rejected_by_hook,     ///< a lifecycle hook (orm/hooks.hpp) rejected the object; its reason in the message
};

/// The category of `errc`.
const boost::system::error_category& morm_category() noexcept;

[[nodiscard]] inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), morm_category()}; }

/// Human-readable detail that goes with an error_code.
struct diagnostics {
    std::string message;                   ///< server errmsg or client-side explanation
    std::int32_t server_code = 0;          ///< server error code (0 when not from a server)
    std::string code_name;                 ///< server codeName, e.g. "DuplicateKey"
    std::vector<std::string> error_labels; ///< e.g. "RetryableWriteError"

    void clear() {
        message.clear();
        server_code = 0;
        code_name.clear();
        error_labels.clear();
    }
    bool has_label(std::string_view l) const {
        for (auto& x : error_labels)
            if (x == l) return true;
        return false;
    }
};

/// Exception thrown by the throwing forms: the error_code plus the diagnostics.
class error : public boost::system::system_error {
public:
    error(error_code ec, diagnostics diag)
        : boost::system::system_error(ec, diag.message), diag_(std::move(diag)) {}
    explicit error(error_code ec) : boost::system::system_error(ec) {}
    error(errc e, std::string message) : error(make_error_code(e), make_diag(std::move(message))) {}

    const diagnostics& diag() const noexcept { return diag_; }
    std::int32_t server_code() const noexcept { return diag_.server_code; }
    const std::string& code_name() const noexcept { return diag_.code_name; }

private:
    static diagnostics make_diag(std::string message) {
        diagnostics d;
        d.message = std::move(message);
        return d;
    }
    diagnostics diag_;
};

/// Throws `morm::error` if `ec` is set.
inline void throw_on_error(const error_code& ec, const diagnostics& diag = {}) {
    if (ec) throw error(ec, diag);
}

}  // namespace morm

namespace boost::system {
template <>
struct is_error_code_enum<morm::errc> : std::true_type {};
}  // namespace boost::system
