#include <morm/net/dns.hpp>

#include <ares.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <span>

namespace morm::net {
namespace {

constexpr int dns_class_in = 1;
constexpr int dns_type_txt = 16;
constexpr int dns_type_srv = 33;

using strand_type = asio::strand<asio::any_io_executor>;

void init_library() {
    // Only needed on Windows, but documented as required everywhere; once per process.
    static const int rc = ares_library_init(ARES_LIB_INIT_ALL);
    (void)rc;
}

/// How a lookup ended, besides c-ares' own status.
enum class ending { answered, deadline, cancelled };

/// One c-ares channel and the Asio objects that drive it. Everything here runs on one
/// strand: the coroutine in run(), the socket waits and the retry timer.
class lookup : public std::enable_shared_from_this<lookup> {
public:
    explicit lookup(strand_type s) : strand_(s), retry_timer_(s), signal_(s) {}
    ~lookup() { close(); }
    lookup(const lookup&) = delete;
    lookup& operator=(const lookup&) = delete;

    /// Opens the channel, lets `issue` start one query on it, and waits until its callback
    /// ran (which must call complete()), the deadline passed or the caller cancelled.
    asio::awaitable<void> run(dns_options opts, std::function<void(ares_channel, lookup*)> issue);

    void complete(int status) {
        done_ = true;
        status_ = status;
    }
    int status() const noexcept { return status_; }
    ending how() const noexcept { return how_; }

    std::vector<unsigned char> answer;          // raw reply of ares_query
    std::vector<asio::ip::address> addresses;   // result of ares_getaddrinfo

private:
    struct watch {
        std::unique_ptr<asio::posix::stream_descriptor> desc;
        std::uint64_t gen = 0;  // tells a recycled fd number from the one a stale wait was for
        bool want_read = false, want_write = false, reading = false, writing = false;
    };

    static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable);
    void arm(ares_socket_t fd, watch& w);
    void on_ready(ares_socket_t fd, std::uint64_t gen, bool read, const error_code& e);
    void pump();
    void close();

    strand_type strand_;
    ares_channel channel_ = nullptr;
    std::map<ares_socket_t, watch> watches_;
    std::uint64_t next_gen_ = 0;
    std::uint64_t timer_gen_ = 0;
    asio::steady_timer retry_timer_;  // c-ares' per-try timeouts
    asio::steady_timer signal_;       // the overall deadline; cancelled on completion
    bool done_ = false;
    int status_ = ARES_SUCCESS;
    ending how_ = ending::answered;
};

void lookup::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<lookup*>(data);
    if (!readable && !writable) {
        // c-ares is about to close fd: let go of it first (release() also aborts the waits).
        if (auto it = self->watches_.find(fd); it != self->watches_.end()) {
            (void)it->second.desc->release();
            self->watches_.erase(it);
        }
        return;
    }
    auto& w = self->watches_[fd];
    if (!w.desc) {
        w.desc = std::make_unique<asio::posix::stream_descriptor>(self->strand_);
        error_code ec;
        w.desc->assign(fd, ec);  // on failure the waits fail and the deadline ends the lookup
        w.gen = ++self->next_gen_;
    }
    w.want_read = readable != 0;
    w.want_write = writable != 0;
}

void lookup::arm(ares_socket_t fd, watch& w) {
    auto start = [&](bool read) {
        auto type = read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
        w.desc->async_wait(type, [self = shared_from_this(), fd, gen = w.gen, read](const error_code& e) {
            self->on_ready(fd, gen, read, e);
        });
    };
    if (w.want_read && !w.reading) {
        w.reading = true;
        start(true);
    }
    if (w.want_write && !w.writing) {
        w.writing = true;
        start(false);
    }
}

void lookup::on_ready(ares_socket_t fd, std::uint64_t gen, bool read, const error_code& e) {
    auto it = watches_.find(fd);
    if (it == watches_.end() || it->second.gen != gen) return;  // the socket is gone
    (read ? it->second.reading : it->second.writing) = false;
    if (e || !channel_) return;
    ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    pump();
}

