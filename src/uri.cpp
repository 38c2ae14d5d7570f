#include <morm/uri.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <unordered_map>

namespace morm {

// Gives the parser write access to the private bookkeeping of connection_string.
struct detail_uri_access {
    static std::string& redacted(connection_string& cs) { return cs.redacted_; }
    static bool& set_auth_source(connection_string& cs) { return cs.uri_set_auth_source_; }
    static bool& set_replica_set(connection_string& cs) { return cs.uri_set_replica_set_; }
    static bool& set_load_balanced(connection_string& cs) { return cs.uri_set_load_balanced_; }
};

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Parsing is not a hot path and a failure unwinds through many helpers, so the parser
// throws this internally; both public forms catch it.
struct uri_failure {
    std::size_t pos;
    std::string reason;
};

[[noreturn]] void fail(std::size_t pos, std::string reason) { throw uri_failure{pos, std::move(reason)}; }

// An option value the spec says to ignore with a warning (connection-string-spec.md,
// "Any invalid Values for a given key MUST be ignored and MUST log a WARN level message"):
// thrown by the value parsers, caught by apply_option, which turns it into a warning.
struct bad_value {
    std::string reason;
};

[[noreturn]] void reject(std::string reason) { throw bad_value{std::move(reason)}; }

char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = to_lower(c);
    return r;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decodes `s`, which starts at byte `base` of the input. `what` names the part for
// the error message; the content itself is never echoed (it may be a password).
std::string percent_decode(std::string_view s, std::size_t base, std::string_view what) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail(base + i, fmt::format("invalid percent-escape in {}", what));
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

// Splits `s` (at input offset `base`) on `sep`, calling f(piece, piece_offset).
template <class F>
void split(std::string_view s, std::size_t base, char sep, F&& f) {
    std::size_t start = 0;
    while (true) {
        auto end = s.find(sep, start);
        f(s.substr(start, end == npos ? npos : end - start), base + start);
        if (end == npos) break;
        start = end + 1;
    }
}

std::uint16_t parse_port(std::string_view s, std::size_t pos) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < 1 || v > 65535)
        fail(pos, "port must be 1..65535");
    return static_cast<std::uint16_t>(v);
}

bool is_ipv4(std::string_view s) {
    int parts = 0;
    bool ok = true;
    split(s, 0, '.', [&](std::string_view p, std::size_t) {
        ++parts;
        unsigned v = 0;
        auto [e, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (p.empty() || p.size() > 3 || ec != std::errc{} || e != p.data() + p.size() || v > 255) ok = false;
    });
    return ok && parts == 4;
}

host parse_host(std::string_view s, std::size_t pos) {
    if (s.empty()) fail(pos, "empty host");
    host h;
    if (s.front() == '[') {
        auto close = s.find(']');
        if (close == npos) fail(pos, "IPv6 literal is missing ']'");
        auto addr = s.substr(1, close - 1);
        if (addr.empty() || addr.find(':') == npos) fail(pos + 1, "invalid IPv6 literal");
        for (std::size_t i = 0; i < addr.size(); ++i) {
            char c = addr[i];
            if (!(hex_value(c) >= 0 || c == ':' || c == '.')) fail(pos + 1 + i, "invalid character in IPv6 literal");
        }
        h.name = lower(addr);
        h.type = host::kind::ipv6;
        auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') fail(pos + close + 1, "expected ':' after IPv6 literal");
            h.port = parse_port(rest.substr(1), pos + close + 2);
        }
        return h;
    }
    // A unix socket path must be percent-encoded (it contains '/'), and ends in ".sock".
    if (iends_with(s, ".sock") || s.find("%2F") != npos || s.find("%2f") != npos) {
        h.name = percent_decode(s, pos, "unix socket path");
        if (!iends_with(h.name, ".sock")) fail(pos, "unix socket path must end in .sock");
        h.type = host::kind::unix_socket;
        return h;
    }
    auto colon = s.find(':');
    auto name = s.substr(0, colon);
    if (name.empty()) fail(pos, "empty host name");
    if (colon != npos) {
        auto port = s.substr(colon + 1);
        if (auto extra = port.find(':'); extra != npos)
            fail(pos + colon + 1 + extra, "unexpected ':' in host (IPv6 literals need brackets)");
        h.port = parse_port(port, pos + colon + 1);
    }
    h.name = lower(percent_decode(name, pos, "host name"));
    for (std::size_t i = 0; i < h.name.size(); ++i) {
        auto c = static_cast<unsigned char>(h.name[i]);
        if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#' || c == '[' || c == ']')
            fail(pos + std::min(i, name.size()), "invalid character in host name");
    }
    h.type = is_ipv4(h.name) ? host::kind::ipv4 : host::kind::hostname;
    return h;
}

// Value parsers. They throw bad_value (a warning, the option ignored); apply_option adds the
// option's name and (unless it is a secret) its value to the message.

bool parse_bool(std::string_view v) {
    // Only the two spellings the spec defines; "TRUE", "1", "yes"... are not booleans.
    if (v == "true") return true;
    if (v == "false") return false;
    reject("expected true or false");
}

std::int64_t parse_int(std::string_view v, std::int64_t min,
                       std::int64_t max = std::numeric_limits<std::int32_t>::max()) {
    std::int64_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec == std::errc::result_out_of_range) reject(fmt::format("expected an integer in {}..{}", min, max));
    if (ec != std::errc{} || p != v.data() + v.size()) reject("expected an integer");
    if (x < min || x > max) {
        if (max == std::numeric_limits<std::int32_t>::max() || max == std::numeric_limits<std::int64_t>::max())
            reject(fmt::format("expected an integer >= {}", min));
        reject(fmt::format("expected an integer in {}..{}", min, max));
    }
    return x;
}

