// The server-selection spec tests (server-selection/tests, format in its README.md and in
// docs/server-selection-tests.md): server_selection/ (suitable servers and latency window),
// rtt/ (the RTT average), in_window/ (operationCount-based choice); logging/ is skipped.
#include "runner.hpp"

#include <morm/topology/selection.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace morm_spec {
namespace {

namespace t = morm::topology;

// A malformed or unexpected test file: reported as a failure, never silently passed.
struct bad_file {
    std::string what;
};

std::string_view key_of(const bson_iter_t& it) { return {bson_iter_key(&it), bson_iter_key_len(&it)}; }

bool find(const bson_t* doc, const char* key, bson_iter_t& it) { return bson_iter_init_find(&it, doc, key); }

std::optional<double> number(const bson_iter_t& it) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE: return bson_iter_as_double(&it);
        default: return std::nullopt;
    }
}

std::string string_of(const bson_iter_t& it, std::string_view what) {
    if (!BSON_ITER_HOLDS_UTF8(&it)) throw bad_file{std::string(what) + " is not a string"};
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return {s, len};
}

// Calls f(child) for each element of the array or document at `it`.
template <class F>
void each(const bson_iter_t& it, std::string_view what, F&& f) {
    bson_iter_t child;
    if ((!BSON_ITER_HOLDS_ARRAY(&it) && !BSON_ITER_HOLDS_DOCUMENT(&it)) || !bson_iter_recurse(&it, &child))
        throw bad_file{std::string(what) + " is not an array or a document"};
    while (bson_iter_next(&child)) f(child);
}

t::server_type server_type_of(const std::string& s) {
    static const std::map<std::string, t::server_type, std::less<>> names = {
        {"Unknown", t::server_type::unknown},           {"Standalone", t::server_type::standalone},
        {"Mongos", t::server_type::mongos},             {"PossiblePrimary", t::server_type::possible_primary},
        {"RSPrimary", t::server_type::rs_primary},      {"RSSecondary", t::server_type::rs_secondary},
        {"RSArbiter", t::server_type::rs_arbiter},      {"RSOther", t::server_type::rs_other},
        {"RSGhost", t::server_type::rs_ghost},          {"LoadBalancer", t::server_type::load_balancer},
    };
    auto it = names.find(s);
    if (it == names.end()) throw bad_file{"unknown server type " + s};
    return it->second;
}

t::topology_type topology_type_of(const std::string& s) {
    static const std::map<std::string, t::topology_type, std::less<>> names = {
        {"Unknown", t::topology_type::unknown},
        {"Single", t::topology_type::single},
        {"ReplicaSetNoPrimary", t::topology_type::replica_set_no_primary},
        {"ReplicaSetWithPrimary", t::topology_type::replica_set_with_primary},
        {"Sharded", t::topology_type::sharded},
        {"LoadBalanced", t::topology_type::load_balanced},
    };
    auto it = names.find(s);
    if (it == names.end()) throw bad_file{"unknown topology type " + s};
    return it->second;
}

morm::read_mode read_mode_of(const std::string& s) {
    static const std::map<std::string, morm::read_mode, std::less<>> names = {
        {"Primary", morm::read_mode::primary},
        {"PrimaryPreferred", morm::read_mode::primary_preferred},
        {"Secondary", morm::read_mode::secondary},
        {"SecondaryPreferred", morm::read_mode::secondary_preferred},
        {"Nearest", morm::read_mode::nearest},
    };
    auto it = names.find(s);
    if (it == names.end()) throw bad_file{"unknown read preference mode " + s};
    return it->second;
}

// One server of a test's topology (also the entries of suitable_servers and friends).
t::server_description server_of(const bson_iter_t& entry) {
    t::server_description sd;
    each(entry, "server", [&](const bson_iter_t& f) {
        auto k = key_of(f);
        if (k == "address") sd.address = string_of(f, "address");
        else if (k == "type") sd.type = server_type_of(string_of(f, "type"));
        else if (k == "avg_rtt_ms") sd.round_trip_time_ms = number(f);
        else if (k == "lastUpdateTime") sd.last_update_time_ms = static_cast<std::int64_t>(number(f).value_or(0));
        else if (k == "maxWireVersion") sd.max_wire_version = static_cast<std::int32_t>(number(f).value_or(0));
        else if (k == "tags") each(f, "tags", [&](const bson_iter_t& tag) { sd.tags[std::string(key_of(tag))] = string_of(tag, "tag"); });
        else if (k == "lastWrite")
            each(f, "lastWrite", [&](const bson_iter_t& w) {
                if (key_of(w) == "lastWriteDate") sd.last_write_date_ms = static_cast<std::int64_t>(number(w).value_or(0));
            });
    });
    if (sd.address.empty()) throw bad_file{"a server has no address"};
    return sd;
}

