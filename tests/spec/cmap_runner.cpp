// The CMAP spec tests (connection-monitoring-and-pooling/tests/cmap-format; format in that
// folder's README.md): a net::pool of socketless connections (its opener hook), the file's
// operations run by coroutines on one io_context (its "threads"), then the CMAP events and
// the main thread's error compared with the file's.
//
// The "integration" files configure a failCommand fail point on hello (block it, fail it,
// close the connection): no server is involved, the fake opener plays that server and its
// fail point, so `runOn` does not apply. Any other fail point is skipped.
#include "runner.hpp"

#include <morm/net/pool.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace morm_spec {
namespace {

namespace asio = boost::asio;
namespace net = morm::net;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds poll{1};  // how often waiting operations look again

// --- reading the test document ---------------------------------------------------------------

std::string str(const bson_iter_t& it) {
    std::uint32_t len = 0;
    const char* s = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : "";
    return std::string(s, len);
}

std::vector<bson_iter_t> children(const bson_iter_t& it) {
    std::vector<bson_iter_t> out;
    bson_iter_t child;
    if (bson_iter_recurse(&it, &child))
        while (bson_iter_next(&child)) out.push_back(child);
    return out;
}

std::optional<bson_iter_t> find(const bson_t* doc, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key)) return std::nullopt;
    return it;
}

bool is_number(const bson_iter_t& it) {
    return BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_DOUBLE(&it);
}

std::string to_json(const bson_t* doc) {
    char* s = bson_as_relaxed_extended_json(doc, nullptr);
    std::string out = s ? s : "?";
    bson_free(s);
    return out;
}

// A sub-document or array as a bson_t view onto the test's bytes.
struct sub_doc {
    bson_t doc{};
    bool ok = false;
    explicit sub_doc(const bson_iter_t& it) {
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &len, &data);
        else if (BSON_ITER_HOLDS_ARRAY(&it)) bson_iter_array(&it, &len, &data);
        ok = data && bson_init_static(&doc, data, len);
    }
    const bson_t* get() const { return ok ? &doc : nullptr; }
};

std::string value_json(const bson_iter_t& it) {
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
        sub_doc d(it);
        return d.get() ? to_json(d.get()) : "?";
    }
    bson_t tmp = BSON_INITIALIZER;
    bson_append_iter(&tmp, "v", 1, &it);
    std::string s = to_json(&tmp);  // { "v" : <value> }
    bson_destroy(&tmp);
    const auto colon = s.find(':');
    return colon == std::string::npos ? s : s.substr(colon + 2, s.size() - colon - 4);
}

struct operation {
    std::string name, thread, target, label, connection, event;
    std::int64_t ms = 0, count = 0, timeout_ms = 10'000;
    bool interrupt = false;
};

/// The failCommand fail point on hello, as the fake server plays it.
struct failpoint {
    std::int64_t times = -1;  // -1: alwaysOn
    bool close_connection = false;
    std::chrono::milliseconds block{0};
    std::int32_t error_code = 0;
};

struct test_file {
    std::string description;
    net::pool_params params;
    std::optional<failpoint> fail_point;
    std::vector<operation> ops;
    std::optional<bson_iter_t> error;
    std::vector<bson_iter_t> events;
    std::vector<std::string> ignore;
};

/// Reads poolOptions into `pp`; returns a skip reason for an option it does not know.
std::optional<std::string> read_pool_options(const bson_iter_t& opts, net::pool_params& pp) {
    for (auto& o : children(opts)) {
        const std::string key = bson_iter_key(&o);
        const auto v = bson_iter_as_int64(&o);
        if (key == "maxPoolSize") pp.max_size = static_cast<std::size_t>(v);
        else if (key == "minPoolSize") pp.min_size = static_cast<std::size_t>(v);
        else if (key == "maxIdleTimeMS") pp.max_idle_time = std::chrono::milliseconds(v);
        else if (key == "waitQueueTimeoutMS") pp.wait_queue_timeout = std::chrono::milliseconds(v);
        else if (key == "maxConnecting") pp.max_connecting = static_cast<std::size_t>(v);
        else if (key == "backgroundThreadIntervalMS") pp.background_interval = std::chrono::milliseconds(v);
        else if (key == "appName") continue;  // only scopes the fail point, which here sees nothing else
        else return "poolOptions." + key + " is not supported by the runner";
    }
    return std::nullopt;
}

