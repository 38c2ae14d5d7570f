// A JSON REST service over the seed's User model, on Boost.Beast.
//
//   ./build/examples/http_server [--port 8080] [--host 127.0.0.1] [--threads 1]
//                                [--uri mongodb://127.0.0.1:27017/mydatabase]
//
//   POST   /users             {"name": ..., "email": ...[, "id": ...]}  -> 201 | 400 | 409
//   GET    /users/{id}                                                  -> 200 | 400 | 404
//   GET    /users?name=...&limit=N                                      -> 200 (JSON array)
//   PATCH  /users/{id}        {"name"?: ..., "email"?: ...}             -> 200 | 400 | 404
//   DELETE /users/{id}                                                  -> 204 | 400 | 404
//
// One engine (connection pool) for the process, one coroutine per TCP connection
// (HTTP/1.1 keep-alive), one session (unit of work) per request. Errors are JSON too:
// {"error": "..."}. `--port 0` picks a free port; the actual one is printed on stdout as
// `listening on PORT`. SIGINT/SIGTERM stop accepting, close the pool and exit 0.
// Ids and strings that are not valid UTF-8 or hold a NUL (`/users/%ff`, `/users/a1%00`)
// are answered 400 before any database work.
//
// Request bodies are parsed with libbson's JSON parser, which saves a JSON dependency:
// the parsed document is only inspected, never stored as is.
#include <morm/morm.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fmt/format.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct User {
    std::string id;  // primary key, stored as _id
    std::string name;
    std::string email;
};
MORM_MODEL(User, "users", (id, "_id"), name, email);
MORM_INDEXES(User, morm::index(&User::name));  // GET /users?name=...

namespace {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr std::int64_t default_list_limit = 100;
constexpr std::int64_t max_list_limit = 1000;
constexpr std::size_t max_body_bytes = 1 << 20;
constexpr auto idle_timeout = std::chrono::seconds(60);

// ------------------------------------------------------------------ JSON out

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                else out += c;  // UTF-8 passes through (stored strings are valid UTF-8)
        }
    }
    out += '"';
}

void append_user_json(std::string& out, const User& u) {
    out += "{\"id\":";
    append_json_string(out, u.id);
    out += ",\"name\":";
    append_json_string(out, u.name);
    out += ",\"email\":";
    append_json_string(out, u.email);
    out += '}';
}

std::string error_json(std::string_view message) {
    std::string out = "{\"error\":";
    append_json_string(out, message);
    out += '}';
    return out;
}

response make_response(const request& req, http::status st, std::string body) {
    response res{st, req.version()};
    res.set(http::field::server, "morm-example");
    if (!body.empty()) res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
}

response error_response(const request& req, http::status st, std::string_view message) {
    return make_response(req, st, error_json(message));
}

// ------------------------------------------------------------------ JSON in

/// Text that may reach the database: valid UTF-8 without NUL. morm refuses anything else
/// too (errc::invalid_argument), but a web service should answer 400 before that.
bool valid_text(std::string_view s) { return bson_utf8_validate(s.data(), s.size(), false); }

/// The fields a request body may carry; absent ones stay nullopt.
struct user_fields {
    std::optional<std::string> id;
    std::optional<std::string> name;
    std::optional<std::string> email;
};

/// Parses a JSON object of string fields id/name/email. Returns an error message, or an
/// empty string on success.
std::string parse_user_fields(std::string_view body, user_fields& out) {
    auto first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || body[first] != '{') return "the body must be a JSON object";
    bson_t doc;
    bson_error_t err;
    if (!bson_init_from_json(&doc, body.data(), static_cast<ssize_t>(body.size()), &err))
        return fmt::format("malformed JSON: {}", err.message);
    auto parsed = morm::bson::document::adopt(doc);
    bson_iter_t it;
    if (!bson_iter_init(&it, parsed.get())) return "malformed JSON";
    while (bson_iter_next(&it)) {
        std::string_view key = bson_iter_key(&it);
        std::optional<std::string>* slot = key == "id" ? &out.id : key == "name" ? &out.name
                                         : key == "email" ? &out.email : nullptr;
        if (!slot) return fmt::format("unknown field '{}' (expected id, name, email)", key);
        if (!BSON_ITER_HOLDS_UTF8(&it)) return fmt::format("field '{}' must be a string", key);
        std::uint32_t len = 0;
        const char* s = bson_iter_utf8(&it, &len);
        if (!valid_text({s, len})) return fmt::format("field '{}' must not contain NUL", key);
        slot->emplace(s, len);
    }
    if (out.id && out.id->empty()) return "field 'id' must not be empty (omit it to get a generated one)";
    return {};
}

