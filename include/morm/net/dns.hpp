// DNS lookups for mongodb+srv:// (SRV and TXT records) and for host addresses when the
// client is told to use a given DNS server.
//
// Built on c-ares, driven by Asio with no thread of its own: c-ares' sockets are watched
// with posix::stream_descriptor::async_wait and its retry timeouts with a steady_timer,
// all on a strand of the caller's executor (so a multi-threaded io_context is safe).
// Each lookup uses its own c-ares channel: /etc/resolv.conf is read per lookup, or
// replaced by `dns_options::server`.
//
// Seedlist discovery (the initial-dns-seedlist-discovery spec) is `resolve_srv()`; SRV
// polling for sharded clusters is `async_rescan_srv()` plus `merge_srv_hosts()`.
#pragma once

#include <morm/error.hpp>
#include <morm/uri.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace morm::net {

namespace asio = boost::asio;

/// Where and how long to ask.
struct dns_options {
    /// "ip", "ip:port" or "[v6]:port" (a comma-separated list is accepted too); empty:
    /// the servers of /etc/resolv.conf.
    std::string server;
    /// Deadline of one lookup, retries included.
    std::chrono::milliseconds timeout{10'000};
};

/// DNS options for a client: `server` if not empty, else $MORM_DNS_SERVER, else the
/// system's; `timeout` if positive, else the default.
dns_options make_dns_options(std::string_view server, std::chrono::milliseconds timeout);

/// One SRV answer. Priority and weight are not kept: the spec says to ignore them.
struct srv_record {
    std::string target;  ///< without the trailing dot, as the server spelled it
    std::uint16_t port = 0;
    std::uint32_t ttl = 0;  ///< seconds
};

/// \brief The SRV records of `name` (e.g. "_mongodb._tcp.cluster0.example.com").
/// \par Errors
///   errc::dns_error (the name does not exist, has no SRV record, the server refused or
///   sent a malformed reply; diagnostics name the query and say which), errc::timeout
///   (no answer within `opts.timeout`), errc::invalid_argument (a bad `opts.server`).
///   Success means at least one record.
/// \par Cancellation
///   Terminal: abandons the query; completes with asio::error::operation_aborted.
asio::awaitable<std::vector<srv_record>> async_lookup_srv(std::string name, const dns_options& opts, error_code& ec,
                                                          diagnostics& diag);

/// \brief The TXT records of `name`, each one's character strings joined in order (the
/// spec's rule for strings longer than 255 bytes). A name with no TXT record, or that does
/// not exist, gives an empty list and no error. Errors and cancellation as async_lookup_srv().
asio::awaitable<std::vector<std::string>> async_lookup_txt(std::string name, const dns_options& opts, error_code& ec,
                                                           diagnostics& diag);

/// \brief The IPv4 and IPv6 addresses of `host` (A and AAAA records; /etc/hosts first, as
/// the system resolver does). Errors and cancellation as async_lookup_srv(); success means
/// at least one address.
asio::awaitable<std::vector<asio::ip::address>> async_lookup_a(std::string host, const dns_options& opts,
                                                               error_code& ec, diagnostics& diag);

/// \brief Seedlist discovery: turns a parsed mongodb+srv:// string into the equivalent
/// mongodb:// one. Looks up the SRV records of `_<srvServiceName>._tcp.<host>`, checks
/// every target against the host's domain, keeps `srvMaxHosts` of them at random, then
/// applies the host's TXT record (at most one; authSource, replicaSet, loadBalanced only;
/// options of the URI itself win). Does nothing when `cs.srv` is false.
/// \par Errors
///   errc::dns_error / errc::timeout from the SRV lookup ("cannot find the hosts of ..."
///   with the reason), from the TXT lookup, or for more than one TXT record;
///   errc::bad_uri for a target outside the domain or a bad TXT option. On error `cs` is
///   unchanged.
asio::awaitable<void> resolve_srv(connection_string& cs, const dns_options& opts, error_code& ec, diagnostics& diag);

/// One SRV rescan's outcome (the polling-srv-records-for-mongos-discovery spec).
struct srv_rescan {
    std::vector<std::string> hosts;  ///< "host:port", the valid targets, srvMaxHosts not applied
    std::chrono::seconds min_ttl{0};

    /// rescanSRVIntervalMS after a successful rescan: the smallest TTL, at least 60 s.
    std::chrono::milliseconds next_interval() const {
        return std::max<std::chrono::milliseconds>(min_ttl, std::chrono::seconds(60));
    }
};

/// \brief One SRV rescan for a sharded cluster found through mongodb+srv://. `cs` is the
/// connection string as parsed (its one host is the SRV name: pass the original, not the
/// one resolve_srv() rewrote). Targets outside the domain are dropped one by one.
/// Returns nullopt when the lookup fails or leaves no valid target: the caller then keeps
/// its host list and tries again after heartbeatFrequencyMS; `ec`/`diag` say why.
asio::awaitable<std::optional<srv_rescan>> async_rescan_srv(const connection_string& cs, const dns_options& opts,
                                                            error_code& ec, diagnostics& diag);

/// \brief The host list after a rescan: hosts of `current` that `found` no longer lists are
/// dropped, the others kept; new ones are added, all of them when `max_hosts` is 0, else
/// picked at random until the list holds `max_hosts`. Pure apart from the random pick.
std::vector<std::string> merge_srv_hosts(const std::vector<std::string>& current, const std::vector<std::string>& found,
                                         std::int32_t max_hosts);

}  // namespace morm::net