std::chrono::milliseconds parse_ms(std::string_view v, std::int64_t min = 0) {
    return std::chrono::milliseconds(parse_int(v, min));
}

// key:value,key:value. The value is percent-decoded first (the spec decodes every value),
// then split: a ',' is always a separator, the first ':' of an entry separates its key
// from its value (so "TOKEN_RESOURCE:mongodb://h" has the value "mongodb://h").
key_value_list parse_kv_list(std::string_view decoded) {
    key_value_list out;
    split(decoded, 0, ',', [&](std::string_view item, std::size_t) {
        auto colon = item.find(':');
        if (item.empty() || colon == npos || colon == 0)
            reject(fmt::format("entry '{}' is not key:value (a value must not contain ',')", item));
        out.emplace_back(std::string(item.substr(0, colon)), std::string(item.substr(colon + 1)));
    });
    return out;
}

// RFC 6335 section 5.1: 1..15 letters, digits and '-', at least one letter, no '-' at
// either end, no two '-' in a row.
bool valid_service_name(std::string_view s) {
    if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' || s.find("--") != npos) return false;
    bool letter = false;
    for (char c : s) {
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        letter = letter || alpha;
        if (!alpha && !(c >= '0' && c <= '9') && c != '-') return false;
    }
    return letter;
}

std::optional<auth_mechanism> mechanism_from(std::string_view v) {
    static constexpr std::pair<std::string_view, auth_mechanism> table[] = {
        {"SCRAM-SHA-1", auth_mechanism::scram_sha_1},   {"SCRAM-SHA-256", auth_mechanism::scram_sha_256},
        {"MONGODB-X509", auth_mechanism::mongodb_x509}, {"PLAIN", auth_mechanism::plain},
        {"GSSAPI", auth_mechanism::gssapi},             {"MONGODB-AWS", auth_mechanism::mongodb_aws},
        {"MONGODB-OIDC", auth_mechanism::mongodb_oidc}, {"MONGODB-CR", auth_mechanism::mongodb_cr},
    };
    for (auto& [name, m] : table)
        if (iequals(name, v)) return m;
    return std::nullopt;
}

std::optional<read_mode> read_mode_from(std::string_view v) {
    static constexpr std::pair<std::string_view, read_mode> table[] = {
        {"primary", read_mode::primary},
        {"primaryPreferred", read_mode::primary_preferred},
        {"secondary", read_mode::secondary},
        {"secondaryPreferred", read_mode::secondary_preferred},
        {"nearest", read_mode::nearest},
    };
    for (auto& [name, m] : table)
        if (name == v) return m;  // the spec: "must be lowercase camelCase"
    return std::nullopt;
}

// A span of the input to print as "****".
struct span {
    std::size_t begin, end;
};

class parser {
public:
    explicit parser(std::string_view uri) : uri_(uri) {}

    connection_string run() {
        if (uri_.empty()) fail(0, "empty connection string");
        std::size_t p;
        if (uri_.starts_with("mongodb://")) {
            p = 10;
        } else if (uri_.starts_with("mongodb+srv://")) {
            p = 14;
            cs_.srv = true;
        } else {
            fail(0, "scheme must be mongodb:// or mongodb+srv://");
        }

        // The host list ends at the first '/' or, since the '/' before the options is
        // optional, at the first '?'.
        auto slash = uri_.find('/', p);
        auto question = uri_.find('?', p);
        if (slash != npos && question != npos && question < slash) slash = npos;
        auto auth_end = std::min(slash, question);
        if (auth_end == npos) auth_end = uri_.size();
        auto authority = uri_.substr(p, auth_end - p);

        std::string_view path;
        std::size_t path_pos = 0;
        if (slash != npos) {
            path_pos = slash + 1;
            auto path_end = question == npos ? uri_.size() : question;
            path = uri_.substr(path_pos, path_end - path_pos);
            // An '@' after the first '/' means the user info held an unescaped '/'.
            if (path.find('@') != npos) fail(slash, "'/' in the user info must be percent-encoded");
        }

        parse_authority(authority, p);
        if (!path.empty()) {
            if (auto s = path.find('/'); s != npos)
                fail(path_pos + s, "database name must not contain '/' (socket paths must be percent-encoded)");
            auto db = percent_decode(path, path_pos, "database name");
            // Checked once decoded (connection-string-spec.md, "Auth Database"); '.' is
            // allowed so that a namespace can be written here.
            if (auto bad = db.find_first_of("/\\ \"$"); bad != npos)
                fail(path_pos, fmt::format("database name must not contain '{}'", db[bad]));
            if (!db.empty()) cs_.database = std::move(db);
        }
        if (question != npos) parse_options(uri_.substr(question + 1), question + 1);
        validate();
        build_redacted();
        return std::move(cs_);
    }

private:
    // RFC 3986 userinfo: unreserved / pct-encoded / sub-delims / ':'. The spec lets drivers
    // accept the other reserved characters unescaped for compatibility ('#', '[', ']' can
    // only appear here, '/' and '?' end the host list earlier); anything else (space,
    // control bytes, '"', '<', '>', '\\', '^', '`', '{', '|', '}', non-ASCII) must be
    // percent-encoded. The message names the character, never the text around it.
    static void check_userinfo_chars(std::string_view u, std::size_t base) {
        static constexpr std::string_view allowed_punct = "-._~!$&'()*+,;=:%#[]";
        for (std::size_t i = 0; i < u.size(); ++i) {
            const auto c = static_cast<unsigned char>(u[i]);
            const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (alnum || allowed_punct.find(static_cast<char>(c)) != npos) continue;
            if (c >= 0x21 && c < 0x7f)
                fail(base + i, fmt::format("'{}' in the user info must be percent-encoded", static_cast<char>(c)));
            fail(base + i, fmt::format("byte 0x{:02x} in the user info must be percent-encoded", c));
        }
    }

