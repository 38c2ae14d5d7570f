// The example programs, run as child processes against the test server ([examples]).
//
// They are built by the default `all` target (MORM_BUILD_EXAMPLES, on by default); each
// run gets its own database through MORM_URI / --uri, dropped afterwards.
#include "common/test_server.hpp"

#include <morm/bson/document.hpp>
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <bson/bson.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;

namespace {

std::string example_path(const std::string& name) {
    auto p = std::string(MORM_BINARY_DIR) + "/examples/" + name;
    INFO("example binary " << p << " (configure with -DMORM_BUILD_EXAMPLES=ON and build `all`)");
    REQUIRE(fs::exists(p));
    return p;
}

/// The test server's URI with its database replaced by `db`.
std::string uri_with_db(const std::string& db) {
    std::string u = morm_test::server_uri();
    auto scheme = u.find("://");
    auto path = u.find('/', scheme + 3);
    auto query = u.find('?', scheme + 3);
    std::string opts = query == std::string::npos ? "" : u.substr(query);
    std::string hosts = u.substr(0, std::min(path, query));
    return hosts + "/" + db + opts;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// A scratch directory removed at scope exit.
struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/morm-examples-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

/// Forks and execs `args` with MORM_URI set; stdout/stderr go to the given fds.
pid_t spawn(const std::vector<std::string>& args, const std::string& uri, int out_fd, int err_fd) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setenv("MORM_URI", uri.c_str(), 1);
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(err_fd, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

/// Waits up to `timeout` for the child; its exit status, or nullopt (then it is killed).
std::optional<int> wait_exit(pid_t pid, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

/// Runs a program to completion (at most two minutes), capturing stdout and stderr.
run_result run_program(const std::vector<std::string>& args, const std::string& uri) {
    temp_dir tmp;
    auto out_path = tmp.path / "stdout", err_path = tmp.path / "stderr";
    int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(out_fd >= 0);
    REQUIRE(err_fd >= 0);
    pid_t pid = spawn(args, uri, out_fd, err_fd);
    ::close(out_fd);
    ::close(err_fd);
    auto code = wait_exit(pid, std::chrono::seconds(120));
    run_result r;
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(code.has_value());
    r.exit_code = *code;
    return r;
}

std::string last_line(const std::string& s) {
    auto end = s.find_last_not_of('\n');
    if (end == std::string::npos) return {};
    auto start = s.rfind('\n', end);
    return s.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

bool contains(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

// ---- database checks through the client API ----

std::int64_t count_in(const std::string& db, const std::string& coll, const std::string& filter_json = "{}") {
    return morm_test::run([&]() -> asio::awaitable<std::int64_t> {
        auto cl = co_await morm::client::connect(morm_test::server_uri());
        auto c = cl.database(db).collection(coll);
        auto filter = morm::bson::document::from_json(filter_json);
        morm::count_options opts;
        auto n = co_await c.count_documents(filter, opts);
        cl.close();
        co_return n;
    });
}

std::optional<morm::bson::document> find_in(const std::string& db, const std::string& coll,
                                            const std::string& filter_json) {
    return morm_test::run([&]() -> asio::awaitable<std::optional<morm::bson::document>> {
        auto cl = co_await morm::client::connect(morm_test::server_uri());
        auto c = cl.database(db).collection(coll);
        auto filter = morm::bson::document::from_json(filter_json);
        morm::find_options opts;
        auto d = co_await c.find_one(filter, opts);
        cl.close();
        co_return d;
    });
}

void drop_db(const std::string& db) {
    morm_test::run([&]() -> asio::awaitable<void> {
        auto cl = co_await morm::client::connect(morm_test::server_uri());
        co_await cl.database(db).drop();
        cl.close();
    });
}

struct db_guard {
    std::string name;
    explicit db_guard(std::string n) : name(std::move(n)) {}
    ~db_guard() {
        try {
            drop_db(name);
        } catch (...) {
        }
    }
};

// ---- http_server as a child process ----

/// Starts http_server on an ephemeral port and reads the port it prints; SIGKILLs it at
/// scope exit unless stop() already ended it.
class server_process {
public:
    explicit server_process(const std::string& uri) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        err_path_ = tmp_.path / "stderr";
        int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(err_fd >= 0);
        pid_ = spawn({example_path("http_server"), "--port", "0", "--uri", uri}, uri, fds[1], err_fd);
        ::close(fds[1]);
        ::close(err_fd);
        out_ = ::fdopen(fds[0], "r");
        try {
            REQUIRE(out_ != nullptr);
            // The first stdout line, once the engine is connected: "listening on PORT".
            char line[256] = {};
            bool got = std::fgets(line, sizeof line, out_) != nullptr;
            INFO("stderr: " << slurp(err_path_));
            REQUIRE(got);
            std::cmatch m;
            REQUIRE(std::regex_match(line, m, std::regex("listening on ([0-9]+)\n")));
            port_ = static_cast<unsigned short>(std::stoi(m[1].str()));
            REQUIRE(port_ != 0);
        } catch (...) {
            kill_now();  // the destructor does not run for a throwing constructor
            throw;
        }
    }
    ~server_process() { kill_now(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;
    unsigned short port() const noexcept { return port_; }
    /// SIGTERM, then the exit status (nullopt if it did not exit within 10 s).
    std::optional<int> stop() {
        ::kill(pid_, SIGTERM);
        auto code = wait_exit(pid_, std::chrono::seconds(10));
        pid_ = -1;
        return code;
    }
    std::string stderr_text() const { return slurp(err_path_); }

private:
    void kill_now() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
            pid_ = -1;
        }
        if (out_) std::fclose(out_);
        out_ = nullptr;
    }

    temp_dir tmp_;
    fs::path err_path_;
    pid_t pid_ = -1;
    FILE* out_ = nullptr;
    unsigned short port_ = 0;
};

/// A blocking HTTP/1.1 client on one keep-alive connection.
class http_client {
public:
    explicit http_client(unsigned short port) : stream_(ioc_) {
        stream_.expires_after(std::chrono::seconds(10));
        stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    http::response<http::string_body> request(http::verb method, const std::string& target,
                                              const std::string& body = {}) {
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.keep_alive(true);
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = body;
        }
        req.prepare_payload();
        stream_.expires_after(std::chrono::seconds(20));
        http::write(stream_, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(stream_, buf, res);
        return res;
    }

private:
    asio::io_context ioc_;
    beast::tcp_stream stream_;
};

/// Parses a JSON object body (fails the test on bad JSON).
morm::bson::document json(const std::string& body) {
    INFO("body: " << body);
    bson_t b;
    bson_error_t e;
    REQUIRE(bson_init_from_json(&b, body.data(), static_cast<ssize_t>(body.size()), &e));
    return morm::bson::document::adopt(b);
}

std::string str_at(const morm::bson::document& d, std::string_view path) {
    auto it = d.find(path);
    if (!it || !BSON_ITER_HOLDS_UTF8(&*it)) return "<absent>";
    return bson_iter_utf8(&*it, nullptr);
}

}  // namespace

TEST_CASE("quickstart runs twice against the server", "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_quickstart"));
    auto uri = uri_with_db(db.name);
    auto bin = example_path("quickstart");
    for (int run = 1; run <= 2; ++run) {
        auto r = run_program({bin}, uri);
        INFO("run " << run << "\nstdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.out, "stored: John <john@example.com> (_id 1)"));
        // merge(): the second run updates the same user instead of adding another one.
        CHECK(contains(r.out, "users named John: 1\n"));
    }
    CHECK(count_in(db.name, "users") == 1);
}

TEST_CASE("orders: references in 2 round trips vs N+1, polymorphic payments, hooks, reports, keyset pages",
          "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_orders"));
    auto uri = uri_with_db(db.name);
    auto bin = example_path("orders");
    for (int run = 1; run <= 2; ++run) {  // it drops and re-seeds its collections: runs twice
        auto r = run_program({bin}, uri);
        INFO("run " << run << "\nstdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.out, "seeded: 1110 inserted in 1 round trips; not written: 1\n"));
        CHECK(contains(r.out, "rejected by before_insert(): an order needs at least one line"));
        CHECK(contains(r.out, "N+1: 1000 orders and their customers, one by one: 101 round trips\n"));
        CHECK(contains(r.out, "load(&Order::customer): 1000 orders and their customers: 2 round trips\n"));
        CHECK(contains(r.out, "companies: 2 round trips; first: Customer 0 of Company 0\n"));
        CHECK(contains(r.out, "load_children(&Order::customer): 10 customers of co3 with 100 orders: 2 round trips\n"));
        CHECK(contains(r.out, "order o0001 after update: total 18.00, revision 1\n"));
        CHECK(contains(r.out, ": card ****4242 8.00\n"));
        CHECK(contains(r.out, ": bank transfer from DE89370400440532013000 10.00\n"));
        CHECK(contains(r.out, "card payments: 1\n"));
        CHECK(contains(r.out, "top customers by paid orders:\n  c019     329.00\n  c059     329.00\n  c079     329.00\n"));
        CHECK(contains(r.out, "units per sku: sku-0=358 sku-1=357 sku-2=356 sku-3=359 sku-4=358 sku-5=357 sku-6=355 "
                              "sku-extra=2 sku-gift=1000\n"));
        CHECK(contains(r.out, "largest orders: page 1 o0019 o0039 o0059, page 2 o0079 o0099 o0119\n"));
    }
    CHECK(count_in(db.name, "ex_orders") == 1000);
    CHECK(count_in(db.name, "ex_payments") == 2);
}

TEST_CASE("http_server serves every route", "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_http"));
    server_process server(uri_with_db(db.name));
    http_client c(server.port());
    using http::status;
    using http::verb;

    // POST with an explicit id -> 201 with the stored user and a Location.
    auto r = c.request(verb::post, "/users", R"({"id": "u1", "name": "Ann", "email": "ann@example.com"})");
    CHECK(r.result() == status::created);
    CHECK(r.body() == R"({"id":"u1","name":"Ann","email":"ann@example.com"})");
    CHECK(r[http::field::location] == "/users/u1");
    CHECK(r[http::field::content_type] == "application/json");

    // Without an id: one is generated (an ObjectId in hex).
    r = c.request(verb::post, "/users", R"({"name": "Bob", "email": "bob@example.com"})");
    REQUIRE(r.result() == status::created);
    auto bob = json(r.body());
    auto bob_id = str_at(bob, "id");
    CHECK(std::regex_match(bob_id, std::regex("[0-9a-f]{24}")));
    CHECK(str_at(bob, "name") == "Bob");
    r = c.request(verb::post, "/users", R"({"id": "u3", "name": "Ann", "email": "ann2@example.com"})");
    CHECK(r.result() == status::created);

    // Duplicate id -> 409, and the stored user is untouched.
    r = c.request(verb::post, "/users", R"({"id": "u1", "name": "Mallory", "email": "m@example.com"})");
    CHECK(r.result() == status::conflict);
    CHECK(contains(str_at(json(r.body()), "error"), "u1"));

    // Bad bodies -> 400 with an error JSON.
    for (std::string bad : {R"({"name": "x", "email": )", "not json", R"(["a"])", R"({"name": "x"})",
                            R"({"name": 5, "email": "e@x"})", R"({"name": "x", "email": "e", "age": 3})", ""}) {
        INFO("body: " << bad);
        r = c.request(verb::post, "/users", bad);
        CHECK(r.result() == status::bad_request);
        CHECK(str_at(json(r.body()), "error") != "<absent>");
    }

    // GET by id -> 200 / 404.
    r = c.request(verb::get, "/users/u1");
    CHECK(r.result() == status::ok);
    CHECK(r.body() == R"({"id":"u1","name":"Ann","email":"ann@example.com"})");
    r = c.request(verb::get, "/users/" + bob_id);
    CHECK(r.result() == status::ok);
    CHECK(str_at(json(r.body()), "email") == "bob@example.com");
    r = c.request(verb::get, "/users/nobody");
    CHECK(r.result() == status::not_found);
    CHECK(str_at(json(r.body()), "error") != "<absent>");

    // GET by name (sorted by id) and with a limit.
    r = c.request(verb::get, "/users?name=Ann");
    CHECK(r.result() == status::ok);
    CHECK(r.body() == R"([{"id":"u1","name":"Ann","email":"ann@example.com"},)"
                      R"({"id":"u3","name":"Ann","email":"ann2@example.com"}])");
    r = c.request(verb::get, "/users?name=Ann&limit=1");
    CHECK(r.body() == R"([{"id":"u1","name":"Ann","email":"ann@example.com"}])");
    r = c.request(verb::get, "/users?name=Nobody");
    CHECK(r.result() == status::ok);
    CHECK(r.body() == "[]");
    r = c.request(verb::get, "/users");
    CHECK(r.result() == status::ok);
    CHECK(r.body().starts_with("[{"));
    CHECK(std::count(r.body().begin(), r.body().end(), '{') == 3);
    r = c.request(verb::get, "/users?limit=zero");
    CHECK(r.result() == status::bad_request);

    // PATCH: only the given fields change.
    r = c.request(verb::patch, "/users/u1", R"({"email": "ann@new.example.com"})");
    CHECK(r.result() == status::ok);
    CHECK(r.body() == R"({"id":"u1","name":"Ann","email":"ann@new.example.com"})");
    auto stored = find_in(db.name, "users", R"({"_id": "u1"})");
    REQUIRE(stored);
    CHECK(str_at(*stored, "email") == "ann@new.example.com");
    CHECK(str_at(*stored, "name") == "Ann");
    r = c.request(verb::patch, "/users/nobody", R"({"email": "x@example.com"})");
    CHECK(r.result() == status::not_found);
    r = c.request(verb::patch, "/users/u1", R"({"email": )");
    CHECK(r.result() == status::bad_request);
    r = c.request(verb::patch, "/users/u1", R"({"email": 42})");
    CHECK(r.result() == status::bad_request);
    r = c.request(verb::patch, "/users/u1", R"({"id": "other"})");
    CHECK(r.result() == status::bad_request);

    // DELETE -> 204, then 404.
    r = c.request(verb::delete_, "/users/u3");
    CHECK(r.result() == status::no_content);
    CHECK(r.body().empty());
    r = c.request(verb::delete_, "/users/u3");
    CHECK(r.result() == status::not_found);
    r = c.request(verb::get, "/users/u3");
    CHECK(r.result() == status::not_found);
    CHECK(count_in(db.name, "users") == 2);

    // Unknown route / method.
    r = c.request(verb::get, "/nope");
    CHECK(r.result() == status::not_found);
    r = c.request(verb::put, "/users/u1", "{}");
    CHECK(r.result() == status::method_not_allowed);

    // A second connection is served concurrently with the first (still open).
    http_client c2(server.port());
    r = c2.request(verb::get, "/users/u1");
    CHECK(r.result() == status::ok);

    // SIGTERM stops it cleanly.
    auto code = server.stop();
    INFO("stderr: " << server.stderr_text());
    REQUIRE(code.has_value());
    CHECK(*code == 0);
}

TEST_CASE("http_server answers 400 to ids that are not valid UTF-8 or hold a NUL, and changes nothing",
          "[examples][integration][security]") {
    db_guard db(morm_test::unique_db("ex_http_ids"));
    server_process server(uri_with_db(db.name));
    http_client c(server.port());
    using http::status;
    using http::verb;

    auto r = c.request(verb::post, "/users", R"({"id": "alice", "name": "Alice", "email": "alice@secret.example"})");
    REQUIRE(r.result() == status::created);
    r = c.request(verb::post, "/users", R"({"id": "a1", "name": "Bob", "email": "bob@secret.example"})");
    REQUIRE(r.result() == status::created);
    const auto before_alice = find_in(db.name, "users", R"({"_id": "alice"})");
    const auto before_a1 = find_in(db.name, "users", R"({"_id": "a1"})");
    REQUIRE(before_alice);
    REQUIRE(before_a1);

    for (std::string id : {"%ff", "a1%00", "%00", "alice%c3", "%ed%a0%80"}) {
        INFO("id: " << id);
        r = c.request(verb::get, "/users/" + id);
        CHECK(r.result() == status::bad_request);
        CHECK_FALSE(contains(r.body(), "secret.example"));
        r = c.request(verb::patch, "/users/" + id, R"({"email": "pwned@evil.example"})");
        CHECK(r.result() == status::bad_request);
        CHECK_FALSE(contains(r.body(), "secret.example"));
        r = c.request(verb::delete_, "/users/" + id);
        CHECK(r.result() == status::bad_request);
    }
    // A NUL smuggled in through JSON is refused too.
    r = c.request(verb::post, "/users", R"({"id": "alice\u0000x", "name": "M", "email": "m@evil.example"})");
    CHECK(r.result() == status::bad_request);
    r = c.request(verb::get, "/users?name=Alice%00");
    CHECK(r.result() == status::bad_request);

    // Both users exactly as they were.
    CHECK(count_in(db.name, "users") == 2);
    auto after_alice = find_in(db.name, "users", R"({"_id": "alice"})");
    auto after_a1 = find_in(db.name, "users", R"({"_id": "a1"})");
    REQUIRE(after_alice);
    REQUIRE(after_a1);
    CHECK(after_alice->to_json() == before_alice->to_json());
    CHECK(after_a1->to_json() == before_a1->to_json());

    auto code = server.stop();
    INFO("stderr: " << server.stderr_text());
    REQUIRE(code.has_value());
    CHECK(*code == 0);
}

TEST_CASE("bulk_import imports tweets-5000", "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_bulk"));
    // the generated tweets (data/gen_data.cpp): this test needs no official data
    auto file = std::string(MORM_GENERATED_DATA_DIR) + "/ldjson/tweets-5000.ldjson";
    REQUIRE(fs::exists(file));
    auto r = run_program({example_path("bulk_import"), file, "--collection", "tweets"}, uri_with_db(db.name));
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 0);
    // Line bytes without the newlines.
    auto bytes = fs::file_size(file) - 5000;
    CHECK(std::regex_match(last_line(r.out),
                           std::regex("imported 5000 documents \\(" + std::to_string(bytes) +
                                      " bytes\\) in [0-9.]+ s: [0-9]+ docs/s, [0-9.]+ MB/s; 0 skipped")));
    // Not a TTY: progress as one line per 10%.
    CHECK(contains(r.err, "progress: 50%"));
    CHECK(contains(r.err, "progress: 100%"));
    CHECK(count_in(db.name, "tweets") == 5000);
    // The lines have no _id: ObjectIds were generated; the fields are all there.
    CHECK(count_in(db.name, "tweets", R"({"_id": {"$type": "objectId"}})") == 5000);
    auto one = find_in(db.name, "tweets", R"({"source": "web"})");
    REQUIRE(one);
    CHECK(one->find("text").has_value());
    CHECK(one->find("user.screen_name").has_value());
}

