// Memory: peak RSS of reading N small documents (default 100,000) with query.stream()
// vs query.all(), and of committing N new objects (keep_committed on, the default, and
// off). Each measurement runs in its own forked process so peaks never mix; the sink
// server (canned find batches of <= 1,000 documents, acknowledges writes) runs in the
// parent, so its buffers are not counted. In the child the peak (VmHWM) is reset through
// /proc/self/clear_refs after setup; reported are the peak RSS in MiB (median of reps)
// and "delta_mib": peak minus the RSS before the work. The commit rows also report
// "bytes_per_object": the heap in use (mallinfo2) with the N committed objects still
// tracked, minus the heap once the session (the only owner of the objects) is gone,
// divided by N: the object itself, its snapshot and the session's bookkeeping, without
// the commit's transient buffers or what the connection keeps (its frame buffer).
#include "perf/bench_io.hpp"
#include "perf/sink_server.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

using namespace morm_bench;
using morm::spec_models::odm_small_doc;

namespace {

double status_kib(const char* key) {
    std::string s = read_text_file("/proc/self/status");
    auto p = s.find(key);
    if (p == std::string::npos) return 0;
    return std::atof(s.c_str() + p + std::strlen(key));
}

void reset_peak() {
    int fd = ::open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
        [[maybe_unused]] auto r = ::write(fd, "5", 1);
        ::close(fd);
    }
}

double heap_in_use() {
    const auto mi = ::mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd);
}

enum class mode { stream, all, commit_keep, commit_no_keep };

struct measured {
    double base_mib = 0, peak_mib = 0, bytes_per_object = 0;
};

/// Runs in the child.
measured measure(mode m, const std::string& uri, std::size_t n) {
    const auto tmpl = small_doc_model();
    asio::io_context ioc;
    morm::engine engine = run_coro(ioc, [&]() -> asio::awaitable<morm::engine> {
        co_return co_await morm::create_engine(uri);
    });
    // Warm the pool and the coroutine machinery before the baseline.
    run_coro(ioc, [&]() -> asio::awaitable<void> { co_await engine.database().run_command(morm::bson::document::from_json(R"({"ping": 1})")); });
    reset_peak();
    double base = status_kib("VmRSS:") / 1024.0;
    double tracked = 0;
    std::size_t got = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        morm::session_options so;
        so.keep_committed = m != mode::commit_no_keep;
        morm::session s(engine, so);
        switch (m) {
            case mode::stream: {
                auto st = co_await s.query<odm_small_doc>().batch_size(1000).stream();
                odm_small_doc obj;
                while (co_await st.next(obj)) ++got;
                break;
            }
            case mode::all: {
                auto v = co_await s.query<odm_small_doc>().all();
                got = v.size();
                break;
            }
            case mode::commit_keep:
            case mode::commit_no_keep: {
                for (std::size_t i = 0; i < n; ++i) s.add(tmpl);
                auto r = co_await s.commit();
                got = r.inserted;
                tracked = heap_in_use();
                break;
            }
        }
    });
    double peak = status_kib("VmHWM:") / 1024.0;
    if (tracked > 0) tracked -= heap_in_use();  // the session and its objects are gone now
    if (got != n) {
        log("memory_bench: child processed {} of {} documents", got, n);
        ::_exit(3);
    }
    return {base, peak, tracked / static_cast<double>(n)};
}

}  // namespace

int main(int argc, char** argv) {
    auto a = args::parse(argc, argv);
    const std::size_t n = a.count ? static_cast<std::size_t>(a.count) : a.smoke ? 2000 : 100'000;
    const int reps = a.reps ? a.reps : a.smoke ? 1 : 3;

    sink_server sink(small_doc_json());
    sink.set_find_total(static_cast<long long>(n));
    const std::string uri = sink.uri("bench");
    std::fflush(stdout);

    struct variant {
        const char* task;
        mode m;
    };
    const variant variants[] = {{"read_stream", mode::stream},
                                {"read_all", mode::all},
                                {"commit", mode::commit_keep},
                                {"commit_keep_committed_false", mode::commit_no_keep}};
    std::vector<double> peak[4], delta[4], per_object[4];
    for (int rep = 0; rep < reps; ++rep) {
        for (int v = 0; v < 4; ++v) {
            int fds[2];
            if (::pipe(fds) != 0) return 1;
            pid_t pid = ::fork();
            if (pid < 0) return 1;
            if (pid == 0) {
                ::close(fds[0]);
                int rc = 0;
                double out[3] = {0, 0, 0};
                try {
                    auto r = measure(variants[v].m, uri, n);
                    out[0] = r.base_mib;
                    out[1] = r.peak_mib;
                    out[2] = r.bytes_per_object;
                } catch (const std::exception& e) {
                    log("memory_bench: {}: {}", variants[v].task, e.what());
                    rc = 2;
                }
                [[maybe_unused]] auto w = ::write(fds[1], out, sizeof out);
                // _exit: the sink's thread belongs to the parent; its destructor must not run here.
                ::_exit(rc);
            }
            ::close(fds[1]);
            double in[3] = {0, 0, 0};
            auto r = ::read(fds[0], in, sizeof in);
            ::close(fds[0]);
            int status = 0;
            ::waitpid(pid, &status, 0);
            if (r != static_cast<ssize_t>(sizeof in) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                log("memory_bench: {} failed (status {})", variants[v].task, status);
                return 1;
            }
            peak[v].push_back(in[1]);
            delta[v].push_back(in[1] - in[0]);
            per_object[v].push_back(in[2]);
            log("  rep {} {}: baseline {:.1f} MiB, peak {:.1f} MiB (+{:.1f}), {:.0f} B per tracked object", rep,
                variants[v].task, in[0], in[1], in[1] - in[0], in[2]);
        }
    }
    for (int v = 0; v < 4; ++v) {
        auto d = summarize(delta[v]);
        const std::string note =
            fmt::format("peak RSS (VmHWM) of a forked child, N={} odm small docs, in-process sink in the parent{}", n,
                        a.smoke ? "; SMOKE counts" : "");
        const double peak_per_object = d.median * 1024 * 1024 / static_cast<double>(n);
        if (variants[v].m == mode::commit_keep || variants[v].m == mode::commit_no_keep)
            emit("memory", variants[v].task, "morm", "MiB", summarize(peak[v]), note,
                 {{"delta_mib", d.median}, {"delta_mib_min", d.min}, {"delta_mib_max", d.max},
                  {"peak_delta_bytes_per_object", peak_per_object},
                  {"bytes_per_object", summarize(per_object[v]).median}});
        else
            emit("memory", variants[v].task, "morm", "MiB", summarize(peak[v]), note,
                 {{"delta_mib", d.median}, {"delta_mib_min", d.min}, {"delta_mib_max", d.max},
                  {"peak_delta_bytes_per_object", peak_per_object}});
    }
    return 0;
}
