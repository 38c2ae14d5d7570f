// Soak test (scripts/soak.sh drives it; not part of CI): sessions commit and read through a
// fault proxy that cuts a connection every few seconds, while the script restarts the server
// once. At the end every object that a worker created must be on the server exactly once,
// and the process's RSS must not have grown between the first and the last quarter.
//
//   morm_soak --upstream HOST:PORT --db NAME --seconds N [--workers W] [--batch B] [--cut-ms MS]
//             [--pause-ms MS]
// FerretDB answers the {_id: {$in: [...]}} check that follows a commit whose outcome was
// unknown by scanning the collection, so a fast writer soon makes that check outlast the
// socket timeout; scripts/soak.sh paces the writers to keep the collection moderate.
//
// Prints one line per 10 s (objects, commit retries, cuts, RSS) and a final verdict; exit 0
// only if nothing was lost or duplicated and RSS stayed flat.
#include <morm/morm.hpp>

#include "common/fault_proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace soak {

struct Item {
    std::string id;
    std::int32_t worker = 0;
    std::int64_t seq = 0;
    std::string payload;
};
MORM_MODEL(Item, "soak_items", (id, "_id"), worker, seq, payload);

struct config {
    std::string upstream = "127.0.0.1:27017";
    std::string db = "morm_soak";
    int seconds = 60;
    int workers = 8;
    int batch = 200;
    int cut_ms = 3000;
    int pause_ms = 0;  // after each commit: paces the load so FerretDB's collection scans stay short
};

struct counters {
    std::atomic<std::int64_t> created{0};     // objects handed to a session
    std::atomic<std::int64_t> committed{0};   // objects whose commit reported success
    std::atomic<std::int64_t> failed_commits{0};
    std::atomic<std::int64_t> reads{0};
    std::atomic<std::int64_t> read_errors{0};
    std::atomic<std::int64_t> read_misses{0};  // a committed object not found: a loss
    std::atomic<std::int64_t> cuts{0};
    std::atomic<int> running{0};  // workers still inside their coroutine (they use the engine)
};

long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

// Commits until everything staged is written: a commit cut mid-way leaves its unwritten and
// unknown objects pending, and the next commit re-sends exactly those.
asio::awaitable<bool> commit_all(morm::session& s, counters& c, std::chrono::steady_clock::time_point give_up) {
    for (;;) {
        morm::error_code ec;
        morm::diagnostics diag;
        auto r = co_await s.commit(ec, diag);
        if (!ec && r.ok()) co_return true;
        ++c.failed_commits;
        if (std::chrono::steady_clock::now() > give_up) {
            fmt::print(stderr, "soak: giving up a commit: {} ({})\n", diag.message, ec.message());
            co_return false;
        }
        co_await pause(std::chrono::milliseconds(100));
    }
}

// Reads back one committed object of this worker by _id, retrying through cuts; a miss is
// a loss. (session.get sends {_id: v}, which FerretDB answers from its primary key; an
// {_id: {$eq: v}} filter makes FerretDB 1.24 scan the collection.)
asio::awaitable<void> check_one(const morm::engine& e, counters& c, std::string id) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        morm::session s{e};
        auto [ec, found] = co_await s.get<Item>(id, asio::as_tuple(asio::use_awaitable));
        if (!ec) {
            ++c.reads;
            if (!found) ++c.read_misses;
            co_return;
        }
        ++c.read_errors;
        co_await pause(std::chrono::milliseconds(50));
    }
}

asio::awaitable<void> worker(const morm::engine& e, const config& cfg, counters& c, int w,
                             std::chrono::steady_clock::time_point stop) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(w) * 7919u);
    std::int64_t next = 0;
    struct leave {
        counters& c;
        ~leave() { --c.running; }
    } on_exit{c};
    morm::session_options opts;
    opts.keep_committed = false;  // a long-running writer: memory stays flat across commits
    while (std::chrono::steady_clock::now() < stop) {
        morm::session s{e, opts};
        for (int k = 0; k < cfg.batch; ++k, ++next)
            s.add(Item{fmt::format("w{}-{}", w, next), w, next, std::string(64 + next % 64, 'x')});
        c.created += cfg.batch;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        if (!co_await commit_all(s, c, give_up)) co_return;
        c.committed += cfg.batch;
        if (cfg.pause_ms > 0) co_await pause(std::chrono::milliseconds(cfg.pause_ms));
        std::uniform_int_distribution<std::int64_t> pick(0, next - 1);
        std::string probe = fmt::format("w{}-{}", w, pick(rng));
        co_await check_one(e, c, std::move(probe));
    }
}

asio::awaitable<void> reporter(const config& cfg, counters& c, morm_test::fault_proxy& proxy,
                               std::vector<long>& rss, std::chrono::steady_clock::time_point stop) {
    std::mt19937_64 rng(42);
    auto next_cut = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.cut_ms);
    auto next_line = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < stop) {
        co_await pause(std::chrono::milliseconds(250));
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_cut) {
            if (proxy.cut_one(static_cast<std::size_t>(rng()))) ++c.cuts;
            next_cut = now + std::chrono::milliseconds(cfg.cut_ms);
        }
        if (now >= next_line) {
            rss.push_back(rss_kib());
            fmt::print("soak: {} created, {} committed, {} failed commits, {} reads ({} errors, {} misses), "
                       "{} cuts, RSS {} KiB\n",
                       c.created.load(), c.committed.load(), c.failed_commits.load(), c.reads.load(),
                       c.read_errors.load(), c.read_misses.load(), c.cuts.load(), rss.back());
            std::fflush(stdout);
            next_line = now + std::chrono::seconds(10);
        }
    }
}

