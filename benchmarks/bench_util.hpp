// Shared helpers of the benchmark programs: argument parsing, data files, timing and the
// JSON-lines result format that benchmarks/run.sh collects:
//   {"suite":..,"task":..,"impl":..,"unit":..,"median":..,"min":..,"max":..,"n":..,"note":..}
// Results go to stdout (one JSON line each); everything for humans goes to stderr.
#pragma once

#include "common/data_dirs.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct args {
    std::string uri;   ///< --uri, else MORM_BENCH_URI / MORM_TEST_URI
    std::string data;  ///< --data DIR, else $MORM_DATA_DIR (official data), else the generated data
    bool smoke = false;
    int iterations = 5;  ///< --iterations N
    double scale = 1.0;  ///< --scale F: multiplies operation counts (spec counts = 1.0)

    static args parse(int argc, char** argv) {
        args a;
        if (const char* u = std::getenv("MORM_BENCH_URI"); u && *u) a.uri = u;
        else if (const char* t = std::getenv("MORM_TEST_URI"); t && *t) a.uri = t;
        a.data = morm_data::preferred_dir();
        for (int i = 1; i < argc; ++i) {
            std::string_view s = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(std::string(s) + " needs a value");
                return argv[++i];
            };
            if (s == "--uri") a.uri = next();
            else if (s == "--data") a.data = next();
            else if (s == "--smoke") a.smoke = true;
            else if (s == "--iterations") a.iterations = std::stoi(next());
            else if (s == "--scale") a.scale = std::stod(next());
            else throw std::invalid_argument("unknown argument " + std::string(s));
        }
        if (a.smoke) a.iterations = 1;
        return a;
    }
    /// "official" or "generated": which data set `data` holds, for the output.
    const char* data_set() const { return morm_data::data_set_name(data); }
    /// An operation count: `spec` scaled, at least 1; tiny under --smoke.
    int count(int spec, int smoke_count = 10) const {
        if (smoke) return std::min(spec, smoke_count);
        return std::max(1, static_cast<int>(spec * scale));
    }
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

using clock = std::chrono::steady_clock;

/// Seconds taken by f().
template <class F>
double time_s(F&& f) {
    auto t0 = clock::now();
    f();
    return std::chrono::duration<double>(clock::now() - t0).count();
}

inline std::string json_escape(std::string_view s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') { o += '\\'; o += c; }
        else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
        else o += c;
    }
    return o;
}

/// Samples of one (task, impl): converted to a rate (`amount / seconds`) when reported.
struct series {
    std::string suite, task, impl, unit, note;
    double amount = 0;  ///< e.g. megabytes per iteration
    std::vector<double> rates;

    void add_seconds(double s) { rates.push_back(s > 0 ? amount / s : 0); }

    void print() const {
        if (rates.empty()) return;
        auto v = rates;
        std::sort(v.begin(), v.end());
        double med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
        std::printf(
            "{\"suite\":\"%s\",\"task\":\"%s\",\"impl\":\"%s\",\"unit\":\"%s\",\"median\":%.6g,\"min\":%.6g,"
            "\"max\":%.6g,\"n\":%zu,\"note\":\"%s\"}\n",
            json_escape(suite).c_str(), json_escape(task).c_str(), json_escape(impl).c_str(), json_escape(unit).c_str(),
            med, v.front(), v.back(), v.size(), json_escape(note).c_str());
        std::fflush(stdout);
        std::fprintf(stderr, "  %-8s %-34s %-12s %10.2f %s (min %.2f max %.2f, n=%zu)\n", suite.c_str(), task.c_str(),
                     impl.c_str(), med, unit.c_str(), v.front(), v.back(), v.size());
    }
};

}  // namespace bench