TEST_CASE("bulk_import skips or stops at a malformed line", "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_bulk_err"));
    temp_dir tmp;
    auto file = (tmp.path / "input.ldjson").string();
    {
        std::ofstream f(file);
        f << R"({"_id": 1, "n": 1})" << '\n'
          << R"({"n": 2, "tags": ["a", "b"]})" << '\n'
          << R"({"n": 3, )" << '\n'  // malformed
          << R"({"_id": {"$oid": "0123456789abcdef01234567"}, "n": 4})" << '\n'
          << R"({"n": 5, "sub": {"x": true}})" << '\n';
    }
    auto uri = uri_with_db(db.name);
    auto bin = example_path("bulk_import");

    SECTION("skip (default) imports the others and names the line") {
        auto r = run_program({bin, file, "--collection", "skip", "--batch", "2"}, uri);
        INFO("stdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.err, "line 3:"));
        CHECK(std::regex_match(last_line(r.out), std::regex("imported 4 documents \\([0-9]+ bytes\\) in .*; 1 skipped")));
        CHECK(count_in(db.name, "skip") == 4);
        // _id values of the lines are kept, whatever their type.
        auto one = find_in(db.name, "skip", R"({"_id": 1})");
        REQUIRE(one);
        auto n = one->find("n");
        REQUIRE(n);
        CHECK(bson_iter_as_int64(&*n) == 1);
        CHECK(count_in(db.name, "skip", R"({"_id": {"$oid": "0123456789abcdef01234567"}, "n": 4})") == 1);
        CHECK(count_in(db.name, "skip", R"({"n": 3})") == 0);
    }
    SECTION("stop ends the import, keeping what came before") {
        auto r = run_program({bin, file, "--collection", "stop", "--on-error", "stop"}, uri);
        INFO("stdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 1);
        CHECK(contains(r.err, "line 3:"));
        CHECK(std::regex_match(last_line(r.out), std::regex("imported 2 documents \\([0-9]+ bytes\\) in .*; 1 skipped")));
        CHECK(count_in(db.name, "stop") == 2);
        CHECK(count_in(db.name, "stop", R"({"n": {"$gte": 3}})") == 0);
    }
    SECTION("a document the server rejects (duplicate _id) is reported by line and skipped") {
        auto dup = (tmp.path / "dup.ldjson").string();
        {
            std::ofstream f(dup);
            f << R"({"_id": "a", "n": 1})" << '\n'
              << R"({"_id": "b", "n": 2})" << '\n'
              << R"({"_id": "a", "n": 3})" << '\n'
              << R"({"_id": "c", "n": 4})" << '\n';
        }
        // Batch 10: the session itself refuses the second "a"; batch 1: the server does (11000).
        for (std::string batch : {"10", "1"}) {
            std::string coll = "dup" + batch;
            auto r = run_program({bin, dup, "--collection", coll, "--batch", batch}, uri);
            INFO("batch " << batch << "\nstdout: " << r.out << "\nstderr: " << r.err);
            CHECK(r.exit_code == 0);
            CHECK(contains(r.err, "line 3:"));
            CHECK(std::regex_match(last_line(r.out), std::regex("imported 3 documents .*; 1 skipped")));
            CHECK(count_in(db.name, coll) == 3);
            CHECK(count_in(db.name, coll, R"({"_id": "a", "n": 1})") == 1);
            CHECK(count_in(db.name, coll, R"({"_id": "c"})") == 1);
        }
    }
}

TEST_CASE("replica_set runs against the server and prints what SDAM found", "[examples][integration]") {
    db_guard db(morm_test::unique_db("ex_rs"));
    auto uri = uri_with_db(db.name);
    auto r = run_program({example_path("replica_set")}, uri);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "sdam: monitoring "));
    CHECK(contains(r.out, "read r0 = 20.5"));
    CHECK(contains(r.out, "read r2 = 22.5"));
    CHECK(contains(r.out, "topology: "));
    CHECK(count_in(db.name, "rs_example_readings") == 0);  // it removes what it wrote
}
