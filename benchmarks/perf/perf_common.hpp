// Shared helpers of the performance programs (sink, pipeline, concurrency, memory):
// command-line flags, timing, statistics and the JSON-lines output run.sh collects.
//
// Every program prints ONLY JSON lines on stdout, one per (task, impl):
//   {"suite":"...","task":"...","impl":"...","unit":"...","median":N,"min":N,"max":N,"n":N,"note":"..."}
// plus optional extra numeric fields (p50/p99/p999, cpu_ns_per_doc, ...). Human output
// goes to stderr.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace morm_bench {

struct args {
    std::string uri;  ///< server URI (--uri, else MORM_TEST_URI)
    bool smoke = false;
    int reps = 0;          ///< --reps N overrides the program's default repetitions
    long long count = 0;   ///< --count N overrides the main document/operation count
    int threads = 0;       ///< --threads N: threads running the io_context (where supported)
    int pool = 0;          ///< --pool N: one maxPoolSize instead of the program's sweep

    static args parse(int argc, char** argv) {
        args a;
        for (int i = 1; i < argc; ++i) {
            std::string_view s = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) {
                    fmt::print(stderr, "missing value after {}\n", s);
                    std::exit(2);
                }
                return argv[++i];
            };
            if (s == "--uri") a.uri = next();
            else if (s == "--smoke") a.smoke = true;
            else if (s == "--reps") a.reps = std::atoi(next().c_str());
            else if (s == "--count") a.count = std::atoll(next().c_str());
            else if (s == "--threads") a.threads = std::atoi(next().c_str());
            else if (s == "--pool") a.pool = std::atoi(next().c_str());
            else {
                fmt::print(stderr, "usage: {} [--uri URI] [--smoke] [--reps N] [--count N] [--threads N] [--pool N]\n", argv[0]);
                std::exit(2);
            }
        }
        if (a.uri.empty())
            if (const char* u = std::getenv("MORM_TEST_URI"); u && *u) a.uri = u;
        return a;
    }
};

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
/// CPU time of the calling thread: excludes the in-process sink server's thread.
inline double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct summary {
    double median = 0, min = 0, max = 0;
    std::size_t n = 0;
};

/// Percentile by nearest rank on a sorted copy.
inline double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}
/// Percentile of an already sorted vector.
inline double percentile_sorted(const std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

inline summary summarize(std::vector<double> v) {
    summary s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return s;
}

inline std::string json_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\t': o += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) o += fmt::format("\\u{:04x}", c);
                else o += c;
        }
    }
    return o;
}

using extra_fields = std::initializer_list<std::pair<const char*, double>>;

/// Prints one result line on stdout (and flushes: forked children print too).
inline void emit(std::string_view suite, std::string_view task, std::string_view impl, std::string_view unit,
                 const summary& s, std::string_view note = {}, extra_fields extra = {}) {
    std::string line = fmt::format(R"({{"suite":"{}","task":"{}","impl":"{}","unit":"{}","median":{:.6g},"min":{:.6g},"max":{:.6g},"n":{})",
                                   json_escape(suite), json_escape(task), json_escape(impl), json_escape(unit),
                                   s.median, s.min, s.max, s.n);
    for (auto& [k, v] : extra) line += fmt::format(R"(,"{}":{:.6g})", k, v);
    line += fmt::format(R"(,"note":"{}"}})", json_escape(note));
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
}

/// Human progress to stderr.
template <class... A>
void log(fmt::format_string<A...> f, A&&... a) {
    fmt::print(stderr, f, std::forward<A>(a)...);
    std::fputc('\n', stderr);
}

}  // namespace morm_bench
