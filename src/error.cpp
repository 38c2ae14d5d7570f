#include <morm/error.hpp>

namespace morm {
namespace {
class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "morm"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::ok: return "success";
            case errc::network: return "network error";
            case errc::timeout: return "operation timed out";
            case errc::protocol: return "protocol error: malformed or unexpected reply";
            case errc::server_error: return "server error";
            case errc::write_error: return "write error";
            case errc::write_concern_error: return "write concern error";
            case errc::decode_error: return "decode error";
            case errc::encode_error: return "encode error";
            case errc::document_too_large: return "document exceeds the server's maxBsonObjectSize";
            case errc::bad_uri: return "invalid connection string";
            case errc::auth_failed: return "authentication failed";
            case errc::tls_error: return "TLS error";
            case errc::not_supported: return "not supported by this server or configuration";
            case errc::server_too_old: return "server wire version too old";
            case errc::pool_timeout: return "timed out waiting for a pooled connection";
            case errc::pool_closed: return "connection pool closed";
            case errc::connection_closed: return "connection closed with the request in flight";
            case errc::cursor_exhausted: return "cursor exhausted";
            case errc::not_found: return "not found";
            case errc::multiple_results: return "more than one result";
            case errc::conflict: return "version conflict";
            case errc::outcome_unknown: return "write outcome unknown: no reply was received";
            case errc::invalid_argument: return "invalid argument";
            case errc::pool_cleared: return "connection pool cleared";
            case errc::dns_error: return "DNS lookup failed";
            case errc::rejected_by_hook: return "rejected by a lifecycle hook";
        }
        return "unknown morm error";
    }
};
}  // namespace

const boost::system::error_category& morm_category() noexcept {
    static const category c;
    return c;
}
}  // namespace morm
