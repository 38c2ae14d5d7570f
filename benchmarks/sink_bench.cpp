// Client overhead against an in-process OP_MSG sink (benchmarks/perf/sink_server.hpp):
// the server costs (almost) nothing, so what is measured is the client's own work per
// document — encoding, framing, syscalls, reply parsing.
//
// Peers, interleaved rep by rep against the same sink:
//   morm.session      session.add() x N + commit()   (odm/small_doc model, keep_committed=false)
//   morm.insert_many  collection::insert_many of N prebuilt BSON documents (unordered)
//   libmongoc         mongoc_bulk_operation_insert x N + execute (unordered), same pre-encoded documents
//   libmongoc.mapped  the same, each document built from the struct by a hand-written mapping
//   raw               the same pre-encoded OP_MSG bytes written to a socket, replies read:
//                     the physical limit of this socket + sink
// The sink runs on its own thread; "cpu_ns_per_doc" is the client thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID) divided by N, so the sink's work is excluded.
// Targets (reported, not asserted): morm >= 1.5x libmongoc docs/s, within 2x of raw.
// MORM_SINK_ONLY=<impl> runs that peer alone and emits nothing (for profiling, e.g.
// MORM_SINK_ONLY=morm.session valgrind --tool=callgrind sink_bench --count 20000 --reps 1).
#include "perf/perf_common.hpp"
#include "perf/sink_server.hpp"

#include <common/data_dirs.hpp>
#include <common/spec_models.hpp>
#include <morm/morm.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>

#include <mongoc/mongoc.h>

#include <fstream>
#include <map>
#include <sstream>

namespace asio = boost::asio;
using namespace morm_bench;
using morm::spec_models::odm_small_doc;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

template <class F>
auto run_coro(asio::io_context& ioc, F&& f) {
    auto fut = asio::co_spawn(ioc, std::forward<F>(f)(), asio::use_future);
    ioc.restart();
    ioc.run();
    return fut.get();
}

struct sample {
    double secs = 0;
    double cpu = 0;
};

struct results {
    std::map<std::string, std::vector<double>> rate, cpu_per_doc;
    void add(const std::string& impl, const sample& s, std::size_t n) {
        rate[impl].push_back(static_cast<double>(n) / s.secs);
        cpu_per_doc[impl].push_back(s.cpu * 1e9 / static_cast<double>(n));
    }
};

void check_sink(sink_server& sink, std::size_t n, const char* who) {
    if (sink.items_received() != n) {
        log("sink_bench: {} delivered {} of {} documents to the sink", who, sink.items_received(), n);
        std::exit(1);
    }
    sink.reset_counters();
}

}  // namespace

