// Concurrency: C coroutines (default 10,000) started at once, all sharing ONE engine; each
// does a find-by-id (session.get, a fresh session per coroutine) and then a small insert
// (session.add + commit). Measured for pool sizes 1, 4, 16, 64 (the URI's maxPoolSize), or
// for one pool size with --pool N; the io_context runs on --threads N threads (default 1).
// Reports throughput in operations/s and the latency of each operation (p50/p99/p999, in ms,
// including the wait for a pooled connection). Task names end in _pool{P}, or in _t{N}
// with --pool (the form the Rust and Go peers print: benchmarks/rust, benchmarks/go).
// Against --uri (FerretDB or the instant server in the suites); without one, the in-process sink.
#include "perf/bench_io.hpp"
#include "perf/sink_server.hpp"

#include <boost/asio/detached.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

using namespace morm_bench;
using morm::spec_models::odm_small_doc;

int main(int argc, char** argv) {
    auto a = args::parse(argc, argv);
    const std::size_t c = a.count ? static_cast<std::size_t>(a.count) : a.smoke ? 200 : 10'000;
    const int reps = a.reps ? a.reps : 1;  // FerretDB: ~20-90 s per pool size at C=10,000
    const std::size_t seeded = std::min<std::size_t>(c, 1000);
    const auto tmpl = small_doc_model();

    std::unique_ptr<sink_server> sink;
    std::string uri = a.uri, where = "the --uri server";
    if (uri.empty()) {
        sink = std::make_unique<sink_server>(small_doc_json());
        sink->set_find_total(1);
        uri = sink->uri("bench");
        where = "the in-process sink (no --uri)";
        log("concurrency_bench: no --uri / MORM_TEST_URI: using the sink");
    }

    const int threads = std::max(1, a.threads);
    std::vector<int> pools = {1, 4, 16, 64};
    if (a.pool > 0) pools = {a.pool};
    asio::io_context ioc(threads);
    for (int pool : pools) {
        morm::engine_options eo;
        eo.database = unique_db("morm_bench_conc");
        const std::string puri = with_option(uri, "maxPoolSize=" + std::to_string(pool));
        morm::engine engine = run_coro(ioc, [&]() -> asio::awaitable<morm::engine> {
            co_return co_await morm::create_engine(puri, eo);
        });
        // Seed documents to find, ids kept.
        std::vector<morm::bson::object_id> ids;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await engine.collection<odm_small_doc>().drop();
            morm::session s(engine);
            for (std::size_t i = 0; i < seeded; ++i) ids.push_back(s.add(tmpl)->id);
            co_await s.commit();
        });

        std::vector<double> rates, find_ms, insert_ms;
        std::atomic<std::size_t> failures = 0, not_found = 0;
        for (int rep = 0; rep < reps; ++rep) {
            std::vector<double> f_lat, i_lat;
            f_lat.reserve(c);
            i_lat.reserve(c);
            std::mutex lat_mutex;  // only contended with --threads > 1
            auto record = [&](std::vector<double>& v, double ms) {
                std::lock_guard lock(lat_mutex);
                v.push_back(ms);
            };
            auto one = [&](std::size_t i) -> asio::awaitable<void> {
                try {
                    morm::session s(engine);
                    double t0 = now_s();
                    auto obj = co_await s.get<odm_small_doc>(ids[i % ids.size()]);
                    double t1 = now_s();
                    record(f_lat, (t1 - t0) * 1e3);
                    if (!obj) ++not_found;
                    s.add(tmpl);
                    co_await s.commit();
                    record(i_lat, (now_s() - t1) * 1e3);
                } catch (const std::exception& e) {
                    if (failures++ == 0) log("concurrency_bench: first failure: {}", e.what());
                }
            };
            double t0 = now_s();
            for (std::size_t i = 0; i < c; ++i) asio::co_spawn(ioc, one(i), asio::detached);
            ioc.restart();
            std::vector<std::thread> extra;
            for (int t = 1; t < threads; ++t) extra.emplace_back([&] { ioc.run(); });
            ioc.run();
            for (auto& t : extra) t.join();
            double wall = now_s() - t0;
            rates.push_back(static_cast<double>(f_lat.size() + i_lat.size()) / wall);
            find_ms.insert(find_ms.end(), f_lat.begin(), f_lat.end());
            insert_ms.insert(insert_ms.end(), i_lat.begin(), i_lat.end());
            log("  pool {} rep {}: {} coroutines in {:.2f} s, {:.0f} ops/s, find p50 {:.2f} ms, insert p50 {:.2f} ms", pool,
                rep, c, wall, rates.back(), percentile(f_lat, 50), percentile(i_lat, 50));
        }
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await engine.database().drop();
            co_await engine.dispose();
        });
        if (failures || not_found) {
            log("concurrency_bench: pool {}: {} coroutines failed, {} finds missed", pool, failures.load(),
                not_found.load());
            return 1;
        }

        const std::string note = fmt::format("{} concurrent coroutines (find-by-id + insert each), one engine, "
                                             "maxPoolSize={}, {} thread(s), against {}{}",
                                             c, pool, threads, where, a.smoke ? "; SMOKE counts" : "");
        const std::string suffix = a.pool > 0 ? "_t" + std::to_string(threads) : "_pool" + std::to_string(pool);
        emit("concurrency", "find_insert" + suffix, "morm", "ops/s", summarize(rates), note);
        for (auto* lat : {&find_ms, &insert_ms}) {
            std::sort(lat->begin(), lat->end());
            auto s = summarize(*lat);
            s.median = percentile_sorted(*lat, 50);
            emit("concurrency", (lat == &find_ms ? "find_by_id_latency" : "insert_latency") + suffix, "morm", "ms", s,
                 note,
                 {{"p50", percentile_sorted(*lat, 50)},
                  {"p99", percentile_sorted(*lat, 99)},
                  {"p999", percentile_sorted(*lat, 99.9)}});
        }
    }
    return 0;
}