/// Reads a failCommand fail point on hello/isMaster; returns a skip reason for any other.
std::optional<std::string> read_fail_point(const bson_t* doc, failpoint& fp) {
    auto name = find(doc, "configureFailPoint");
    if (!name || str(*name) != "failCommand") return "only the failCommand fail point is emulated";
    if (auto mode = find(doc, "mode")) {
        if (BSON_ITER_HOLDS_UTF8(&*mode) && str(*mode) == "alwaysOn") fp.times = -1;
        else if (BSON_ITER_HOLDS_DOCUMENT(&*mode) && children(*mode).size() == 1 &&
                 std::string(bson_iter_key(&children(*mode)[0])) == "times")
            fp.times = bson_iter_as_int64(&children(*mode)[0]);
        else return "fail point mode " + value_json(*mode) + " is not emulated";
    }
    auto data = find(doc, "data");
    if (!data) return "fail point without data";
    bool on_hello = false;
    for (auto& d : children(*data)) {
        const std::string key = bson_iter_key(&d);
        if (key == "failCommands") {
            for (auto& c : children(d)) on_hello = on_hello || str(c) == "hello" || str(c) == "isMaster";
        } else if (key == "closeConnection") fp.close_connection = bson_iter_as_bool(&d);
        else if (key == "blockConnection") continue;  // blockTimeMS decides
        else if (key == "blockTimeMS") fp.block = std::chrono::milliseconds(bson_iter_as_int64(&d));
        else if (key == "errorCode") fp.error_code = static_cast<std::int32_t>(bson_iter_as_int64(&d));
        else if (key == "appName") continue;
        else return "fail point data." + key + " is not emulated";
    }
    if (!on_hello) return "the fail point does not target hello: the fake server only plays the handshake";
    return std::nullopt;
}

operation read_operation(const bson_iter_t& it) {
    operation op;
    for (auto& f : children(it)) {
        const std::string key = bson_iter_key(&f);
        if (key == "name") op.name = str(f);
        else if (key == "thread") op.thread = str(f);
        else if (key == "target") op.target = str(f);
        else if (key == "label") op.label = str(f);
        else if (key == "connection") op.connection = str(f);
        else if (key == "event") op.event = str(f);
        else if (key == "ms") op.ms = bson_iter_as_int64(&f);
        else if (key == "count") op.count = bson_iter_as_int64(&f);
        else if (key == "timeout") op.timeout_ms = bson_iter_as_int64(&f);
        else if (key == "interruptInUseConnections") op.interrupt = bson_iter_as_bool(&f);
    }
    return op;
}

/// Reads the file; returns a skip reason when the runner cannot meet it.
std::optional<std::string> read_test(const bson_t* doc, test_file& t) {
    if (auto d = find(doc, "description")) t.description = str(*d);
    if (auto s = find(doc, "style"); s && str(*s) != "unit" && str(*s) != "integration")
        return "unknown style " + str(*s);
    if (auto o = find(doc, "poolOptions"))
        if (auto why = read_pool_options(*o, t.params)) return why;
    if (auto fp = find(doc, "failPoint")) {
        sub_doc d(*fp);
        failpoint f;
        if (auto why = read_fail_point(d.get(), f)) return why;
        t.fail_point = f;
    }
    static const std::vector<std::string> known = {"start", "wait", "waitForThread", "waitForEvent", "checkOut",
                                                   "checkIn", "clear", "close", "ready"};
    if (auto ops = find(doc, "operations"))
        for (auto& o : children(*ops)) {
            t.ops.push_back(read_operation(o));
            if (std::find(known.begin(), known.end(), t.ops.back().name) == known.end())
                return "operation " + t.ops.back().name + " is not supported";
        }
    t.error = find(doc, "error");
    if (auto ev = find(doc, "events")) t.events = children(*ev);
    if (auto ig = find(doc, "ignore"))
        for (auto& i : children(*ig)) t.ignore.push_back(str(i));
    return std::nullopt;
}

