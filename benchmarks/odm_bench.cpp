// ODM suite, morm side (the peers: mongoc_bench.c, python/odm_bench.py, node/odm_bench.js run
// the same tasks, same counts, same data against the same server; see README.md).
//
//   create  session.add() of every object, ONE commit (the session splits it by
//           maxWriteBatchSize / maxMessageSizeBytes and pipelines the batches)
//   update  objects loaded through a session before the clock starts; timed: change one field
//           of each, ONE commit (sends {$set: {that field}} per object, pipelined)
//   find    a fresh session; one session.get<T>(id) / query().filter(...).first() per object,
//           sequentially (each is a round trip), materialised as a tracked model
// Usage: odm_bench --uri URI [--smoke] [--scale F] [--data DIR]   (one iteration a run)
#include "bench_util.hpp"
#include "common/spec_models.hpp"

#include <morm/morm.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>

namespace asio = boost::asio;
namespace sm = morm::spec_models;
using morm::bson::document;

namespace {

// Spec counts; large documents (about 2.4 MB of BSON each) are scaled down on purpose.
constexpr int spec_small = 10000, spec_large = 10000, spec_nested = 10000;
constexpr double update_bytes = 13;  // the ODM spec scores an update by the ~13 B it changes
// FerretDB 1.24 (SQLite) never answers an update command of 100 or more statements, so every
// implementation sends updates in batches of 50. morm the way its documentation says: change
// the objects, commit once; the engine that updates caps commands at 50 statements
// (engine_options::max_write_batch) and the commit pipelines them.
constexpr std::size_t update_chunk = 50;

template <class T>
T load_model(const bench::args& a, const char* rel) {
    document d = document::from_json(bench::read_file(a.data + "/" + rel));
    T obj{};
    morm::diagnostics diag;
    if (auto ec = morm::codec::decode(d.view(), obj, &diag)) throw morm::error(ec, diag);
    return obj;
}

/// A key of exactly 8 characters, so documents keep the size of the source.
std::string key8(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%07d", i);
    return buf;
}

struct reporter {
    const bench::args& a;
    void report(const char* task, double mb, double seconds, std::string note) const {
        bench::series s;
        s.suite = "odm";
        s.task = task;
        s.impl = "morm";
        s.unit = "MB/s";
        s.amount = mb;
        s.note = std::move(note);
        s.add_seconds(seconds);
        s.print();
    }
};

double since(bench::clock::time_point t0) { return std::chrono::duration<double>(bench::clock::now() - t0).count(); }

std::string count_note(const bench::args& a, int n, int spec, const char* extra = "") {
    std::string s;
    if (!a.smoke && n != spec) s = "scaled: " + std::to_string(n) + " ops (spec " + std::to_string(spec) + ")";
    if (*extra) s += (s.empty() ? "" : "; ") + std::string(extra);
    return s;
}

template <class T>
asio::awaitable<std::vector<morm::bson::object_id>> create_task(const reporter& r, const morm::engine& eng,
                                                                const char* task, const std::vector<T>& objs,
                                                                double doc_bytes, std::string note) {
    morm::session_options opts;
    opts.keep_committed = false;
    morm::session s{eng, opts};
    std::vector<morm::bson::object_id> ids;
    ids.reserve(objs.size());
    auto t0 = bench::clock::now();
    for (const auto& o : objs) ids.push_back(s.add(o)->id);
    co_await s.commit();
    r.report(task, doc_bytes * objs.size() / 1e6, since(t0), std::move(note));
    co_return ids;
}

template <class T, class Mutate>
asio::awaitable<void> update_task(const reporter& r, const morm::engine& eng, const char* task, Mutate mutate,
                                  std::string note) {
    morm::session s{eng};
    auto objs = co_await s.query<T>().all();  // loaded (and tracked) before the clock starts
    auto t0 = bench::clock::now();
    for (auto& o : objs) mutate(*o);
    auto res = co_await s.commit();
    const std::size_t updated = res.updated;
    double secs = since(t0);
    if (updated != objs.size())
        throw std::runtime_error(std::string(task) + ": updated " + std::to_string(updated) + " of " +
                                 std::to_string(objs.size()));
    r.report(task, update_bytes * objs.size() / 1e6, secs, std::move(note));
}

asio::awaitable<void> run(bench::args a) {
    morm::engine_options eo;
    eo.database = "bench_odm_morm";
    std::string uri = a.uri;
    morm::engine_options upd_opts = eo;
    upd_opts.max_write_batch = update_chunk;
    auto eng = co_await morm::create_engine(uri, std::move(eo));
    auto upd = co_await morm::create_engine(uri, std::move(upd_opts));
    eng.register_model<sm::odm_small_doc>();
    eng.register_model<sm::odm_large_doc>();
    eng.register_model<sm::odm_nested_doc>();
    co_await eng.drop_all();
    reporter r{a};

    const int n_small = a.count(spec_small, 20), n_large = a.count(spec_large / 1000, 2),
              n_nested = a.count(spec_nested, 20);

    // ---- flat small ----
    {
        auto tmpl = load_model<sm::odm_small_doc>(a, "odm/small_doc.json");
        const double bytes = static_cast<double>(morm::codec::encode(tmpl).size());
        std::vector<sm::odm_small_doc> objs(static_cast<std::size_t>(n_small), tmpl);
        auto note = count_note(a, n_small, spec_small);
        auto ids = co_await create_task(r, eng, "flat small: create", objs, bytes, note);
        co_await update_task<sm::odm_small_doc>(
            r, upd, "flat small: update", [](sm::odm_small_doc& d) { d.field1 = "UPDATEDx"; }, note);
        morm::session s{eng};
        auto t0 = bench::clock::now();
        for (const auto& id : ids) {
            auto p = co_await s.get<sm::odm_small_doc>(id);
            if (!p) throw std::runtime_error("find by id: missing document");
        }
        r.report("flat small: find by id", bytes * ids.size() / 1e6, since(t0), note);
    }
    // ---- flat large ----
    {
        auto tmpl = load_model<sm::odm_large_doc>(a, "odm/large_doc.json");
        const double bytes = static_cast<double>(morm::codec::encode(tmpl).size());
        std::vector<sm::odm_large_doc> objs(static_cast<std::size_t>(n_large), tmpl);
        auto note = count_note(a, n_large, spec_large, "2.4 MB documents");
        co_await create_task(r, eng, "flat large: create", objs, bytes, note);
        co_await update_task<sm::odm_large_doc>(
            r, upd, "flat large: update", [](sm::odm_large_doc& d) { d.field1 = "UPDATEDx"; }, note);
    }
    // ---- nested ----
    {
        auto tmpl = load_model<sm::odm_nested_doc>(a, "odm/large_doc_nested.json");
        const double bytes = static_cast<double>(morm::codec::encode(tmpl).size());
        auto coll = eng.collection<sm::odm_nested_doc>();
        // Indexes for the two find tasks (every peer creates the same ones, untimed).
        document k1 = document::from_json(R"({"embedded_str_doc_1.field1": 1})");
        document k2 = document::from_json(R"({"embedded_str_doc_array.field1": 1})");
        co_await coll.create_index(k1);
        co_await coll.create_index(k2);
        std::vector<sm::odm_nested_doc> objs(static_cast<std::size_t>(n_nested), tmpl);
        for (int i = 0; i < n_nested; ++i) {
            // unique, same-length keys so that each find matches exactly one document
            objs[i].embedded_str_doc_1.field1 = key8(i);
            objs[i].embedded_str_doc_array.at(0).field1 = key8(i);
        }
        auto note = count_note(a, n_nested, spec_nested);
        // FerretDB (SQLite) scans the collection for these filters: capped at 50 finds.
        const int n_nested_finds = std::min(n_nested, 50);
        auto find_note = count_note(a, n_nested_finds, spec_nested, "finds capped at 50: FerretDB scans");
        co_await create_task(r, eng, "nested: create", objs, bytes, note);
        co_await update_task<sm::odm_nested_doc>(
            r, upd, "nested: update nested field",
            [](sm::odm_nested_doc& d) { d.embedded_str_doc_2.field1 = "UPDATEDx"; }, note);
        {
            morm::session s{eng};
            auto t0 = bench::clock::now();
            for (int i = 0; i < n_nested_finds; ++i) {
                auto f = morm::field(&sm::odm_nested_doc::embedded_str_doc_1, &sm::odm_embedded_str_doc::field1) ==
                         key8(i);
                auto p = co_await s.query<sm::odm_nested_doc>().filter(f).first();
                if (!p) throw std::runtime_error("find by nested field: missing document");
            }
            r.report("nested: find by nested field", bytes * n_nested_finds / 1e6, since(t0), find_note);
        }
        {
            morm::session s{eng};
            auto t0 = bench::clock::now();
            for (int i = 0; i < n_nested_finds; ++i) {
                document f;
                auto k = key8(i);
                bson_append_utf8(f.get(), "embedded_str_doc_array.field1", -1, k.data(), static_cast<int>(k.size()));
                auto p = co_await s.query<sm::odm_nested_doc>().filter(f).first();
                if (!p) throw std::runtime_error("find by array element: missing document");
            }
            r.report("nested: find by array element", bytes * n_nested_finds / 1e6, since(t0), find_note);
        }
    }
    co_await eng.drop_all();
}

}  // namespace

int main(int argc, char** argv) try {
    auto a = bench::args::parse(argc, argv);
    if (a.uri.empty()) throw std::invalid_argument("no server: pass --uri or set MORM_BENCH_URI");
    std::fprintf(stderr, "odm_bench: %s data in %s\n", a.data_set(), a.data.c_str());
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, run(a), asio::use_future);
    ioc.run();
    fut.get();
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "odm_bench: %s\n", e.what());
    return 1;
}