// ------------------------------------------------------------------ URL bits

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            unsigned v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec != std::errc{} || p != s.data() + i + 3) return std::nullopt;
            out += static_cast<char>(v);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

/// A query-string parameter: absent, present (percent-decoded), or with a bad escape.
struct query_param {
    bool present = false;
    bool valid = true;
    std::string value;
};

/// Looks up `key` in a query string (`a=1&b=2`); the last occurrence wins.
query_param find_param(std::string_view qs, std::string_view key) {
    query_param r;
    while (!qs.empty()) {
        auto amp = qs.find('&');
        auto pair = qs.substr(0, amp);
        qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
        auto eq = pair.find('=');
        auto k = pair.substr(0, eq);
        if (k != key) continue;
        r.present = true;
        auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        if (!v) r.valid = false;
        else r.value = std::move(*v);
    }
    return r;
}

// ------------------------------------------------------------------ routes

asio::awaitable<response> create_user(const morm::engine& eng, const request& req) {
    user_fields f;
    if (auto msg = parse_user_fields(req.body(), f); !msg.empty())
        co_return error_response(req, http::status::bad_request, msg);
    if (!f.name || !f.email) co_return error_response(req, http::status::bad_request, "'name' and 'email' are required");

    morm::session s{eng};
    User u;
    u.id = f.id ? std::move(*f.id) : std::string{};  // empty: the session generates one
    u.name = std::move(*f.name);
    u.email = std::move(*f.email);
    auto user = s.add(std::move(u));
    bool duplicate = false;
    try {
        co_await s.commit();
    } catch (const morm::commit_error& e) {
        // Per-object outcome: a duplicate _id is the caller's conflict; anything else is ours.
        const auto& fails = e.result().failures;
        if (fails.size() == 1 && fails[0].code == 11000) duplicate = true;
        else throw;
    }
    if (duplicate)
        co_return error_response(req, http::status::conflict, fmt::format("a user with id '{}' already exists", user->id));
    std::string body;
    append_user_json(body, *user);
    auto res = make_response(req, http::status::created, std::move(body));
    res.set(http::field::location, "/users/" + user->id);
    co_return res;
}

asio::awaitable<response> get_user(const morm::engine& eng, const request& req, const std::string& id) {
    morm::session s{eng};
    auto user = co_await s.get<User>(id);
    if (!user) co_return error_response(req, http::status::not_found, fmt::format("no user with id '{}'", id));
    std::string body;
    append_user_json(body, *user);
    co_return make_response(req, http::status::ok, std::move(body));
}

asio::awaitable<response> list_users(const morm::engine& eng, const request& req, std::string_view qs) {
    auto name = find_param(qs, "name");
    auto limit_param = find_param(qs, "limit");
    if (!name.valid || !limit_param.valid)
        co_return error_response(req, http::status::bad_request, "malformed percent-escape in the query string");
    if (!valid_text(name.value))
        co_return error_response(req, http::status::bad_request, "'name' must be valid UTF-8 without NUL");
    std::int64_t limit = default_list_limit;
    if (limit_param.present) {
        const auto& v = limit_param.value;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
        if (ec != std::errc{} || p != v.data() + v.size() || limit < 1 || limit > max_list_limit)
            co_return error_response(req, http::status::bad_request,
                                     fmt::format("'limit' must be an integer from 1 to {}", max_list_limit));
    }

    morm::session s{eng};
    auto q = s.query<User>();
    if (name.present) q.filter(morm::field(&User::name) == name.value);
    q.sort(&User::id).limit(limit);
    // Read-only listing: stream untracked objects instead of filling the identity map.
    auto results = co_await q.stream();
    std::string body = "[";
    User u;
    bool first = true;
    while (co_await results.next(u)) {
        if (!first) body += ',';
        first = false;
        append_user_json(body, u);
    }
    body += ']';
    co_return make_response(req, http::status::ok, std::move(body));
}