// --- MATCH (the cmap-format README): expected is a subset, 42 / "42" mean "any value" --------

bool is_placeholder(const bson_iter_t& e) {
    return ((BSON_ITER_HOLDS_INT32(&e) || BSON_ITER_HOLDS_INT64(&e)) && bson_iter_as_int64(&e) == 42) ||
           (BSON_ITER_HOLDS_UTF8(&e) && str(e) == "42");
}

bool match_doc(const bson_iter_t& expected, const bson_t* actual, const std::string& path, std::string& why);

bool match_value(const bson_iter_t& e, const bson_iter_t* a, const std::string& path, std::string& why) {
    if (is_placeholder(e)) {
        if (a && !BSON_ITER_HOLDS_NULL(a)) return true;
        why = path + ": expected a value, the event has none";
        return false;
    }
    if (!a) {
        why = path + ": missing (expected " + value_json(e) + ")";
        return false;
    }
    bool ok = false;
    if (BSON_ITER_HOLDS_DOCUMENT(&e)) {
        sub_doc ad(*a);
        return BSON_ITER_HOLDS_DOCUMENT(a) ? match_doc(e, ad.get(), path, why)
                                           : (why = path + ": expected a document, got " + value_json(*a), false);
    }
    if (is_number(e)) ok = is_number(*a) && bson_iter_as_double(&e) == bson_iter_as_double(a);
    else if (BSON_ITER_HOLDS_UTF8(&e)) ok = BSON_ITER_HOLDS_UTF8(a) && str(e) == str(*a);
    else if (BSON_ITER_HOLDS_BOOL(&e)) ok = BSON_ITER_HOLDS_BOOL(a) && bson_iter_bool(&e) == bson_iter_bool(a);
    else if (BSON_ITER_HOLDS_NULL(&e)) ok = BSON_ITER_HOLDS_NULL(a);
    else ok = value_json(e) == value_json(*a);
    if (!ok) why = path + ": expected " + value_json(e) + ", got " + value_json(*a);
    return ok;
}

bool match_doc(const bson_iter_t& expected, const bson_t* actual, const std::string& path, std::string& why) {
    for (auto& e : children(expected)) {
        bson_iter_t a;
        const bool has = actual && bson_iter_init_find(&a, actual, bson_iter_key(&e));
        if (!match_value(e, has ? &a : nullptr, path + "." + bson_iter_key(&e), why)) return false;
    }
    return true;
}

// --- the recorded events ---------------------------------------------------------------------