t::topology_description topology_of(const bson_t* test) {
    bson_iter_t it;
    if (!find(test, "topology_description", it)) throw bad_file{"no topology_description"};
    t::topology_description td;
    each(it, "topology_description", [&](const bson_iter_t& f) {
        if (key_of(f) == "type") td.type = topology_type_of(string_of(f, "topology type"));
        else if (key_of(f) == "servers")
            each(f, "servers", [&](const bson_iter_t& s) {
                auto sd = server_of(s);
                td.servers[sd.address] = std::move(sd);
            });
    });
    return td;
}

morm::read_preference read_preference_of(const bson_t* test) {
    morm::read_preference rp;
    bson_iter_t it;
    if (!find(test, "read_preference", it)) return rp;
    each(it, "read_preference", [&](const bson_iter_t& f) {
        auto k = key_of(f);
        if (k == "mode") rp.mode = read_mode_of(string_of(f, "mode"));
        else if (k == "maxStalenessSeconds") rp.max_staleness_seconds = static_cast<std::int32_t>(number(f).value_or(-1));
        else if (k == "tag_sets")
            each(f, "tag_sets", [&](const bson_iter_t& set) {
                morm::key_value_list tags;
                each(set, "tag set", [&](const bson_iter_t& tag) { tags.emplace_back(key_of(tag), string_of(tag, "tag")); });
                rp.tags.push_back(std::move(tags));
            });
    });
    return rp;
}

std::set<std::string> addresses_at(const bson_t* test, const char* key) {
    std::set<std::string> out;
    bson_iter_t it;
    if (find(test, key, it)) each(it, key, [&](const bson_iter_t& s) { out.insert(server_of(s).address); });
    return out;
}

std::set<std::string> addresses_of(const std::vector<const t::server_description*>& servers) {
    std::set<std::string> out;
    for (auto* s : servers) out.insert(s->address);
    return out;
}

std::string show(const std::set<std::string>& s) {
    std::string out = "{";
    for (auto& a : s) out += (out.size() > 1 ? ", " : "") + a;
    return out + "}";
}

bool same_set(const char* what, const std::set<std::string>& expected, const std::set<std::string>& got) {
    if (expected == got) return true;
    std::cerr << what << ": expected " << show(expected) << ", got " << show(got) << "\n";
    return false;
}

int run_server_selection(const bson_t* test) {
    const auto td = topology_of(test);
    const auto rp = read_preference_of(test);
    bson_iter_t it;
    if (!find(test, "operation", it)) throw bad_file{"no operation"};
    const auto op = string_of(it, "operation");
    if (op != "read" && op != "write") throw bad_file{"unknown operation " + op};
    t::selection_params p;
    if (find(test, "heartbeatFrequencyMS", it))
        p.heartbeat_frequency = std::chrono::milliseconds(static_cast<std::int64_t>(number(it).value_or(10000)));
    const auto deprioritized_set = addresses_at(test, "deprioritized_servers");
    const std::vector<std::string> deprioritized(deprioritized_set.begin(), deprioritized_set.end());

    morm::error_code ec;
    morm::diagnostics diag;
    auto suitable = t::suitable_servers(td, op == "write", rp, p, ec, diag, deprioritized);
    const bool expect_error = find(test, "error", it) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    if (expect_error != bool(ec)) {
        std::cerr << "error: expected " << (expect_error ? "an error" : "none") << ", got "
                  << (ec ? ec.message() + ": " + diag.message : std::string("none")) << "\n";
        return 1;
    }
    if (expect_error) return 0;
    bool ok = same_set("suitable_servers", addresses_at(test, "suitable_servers"), addresses_of(suitable));
    auto window = t::latency_window(std::move(suitable), p);
    ok = same_set("in_latency_window", addresses_at(test, "in_latency_window"), addresses_of(window)) && ok;
    return ok ? 0 : 1;
}

int run_rtt(const bson_t* test) {
    bson_iter_t it;
    std::optional<double> previous;
    if (!find(test, "avg_rtt_ms", it)) throw bad_file{"no avg_rtt_ms"};
    if (!BSON_ITER_HOLDS_UTF8(&it)) previous = number(it);  // "NULL": no average yet
    if (!find(test, "new_rtt_ms", it) || !number(it)) throw bad_file{"no numeric new_rtt_ms"};
    const double sample = *number(it);
    if (!find(test, "new_avg_rtt", it) || !number(it)) throw bad_file{"no numeric new_avg_rtt"};
    const double expected = *number(it);
    const double got = t::average_rtt(previous, sample);
    if (std::abs(got - expected) <= 1e-9 * std::max(1.0, std::abs(expected))) return 0;
    std::cerr << "average_rtt(" << (previous ? std::to_string(*previous) : "none") << ", " << sample
              << "): expected " << expected << ", got " << got << "\n";
    return 1;
}

