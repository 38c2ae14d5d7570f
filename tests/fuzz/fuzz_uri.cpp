// libFuzzer harness: connection strings. The input is up to three lines:
//   <connection string>\n<TXT record>\n<SRV targets, comma-separated host names>
// The string is parsed with both forms (error_code and throwing: only morm::error may
// escape); on success every accessor runs, the redacted form (the only re-serialization
// the API has) is parsed again, and for mongodb+srv the TXT record and the SRV targets are
// applied as the DNS layer would.
#include <morm/error.hpp>
#include <morm/uri.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace morm;

std::string_view next_line(std::string_view& rest) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

void use(const connection_string& cs) {
    for (const auto& h : cs.hosts) (void)h.to_string();
    (void)cs.auth_database();
    (void)cs.tls_enabled();
    (void)cs.effective_read_preference();
    if (cs.auth) (void)cs.auth->property("SERVICE_NAME");
    if (cs.srv) (void)cs.srv_query_name();
    (void)fmt::format("{}", cs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    const std::string_view uri = next_line(rest);
    const std::string_view txt = next_line(rest);
    const std::string_view targets = rest;

    error_code ec;
    diagnostics diag;
    connection_string cs = connection_string::parse(uri, ec, diag);
    try {
        (void)connection_string::parse(uri);
        if (ec) __builtin_trap();  // the two forms disagree
    } catch (const morm::error&) {
        if (!ec) __builtin_trap();
    }
    if (ec) return 0;
    use(cs);

    // The redacted string is what gets logged; parsing it must not crash either.
    error_code ec2;
    diagnostics diag2;
    const auto redacted = connection_string::parse(cs.redacted(), ec2, diag2);
    if (!ec2) use(redacted);

    if (!cs.srv) return 0;
    cs.apply_txt_record(txt, ec, diag);
    std::vector<host> hosts;
    std::size_t pos = 0;
    while (pos <= targets.size() && hosts.size() < 64) {
        const auto comma = targets.find(',', pos);
        host h;
        h.name = std::string(targets.substr(pos, comma - pos));
        h.port = static_cast<std::uint16_t>(27017 + hosts.size());
        hosts.push_back(std::move(h));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    cs.apply_srv_hosts(std::move(hosts), ec, diag);
    use(cs);
    return 0;
}