struct owned_doc {
    bson_t* p = bson_new();
    owned_doc() = default;
    owned_doc(owned_doc&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
    owned_doc& operator=(owned_doc&&) = delete;
    ~owned_doc() {
        if (p) bson_destroy(p);
    }
};

bool has_connection_id(net::pool_event_type t) {
    using enum net::pool_event_type;
    return t == connection_created || t == connection_ready || t == connection_closed || t == checked_out ||
           t == checked_in;
}

/// The event as the spec's JSON would write it (the fields its type has).
owned_doc event_doc(const net::pool_event& ev) {
    using enum net::pool_event_type;
    owned_doc d;
    const auto type = net::to_string(ev.type);
    bson_append_utf8(d.p, "type", -1, type.data(), static_cast<int>(type.size()));
    bson_append_utf8(d.p, "address", -1, ev.address.data(), static_cast<int>(ev.address.size()));
    if (has_connection_id(ev.type)) bson_append_int64(d.p, "connectionId", -1, static_cast<std::int64_t>(ev.connection_id));
    if (ev.type == connection_ready || ev.type == checked_out || ev.type == check_out_failed)
        bson_append_double(d.p, "duration", -1, std::chrono::duration<double, std::milli>(ev.duration).count());
    if (ev.type == connection_closed || ev.type == check_out_failed) {
        const auto r = net::to_string(ev.reason);
        bson_append_utf8(d.p, "reason", -1, r.data(), static_cast<int>(r.size()));
    }
    if (ev.type == pool_cleared) bson_append_bool(d.p, "interruptInUseConnections", -1, ev.interrupt_in_use);
    if (ev.type == pool_created && ev.options) {
        bson_t o;
        bson_append_document_begin(d.p, "options", -1, &o);
        bson_append_int64(&o, "maxPoolSize", -1, static_cast<std::int64_t>(ev.options->max_size));
        bson_append_int64(&o, "minPoolSize", -1, static_cast<std::int64_t>(ev.options->min_size));
        bson_append_int64(&o, "maxIdleTimeMS", -1, ev.options->max_idle_time.count());
        bson_append_int64(&o, "waitQueueTimeoutMS", -1, ev.options->wait_queue_timeout.count());
        bson_append_int64(&o, "maxConnecting", -1, static_cast<std::int64_t>(ev.options->max_connecting));
        bson_append_document_end(d.p, &o);
    }
    return d;
}

// --- the fake server: socketless connections, the fail point played on hello ----------------

struct fake_server {
    std::optional<failpoint> fp;
    clock::time_point epoch = clock::now();

    asio::awaitable<std::unique_ptr<net::connection>> open(asio::any_io_executor ex, net::endpoint ep,
                                                           morm::error_code& ec, morm::diagnostics& diag) {
        const bool hit = fp && fp->times != 0;
        if (hit && fp->times > 0) --fp->times;
        if (hit && fp->block.count() > 0) {
            // Blocked hellos are let go on a 10 ms tick, so hellos blocked at about the same
            // moment finish together, as on a server; the tests' timings are 50 ms and up.
            const auto tick = 10ms;
            const auto due = clock::now() + fp->block - epoch;
            asio::steady_timer t(ex, epoch + ((due + tick - 1ns) / tick) * tick);
            auto [e] = co_await t.async_wait(nothrow);
            if (e) {
                ec = make_error_code(morm::errc::network);
                diag.message = "hello interrupted";
                co_return nullptr;
            }
        }
        if (hit && fp->error_code != 0) {
            ec = make_error_code(morm::errc::server_error);
            diag.server_code = fp->error_code;
            diag.message = "Failing command via 'failCommand' failpoint";
            co_return nullptr;
        }
        if (hit && fp->close_connection) {
            ec = make_error_code(morm::errc::connection_closed);
            diag.message = "connection closed by the fail point";
            co_return nullptr;
        }
        co_return std::make_unique<net::connection>(ex, ep, net::connection::unconnected_t{});
    }
};

// --- running the operations ------------------------------------------------------------------

struct failure {
    morm::error_code ec;
    std::string message;
    std::string runner;  // the runner's own failure (unknown label, waitForEvent timed out)
};

std::string error_type(const failure& f) {
    if (!f.runner.empty()) return "RunnerError";
    if (f.ec == morm::errc::pool_timeout) return "WaitQueueTimeoutError";
    if (f.ec == morm::errc::pool_closed) return "PoolClosedError";
    if (f.ec == morm::errc::pool_cleared) return "PoolClearedError";
    return "ConnectionError";
}

std::string describe(const failure& f) {
    return f.runner.empty() ? fmt::format("{} ({}: {})", error_type(f), f.ec.message(), f.message) : f.runner;
}

class cmap_test {
public:
    explicit cmap_test(test_file& t) : t_(t) {
        server_->fp = t.fail_point;
        auto& pp = t_.params;
        pp.start_paused = true;
        pp.background = io_.get_executor();
        pp.listener = [this](const net::pool_event& ev) {
            types_.emplace_back(net::to_string(ev.type));
            events_.push_back(event_doc(ev));
        };
        pp.opener = [srv = server_](asio::any_io_executor ex, const net::endpoint& ep, const net::connection_params&,
                                    morm::error_code& ec, morm::diagnostics& diag) { return srv->open(ex, ep, ec, diag); };
        // SDAM's part: an error while populating the pool marks the server unknown and clears it.
        pp.on_background_error = [this](const morm::error_code&, const morm::diagnostics& diag, std::uint64_t) {
            pool_->clear(false, diag.message);
        };
        pool_ = std::make_shared<net::pool>(net::endpoint{"localhost", 27017, false},
                                            std::make_shared<net::connection_params>(), pp);
    }