    void parse_authority(std::string_view a, std::size_t base) {
        if (a.empty()) fail(base, "missing host (socket paths must be percent-encoded)");
        auto at = a.rfind('@');
        std::string_view hostinfo = a;
        std::size_t host_pos = base;
        if (at != npos) {
            auto userinfo = a.substr(0, at);
            if (auto bad = userinfo.find('@'); bad != npos)
                fail(base + bad, "'@' in the user info must be percent-encoded");
            check_userinfo_chars(userinfo, base);
            auto colon = userinfo.find(':');
            auto user = userinfo.substr(0, colon);
            credential c;
            c.username = percent_decode(user, base, "user name");
            if (c.username.empty()) fail(base, "user name must not be empty");
            if (colon != npos) {
                auto pw = userinfo.substr(colon + 1);
                auto pw_pos = base + colon + 1;
                if (auto bad = pw.find(':'); bad != npos)
                    fail(pw_pos + bad, "':' in the password must be percent-encoded");
                c.password = percent_decode(pw, pw_pos, "password");
                secrets_.push_back({pw_pos, pw_pos + pw.size()});
            }
            cs_.auth = std::move(c);
            userinfo_pos_ = base;
            hostinfo = a.substr(at + 1);
            host_pos = base + at + 1;
        }
        if (hostinfo.empty()) fail(host_pos, "missing host");
        split(hostinfo, host_pos, ',', [&](std::string_view h, std::size_t pos) {
            if (cs_.srv && !cs_.hosts.empty()) fail(pos - 1, "mongodb+srv requires exactly one host");
            cs_.hosts.push_back(parse_host(h, pos));
            if (cs_.srv) {
                if (cs_.hosts.back().type != host::kind::hostname)
                    fail(pos, "mongodb+srv requires a host name");
                if (h.find(':') != npos) fail(pos + h.find(':'), "mongodb+srv must not specify a port");
            }
        });
    }

    void parse_options(std::string_view opts, std::size_t base) {
        split(opts, base, '&', [&](std::string_view item, std::size_t pos) {
            if (item.empty()) return;  // tolerate "?" alone, "&&" and a trailing '&'
            auto eq = item.find('=');
            if (eq == npos) fail(pos, "option has no value (expected key=value)");
            if (eq == 0) fail(pos, "option has an empty key");
            auto key = lower(percent_decode(item.substr(0, eq), pos, "option key"));
            auto raw = item.substr(eq + 1);
            apply_option(key, item.substr(0, eq), raw, pos, pos + eq + 1);
        });
    }

    std::size_t seen(std::string_view k) const {
        auto it = seen_.find(std::string(k));
        return it == seen_.end() ? npos : it->second;
    }

    /// One option being applied: its canonical (lower-case) key, its value as written and
    /// percent-decoded, and the offset of the value in the input (for error positions).
    struct option_arg {
        const std::string& key;
        std::string_view raw;
        const std::string& v;
        std::size_t vpos;
        std::size_t kpos;

        std::chrono::milliseconds ms(std::int64_t min = 0) const { return parse_ms(v, min); }
        bool b() const { return parse_bool(v); }
        std::int32_t i32(std::int64_t min, std::int64_t max = std::numeric_limits<std::int32_t>::max()) const {
            return static_cast<std::int32_t>(parse_int(v, min, max));
        }
    };

    // Options whose value must not be echoed in a warning or kept in redacted().
    static bool is_secret_key(std::string_view key) {
        return key.find("password") != npos || key.find("secret") != npos || key.find("token") != npos;
    }

    // Options a security-relevant spec forbids repeating: a second value is an error, not
    // "the last one wins" (proxy-options: socks5.md via uri-options.md).
    static bool must_not_repeat(std::string_view key) {
        return key == "proxyhost" || key == "proxyport" || key == "proxyusername" || key == "proxypassword";
    }

    void apply_option(const std::string& key, std::string_view key_as_given, std::string_view raw,
                      std::size_t kpos, std::size_t vpos) {
        const bool is_tags = key == "readpreferencetags";
        if (must_not_repeat(key) && mentioned_.contains(key))
            fail(kpos, fmt::format("option {} must not be given more than once", key_as_given));
        mentioned_.insert(key);
        if (!is_tags && seen_.contains(key))
            warn(fmt::format("option {} given more than once; the last value wins", key_as_given));
        const bool secret = is_secret_key(key);
        // Unknown options such as a misspelt password may hold secrets too: redact by name.
        if (secret) secrets_.push_back({vpos, vpos + raw.size()});
        if (raw.empty() && !is_tags) {
            if (key == "authsource") fail(vpos, "authSource must not be empty");
            warn(fmt::format("option {} has an empty value and is ignored", key_as_given));
            return;
        }
        const std::string v = percent_decode(raw, vpos, "option value");
        const option_arg o{key, raw, v, vpos, kpos};
        try {
            // Each family applies the keys it knows and returns false for the others.
            if (!apply_auth_option(o) && !apply_topology_option(o) && !apply_tls_option(o) &&
                !apply_timeout_pool_option(o) && !apply_concern_option(o) && !apply_preference_option(o) &&
                !apply_misc_option(o) && !apply_proxy_option(o)) {
                warn(fmt::format("unsupported option {} ignored", key_as_given));
                return;
            }
        } catch (const bad_value& b) {
            warn(fmt::format("unsupported value for {}: '{}' ({}); the option is ignored", key_as_given,
                             secret ? std::string("****") : v, b.reason));
            return;
        }
        seen_[key] = kpos;
    }