/// After every call into c-ares: wait on the sockets it wants, re-arm its retry timer, and
/// wake run() once the query's callback has run.
void lookup::pump() {
    if (!channel_) return;
    for (auto& [fd, w] : watches_) arm(fd, w);
    timeval tv{};
    if (timeval* t = ares_timeout(channel_, nullptr, &tv)) {
        auto ms = std::chrono::milliseconds(t->tv_sec * 1000 + t->tv_usec / 1000 + 1);
        retry_timer_.expires_after(ms);
        retry_timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](const error_code& e) {
            if (e || gen != self->timer_gen_ || !self->channel_) return;
            ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            self->pump();
        });
    }
    if (done_) signal_.cancel();
}

void lookup::close() {
    if (channel_) {
        // Runs the pending callback (ARES_EDESTRUCTION) and closes the sockets, each after
        // on_sock_state released it.
        ares_destroy(channel_);
        channel_ = nullptr;
    }
    for (auto& [fd, w] : watches_) (void)w.desc->release();
    watches_.clear();
    retry_timer_.cancel();
    signal_.cancel();
}

asio::awaitable<void> lookup::run(dns_options opts, std::function<void(ares_channel, lookup*)> issue) {
    init_library();
    if (opts.timeout.count() <= 0) opts.timeout = dns_options{}.timeout;
    ares_options o{};
    o.sock_state_cb = &lookup::on_sock_state;
    o.sock_state_cb_data = this;
    // Two tries; c-ares doubles the second one's timeout, so three slices fit the deadline.
    o.timeout = static_cast<int>(std::max<std::int64_t>(opts.timeout.count() / 3, 50));
    o.tries = 2;
    int rc = ares_init_options(&channel_, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc == ARES_SUCCESS && !opts.server.empty()) rc = ares_set_servers_ports_csv(channel_, opts.server.c_str());
    if (rc != ARES_SUCCESS) {
        complete(rc);
        close();
        co_return;
    }
    issue(channel_, this);
    signal_.expires_after(opts.timeout);
    pump();
    if (!done_) {
        auto [e] = co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!done_) how_ = e ? ending::cancelled : ending::deadline;
    }
    close();
}

/// Runs one query on a strand of the caller's executor (c-ares is not thread-safe, and the
/// caller may be on a multi-threaded io_context).
asio::awaitable<std::shared_ptr<lookup>> run_lookup(const dns_options& opts,
                                                    std::function<void(ares_channel, lookup*)> issue) {
    auto strand = asio::make_strand(co_await asio::this_coro::executor);
    auto lk = std::make_shared<lookup>(strand);
    auto task = lk->run(opts, std::move(issue));
    co_await asio::co_spawn(strand, std::move(task), asio::use_awaitable);
    co_return lk;
}

/// Sets ec/diag for a lookup that did not answer; false if it did.
bool failed(const lookup& lk, std::string_view what, const dns_options& opts, error_code& ec, diagnostics& diag) {
    std::string server = opts.server.empty() ? std::string("the system's DNS servers") : "DNS server " + opts.server;
    diag.clear();
    if (lk.how() == ending::cancelled) {
        ec = asio::error::operation_aborted;
        diag.message = fmt::format("DNS {} was cancelled", what);
    } else if (lk.how() == ending::deadline || lk.status() == ARES_ETIMEOUT) {
        ec = make_error_code(errc::timeout);
        diag.message = fmt::format("DNS {} timed out after {} ms ({} did not answer)", what, opts.timeout.count(), server);
    } else if (lk.status() == ARES_EBADSTR) {
        ec = make_error_code(errc::invalid_argument);
        diag.message = fmt::format("DNS {}: '{}' is not a DNS server address (ip or ip:port)", what, opts.server);
    } else if (lk.status() != ARES_SUCCESS) {
        ec = make_error_code(errc::dns_error);
        diag.message = fmt::format("DNS {} failed: {} (asked {})", what, ares_strerror(lk.status()), server);
    } else {
        return false;
    }
    return true;
}

