// MongoDB connection strings: `mongodb://` and `mongodb+srv://`.
//
// Parses per the MongoDB "Connection String" and "URI Options" specifications into a plain
// struct of typed, validated values. Parsing is pure (no DNS, no I/O): for `mongodb+srv://`
// the result only records that an SRV/TXT lookup is needed (`srv == true`); whoever does the
// lookup feeds the results back through `apply_srv_hosts()` and `apply_txt_record()`.
//
// Warnings and errors (connection-string-spec.md, uri-options.md and the specs they cite):
//  - warnings: the option is ignored and a message is appended to `connection_string::warnings`
//    (the parser logs nothing itself; a client keeps them: `client::uri().warnings`):
//      * an unknown key ("unsupported option foo ignored"; the value is not echoed);
//      * an invalid value for a known key: not an integer, out of the documented range, a
//        boolean other than exactly "true"/"false", a readPreference not spelt as the spec
//        does, a serverMonitoringMode other than stream/poll/auto, a key:value list entry
//        without ':', an appName over 128 bytes, an srvServiceName that is not an RFC 6335
//        name... The message names the option and the value ("****" for secrets) and why:
//            unsupported value for connectTimeoutMS: '-2' (expected an integer >= 0); ...
//      * an empty value (readPreferenceTags excepted: empty is the match-anything tag set);
//      * a repeated key (the last valid value wins), a deprecated key (wtimeout,
//        gssapiServiceName), an unknown compressor (dropped), serverSelectionTryOnce
//        (single-threaded drivers only).
//  - errors (`errc::bad_uri`, "invalid connection string at position N: reason"): the syntax
//    (scheme, hosts, ports 1..65535, user info and database characters, percent-escapes,
//    "key" without '='), and the combinations the specs make errors: tls/ssl instances that
//    disagree, tlsInsecure/tlsAllowInvalid*/tlsDisable* pairs, directConnection=true with
//    several hosts or mongodb+srv, loadBalanced=true with several hosts, replicaSet or
//    directConnection=true, srvServiceName/srvMaxHosts without mongodb+srv, srvMaxHosts > 0
//    with replicaSet or loadBalanced=true, proxyPort/proxyUsername/proxyPassword without
//    proxyHost, proxyUsername without proxyPassword (and back), a repeated proxy option,
//    minPoolSize > maxPoolSize, w=0 with journal=true, tags or maxStalenessSeconds with
//    readPreference primary, an empty authSource, an unknown authMechanism and the auth
//    spec's credential rules.
//  - an '@' after the first '/' (before '?') is taken as an unescaped '/' in the user info,
//    so a database name containing '@' must be written as %40.
// Values are percent-decoded before use. A key:value list (readPreferenceTags,
// authMechanismProperties) is decoded first, then split at ',' and at each entry's first
// ':', so a value may contain ':' but never ',' (not even written as %2C).
// Secrets (the password, tlsCertificateKeyFilePassword, proxyPassword, AWS_SESSION_TOKEN)
// never appear in error messages, warnings, `redacted()` or the fmt formatter.
#pragma once

#include <morm/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace morm {

/// One `host[:port]` of the seed list.
struct host {
    enum class kind : std::uint8_t {
        hostname,     ///< a DNS name, lower-cased
        ipv4,         ///< dotted quad
        ipv6,         ///< IP literal; `name` holds it without the brackets
        unix_socket,  ///< a percent-decoded path ending in ".sock"; `port` is unused
    };

    std::string name;
    std::uint16_t port = 27017;
    kind type = kind::hostname;

    bool is_tcp() const noexcept { return type != kind::unix_socket; }

    /// "name:port", "[v6]:port" or the socket path; the form servers report in `hello.hosts`.
    std::string to_string() const;

    friend bool operator==(const host&, const host&) = default;
};

/// authMechanism values.
enum class auth_mechanism : std::uint8_t {
    scram_sha_1,
    scram_sha_256,
    mongodb_x509,
    plain,
    gssapi,
    mongodb_aws,
    mongodb_oidc,
    mongodb_cr,  ///< parsed (the auth spec still defines it); connecting with it is errc::not_supported
};

/// The spec spelling, e.g. "SCRAM-SHA-256".
std::string_view to_string(auth_mechanism m) noexcept;

/// readPreference modes.
enum class read_mode : std::uint8_t { primary, primary_preferred, secondary, secondary_preferred, nearest };

/// The spec spelling, e.g. "secondaryPreferred".
std::string_view to_string(read_mode m) noexcept;