    bool apply_auth_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "authsource") {
            auth_source_ = o.v;
        } else if (key == "authmechanism") {
            auto m = mechanism_from(o.v);
            // The auth spec makes an unknown mechanism an error, not a warning: ignoring it
            // would authenticate with another mechanism than the one asked for.
            if (!m) fail(o.vpos, fmt::format("unknown authMechanism '{}'", o.v));
            mechanism_ = m;
        } else if (key == "authmechanismproperties") {
            // The AWS session token is a secret; redact the whole list rather than parse twice.
            if (lower(o.v).find("aws_session_token") != npos) secrets_.push_back({o.vpos, o.vpos + o.raw.size()});
            mech_props_ = parse_kv_list(o.v);
        } else if (key == "gssapiservicename") {
            warn("option gssapiServiceName is deprecated; use authMechanismProperties=SERVICE_NAME:...");
            gssapi_service_name_ = o.v;
        } else {
            return false;
        }
        return true;
    }

    bool apply_topology_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "replicaset") cs_.replica_set = o.v;
        else if (key == "directconnection") cs_.direct_connection = o.b();
        else if (key == "loadbalanced") cs_.load_balanced = o.b();
        else if (key == "srvmaxhosts") cs_.srv_max_hosts = o.i32(0);
        else if (key == "srvservicename") {
            if (!valid_service_name(o.v)) reject("not an RFC 6335 service name");
            cs_.srv_service_name = o.v;
        } else if (key == "servermonitoringmode") {
            if (o.v == "stream") cs_.server_monitoring = server_monitoring_mode::stream;
            else if (o.v == "poll") cs_.server_monitoring = server_monitoring_mode::poll;
            else if (o.v == "auto") cs_.server_monitoring = server_monitoring_mode::automatic;
            else reject("expected stream, poll or auto");
        } else if (key == "serverselectiontryonce") {
            // Defined for single-threaded drivers only; morm's selection always retries until
            // serverSelectionTimeoutMS. Known, so the value is checked, but it has no effect.
            (void)o.b();
            warn("option serverSelectionTryOnce is for single-threaded drivers and is ignored by morm");
        } else return false;
        return true;
    }

    bool apply_tls_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "tls" || key == "ssl") {
            bool val = o.b();
            // uri-options.md: every instance of tls and ssl must agree, not only the last ones.
            if (tls_value_ && *tls_value_ != val) fail(o.kpos, "tls and ssl must agree");
            tls_value_ = val;
            cs_.tls = val;
        } else if (key == "tlscafile") {
            cs_.tls_ca_file = o.v;
        } else if (key == "tlscertificatekeyfile") {
            cs_.tls_certificate_key_file = o.v;
        } else if (key == "tlscertificatekeyfilepassword") {
            cs_.tls_certificate_key_file_password = o.v;
        } else if (key == "tlsallowinvalidcertificates") {
            cs_.tls_allow_invalid_certificates = o.b();
        } else if (key == "tlsallowinvalidhostnames") {
            cs_.tls_allow_invalid_hostnames = o.b();
        } else if (key == "tlsinsecure") {
            cs_.tls_insecure = o.b();
        } else if (key == "tlsdisableocspendpointcheck") {
            cs_.tls_disable_ocsp_endpoint_check = o.b();
        } else if (key == "tlsdisablecertificaterevocationcheck") {
            cs_.tls_disable_certificate_revocation_check = o.b();
        } else {
            return false;
        }
        return true;
    }

    bool apply_timeout_pool_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "connecttimeoutms") cs_.connect_timeout = o.ms();
        else if (key == "sockettimeoutms") cs_.socket_timeout = o.ms();
        else if (key == "serverselectiontimeoutms") cs_.server_selection_timeout = o.ms(1);
        else if (key == "timeoutms") cs_.timeout = o.ms();
        else if (key == "heartbeatfrequencyms") cs_.heartbeat_frequency = o.ms(500);
        else if (key == "localthresholdms") cs_.local_threshold = o.ms();
        else if (key == "minpoolsize") cs_.min_pool_size = o.i32(0);
        else if (key == "maxpoolsize") cs_.max_pool_size = o.i32(0);
        else if (key == "maxconnecting") cs_.max_connecting = o.i32(1);
        else if (key == "maxidletimems") cs_.max_idle_time = o.ms();
        else if (key == "waitqueuetimeoutms") cs_.wait_queue_timeout = o.ms(1);  // "positive number"
        else return false;
        return true;
    }

    /// Write and read concern.
    bool apply_concern_option(const option_arg& o) {
        const std::string& key = o.key;
        const std::string& v = o.v;
        if (key == "w") {
            const bool numeric = std::all_of(v.begin() + (v[0] == '-' || v[0] == '+'), v.end(),
                                             [](char c) { return c >= '0' && c <= '9'; });
            if (numeric)
                cs_.w = o.i32(0);
            else
                cs_.w = v;
        } else if (key == "journal") {
            cs_.journal = o.b();
        } else if (key == "wtimeoutms") {
            // A 64-bit integer, unlike the other integer options.
            cs_.wtimeout = std::chrono::milliseconds(parse_int(v, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (key == "wtimeout") {
            warn("option wtimeout is deprecated; use wTimeoutMS");
            legacy_wtimeout_ = std::chrono::milliseconds(parse_int(v, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (key == "readconcernlevel") {
            // Not validated: servers add levels and the spec asks drivers to pass them through.
            cs_.read_concern_level = v;
        } else {
            return false;
        }
        return true;
    }

    /// Read preference: mode, tag sets and staleness.
    bool apply_preference_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "readpreference") {
            auto m = read_mode_from(o.v);
            if (!m) reject("expected primary, primaryPreferred, secondary, secondaryPreferred or nearest");
            cs_.read_preference = m;
        } else if (key == "readpreferencetags") {
            // An empty value is the empty tag set, which matches any server.
            cs_.read_preference_tags.push_back(o.raw.empty() ? key_value_list{} : parse_kv_list(o.v));
        } else if (key == "maxstalenessseconds") {
            auto s = o.i32(-1);
            if (s != -1 && s < 90) reject("expected -1 or an integer >= 90");
            cs_.max_staleness_seconds = s;
        } else {
            return false;
        }
        return true;
    }

    /// Application name, compression, retries and overload handling.
    bool apply_misc_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "appname") {
            if (o.v.size() > 128) reject("longer than 128 bytes");
            cs_.app_name = o.v;
        } else if (key == "compressors") {
            apply_compressors(o.v);
        } else if (key == "zlibcompressionlevel") {
            cs_.zlib_compression_level = o.i32(-1, 9);
        } else if (key == "retrywrites") {
            cs_.retry_writes = o.b();
        } else if (key == "retryreads") {
            cs_.retry_reads = o.b();
        } else if (key == "maxadaptiveretries") {
            cs_.max_adaptive_retries = o.i32(0);
        } else if (key == "enableoverloadretargeting") {
            cs_.enable_overload_retargeting = o.b();
        } else {
            return false;
        }
        return true;
    }

    /// SOCKS5 proxy (socks5.md); the dependencies between them are checked in validate().
    bool apply_proxy_option(const option_arg& o) {
        const std::string& key = o.key;
        if (key == "proxyhost") proxy_host_ = o.v;
        else if (key == "proxyport") proxy_port_ = static_cast<std::uint16_t>(o.i32(1, 65535));
        else if (key == "proxyusername") proxy_username_ = o.v;
        else if (key == "proxypassword") proxy_password_ = o.v;
        else return false;
        return true;
    }

    void apply_compressors(std::string_view v) {
        cs_.compressors.clear();
        split(v, 0, ',', [&](std::string_view c, std::size_t) {
            std::optional<compressor> comp;
            if (iequals(c, "snappy")) comp = compressor::snappy;
            else if (iequals(c, "zlib")) comp = compressor::zlib;
            else if (iequals(c, "zstd")) comp = compressor::zstd;
            if (!comp) {
                warn(fmt::format("unsupported compressor '{}' dropped", c));
                return;
            }
            if (std::find(cs_.compressors.begin(), cs_.compressors.end(), *comp) == cs_.compressors.end())
                cs_.compressors.push_back(*comp);
        });
    }

    void warn(std::string w) { cs_.warnings.push_back(std::move(w)); }

    void validate() {
        // --- TLS ---
        auto conflict = [&](std::string_view a, std::string_view b, std::string_view a_name, std::string_view b_name) {
            auto pa = seen(a), pb = seen(b);
            if (pa != npos && pb != npos)
                fail(std::max(pa, pb), fmt::format("{} and {} must not both be given", a_name, b_name));
        };
        conflict("tlsinsecure", "tlsallowinvalidcertificates", "tlsInsecure", "tlsAllowInvalidCertificates");
        conflict("tlsinsecure", "tlsallowinvalidhostnames", "tlsInsecure", "tlsAllowInvalidHostnames");
        conflict("tlsinsecure", "tlsdisableocspendpointcheck", "tlsInsecure", "tlsDisableOCSPEndpointCheck");
        conflict("tlsinsecure", "tlsdisablecertificaterevocationcheck", "tlsInsecure",
                 "tlsDisableCertificateRevocationCheck");
        conflict("tlsallowinvalidcertificates", "tlsdisableocspendpointcheck", "tlsAllowInvalidCertificates",
                 "tlsDisableOCSPEndpointCheck");
        conflict("tlsallowinvalidcertificates", "tlsdisablecertificaterevocationcheck",
                 "tlsAllowInvalidCertificates", "tlsDisableCertificateRevocationCheck");
        conflict("tlsdisableocspendpointcheck", "tlsdisablecertificaterevocationcheck",
                 "tlsDisableOCSPEndpointCheck", "tlsDisableCertificateRevocationCheck");

        // --- topology ---
        if (cs_.direct_connection.value_or(false)) {
            if (cs_.hosts.size() > 1) fail(seen("directconnection"), "directConnection=true requires exactly one host");
            if (cs_.srv) fail(seen("directconnection"), "directConnection=true is not allowed with mongodb+srv");
        }
        if (cs_.load_balanced) {
            auto p = seen("loadbalanced");
            if (cs_.hosts.size() > 1) fail(p, "loadBalanced=true requires exactly one host");
            if (cs_.replica_set) fail(std::max(p, seen("replicaset")), "loadBalanced=true is not allowed with replicaSet");
            if (cs_.direct_connection.value_or(false))
                fail(std::max(p, seen("directconnection")), "loadBalanced=true is not allowed with directConnection=true");
        }
        if (!cs_.srv) {
            if (auto p = seen("srvmaxhosts"); p != npos) fail(p, "srvMaxHosts requires mongodb+srv");
            if (auto p = seen("srvservicename"); p != npos) fail(p, "srvServiceName requires mongodb+srv");
        } else if (cs_.srv_max_hosts.value_or(0) > 0) {
            auto p = seen("srvmaxhosts");
            if (cs_.replica_set) fail(std::max(p, seen("replicaset")), "srvMaxHosts is not allowed with replicaSet");
            if (cs_.load_balanced) fail(std::max(p, seen("loadbalanced")), "srvMaxHosts is not allowed with loadBalanced=true");
        }

        validate_proxy();

        // --- pool ---
        if (cs_.max_pool_size != 0 && cs_.min_pool_size > cs_.max_pool_size)
            fail(std::max(seen("minpoolsize"), seen("maxpoolsize")), "minPoolSize must not exceed maxPoolSize");

        // --- write concern ---
        if (legacy_wtimeout_ && !cs_.wtimeout) cs_.wtimeout = legacy_wtimeout_;
        else if (legacy_wtimeout_) warn("option wtimeout is ignored: wTimeoutMS replaces it");
        if (cs_.journal.value_or(false) && cs_.w && std::holds_alternative<std::int32_t>(*cs_.w) &&
            std::get<std::int32_t>(*cs_.w) == 0)
            fail(std::max(seen("w"), seen("journal")), "w=0 is not allowed with journal=true");

        // --- read preference ---
        if (cs_.effective_read_preference() == read_mode::primary) {
            if (!cs_.read_preference_tags.empty())
                fail(seen("readpreferencetags"), "readPreferenceTags are not allowed with readPreference=primary");
            if (cs_.max_staleness_seconds.value_or(-1) != -1)
                fail(seen("maxstalenessseconds"), "maxStalenessSeconds is not allowed with readPreference=primary");
        }

        validate_auth();
    }

    // socks5.md: proxyPort, proxyUsername and proxyPassword need proxyHost; the user name
    // and the password go together. An empty user name or password was ignored (warned)
    // like any empty value, so "proxyUsername=&proxyPassword=x" lacks its user name.
    void validate_proxy() {
        auto pos = [&](std::string_view k) { return seen(k) == npos ? 0 : seen(k); };
        if (!proxy_host_) {
            static constexpr std::pair<std::string_view, std::string_view> deps[] = {
                {"proxyport", "proxyPort"}, {"proxyusername", "proxyUsername"}, {"proxypassword", "proxyPassword"}};
            for (auto [k, name] : deps)
                if (seen(k) != npos) fail(pos(k), fmt::format("{} requires proxyHost", name));
            return;
        }
        if (proxy_username_ && !proxy_password_) fail(pos("proxyusername"), "proxyUsername requires proxyPassword");
        if (proxy_password_ && !proxy_username_) fail(pos("proxypassword"), "proxyPassword requires proxyUsername");
        // RFC 1929 carries each in one length byte.
        if (proxy_username_ && proxy_username_->size() > 255) fail(pos("proxyusername"), "proxyUsername is longer than 255 bytes");
        if (proxy_password_ && proxy_password_->size() > 255) fail(pos("proxypassword"), "proxyPassword is longer than 255 bytes");
        if (proxy_host_->empty() || proxy_host_->size() > 255) fail(pos("proxyhost"), "proxyHost must be 1..255 bytes");
        proxy_options px;
        px.host = *proxy_host_;
        if (px.host.size() > 2 && px.host.front() == '[' && px.host.back() == ']') px.host = px.host.substr(1, px.host.size() - 2);
        px.port = proxy_port_.value_or(1080);
        px.username = proxy_username_;
        px.password = proxy_password_;
        cs_.proxy = std::move(px);
    }

    void validate_auth() {
        const bool has_user = cs_.auth.has_value();
        // Without a user name or a mechanism nothing asks for authentication: authSource and
        // authMechanismProperties alone create no credential (connection-string-spec.md: the
        // auth database alone "MUST NOT be interpreted as a request for authentication").
        if (!has_user && !mechanism_) return;
        if (!cs_.auth) cs_.auth.emplace();
        auto& c = *cs_.auth;
        c.mechanism = mechanism_;
        c.source = auth_source_;
        c.mechanism_properties = std::move(mech_props_);
        if (gssapi_service_name_ && !c.property("SERVICE_NAME"))
            c.mechanism_properties.emplace_back("SERVICE_NAME", *gssapi_service_name_);

        const auto mpos = seen("authmechanism");
        const auto user_pos = has_user ? userinfo_pos_ : mpos;
        const auto name = mechanism_ ? to_string(*mechanism_) : std::string_view("the default mechanism");
        auto require_external = [&] {
            if (c.source && *c.source != "$external")
                fail(seen("authsource"), fmt::format("{} requires authSource=$external", name));
        };
        auto require_user = [&] {
            if (c.username.empty()) fail(user_pos, fmt::format("{} requires a user name", name));
        };
        auto require_password = [&] {
            if (!c.password) fail(user_pos, fmt::format("{} requires a password", name));
        };
        auto forbid_password = [&] {
            if (c.password) fail(user_pos, fmt::format("{} does not take a password", name));
        };
        auto allow_props = [&](std::initializer_list<std::string_view> keys) {
            for (auto& [k, v] : c.mechanism_properties) {
                bool ok = false;
                for (auto allowed : keys) ok = ok || iequals(k, allowed);
                if (!ok)
                    fail(seen("authmechanismproperties"),
                         fmt::format("authMechanismProperties key {} is not valid for {}", k, name));
            }
        };

        switch (mechanism_.value_or(auth_mechanism::scram_sha_256)) {
        case auth_mechanism::mongodb_cr:
        case auth_mechanism::scram_sha_1:
        case auth_mechanism::scram_sha_256:
            require_user();
            if (mechanism_) require_password();
            allow_props({});
            break;
        case auth_mechanism::plain:
            require_user();
            require_password();
            allow_props({});
            break;
        case auth_mechanism::mongodb_x509:
            forbid_password();
            require_external();
            allow_props({});
            break;
        case auth_mechanism::gssapi: {
            require_user();
            require_external();
            allow_props({"SERVICE_NAME", "CANONICALIZE_HOST_NAME", "SERVICE_REALM", "SERVICE_HOST"});
            if (auto* canon = c.property("CANONICALIZE_HOST_NAME")) {
                static constexpr std::string_view ok[] = {"true", "false", "none", "forward", "forwardAndReverse"};
                if (std::none_of(std::begin(ok), std::end(ok), [&](auto s) { return iequals(s, *canon); }))
                    fail(seen("authmechanismproperties"), "CANONICALIZE_HOST_NAME must be true, false, none, "
                                                          "forward or forwardAndReverse");
            }
            if (!c.property("SERVICE_NAME")) c.mechanism_properties.emplace_back("SERVICE_NAME", "mongodb");
            break;
        }
        case auth_mechanism::mongodb_aws:
            require_external();
            if (!c.username.empty() && !c.password) fail(user_pos, "MONGODB-AWS requires a password with a user name");
            if (c.username.empty() && c.password) fail(user_pos, "MONGODB-AWS requires a user name with a password");
            allow_props({"AWS_SESSION_TOKEN"});
            break;
        case auth_mechanism::mongodb_oidc:
            forbid_password();
            require_external();
            allow_props({"ENVIRONMENT", "TOKEN_RESOURCE", "ALLOWED_HOSTS"});
            break;
        }
    }

    void build_redacted() {
        std::sort(secrets_.begin(), secrets_.end(), [](const span& a, const span& b) { return a.begin < b.begin; });
        std::string out;
        out.reserve(uri_.size());
        std::size_t at = 0;
        for (auto& s : secrets_) {
            if (s.begin < at) continue;
            out.append(uri_.substr(at, s.begin - at));
            out.append("****");
            at = s.end;
        }
        out.append(uri_.substr(at));
        detail_uri_access::redacted(cs_) = std::move(out);
        detail_uri_access::set_auth_source(cs_) = auth_source_.has_value();
        detail_uri_access::set_replica_set(cs_) = cs_.replica_set.has_value();
        detail_uri_access::set_load_balanced(cs_) = seen("loadbalanced") != npos;
    }

    std::string_view uri_;
    connection_string cs_;
    std::vector<span> secrets_;
    std::unordered_map<std::string, std::size_t> seen_;  // canonical key -> position of its last use
    std::size_t userinfo_pos_ = 0;
    std::optional<std::string> auth_source_;
    std::optional<auth_mechanism> mechanism_;
    key_value_list mech_props_;
    std::optional<std::string> gssapi_service_name_;
    std::optional<std::chrono::milliseconds> legacy_wtimeout_;
    std::optional<bool> tls_value_;  // every tls/ssl instance must have this value
    std::set<std::string> mentioned_;  // every key given, valid value or not
    std::optional<std::string> proxy_host_, proxy_username_, proxy_password_;
    std::optional<std::uint16_t> proxy_port_;
};

}  // namespace