int main(int argc, char** argv) {
    auto a = args::parse(argc, argv);
    const std::size_t n = a.count ? static_cast<std::size_t>(a.count) : a.smoke ? 1000 : 100'000;
    const int reps = a.reps ? a.reps : a.smoke ? 1 : 7;

    const std::string data = morm_data::preferred_dir();
    const std::string json = read_file(data + "/odm/small_doc.json");
    const auto tmpl_doc = morm::bson::document::from_json(json);
    odm_small_doc tmpl;
    if (auto ec = morm::codec::decode(tmpl_doc.view(), tmpl)) {
        log("sink_bench: cannot decode small_doc.json: {}", ec.message());
        return 1;
    }

    sink_server sink(json);
    const std::string uri = sink.uri("bench");
    log("sink_bench: sink on port {} (own thread), N={} small documents ({} B, {} data), {} reps", sink.port(), n,
        tmpl_doc.size(), morm_data::data_set_name(data), reps);

    // Prebuilt documents (no _id: both drivers generate it) for insert_many and libmongoc.
    std::vector<morm::bson::document> docs(n);
    for (auto& d : docs) d.assign(tmpl_doc.view());

    // The raw limit: the insert command morm would send, pre-encoded with _ids, split by
    // maxWriteBatchSize (100,000) and maxMessageSizeBytes (48 MB).
    morm::wire::frame_buffer raw_frames;
    std::size_t raw_frame_count = 0;
    {
        std::int32_t rid = 0;
        std::size_t i = 0;
        while (i < n) {
            morm::wire::op_msg_writer w(raw_frames, ++rid);
            bson_t* body = w.begin_body();
            BSON_APPEND_UTF8(body, "insert", "odm_small_doc");
            BSON_APPEND_BOOL(body, "ordered", false);
            BSON_APPEND_UTF8(body, "$db", "bench");
            w.end_body();
            w.begin_sequence("documents");
            std::size_t in_frame = 0;
            while (i < n && in_frame < 100'000 && w.size() + 2 * tmpl_doc.size() < 48'000'000) {
                bson_t* d = w.begin_document();
                bson_oid_t oid;
                bson_oid_init(&oid, nullptr);
                BSON_APPEND_OID(d, "_id", &oid);
                bson_concat(d, tmpl_doc.get());
                w.end_document();
                ++i;
                ++in_frame;
            }
            w.end_sequence();
            w.finish();
            ++raw_frame_count;
        }
    }

    asio::io_context ioc;
    morm::engine engine = run_coro(ioc, [&]() -> asio::awaitable<morm::engine> {
        co_return co_await morm::create_engine(uri);
    });
    auto coll = engine.collection<odm_small_doc>();

    mongoc_init();
    mongoc_client_t* mc = mongoc_client_new(uri.c_str());
    if (!mc) {
        log("sink_bench: mongoc_client_new failed");
        return 1;
    }
    mongoc_collection_t* mcoll = mongoc_client_get_collection(mc, "bench", "odm_small_doc");
    bson_t* unordered = BCON_NEW("ordered", BCON_BOOL(false));

    asio::ip::tcp::socket raw_sock(ioc);
    asio::connect(raw_sock, std::vector{asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), sink.port())});
    raw_sock.set_option(asio::ip::tcp::no_delay(true));
    std::vector<std::uint8_t> raw_in(1 << 16);

    auto timed = [](auto&& fn) {
        sample s;
        double c0 = thread_cpu_s(), t0 = now_s();
        fn();
        s.secs = now_s() - t0;
        s.cpu = thread_cpu_s() - c0;
        return s;
    };

    auto execute_bulk = [](mongoc_bulk_operation_t* bulk) {
        bson_t reply;
        bson_error_t err;
        if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) {
            log("sink_bench: libmongoc bulk failed: {}", err.message);
            std::exit(1);
        }
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
    };

    const char* only_env = std::getenv("MORM_SINK_ONLY");
    const std::string only = only_env ? only_env : "";
    // Times `fn` as peer `impl` (unless another one runs alone) and checks what the sink got.
    auto run_peer = [&](const char* impl, auto&& fn) {
        sample s;
        if (!only.empty() && only != impl) return s;
        s = timed(fn);
        check_sink(sink, n, impl);
        return s;
    };

    results res;
    // Rep 0 is a warm-up (connections, buffers, page faults) and is not recorded.
    for (int rep = 0; rep <= reps; ++rep) {
        // Objects exist before the timer starts, as in the libmongoc.mapped peer (which maps
        // pre-built structs); ids are cleared so that both generate them client-side.
        std::vector<std::shared_ptr<odm_small_doc>> session_objs(n);
        for (auto& p : session_objs) p = std::make_shared<odm_small_doc>(tmpl);
        auto s_session = run_peer("morm.session", [&] {
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                morm::session_options so;
                so.keep_committed = false;
                morm::session session(engine, so);
                for (auto& p : session_objs) session.add(p);
                auto r = co_await session.commit();
                if (r.inserted != n) throw std::runtime_error("session commit inserted " + std::to_string(r.inserted));
            });
        });

        auto s_many = run_peer("morm.insert_many", [&] {
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                morm::insert_options io;
                io.ordered = false;
                auto r = co_await coll.insert_many(docs, io);
                if (static_cast<std::size_t>(r.inserted_count) != n) throw std::runtime_error("insert_many count");
            });
        });

        // The C programmer's equivalent of a session commit: hand-written struct -> bson_t
        // mapping per object (with a client-side ObjectId), then the bulk API.
        std::vector<odm_small_doc> objs(n, tmpl);
        auto s_mongoc_mapped = run_peer("libmongoc.mapped", [&] {
            mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(mcoll, unordered);
            for (const auto& o : objs) {
                bson_t b;
                bson_init(&b);
                bson_oid_t oid;
                bson_oid_init(&oid, nullptr);
                BSON_APPEND_OID(&b, "_id", &oid);
                bson_append_utf8(&b, "field1", 6, o.field1.data(), static_cast<int>(o.field1.size()));
                bson_append_utf8(&b, "field2", 6, o.field2.data(), static_cast<int>(o.field2.size()));
                bson_append_utf8(&b, "field3", 6, o.field3.data(), static_cast<int>(o.field3.size()));
                bson_append_utf8(&b, "field4", 6, o.field4.data(), static_cast<int>(o.field4.size()));
                bson_append_utf8(&b, "field5", 6, o.field5.data(), static_cast<int>(o.field5.size()));
                bson_append_utf8(&b, "field6", 6, o.field6.data(), static_cast<int>(o.field6.size()));
                bson_append_utf8(&b, "field7", 6, o.field7.data(), static_cast<int>(o.field7.size()));
                bson_append_int32(&b, "field8", 6, o.field8);
                bson_append_int32(&b, "field9", 6, o.field9);
                bson_append_int32(&b, "field10", 7, o.field10);
                bson_append_int32(&b, "field11", 7, o.field11);
                bson_append_int32(&b, "field12", 7, o.field12);
                bson_append_int32(&b, "field13", 7, o.field13);
                mongoc_bulk_operation_insert(bulk, &b);
                bson_destroy(&b);
            }
            execute_bulk(bulk);
        });

        auto s_mongoc = run_peer("libmongoc", [&] {
            mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(mcoll, unordered);
            for (auto& d : docs) mongoc_bulk_operation_insert(bulk, d.get());
            execute_bulk(bulk);
        });

        auto s_raw = run_peer("raw", [&] {
            asio::write(raw_sock, asio::buffer(raw_frames.data(), raw_frames.size()));
            std::size_t replies = 0;
            std::size_t have = 0;
            while (replies < raw_frame_count) {
                have += raw_sock.read_some(asio::buffer(raw_in.data() + have, raw_in.size() - have));
                std::size_t pos = 0;
                while (have - pos >= 4) {
                    std::int32_t len;
                    std::memcpy(&len, raw_in.data() + pos, 4);
                    if (have - pos < static_cast<std::size_t>(len)) break;
                    pos += static_cast<std::size_t>(len);
                    ++replies;
                }
                std::memmove(raw_in.data(), raw_in.data() + pos, have - pos);
                have -= pos;
            }
        });

        if (rep == 0 || !only.empty()) continue;
        res.add("morm.session", s_session, n);
        res.add("morm.insert_many", s_many, n);
        res.add("libmongoc", s_mongoc, n);
        res.add("libmongoc.mapped", s_mongoc_mapped, n);
        res.add("raw", s_raw, n);
        log("  rep {}: session {:.0f}/s, insert_many {:.0f}/s, libmongoc {:.0f}/s, raw {:.0f}/s", rep,
            n / s_session.secs, n / s_many.secs, n / s_mongoc.secs, n / s_raw.secs);
    }

    if (!only.empty()) return 0;
    const std::string note = fmt::format("in-process sink on its own thread, N={} odm small docs, {} frame(s); "
                                         "cpu = client thread CPU time{}",
                                         n, raw_frame_count, a.smoke ? "; SMOKE counts" : "");
    // Two apples-to-apples comparisons: from typed objects (session commit vs libmongoc
    // with a hand-written struct mapping), and from pre-encoded BSON (insert_many vs
    // libmongoc's bulk insert of the same bson_t documents); the raw bytes bound both.
    struct task_impls {
        const char* task;
        std::vector<const char*> impls;
    };
    const task_impls tasks[] = {{"insert_small_docs from objects", {"morm.session", "libmongoc.mapped", "raw"}},
                                {"insert_small_docs pre-encoded", {"morm.insert_many", "libmongoc", "raw"}}};
    for (const auto& t : tasks) {
        for (const char* impl : t.impls) {
            auto cpu = summarize(res.cpu_per_doc[impl]);
            emit("client_overhead", t.task, impl, "docs/s", summarize(res.rate[impl]), note,
                 {{"cpu_ns_per_doc", cpu.median}, {"cpu_ns_per_doc_min", cpu.min}, {"cpu_ns_per_doc_max", cpu.max}});
        }
    }
    auto med = [&](const char* i) { return summarize(res.rate[i]).median; };
    log("sink_bench: morm.session/libmongoc.mapped = {:.2f}x (target >= 1.5), morm.insert_many/libmongoc = {:.2f}x, "
        "morm.session/raw = {:.2f} (target >= 0.5)",
        med("morm.session") / med("libmongoc.mapped"), med("morm.insert_many") / med("libmongoc"),
        med("morm.session") / med("raw"));

    bson_destroy(unordered);
    mongoc_collection_destroy(mcoll);
    mongoc_client_destroy(mc);
    mongoc_cleanup();
    run_coro(ioc, [&]() -> asio::awaitable<void> { co_await engine.dispose(); });
    return 0;
}