/// Wire compressors (OP_COMPRESSED ids 1..3).
enum class compressor : std::uint8_t { snappy = 1, zlib = 2, zstd = 3 };

std::string_view to_string(compressor c) noexcept;

/// serverMonitoringMode (server-monitoring.md).
enum class server_monitoring_mode : std::uint8_t {
    automatic,  ///< "auto": poll on a FaaS platform (see running_on_faas()), else stream
    stream,     ///< the awaitable hello when the server offers topologyVersion, else poll
    poll,       ///< a plain hello every heartbeatFrequencyMS, never the awaitable one
};

std::string_view to_string(server_monitoring_mode m) noexcept;

/// True when the environment says a FaaS platform runs this process, by the variables the
/// handshake spec uses for `client.env`: AWS Lambda (AWS_EXECUTION_ENV starting with
/// "AWS_Lambda_", or AWS_LAMBDA_RUNTIME_API), Azure Functions (FUNCTIONS_WORKER_RUNTIME),
/// GCP (K_SERVICE or FUNCTION_NAME), Vercel (VERCEL, which wins over AWS). Variables of
/// several other providers at once: not FaaS (the handshake omits `env` then).
bool running_on_faas() noexcept;

/// A SOCKS5 proxy (socks5.md): every connection to a server goes through it; the server's
/// host name is sent to the proxy unresolved.
struct proxy_options {
    std::string host;                     ///< proxyHost (an IPv6 literal without brackets)
    std::uint16_t port = 1080;            ///< proxyPort
    std::optional<std::string> username;  ///< proxyUsername: set together with password
    std::optional<std::string> password;  ///< proxyPassword (secret: never printed)

    friend bool operator==(const proxy_options&, const proxy_options&) = default;
};

/// An ordered list of key:value pairs (a tag set, or authMechanismProperties).
using key_value_list = std::vector<std::pair<std::string, std::string>>;

/// Who to authenticate as. Present when the URI has userinfo or an authMechanism.
struct credential {
    std::string username;                    ///< percent-decoded; may be empty for X509/AWS/OIDC
    std::optional<std::string> password;     ///< percent-decoded; nullopt if no ':' was given
    std::optional<auth_mechanism> mechanism; ///< nullopt: negotiate via saslSupportedMechs
    std::optional<std::string> source;       ///< authSource as given (use `auth_database()`)
    key_value_list mechanism_properties;     ///< authMechanismProperties, keys as given

    /// Looks up a mechanism property (keys compare case-insensitively); nullptr if absent.
    const std::string* property(std::string_view key) const noexcept;
};

/// w: a node count or a tag/"majority".
using write_concern_w = std::variant<std::int32_t, std::string>;

/// A parsed connection string.
struct connection_string {
    using milliseconds = std::chrono::milliseconds;

    // --- what the string names ---
    bool srv = false;                          ///< mongodb+srv://: SRV and TXT lookup needed
    std::vector<host> hosts;                   ///< seed list (for srv: the one service name)
    std::optional<std::string> database;       ///< default database, percent-decoded
    std::optional<credential> auth;            ///< credentials, if any

    // --- topology ---
    std::optional<std::string> replica_set;
    std::optional<bool> direct_connection;
    bool load_balanced = false;
    std::optional<std::int32_t> srv_max_hosts; ///< only with srv; 0 = no limit
    std::string srv_service_name = "mongodb";  ///< only with srv
    server_monitoring_mode server_monitoring = server_monitoring_mode::automatic;

    // --- TLS ---
    std::optional<bool> tls;                   ///< as given (tls or ssl); see tls_enabled()
    std::optional<std::string> tls_ca_file;
    std::optional<std::string> tls_certificate_key_file;
    std::optional<std::string> tls_certificate_key_file_password; ///< secret: never printed
    bool tls_allow_invalid_certificates = false;
    bool tls_allow_invalid_hostnames = false;
    bool tls_insecure = false;                 ///< implies both of the above
    bool tls_disable_ocsp_endpoint_check = false;
    bool tls_disable_certificate_revocation_check = false;

    // --- timeouts (unset where the spec gives "unset" a meaning) ---
    milliseconds connect_timeout{10000};       ///< 0 means no timeout
    std::optional<milliseconds> socket_timeout;
    milliseconds server_selection_timeout{30000};
    std::optional<milliseconds> timeout;       ///< timeoutMS (CSOT); 0 = infinite
    milliseconds heartbeat_frequency{10000};   ///< >= 500
    milliseconds local_threshold{15};