std::string host::to_string() const {
    switch (type) {
    case kind::unix_socket: return name;
    case kind::ipv6: return fmt::format("[{}]:{}", name, port);
    default: return fmt::format("{}:{}", name, port);
    }
}

std::string_view to_string(auth_mechanism m) noexcept {
    switch (m) {
    case auth_mechanism::scram_sha_1: return "SCRAM-SHA-1";
    case auth_mechanism::scram_sha_256: return "SCRAM-SHA-256";
    case auth_mechanism::mongodb_x509: return "MONGODB-X509";
    case auth_mechanism::plain: return "PLAIN";
    case auth_mechanism::gssapi: return "GSSAPI";
    case auth_mechanism::mongodb_aws: return "MONGODB-AWS";
    case auth_mechanism::mongodb_oidc: return "MONGODB-OIDC";
    case auth_mechanism::mongodb_cr: return "MONGODB-CR";
    }
    return "";
}

std::string_view to_string(read_mode m) noexcept {
    switch (m) {
    case read_mode::primary: return "primary";
    case read_mode::primary_preferred: return "primaryPreferred";
    case read_mode::secondary: return "secondary";
    case read_mode::secondary_preferred: return "secondaryPreferred";
    case read_mode::nearest: return "nearest";
    }
    return "";
}