int run_in_window(const bson_t* test) {
    const auto td = topology_of(test);
    std::map<std::string, std::size_t> counts;
    bson_iter_t it;
    if (!find(test, "mocked_topology_state", it)) throw bad_file{"no mocked_topology_state"};
    each(it, "mocked_topology_state", [&](const bson_iter_t& s) {
        std::string address;
        double count = 0;
        each(s, "server state", [&](const bson_iter_t& f) {
            if (key_of(f) == "address") address = string_of(f, "address");
            else if (key_of(f) == "operation_count") count = number(f).value_or(0);
        });
        counts[address] = static_cast<std::size_t>(count);
    });
    if (!find(test, "iterations", it) || !number(it)) throw bad_file{"no iterations"};
    const auto iterations = static_cast<std::size_t>(*number(it));
    double tolerance = 0;
    std::map<std::string, double> expected;
    if (!find(test, "outcome", it)) throw bad_file{"no outcome"};
    each(it, "outcome", [&](const bson_iter_t& f) {
        if (key_of(f) == "tolerance") tolerance = number(f).value_or(0);
        else if (key_of(f) == "expected_frequencies")
            each(f, "expected_frequencies", [&](const bson_iter_t& e) { expected[std::string(key_of(e))] = number(e).value_or(-1); });
    });

    // A read with mode nearest, as the README says; a fixed seed keeps the run reproducible.
    morm::read_preference rp;
    rp.mode = morm::read_mode::nearest;
    const t::selection_params p;
    std::mt19937_64 rng(20240601);
    auto random = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    auto operation_count = [&](const std::string& a) { return counts.count(a) ? counts.at(a) : std::size_t{0}; };
    std::map<std::string, std::size_t> chosen;
    for (std::size_t i = 0; i < iterations; ++i) {
        morm::error_code ec;
        morm::diagnostics diag;
        auto* s = t::select_server(td, false, rp, p, {}, operation_count, random, ec, diag);
        if (ec || !s) {
            std::cerr << "iteration " << i << ": no server selected (" << diag.message << ")\n";
            return 1;
        }
        ++chosen[s->address];
    }
    bool ok = true;
    for (auto& [address, want] : expected) {
        const double got = iterations ? static_cast<double>(chosen[address]) / static_cast<double>(iterations) : 0;
        const bool exact = want == 0 || want == 1;
        if (exact ? got != want : std::abs(got - want) > tolerance) {
            std::cerr << address << ": expected frequency " << want << (exact ? " exactly" : " +- " + std::to_string(tolerance))
                      << ", got " << got << " (" << chosen[address] << "/" << iterations << ")\n";
            ok = false;
        }
    }
    for (auto& [address, n] : chosen)
        if (!expected.count(address)) {
            std::cerr << address << ": selected " << n << " times but absent from expected_frequencies\n";
            ok = false;
        }
    return ok ? 0 : 1;
}

// The logging tests are unified-format files run against a live deployment.
int skip_logging(const bson_t* test) {
    std::string schema = "?";
    std::set<std::string> topologies;
    bson_iter_t it;
    if (find(test, "schemaVersion", it) && BSON_ITER_HOLDS_UTF8(&it)) schema = string_of(it, "schemaVersion");
    if (find(test, "runOnRequirements", it))
        each(it, "runOnRequirements", [&](const bson_iter_t& req) {
            each(req, "requirement", [&](const bson_iter_t& f) {
                if (key_of(f) == "topologies") each(f, "topologies", [&](const bson_iter_t& x) { topologies.insert(string_of(x, "topology")); });
            });
        });
    char* json = bson_as_relaxed_extended_json(test, nullptr);
    const bool fail_points = json && std::string_view(json).find("failCommand") != std::string_view::npos;
    bson_free(json);
    return skip("unified test format " + schema + " against a live " + show(topologies) +
                " deployment, asserting the client's \"serverSelection\" log messages (started, succeeded, failed, "
                "waiting)" + (fail_points ? std::string(" around failCommand fail points") : std::string()) +
                ": morm has no unified-format runner and no serverSelection log component yet");
}

}  // namespace

int run_selection_file(const std::filesystem::path& file, const bson_t* test) {
    const std::string folder = file.parent_path().generic_string() + "/";
    auto in = [&](std::string_view name) { return folder.find("/tests/" + std::string(name) + "/") != std::string::npos; };
    try {
        if (in("logging")) return skip_logging(test);
        if (in("rtt")) return run_rtt(test);
        if (in("in_window")) return run_in_window(test);
        if (in("server_selection")) return run_server_selection(test);
    } catch (const bad_file& e) {
        std::cerr << file << ": " << e.what << "\n";
        return 1;
    }
    std::cerr << file << ": not a server-selection test folder\n";
    return 1;
}

}  // namespace morm_spec