// Counts on the server, directly (not through the proxy): documents, and distinct seq per worker.
asio::awaitable<std::pair<std::int64_t, std::int64_t>> server_counts(const config& cfg) {
    auto e = co_await morm::create_engine(fmt::format("mongodb://{}/{}", cfg.upstream, cfg.db));
    auto coll = e.client().database(cfg.db)["soak_items"];
    const std::int64_t docs = co_await coll.count_documents();
    // Duplicates: the same (worker, seq) under two documents.
    std::vector<morm::bson::document> pipeline{
        morm::bson::document::from_json(R"({"$group": {"_id": {"w": "$worker", "s": "$seq"}, "n": {"$sum": 1}}})"),
        morm::bson::document::from_json(R"({"$match": {"n": {"$gt": 1}}})"),
        morm::bson::document::from_json(R"({"$count": "dups"})")};
    auto cur = co_await coll.aggregate(pipeline);
    std::int64_t dups = 0;
    while (auto d = co_await cur.next())
        if (auto it = d->find("dups")) dups = bson_iter_as_int64(&*it);
    co_return std::pair{docs, dups};
}

asio::awaitable<void> drop(const config& cfg) {
    auto e = co_await morm::create_engine(fmt::format("mongodb://{}/{}", cfg.upstream, cfg.db));
    co_await e.client().database(cfg.db)["soak_items"].drop();
}

config parse(int argc, char** argv) {
    config cfg;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--upstream") cfg.upstream = v;
        else if (k == "--db") cfg.db = v;
        else if (k == "--seconds") cfg.seconds = std::stoi(v);
        else if (k == "--workers") cfg.workers = std::stoi(v);
        else if (k == "--batch") cfg.batch = std::stoi(v);
        else if (k == "--cut-ms") cfg.cut_ms = std::stoi(v);
        else if (k == "--pause-ms") cfg.pause_ms = std::stoi(v);
    }
    return cfg;
}

template <class Aw>
auto run_sync(Aw aw) {
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, std::move(aw), asio::use_future);
    ioc.run();
    return f.get();
}

}  // namespace soak

int main(int argc, char** argv) try {
    using namespace soak;
    const config cfg = parse(argc, argv);
    run_sync(drop(cfg));
    const auto colon = cfg.upstream.rfind(':');
    morm_test::fault_proxy proxy(cfg.upstream.substr(0, colon),
                                 static_cast<std::uint16_t>(std::stoi(cfg.upstream.substr(colon + 1))));
    counters c;
    std::vector<long> rss;
    {
        asio::io_context ioc;
        const auto stop = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.seconds);
        // Timeouts short enough that a cut or a restarting server is noticed quickly.
        const std::string uri = fmt::format(
            "mongodb://{}/{}?serverSelectionTimeoutMS=30000&socketTimeoutMS=10000&connectTimeoutMS=2000",
            proxy.host_port(), cfg.db);
        asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
            auto e = co_await morm::create_engine(uri);
            c.running = cfg.workers;
            for (int w = 0; w < cfg.workers; ++w)
                asio::co_spawn(ioc, worker(e, cfg, c, w, stop), asio::detached);
            co_await reporter(cfg, c, proxy, rss, stop);
            // Let the workers finish their last commit (the engine lives in this frame).
            while (c.running.load() > 0) co_await pause(std::chrono::milliseconds(100));
        }, asio::detached);
        ioc.run();
    }
    auto [docs, dups] = run_sync(server_counts(cfg));
    const std::int64_t created = c.created.load(), committed = c.committed.load();
    const std::int64_t lost = committed - docs > 0 ? committed - docs : 0;
    // RSS: mean of the second quarter of the samples against the last quarter (the first
    // quarter is warm-up: pools, caches and allocator arenas filling).
    double early = 0, late = 0;
    const std::size_t q = rss.size() / 4;
    if (q > 0) {
        for (std::size_t i = q; i < 2 * q; ++i) early += static_cast<double>(rss[i]);
        for (std::size_t i = rss.size() - q; i < rss.size(); ++i) late += static_cast<double>(rss[i]);
        early /= static_cast<double>(q);
        late /= static_cast<double>(q);
    }
    const bool rss_flat = q == 0 || late <= early * 1.10 + 2048;
    fmt::print("soak: {} s, {} workers: created {}, committed {}, on the server {}, lost {}, duplicated {}, "
               "unfinished {}, failed commits {}, reads {} (errors {}, misses {}), cuts {}\n",
               cfg.seconds, cfg.workers, created, committed, docs, lost, dups, created - committed,
               c.failed_commits.load(), c.reads.load(), c.read_errors.load(), c.read_misses.load(), c.cuts.load());
    fmt::print("soak: RSS (KiB) second quarter mean {:.0f}, last quarter mean {:.0f}: {}\n", early, late,
               rss_flat ? "flat" : "GROWING");
    const bool ok = lost == 0 && dups == 0 && docs == committed && created == committed && c.read_misses == 0 && rss_flat;
    fmt::print("soak: {}\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
} catch (const std::exception& e) {
    fmt::print(stderr, "soak: {}\n", e.what());
    return 2;
}