std::string_view to_string(compressor c) noexcept {
    switch (c) {
    case compressor::snappy: return "snappy";
    case compressor::zlib: return "zlib";
    case compressor::zstd: return "zstd";
    }
    return "";
}

std::string_view to_string(server_monitoring_mode m) noexcept {
    switch (m) {
    case server_monitoring_mode::automatic: return "auto";
    case server_monitoring_mode::stream: return "stream";
    case server_monitoring_mode::poll: return "poll";
    }
    return "";
}

bool running_on_faas() noexcept {
    auto set = [](const char* name) {
        const char* v = std::getenv(name);
        return v != nullptr && *v != '\0';
    };
    const char* exec_env = std::getenv("AWS_EXECUTION_ENV");
    const bool vercel = set("VERCEL");
    const bool aws = !vercel && ((exec_env != nullptr && std::string_view(exec_env).starts_with("AWS_Lambda_")) ||
                                 set("AWS_LAMBDA_RUNTIME_API"));
    const bool azure = set("FUNCTIONS_WORKER_RUNTIME");
    const bool gcp = set("K_SERVICE") || set("FUNCTION_NAME");
    return int(vercel) + int(aws) + int(azure) + int(gcp) == 1;
}

const std::string* credential::property(std::string_view key) const noexcept {
    for (auto& [k, v] : mechanism_properties)
        if (iequals(k, key)) return &v;
    return nullptr;
}

