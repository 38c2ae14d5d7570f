// Memory: peak RSS of reading N small documents (default 100,000) with query.stream()
// vs query.all(), and of committing N new objects (keep_committed on, the default, and
// off). Each measurement runs in its own forked process so peaks never mix; the sink
// server (canned find batches of <= 1,000 documents, acknowledges writes) runs in the
// parent, so its buffers are not counted. In the child the peak (VmHWM) is reset through
// /proc/self/clear_refs after setup; reported are the peak RSS in MiB (median of reps)
// and "delta_mib": peak minus the RSS before the work.
#include "perf/bench_io.hpp"
#include "perf/sink_server.hpp"

#include <fcntl.h>
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

enum class mode { stream, all, commit_keep, commit_no_keep };

/// Runs in the child: returns {baseline MiB, peak MiB}.
std::pair<double, double> measure(mode m, const std::string& uri, std::size_t n) {
    const auto tmpl = small_doc_model();
    asio::io_context ioc;
    morm::engine engine = run_coro(ioc, [&]() -> asio::awaitable<morm::engine> {
        co_return co_await morm::create_engine(uri);
    });
    // Warm the pool and the coroutine machinery before the baseline.
    run_coro(ioc, [&]() -> asio::awaitable<void> { co_await engine.database().run_command(morm::bson::document::from_json(R"({"ping": 1})")); });
    reset_peak();
    double base = status_kib("VmRSS:") / 1024.0;
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
                break;
            }
        }
    });
    double peak = status_kib("VmHWM:") / 1024.0;
    if (got != n) {
        log("memory_bench: child processed {} of {} documents", got, n);
        ::_exit(3);
    }
    return {base, peak};
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
    std::vector<double> peak[4], delta[4];
    for (int rep = 0; rep < reps; ++rep) {
        for (int v = 0; v < 4; ++v) {
            int fds[2];
            if (::pipe(fds) != 0) return 1;
            pid_t pid = ::fork();
            if (pid < 0) return 1;
            if (pid == 0) {
                ::close(fds[0]);
                int rc = 0;
                double out[2] = {0, 0};
                try {
                    auto [b, p] = measure(variants[v].m, uri, n);
                    out[0] = b;
                    out[1] = p;
                } catch (const std::exception& e) {
                    log("memory_bench: {}: {}", variants[v].task, e.what());
                    rc = 2;
                }
                [[maybe_unused]] auto w = ::write(fds[1], out, sizeof out);
                // _exit: the sink's thread belongs to the parent; its destructor must not run here.
                ::_exit(rc);
            }
            ::close(fds[1]);
            double in[2] = {0, 0};
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
            log("  rep {} {}: baseline {:.1f} MiB, peak {:.1f} MiB (+{:.1f})", rep, variants[v].task, in[0], in[1],
                in[1] - in[0]);
        }
    }
    for (int v = 0; v < 4; ++v) {
        auto d = summarize(delta[v]);
        emit("memory", variants[v].task, "morm", "MiB", summarize(peak[v]),
             fmt::format("peak RSS (VmHWM) of a forked child, N={} odm small docs, in-process sink in the parent{}", n,
                         a.smoke ? "; SMOKE counts" : ""),
             {{"delta_mib", d.median}, {"delta_mib_min", d.min}, {"delta_mib_max", d.max}});
    }
    return 0;
}
