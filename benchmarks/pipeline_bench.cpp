// Pipelining: N single-document writes as N sequential round trips vs ONE session commit
// of N adds (written back-to-back, replies read after), against the server given by
// --uri (FerretDB in the suite) and against the in-process sink (client + loopback cost
// only). Reps are interleaved so noise hits every variant alike.
//   morm.sequential_insert_one  collection::insert_one in a loop (N round trips)
//   morm.commit_each            session.add + commit per object (N round trips, sink only)
//   morm.pipelined_commit       N x session.add, one commit
// The "speedup" line is pipelined_commit / sequential_insert_one (target >= 10x on the sink).
#include "perf/bench_io.hpp"
#include "perf/sink_server.hpp"

#include <map>

using namespace morm_bench;
using morm::spec_models::odm_small_doc;

namespace {

struct target {
    std::string name;  // "sink" / "server"
    std::string uri;
    bool commit_each = false;
};

}  // namespace

int main(int argc, char** argv) {
    auto a = args::parse(argc, argv);
    const std::size_t n = a.count ? static_cast<std::size_t>(a.count) : a.smoke ? 200 : 10'000;
    const int reps = a.reps ? a.reps : a.smoke ? 1 : 3;
    const auto tmpl = small_doc_model();
    const auto tmpl_doc = morm::bson::document::from_json(small_doc_json());

    sink_server sink(small_doc_json());
    std::vector<target> targets;
    targets.push_back({"sink", sink.uri("bench"), true});
    if (!a.uri.empty()) targets.push_back({"server", a.uri, false});
    else log("pipeline_bench: no --uri / MORM_TEST_URI: sink only");

    asio::io_context ioc;
    for (auto& t : targets) {
        morm::engine_options eo;
        eo.database = unique_db("morm_bench_pipeline");
        morm::engine engine = run_coro(ioc, [&]() -> asio::awaitable<morm::engine> {
            co_return co_await morm::create_engine(t.uri, eo);
        });
        auto coll = engine.collection<odm_small_doc>();
        auto reset = [&] {
            run_coro(ioc, [&]() -> asio::awaitable<void> { co_await coll.drop(); });
        };
        std::map<std::string, std::vector<double>> rate;
        log("pipeline_bench: {} ({}), N={}, {} reps", t.name, t.uri, n, reps);
        for (int rep = 0; rep < reps; ++rep) {
            reset();
            double t0 = now_s();
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                for (std::size_t i = 0; i < n; ++i) co_await coll.insert_one(tmpl_doc);
            });
            double seq = now_s() - t0;
            rate["morm.sequential_insert_one"].push_back(n / seq);

            if (t.commit_each) {
                reset();
                t0 = now_s();
                run_coro(ioc, [&]() -> asio::awaitable<void> {
                    morm::session_options so;
                    so.keep_committed = false;
                    morm::session s(engine, so);
                    for (std::size_t i = 0; i < n; ++i) {
                        s.add(tmpl);
                        co_await s.commit();
                    }
                });
                rate["morm.commit_each"].push_back(n / (now_s() - t0));
            }

            reset();
            std::size_t round_trips = 0;
            t0 = now_s();
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                morm::session_options so;
                so.keep_committed = false;
                morm::session s(engine, so);
                for (std::size_t i = 0; i < n; ++i) s.add(tmpl);
                auto r = co_await s.commit();
                round_trips = r.round_trips;
                if (r.inserted != n) throw std::runtime_error("commit inserted " + std::to_string(r.inserted));
            });
            double pip = now_s() - t0;
            rate["morm.pipelined_commit"].push_back(n / pip);
            log("  rep {}: sequential {:.0f}/s, pipelined {:.0f}/s ({} round trip(s)), x{:.1f}", rep, n / seq, n / pip,
                round_trips, seq / pip);
        }
        if (t.name == "server") {
            auto cnt = run_coro(ioc, [&]() -> asio::awaitable<std::int64_t> {
                co_return co_await coll.count_documents();
            });
            if (static_cast<std::size_t>(cnt) != n) {
                log("pipeline_bench: server holds {} documents after the commit, expected {}", cnt, n);
                return 1;
            }
        }
        reset();
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await engine.database().drop();
            co_await engine.dispose();
        });

        const std::string task = "single_doc_writes_" + t.name;
        const std::string note = fmt::format("N={} odm small docs against {}{}", n,
                                             t.name == "sink" ? "the in-process sink" : "the --uri server",
                                             a.smoke ? "; SMOKE counts" : "");
        for (auto& [impl, v] : rate) emit("pipelining", task, impl, "docs/s", summarize(v), note);
        // Speed-up per rep (pipelined / sequential), median and spread.
        std::vector<double> speedup;
        for (std::size_t i = 0; i < rate["morm.pipelined_commit"].size(); ++i)
            speedup.push_back(rate["morm.pipelined_commit"][i] / rate["morm.sequential_insert_one"][i]);
        emit("pipelining", task, "morm.speedup", "x", summarize(speedup),
             note + "; pipelined_commit / sequential_insert_one" + (t.name == "sink" ? ", target >= 10x" : ""));
    }
    return 0;
}