connection_string connection_string::parse(std::string_view uri, error_code& ec, diagnostics& diag) {
    ec.clear();
    diag.clear();
    try {
        return parser(uri).run();
    } catch (const uri_failure& f) {
        ec = make_error_code(errc::bad_uri);
        diag.message = fmt::format("invalid connection string at position {}: {}", f.pos, f.reason);
        return {};
    }
}

connection_string connection_string::parse(std::string_view uri) {
    error_code ec;
    diagnostics diag;
    auto cs = parse(uri, ec, diag);
    if (ec) throw error(ec, std::move(diag));
    return cs;
}

std::string connection_string::auth_database() const {
    if (auth && auth->source) return *auth->source;
    if (auth && auth->mechanism) {
        switch (*auth->mechanism) {
        case auth_mechanism::mongodb_x509:
        case auth_mechanism::gssapi:
        case auth_mechanism::mongodb_aws:
        case auth_mechanism::mongodb_oidc: return "$external";
        case auth_mechanism::plain: return database.value_or("$external");
        default: break;
        }
    }
    return database.value_or("admin");
}

std::string connection_string::srv_query_name() const {
    return fmt::format("_{}._tcp.{}", srv_service_name, hosts.empty() ? std::string_view{} : hosts[0].name);
}

void connection_string::apply_srv_hosts(std::vector<host> targets, error_code& ec, diagnostics& diag) {
    ec.clear();
    diag.clear();
    auto bad = [&](std::string msg) {
        ec = make_error_code(errc::bad_uri);
        diag.message = std::move(msg);
    };
    if (!srv || hosts.size() != 1) return bad("SRV results apply only to a mongodb+srv connection string");
    if (targets.empty()) return bad("the SRV lookup returned no hosts");
    // Targets must share the parent domain of the service name (the whole name if it has
    // fewer than three labels), so a hijacked DNS answer cannot redirect elsewhere.
    std::string_view service = hosts[0].name;
    if (service.ends_with('.')) service.remove_suffix(1);
    std::string_view domain = service;
    if (std::count(service.begin(), service.end(), '.') >= 2) domain = service.substr(service.find('.') + 1);
    for (auto& t : targets) {
        std::string name = lower(t.name);
        if (!name.empty() && name.back() == '.') name.pop_back();
        bool ok = name.size() > domain.size() && name.ends_with(domain) &&
                  name[name.size() - domain.size() - 1] == '.';
        if (!ok) return bad(fmt::format("SRV target {} is not in the domain {}", name, domain));
        t.name = std::move(name);
    }
    if (srv_max_hosts.value_or(0) > 0 && targets.size() > static_cast<std::size_t>(*srv_max_hosts))
        targets.resize(static_cast<std::size_t>(*srv_max_hosts));
    hosts = std::move(targets);
}