    // --- pool ---
    std::int32_t min_pool_size = 0;
    std::int32_t max_pool_size = 100;          ///< 0 means no limit
    std::int32_t max_connecting = 2;
    std::optional<milliseconds> max_idle_time; ///< unset or 0: never close idle connections
    std::optional<milliseconds> wait_queue_timeout;

    // --- write concern ---
    std::optional<write_concern_w> w;
    std::optional<bool> journal;
    std::optional<milliseconds> wtimeout;

    // --- read concern / preference ---
    std::optional<std::string> read_concern_level;
    std::optional<read_mode> read_preference;
    std::vector<key_value_list> read_preference_tags; ///< in order; an empty set matches any
    std::optional<std::int32_t> max_staleness_seconds; ///< -1 (no max) or >= 90

    // --- misc ---
    std::optional<std::string> app_name;       ///< <= 128 bytes
    std::vector<compressor> compressors;       ///< preference order, known ones only
    std::optional<int> zlib_compression_level; ///< -1..9
    bool retry_writes = true;
    bool retry_reads = true;
    /// maxAdaptiveRetries and enableOverloadRetargeting (client backpressure): parsed and
    /// validated; morm does not retry on overload errors yet, so they have no effect.
    std::int32_t max_adaptive_retries = 2;
    bool enable_overload_retargeting = false;

    // --- proxy ---
    std::optional<proxy_options> proxy;       ///< set when proxyHost is given

    /// Non-fatal findings, in the order met: unknown keys, invalid values (ignored), empty,
    /// repeated and deprecated options, dropped compressors (see the top of this file).
    std::vector<std::string> warnings;

    /// Parses `uri`; throws `morm::error` (errc::bad_uri) with the position in the message.
    static connection_string parse(std::string_view uri);

    /// Non-throwing form. On failure `ec` is errc::bad_uri, `diag.message` says where and why,
    /// and the returned value is default-constructed.
    static connection_string parse(std::string_view uri, error_code& ec, diagnostics& diag);

    /// authSource, else (for mechanisms whose credentials live in the external store:
    /// X509, GSSAPI, AWS, OIDC, and PLAIN without a database) "$external", else the
    /// database, else "admin".
    std::string auth_database() const;

    /// TLS is on if tls/ssl says so; mongodb+srv defaults it to true.
    bool tls_enabled() const noexcept { return tls.value_or(srv); }

    /// Certificate and host-name checks are skipped (tlsInsecure or the individual options).
    bool tls_skip_certificate_check() const noexcept { return tls_insecure || tls_allow_invalid_certificates; }
    bool tls_skip_hostname_check() const noexcept { return tls_insecure || tls_allow_invalid_hostnames; }

    /// Whether monitors may use the streaming (awaitable hello) protocol: stream, or auto
    /// outside a FaaS platform.
    bool streaming_monitoring() const noexcept {
        return server_monitoring == server_monitoring_mode::stream ||
               (server_monitoring == server_monitoring_mode::automatic && !running_on_faas());
    }

    /// Read preference mode with the spec default applied.
    read_mode effective_read_preference() const noexcept { return read_preference.value_or(read_mode::primary); }

    /// The service name to query for an SRV lookup: "_mongodb._tcp.<host>". Only valid if srv.
    std::string srv_query_name() const;

    /// Replaces the seed list with the SRV lookup result. Each target must end with the
    /// domain of the original host (the spec's anti-hijacking rule); on failure nothing changes.
    /// Applies srvMaxHosts by keeping the first N (the caller shuffles first if it wants).
    void apply_srv_hosts(std::vector<host> targets, error_code& ec, diagnostics& diag);

    /// Applies a TXT record ("authSource=admin&replicaSet=rs0"). Only authSource, replicaSet
    /// and loadBalanced are allowed; options given in the URI itself take precedence.
    void apply_txt_record(std::string_view txt, error_code& ec, diagnostics& diag);

    /// The input with every secret replaced by "****". Safe to log.
    const std::string& redacted() const noexcept { return redacted_; }

    /// Same as redacted().
    std::string to_string() const { return redacted_; }

private:
    friend struct detail_uri_access;
    std::string redacted_;
    // Which options the URI set explicitly; a TXT record must not override them.
    bool uri_set_auth_source_ = false;
    bool uri_set_replica_set_ = false;
    bool uri_set_load_balanced_ = false;
};

}  // namespace morm

/// Formats as the redacted URI.
template <>
struct fmt::formatter<morm::connection_string> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const morm::connection_string& cs, FormatContext& ctx) const {
        return fmt::formatter<std::string_view>::format(cs.redacted(), ctx);
    }
};