void on_query(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* lk = static_cast<lookup*>(arg);
    if (status == ARES_SUCCESS && abuf && alen > 0) lk->answer.assign(abuf, abuf + alen);
    lk->complete(status);
}

/// One resource record of a reply's answer section; rdata points into the reply.
struct answer_rr {
    int type = 0;
    int klass = 0;
    std::uint32_t ttl = 0;
    std::size_t rdata = 0;  // offset
    std::size_t rdlen = 0;
};

/// Expands the (possibly compressed) name at `pos`; advances pos past it.
bool read_name(std::span<const unsigned char> msg, std::size_t& pos, std::string* out) {
    if (pos >= msg.size()) return false;
    char* s = nullptr;
    long len = 0;
    if (ares_expand_name(msg.data() + pos, msg.data(), static_cast<int>(msg.size()), &s, &len) != ARES_SUCCESS)
        return false;
    if (out) *out = s;
    ares_free_string(s);
    pos += static_cast<std::size_t>(len);
    return pos <= msg.size();
}

/// The answer section of a DNS reply (RFC 1035 4.1): c-ares 1.18's SRV parser drops the
/// TTLs that SRV polling needs, so the records are walked here.
bool read_answers(std::span<const unsigned char> msg, std::vector<answer_rr>& out) {
    auto u16 = [&](std::size_t at) { return static_cast<unsigned>(msg[at] << 8 | msg[at + 1]); };
    if (msg.size() < 12) return false;
    const unsigned questions = u16(4), answers = u16(6);
    std::size_t pos = 12;
    for (unsigned i = 0; i < questions; ++i) {
        if (!read_name(msg, pos, nullptr) || pos + 4 > msg.size()) return false;
        pos += 4;
    }
    for (unsigned i = 0; i < answers; ++i) {
        if (!read_name(msg, pos, nullptr) || pos + 10 > msg.size()) return false;
        answer_rr rr;
        rr.type = static_cast<int>(u16(pos));
        rr.klass = static_cast<int>(u16(pos + 2));
        rr.ttl = u16(pos + 4) << 16 | u16(pos + 6);
        rr.rdlen = u16(pos + 8);
        rr.rdata = pos + 10;
        pos = rr.rdata + rr.rdlen;
        if (pos > msg.size()) return false;
        out.push_back(rr);
    }
    return true;
}