    /// Runs the file; returns 0 when it passes, 1 (with the diff on stderr) when not.
    int run() {
        asio::co_spawn(io_, main_thread(), asio::detached);
        io_.run_for(60s);
        if (!finished_) {
            std::cerr << "the operations did not finish within 60 s\n";
            return 1;
        }
        return check_error() && check_events() ? 0 : 1;
    }

private:
    struct thread {
        std::deque<const operation*> queue;
        bool stop = false;
        bool done = false;
        std::optional<failure> error;
    };

    asio::awaitable<void> sleep(std::chrono::milliseconds d) {
        asio::steady_timer t(io_, d);
        co_await t.async_wait(nothrow);
    }

    asio::awaitable<void> main_thread() {
        for (auto& op : t_.ops) {
            if (!op.thread.empty()) {
                auto it = threads_.find(op.thread);
                if (it == threads_.end()) {
                    main_error_ = failure{{}, {}, "operation on thread " + op.thread + " which was not started"};
                    break;
                }
                it->second->queue.push_back(&op);
                continue;
            }
            std::optional<failure> err;
            co_await run_op(op, err);
            if (err) {
                main_error_ = err;
                break;
            }
        }
        observed_ = events_.size();
        co_await tear_down();
        finished_ = true;
    }

    asio::awaitable<void> thread_loop(thread& t) {
        for (;;) {
            if (!t.queue.empty()) {
                const operation* op = t.queue.front();
                t.queue.pop_front();
                std::optional<failure> err;
                co_await run_op(*op, err);
                if (err && !t.error) t.error = err;
                continue;
            }
            if (t.stop) break;
            co_await sleep(poll);
        }
        t.done = true;
    }

    asio::awaitable<void> run_op(const operation& op, std::optional<failure>& err) {
        if (op.name == "start") {
            auto& t = threads_[op.target];
            t = std::make_unique<thread>();
            asio::co_spawn(io_, thread_loop(*t), asio::detached);
        } else if (op.name == "wait") {
            const std::chrono::milliseconds d(op.ms);
            co_await sleep(d);
        } else if (op.name == "waitForThread") {
            auto it = threads_.find(op.target);
            if (it == threads_.end()) {
                err = failure{{}, {}, "waitForThread: no thread " + op.target};
                co_return;
            }
            it->second->stop = true;
            while (!it->second->done) co_await sleep(poll);
            err = it->second->error;
        } else if (op.name == "waitForEvent") {
            const auto deadline = clock::now() + std::chrono::milliseconds(op.timeout_ms);
            while (count(op.event) < op.count && clock::now() < deadline) co_await sleep(poll);
            if (count(op.event) < op.count)
                err = failure{{}, {}, fmt::format("waitForEvent: {} {} times within {} ms, saw {}", op.event, op.count,
                                                  op.timeout_ms, count(op.event))};
        } else if (op.name == "checkOut") {
            morm::error_code ec;
            morm::diagnostics diag;
            auto c = co_await pool_->async_acquire(ec, diag);
            if (ec) err = failure{ec, diag.message, {}};
            else if (op.label.empty()) unlabelled_.push_back(std::move(c));
            else labelled_[op.label] = std::move(c);
        } else if (op.name == "checkIn") {
            auto it = labelled_.find(op.connection);
            if (it == labelled_.end()) err = failure{{}, {}, "checkIn: no connection labelled " + op.connection};
            else labelled_.erase(it);  // its destructor checks it in
        } else if (op.name == "clear") {
            pool_->clear(op.interrupt);
        } else if (op.name == "close") {
            pool_->close();
        } else if (op.name == "ready") {
            pool_->ready();
        }
    }