asio::awaitable<response> patch_user(const morm::engine& eng, const request& req, const std::string& id) {
    user_fields f;
    if (auto msg = parse_user_fields(req.body(), f); !msg.empty())
        co_return error_response(req, http::status::bad_request, msg);
    if (f.id && *f.id != id) co_return error_response(req, http::status::bad_request, "'id' cannot be changed");

    morm::session s{eng};
    auto user = co_await s.get<User>(id);
    if (!user) co_return error_response(req, http::status::not_found, fmt::format("no user with id '{}'", id));
    if (f.name) user->name = std::move(*f.name);
    if (f.email) user->email = std::move(*f.email);
    co_await s.commit();  // change tracking: $set of the changed fields only, or nothing
    std::string body;
    append_user_json(body, *user);
    co_return make_response(req, http::status::ok, std::move(body));
}

asio::awaitable<response> delete_user(const morm::engine& eng, const request& req, const std::string& id) {
    morm::session s{eng};
    auto user = co_await s.get<User>(id);
    if (!user) co_return error_response(req, http::status::not_found, fmt::format("no user with id '{}'", id));
    s.remove(user);
    co_await s.commit();
    co_return make_response(req, http::status::no_content, {});
}

response method_not_allowed(const request& req, std::string_view allow) {
    auto res = error_response(req, http::status::method_not_allowed,
                              fmt::format("method {} not allowed here", std::string_view(req.method_string())));
    res.set(http::field::allow, allow);
    return res;
}

asio::awaitable<response> route(const morm::engine& eng, const request& req) {
    std::string_view target = req.target();
    auto qpos = target.find('?');
    std::string_view path = target.substr(0, qpos);
    std::string_view qs = qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);

    if (path == "/users" || path == "/users/") {
        switch (req.method()) {
            case http::verb::post: co_return co_await create_user(eng, req);
            case http::verb::get: co_return co_await list_users(eng, req, qs);
            default: co_return method_not_allowed(req, "GET, POST");
        }
    }
    constexpr std::string_view prefix = "/users/";
    if (path.starts_with(prefix) && path.find('/', prefix.size()) == std::string_view::npos) {
        auto id = percent_decode(path.substr(prefix.size()), false);
        if (!id) co_return error_response(req, http::status::bad_request, "malformed percent-escape in the path");
        if (!valid_text(*id))
            co_return error_response(req, http::status::bad_request, "the user id must be valid UTF-8 without NUL");
        switch (req.method()) {
            case http::verb::get: co_return co_await get_user(eng, req, *id);
            case http::verb::patch: co_return co_await patch_user(eng, req, *id);
            case http::verb::delete_: co_return co_await delete_user(eng, req, *id);
            default: co_return method_not_allowed(req, "GET, PATCH, DELETE");
        }
    }
    co_return error_response(req, http::status::not_found, fmt::format("no route for {}", path));
}

asio::awaitable<response> handle(const morm::engine& eng, const request& req) {
    std::optional<response> res;
    try {
        res = co_await route(eng, req);
    } catch (const morm::error& e) {
        auto code = e.code();
        // A value morm refused to send (e.g. an id it cannot encode) is the caller's fault;
        // the database failing us (connection, timeout, server error) is not.
        bool refused = code == morm::errc::invalid_argument;
        bool unavailable = code == morm::errc::network || code == morm::errc::timeout ||
                           code == morm::errc::pool_timeout || code == morm::errc::pool_closed ||
                           code == morm::errc::connection_closed;
        fmt::print(stderr, "{} {}: {} ({})\n", std::string_view(req.method_string()), std::string_view(req.target()),
                   e.what(), code.message());
        res = error_response(req, refused       ? http::status::bad_request
                                  : unavailable ? http::status::service_unavailable
                                                : http::status::internal_server_error,
                             e.what());
    } catch (const std::exception& e) {
        fmt::print(stderr, "{} {}: {}\n", std::string_view(req.method_string()), std::string_view(req.target()), e.what());
        res = error_response(req, http::status::internal_server_error, e.what());
    }
    co_return std::move(*res);
}