void connection_string::apply_txt_record(std::string_view txt, error_code& ec, diagnostics& diag) {
    ec.clear();
    diag.clear();
    try {
        split(txt, 0, '&', [&](std::string_view item, std::size_t pos) {
            if (item.empty()) return;
            auto eq = item.find('=');
            if (eq == npos) fail(pos, "TXT option has no value");
            auto key = lower(percent_decode(item.substr(0, eq), pos, "TXT option key"));
            auto value = percent_decode(item.substr(eq + 1), pos + eq + 1, "TXT option value");
            if (key == "authsource") {
                if (value.empty()) fail(pos + eq + 1, "authSource must not be empty");
                if (!uri_set_auth_source_) {
                    if (!auth) return;  // no credentials: the spec says ignore it
                    auth->source = std::move(value);
                }
            } else if (key == "replicaset") {
                if (!uri_set_replica_set_) replica_set = std::move(value);
            } else if (key == "loadbalanced") {
                // A TXT record is not the user's to fix at a glance: a bad value is an error.
                if (value != "true" && value != "false")
                    fail(pos + eq + 1, fmt::format("loadBalanced must be true or false, not '{}'", value));
                const bool lb = value == "true";
                if (!uri_set_load_balanced_) load_balanced = lb;
            } else {
                fail(pos, "only authSource, replicaSet and loadBalanced are allowed in a TXT record");
            }
        });
        if (load_balanced && replica_set) fail(0, "loadBalanced=true is not allowed with replicaSet");
        if (load_balanced && srv_max_hosts.value_or(0) > 0) fail(0, "loadBalanced=true is not allowed with srvMaxHosts");
    } catch (const uri_failure& f) {
        ec = make_error_code(errc::bad_uri);
        diag.message = fmt::format("invalid TXT record at position {}: {}", f.pos, f.reason);
    }
}

}  // namespace morm