    std::int64_t count(const std::string& type) const {
        return std::count(types_.begin(), types_.end(), type);
    }

    /// Closes the pool, returns every connection and lets the threads end.
    asio::awaitable<void> tear_down() {
        pool_->close();
        labelled_.clear();
        unlabelled_.clear();
        for (auto& [name, t] : threads_) t->stop = true;
        for (auto& [name, t] : threads_)
            while (!t->done) co_await sleep(poll);
        labelled_.clear();
        unlabelled_.clear();
    }

    bool check_error() const {
        if (!t_.error) {
            if (!main_error_) return true;
            std::cerr << t_.description << ": unexpected error in the main thread: " << describe(*main_error_) << "\n";
            return false;
        }
        const std::string expected = value_json(*t_.error);
        if (!main_error_) {
            std::cerr << t_.description << ": expected the error " << expected << ", the main thread got none\n";
            return false;
        }
        for (auto& f : children(*t_.error)) {
            const std::string key = bson_iter_key(&f);
            bool ok = true;
            if (key == "type") {
                ok = str(f) == error_type(*main_error_);
            } else if (key == "message") {
                // Our messages start with the spec's words and go on to say which pool and why.
                auto lower = [](std::string s) {
                    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                    return s;
                };
                ok = lower(main_error_->message).starts_with(lower(str(f)));
            } else if (key == "address") {
                ok = is_placeholder(f) || main_error_->message.find(str(f)) != std::string::npos;
            }
            if (!ok) {
                std::cerr << t_.description << ": expected the error " << expected << ", got " << describe(*main_error_)
                          << " (" << key << " differs)\n";
                return false;
            }
        }
        return true;
    }

    bool check_events() const {
        std::vector<std::size_t> actual;  // indices of the events not ignored
        for (std::size_t i = 0; i < observed_; ++i)
            if (std::find(t_.ignore.begin(), t_.ignore.end(), types_[i]) == t_.ignore.end()) actual.push_back(i);
        for (std::size_t i = 0; i < t_.events.size(); ++i) {
            std::string why;
            if (i >= actual.size()) why = fmt::format("event {} missing", i);
            else if (!match_doc(t_.events[i], events_[actual[i]].p, fmt::format("events[{}]", i), why)) why += "";
            else continue;
            std::cerr << t_.description << ": " << why << "\nexpected events:\n";
            for (auto& e : t_.events) std::cerr << "  " << value_json(e) << "\n";
            std::cerr << "actual events (ignoring " << t_.ignore.size() << " types):\n";
            for (auto a : actual) std::cerr << "  " << to_json(events_[a].p) << "\n";
            if (main_error_) std::cerr << "main thread error: " << describe(*main_error_) << "\n";
            return false;
        }
        return true;
    }

    test_file& t_;
    asio::io_context io_;
    std::shared_ptr<fake_server> server_ = std::make_shared<fake_server>();
    std::shared_ptr<net::pool> pool_;
    std::vector<std::string> types_;
    std::vector<owned_doc> events_;
    std::size_t observed_ = 0;  // events seen when the operations ended
    std::map<std::string, std::unique_ptr<thread>> threads_;
    std::map<std::string, net::pooled_connection> labelled_;
    std::vector<net::pooled_connection> unlabelled_;
    std::optional<failure> main_error_;
    bool finished_ = false;
};

}  // namespace

int run_cmap_file(const std::filesystem::path& file, const bson_t* doc) {
    test_file t;
    if (auto why = read_test(doc, t)) return skip(file.filename().string() + ": " + *why);
    cmap_test run(t);
    return run.run();
}

}  // namespace morm_spec