// ------------------------------------------------------------------ connections

asio::awaitable<void> serve_connection(tcp::socket socket, morm::engine eng) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_body_bytes);
        stream.expires_after(idle_timeout);
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (rec == http::error::end_of_stream || rec == beast::error::timeout) break;
        if (rec) {
            // Malformed HTTP or an oversized body: say so once and close.
            request bad{http::verb::unknown, "", 11};
            bad.keep_alive(false);
            auto st = rec == http::error::body_limit ? http::status::payload_too_large : http::status::bad_request;
            auto res = error_response(bad, st, rec.message());
            stream.expires_after(idle_timeout);
            co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            break;
        }
        request req = parser.release();
        stream.expires_never();  // the database calls have their own timeouts
        response res = co_await handle(eng, req);
        stream.expires_after(idle_timeout);
        auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

struct options {
    std::string uri;
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    unsigned threads = 1;
};

asio::awaitable<void> run_server(asio::io_context& ioc, options opts) {
    auto engine = co_await morm::create_engine(opts.uri);
    engine.register_model<User>();
    co_await engine.create_all();

    // The acceptor and the signal set share this coroutine's strand, so closing one from
    // the other's handler is safe with --threads > 1.
    auto ex = co_await asio::this_coro::executor;
    tcp::endpoint ep(asio::ip::make_address(opts.host), opts.port);
    tcp::acceptor acceptor(ex, ep);
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) acceptor.close();
    });
    fmt::print("listening on {}\n", acceptor.local_endpoint().port());
    std::fflush(stdout);  // tests read this line through a pipe

    while (acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (!acceptor.is_open()) break;
            continue;  // e.g. EMFILE: keep serving the connections we have
        }
        socket.set_option(tcp::no_delay(true));
        auto cex = socket.get_executor();
        asio::co_spawn(cex, serve_connection(std::move(socket), engine), asio::detached);
    }
    signals.cancel();
    fmt::print(stderr, "stopping\n");
    co_await engine.dispose();
    ioc.stop();  // idle keep-alive connections are simply dropped
}

[[noreturn]] void usage(const char* argv0, const std::string& why) {
    fmt::print(stderr, "{}\nusage: {} [--port N] [--host ADDR] [--threads N] [--uri URI]\n", why, argv0);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    const char* env = std::getenv("MORM_URI");
    opts.uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) usage(argv[0], fmt::format("{} needs a value", a));
            return argv[++i];
        };
        auto number = [&](std::string_view v, unsigned max) {
            unsigned n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc{} || p != v.data() + v.size() || n > max) usage(argv[0], fmt::format("bad {} '{}'", a, v));
            return n;
        };
        if (a == "--port") opts.port = static_cast<unsigned short>(number(value(), 65535));
        else if (a == "--threads") opts.threads = std::max(1u, number(value(), 256));
        else if (a == "--uri") opts.uri = value();
        else if (a == "--host") opts.host = value();
        else usage(argv[0], fmt::format("unknown argument '{}'", a));
    }

    asio::io_context ioc(static_cast<int>(opts.threads));
    int rc = 0;
    asio::co_spawn(asio::make_strand(ioc), run_server(ioc, opts), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const morm::error& err) {
            fmt::print(stderr, "http_server failed: {} ({})\n", err.what(), err.code().message());
        } catch (const std::exception& err) {
            fmt::print(stderr, "http_server failed: {}\n", err.what());
        }
        rc = 1;
        ioc.stop();
    });
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < opts.threads; ++i) workers.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : workers) t.join();
    return rc;
}