/// The SRV records of a reply; nullopt if it is malformed.
std::optional<std::vector<srv_record>> parse_srv(std::span<const unsigned char> msg) {
    std::vector<answer_rr> rrs;
    if (!read_answers(msg, rrs)) return std::nullopt;
    std::vector<srv_record> out;
    for (auto& rr : rrs) {
        if (rr.type != dns_type_srv || rr.klass != dns_class_in) continue;  // e.g. a CNAME on the way
        if (rr.rdlen < 7) return std::nullopt;
        srv_record r;
        r.port = static_cast<std::uint16_t>(msg[rr.rdata + 4] << 8 | msg[rr.rdata + 5]);
        r.ttl = rr.ttl;
        std::size_t pos = rr.rdata + 6;
        if (!read_name(msg, pos, &r.target) || pos > rr.rdata + rr.rdlen) return std::nullopt;
        if (r.target.empty() || r.target == ".") continue;  // "." means: no service here
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

dns_options make_dns_options(std::string_view server, std::chrono::milliseconds timeout) {
    dns_options o;
    if (!server.empty()) o.server = server;
    else if (const char* env = std::getenv("MORM_DNS_SERVER"); env && *env) o.server = env;
    if (timeout.count() > 0) o.timeout = timeout;
    return o;
}

asio::awaitable<std::vector<srv_record>> async_lookup_srv(std::string name, const dns_options& opts, error_code& ec,
                                                          diagnostics& diag) {
    ec.clear();
    const std::string what = fmt::format("SRV lookup of {}", name);
    std::function<void(ares_channel, lookup*)> issue = [&name](ares_channel ch, lookup* lk) {
        ares_query(ch, name.c_str(), dns_class_in, dns_type_srv, on_query, lk);
    };
    auto lk = co_await run_lookup(opts, issue);
    if (failed(*lk, what, opts, ec, diag)) co_return std::vector<srv_record>{};
    auto records = parse_srv(lk->answer);
    if (!records || records->empty()) {
        ec = make_error_code(errc::dns_error);
        diag.message = records ? fmt::format("DNS {} returned no SRV record", what)
                               : fmt::format("DNS {}: malformed reply", what);
        co_return std::vector<srv_record>{};
    }
    co_return std::move(*records);
}

asio::awaitable<std::vector<std::string>> async_lookup_txt(std::string name, const dns_options& opts, error_code& ec,
                                                           diagnostics& diag) {
    ec.clear();
    std::vector<std::string> out;
    const std::string what = fmt::format("TXT lookup of {}", name);
    std::function<void(ares_channel, lookup*)> issue = [&name](ares_channel ch, lookup* lk) {
        ares_query(ch, name.c_str(), dns_class_in, dns_type_txt, on_query, lk);
    };
    auto lk = co_await run_lookup(opts, issue);
    if (lk->how() == ending::answered && (lk->status() == ARES_ENODATA || lk->status() == ARES_ENOTFOUND))
        co_return out;  // TXT records are optional
    if (failed(*lk, what, opts, ec, diag)) co_return out;
    ares_txt_ext* txt = nullptr;
    int rc = ares_parse_txt_reply_ext(lk->answer.data(), static_cast<int>(lk->answer.size()), &txt);
    if (rc == ARES_ENODATA) co_return out;
    if (rc != ARES_SUCCESS) {
        ec = make_error_code(errc::dns_error);
        diag.message = fmt::format("DNS {}: {}", what, ares_strerror(rc));
        co_return out;
    }
    // Strings of one record are joined; record_start marks where the next record begins.
    for (auto* t = txt; t; t = t->next) {
        if (t->record_start || out.empty()) out.emplace_back();
        out.back().append(reinterpret_cast<const char*>(t->txt), t->length);
    }
    ares_free_data(txt);
    co_return out;
}

asio::awaitable<std::vector<asio::ip::address>> async_lookup_a(std::string host, const dns_options& opts,
                                                               error_code& ec, diagnostics& diag) {
    ec.clear();
    const std::string what = fmt::format("address lookup of {}", host);
    std::function<void(ares_channel, lookup*)> issue = [&host](ares_channel ch, lookup* lk) {
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        ares_getaddrinfo(ch, host.c_str(), nullptr, &hints, [](void* arg, int status, int, ares_addrinfo* res) {
            auto* self = static_cast<lookup*>(arg);
            for (auto* n = res ? res->nodes : nullptr; n; n = n->ai_next) {
                if (n->ai_family == AF_INET) {
                    auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
                    asio::ip::address_v4::bytes_type b;
                    std::memcpy(b.data(), &sa->sin_addr, b.size());
                    self->addresses.emplace_back(asio::ip::address_v4(b));
                } else if (n->ai_family == AF_INET6) {
                    auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
                    asio::ip::address_v6::bytes_type b;
                    std::memcpy(b.data(), &sa->sin6_addr, b.size());
                    self->addresses.emplace_back(asio::ip::address_v6(b, sa->sin6_scope_id));
                }
            }
            if (res) ares_freeaddrinfo(res);
            self->complete(status);
        }, lk);
    };
    auto lk = co_await run_lookup(opts, issue);
    if (failed(*lk, what, opts, ec, diag)) co_return std::vector<asio::ip::address>{};
    if (lk->addresses.empty()) {
        ec = make_error_code(errc::dns_error);
        diag.message = fmt::format("DNS {} returned no address", what);
    }
    co_return std::move(lk->addresses);
}

}  // namespace morm::net
