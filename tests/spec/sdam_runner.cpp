// The SDAM spec tests (server-discovery-and-monitoring/tests: single, rs, sharded,
// load-balanced, errors, monitoring; format in that folder's README.md), run against the
// sans-io state machine: each phase's hello replies and application errors go in, the
// phase's outcome (topology and servers, or the SDAM events) is compared.
#include "runner.hpp"

#include <morm/topology/sdam.hpp>
#include <morm/uri.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace morm_spec {
namespace {

namespace topo = morm::topology;

// --- reading the test document ---------------------------------------------------------------

std::optional<bson_iter_t> find(const bson_t* doc, const char* key) {
    bson_iter_t it;
    if (!doc || !bson_iter_init_find(&it, doc, key)) return std::nullopt;
    return it;
}

std::optional<bson_iter_t> find(const bson_iter_t& parent, const char* key) {
    bson_iter_t child;
    if (!bson_iter_recurse(&parent, &child) || !bson_iter_find(&child, key)) return std::nullopt;
    return child;
}

std::string str(const bson_iter_t& it) {
    std::uint32_t len = 0;
    const char* s = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : "";
    return std::string(s, len);
}

bool is_null(const bson_iter_t& it) { return BSON_ITER_HOLDS_NULL(&it); }

// The children of an array or document, in order.
std::vector<bson_iter_t> children(const bson_iter_t& it) {
    std::vector<bson_iter_t> out;
    bson_iter_t child;
    if (bson_iter_recurse(&it, &child))
        while (bson_iter_next(&child)) out.push_back(child);
    return out;
}

// A sub-document as an owned bson_t (a view onto the test's bytes).
struct sub_doc {
    bson_t doc;
    bool ok = false;
    explicit sub_doc(const bson_iter_t& it) {
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &len, &data);
        ok = data && bson_init_static(&doc, data, len);
    }
    const bson_t* get() const { return ok ? &doc : nullptr; }
};

std::optional<topo::topology_version> topology_version_of(const bson_iter_t& it) {
    auto pid = find(it, "processId");
    auto counter = find(it, "counter");
    if (!pid || !counter || !BSON_ITER_HOLDS_OID(&*pid)) return std::nullopt;
    return topo::topology_version{morm::bson::object_id(*bson_iter_oid(&*pid)), bson_iter_as_int64(&*counter)};
}

// --- printing values for the diff ------------------------------------------------------------

template <class T>
std::string show(const std::optional<T>& v) {
    if (!v) return "null";
    if constexpr (std::is_same_v<T, std::string>) return fmt::format("\"{}\"", *v);
    else if constexpr (std::is_same_v<T, morm::bson::object_id>) return v->to_hex();
    else if constexpr (std::is_same_v<T, topo::topology_version>)
        return fmt::format("{{{}, {}}}", v->process_id.to_hex(), v->counter);
    else return fmt::format("{}", *v);
}

// Compares an expected JSON value (null or a value) with what the driver has.
struct checker {
    std::vector<std::string> diffs;

    template <class T, class Read>
    void nullable(const std::string& what, const bson_iter_t& expected, const std::optional<T>& actual, Read read) {
        std::optional<T> want;
        if (!is_null(expected)) want = read(expected);
        if (want != actual) diffs.push_back(fmt::format("{}: expected {}, got {}", what, show(want), show(actual)));
    }
    void string(const std::string& what, const bson_iter_t& e, const std::optional<std::string>& actual) {
        nullable(what, e, actual, [](const bson_iter_t& it) { return str(it); });
    }
    void integer(const std::string& what, const bson_iter_t& e, const std::optional<std::int64_t>& actual) {
        nullable(what, e, actual, [](const bson_iter_t& it) { return bson_iter_as_int64(&it); });
    }
    void oid(const std::string& what, const bson_iter_t& e, const std::optional<morm::bson::object_id>& actual) {
        nullable(what, e, actual, [](const bson_iter_t& it) { return morm::bson::object_id(*bson_iter_oid(&it)); });
    }
    // The wire versions default to 0 (the spec), which the tests may write as null.
    void wire_version(const std::string& what, const bson_iter_t& e, std::int32_t actual) {
        std::int64_t want = is_null(e) ? 0 : bson_iter_as_int64(&e);
        if (want != actual) diffs.push_back(fmt::format("{}: expected {}, got {}", what, want, actual));
    }
    void fail(std::string d) { diffs.push_back(std::move(d)); }
};

// --- the state machine under test ------------------------------------------------------------

struct recorded_event {
    topo::sdam_event::kind what;
    std::string address;
    std::optional<topo::server_description> previous_server, new_server;
    std::optional<topo::topology_description> previous_topology, new_topology;
};

struct harness {
    std::vector<recorded_event> events;
    std::optional<topo::sdam_state> state;
};

topo::sdam_options options_of(const morm::connection_string& cs) {
    topo::sdam_options o;
    for (const auto& h : cs.hosts) o.seeds.push_back(h.to_string());
    o.replica_set = cs.replica_set;
    o.direct_connection = cs.direct_connection;
    o.load_balanced = cs.load_balanced;
    o.srv = cs.srv;
    o.srv_max_hosts = cs.srv_max_hosts.value_or(0);
    return o;
}

void feed_response(topo::sdam_state& st, const bson_iter_t& pair) {
    auto items = children(pair);
    if (items.size() != 2) return;
    std::string address = str(items[0]);
    sub_doc hello(items[1]);
    // The empty reply stands for a network error.
    if (!hello.get() || bson_count_keys(hello.get()) == 0)
        (void)st.on_server_description(topo::unknown_server(address, "network error (test)"));
    else (void)st.on_server_description(topo::parse_hello(address, hello.get(), 10.0, 0));
}

// An "applicationError" as the driver would see it; nullopt when the reply is no error at all
// (ok: 1 with only writeErrors, which the spec says never to look at).
std::optional<topo::app_error> app_error_of(const topo::sdam_state& st, const bson_iter_t& e) {
    topo::app_error err;
    err.address = str(*find(e, "address"));
    auto type = str(*find(e, "type"));
    err.what = type == "network"   ? topo::app_error::kind::network
               : type == "timeout" ? topo::app_error::kind::timeout
                                   : topo::app_error::kind::command;
    err.before_handshake_completed = str(*find(e, "when")) == "beforeHandshakeCompletes";
    auto gen = find(e, "generation");
    err.generation = gen ? static_cast<std::uint64_t>(bson_iter_as_int64(&*gen)) : st.pool_generation(err.address);
    if (auto mwv = find(e, "maxWireVersion")) err.max_wire_version = static_cast<std::int32_t>(bson_iter_as_int64(&*mwv));
    err.message = type + " error (test)";
    auto response = find(e, "response");
    if (err.what != topo::app_error::kind::command || !response) return err;
    auto ok = find(*response, "ok");
    auto wce = find(*response, "writeConcernError");
    bool failed = ok && bson_iter_as_int64(&*ok) == 0;
    if (!failed && !wce) return std::nullopt;
    const bson_iter_t& src = failed ? *response : *wce;
    if (auto code = find(src, "code")) err.code = static_cast<std::int32_t>(bson_iter_as_int64(&*code));
    if (auto msg = find(src, "errmsg")) err.message = str(*msg);
    if (auto tv = find(*response, "topologyVersion")) err.topology_version = topology_version_of(*tv);
    else if (auto wtv = wce ? find(*wce, "topologyVersion") : std::nullopt) err.topology_version = topology_version_of(*wtv);
    return err;
}

// --- outcomes --------------------------------------------------------------------------------

void check_server(checker& c, const topo::sdam_state& st, const std::string& address, const bson_iter_t& want,
                  const topo::server_description& sd) {
    auto p = [&](const char* field) { return fmt::format("servers[{}].{}", address, field); };
    for (const auto& f : children(want)) {
        std::string_view key = bson_iter_key(&f);
        if (key == "type") {
            if (str(f) != topo::to_string(sd.type))
                c.fail(fmt::format("{}: expected {}, got {}", p("type"), str(f), topo::to_string(sd.type)));
        } else if (key == "setName") c.string(p("setName"), f, sd.set_name);
        else if (key == "setVersion") c.integer(p("setVersion"), f, sd.set_version);
        else if (key == "electionId") c.oid(p("electionId"), f, sd.election_id);
        else if (key == "logicalSessionTimeoutMinutes")
            c.integer(p("logicalSessionTimeoutMinutes"), f, sd.logical_session_timeout_minutes);
        else if (key == "minWireVersion") c.wire_version(p("minWireVersion"), f, sd.min_wire_version);
        else if (key == "maxWireVersion") c.wire_version(p("maxWireVersion"), f, sd.max_wire_version);
        else if (key == "topologyVersion")
            c.nullable(p("topologyVersion"), f, sd.topology_version, [](const bson_iter_t& it) { return *topology_version_of(it); });
        else if (key == "error") {
            if (!sd.error || sd.error->find(str(f)) == std::string::npos)
                c.fail(fmt::format("{}: expected to contain \"{}\", got {}", p("error"), str(f), show(sd.error)));
        } else if (key == "pool") {
            auto gen = find(f, "generation");
            auto have = st.pool_generation(address);
            if (gen && static_cast<std::uint64_t>(bson_iter_as_int64(&*gen)) != have)
                c.fail(fmt::format("{}: expected {}, got {}", p("pool.generation"), bson_iter_as_int64(&*gen), have));
        } else c.fail(fmt::format("{}: the runner does not know this field", p(std::string(key).c_str())));
    }
}

void check_topology(checker& c, const topo::sdam_state& st, const bson_iter_t& outcome) {
    const auto& td = st.description();
    for (const auto& f : children(outcome)) {
        std::string_view key = bson_iter_key(&f);
        if (key == "topologyType") {
            if (str(f) != topo::to_string(td.type))
                c.fail(fmt::format("topologyType: expected {}, got {}", str(f), topo::to_string(td.type)));
        } else if (key == "setName") c.string("setName", f, td.set_name);
        else if (key == "logicalSessionTimeoutMinutes")
            c.integer("logicalSessionTimeoutMinutes", f, td.logical_session_timeout_minutes);
        else if (key == "maxSetVersion") c.integer("maxSetVersion", f, td.max_set_version);
        else if (key == "maxElectionId") c.oid("maxElectionId", f, td.max_election_id);
        else if (key == "compatible") {
            bool want = bson_iter_as_bool(&f), have = !td.compatibility_error;
            if (want != have)
                c.fail(fmt::format("compatible: expected {}, got {} ({})", want, have, td.compatibility_error.value_or("")));
        } else if (key == "servers") {
            std::vector<std::string> expected;
            for (const auto& s : children(f)) {
                std::string address = bson_iter_key(&s);
                expected.push_back(address);
                auto it = td.servers.find(address);
                if (it == td.servers.end()) c.fail(fmt::format("servers: {} is missing", address));
                else check_server(c, st, address, s, it->second);
            }
            for (const auto& kv : td.servers)
                if (std::find(expected.begin(), expected.end(), kv.first) == expected.end())
                    c.fail(fmt::format("servers: unexpected {} ({})", kv.first, topo::to_string(kv.second.type)));
        } else c.fail(fmt::format("{}: the runner does not know this outcome field", key));
    }
}

// --- monitoring events -----------------------------------------------------------------------

std::vector<std::string> sorted_strings(const bson_iter_t& it) {
    std::vector<std::string> out;
    for (const auto& c : children(it)) out.push_back(str(c));
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

void check_event_server(checker& c, const std::string& what, const bson_iter_t& want,
                        const topo::server_description& sd) {
    for (const auto& f : children(want)) {
        std::string_view key = bson_iter_key(&f);
        auto p = fmt::format("{}.{}", what, key);
        if (key == "address") {
            if (str(f) != sd.address) c.fail(fmt::format("{}: expected {}, got {}", p, str(f), sd.address));
        } else if (key == "type") {
            if (str(f) != topo::to_string(sd.type))
                c.fail(fmt::format("{}: expected {}, got {}", p, str(f), topo::to_string(sd.type)));
        } else if (key == "setName") c.string(p, f, sd.set_name);
        else if (key == "primary") c.string(p, f, sd.primary);
        else if (key == "hosts" || key == "passives" || key == "arbiters") {
            const auto& have = key == "hosts" ? sd.hosts : key == "passives" ? sd.passives : sd.arbiters;
            if (sorted_strings(f) != sorted(have))
                c.fail(fmt::format("{}: expected [{}], got [{}]", p, fmt::join(sorted_strings(f), ", "),
                                   fmt::join(sorted(have), ", ")));
        } else c.fail(fmt::format("{}: the runner does not know this field", p));
    }
}

void check_event_topology(checker& c, const std::string& what, const bson_iter_t& want,
                          const topo::topology_description& td) {
    for (const auto& f : children(want)) {
        std::string_view key = bson_iter_key(&f);
        auto p = fmt::format("{}.{}", what, key);
        if (key == "topologyType") {
            if (str(f) != topo::to_string(td.type))
                c.fail(fmt::format("{}: expected {}, got {}", p, str(f), topo::to_string(td.type)));
        } else if (key == "setName") c.string(p, f, td.set_name);
        else if (key == "servers") {
            auto list = children(f);
            if (list.size() != td.servers.size())
                c.fail(fmt::format("{}: expected {} servers, got {}", p, list.size(), td.servers.size()));
            for (const auto& s : list) {
                auto address = find(s, "address");
                auto it = address ? td.servers.find(str(*address)) : td.servers.end();
                if (it == td.servers.end()) c.fail(fmt::format("{}: a server is missing", p));
                else check_event_server(c, fmt::format("{}[{}]", p, it->first), s, it->second);
            }
        } else c.fail(fmt::format("{}: the runner does not know this field", p));
    }
}

std::string_view event_name(topo::sdam_event::kind k) {
    using K = topo::sdam_event::kind;
    switch (k) {
    case K::topology_opening: return "topology_opening_event";
    case K::topology_description_changed: return "topology_description_changed_event";
    case K::topology_closed: return "topology_closed_event";
    case K::server_opening: return "server_opening_event";
    case K::server_description_changed: return "server_description_changed_event";
    case K::server_closed: return "server_closed_event";
    default: return "heartbeat_event";
    }
}

void check_events(checker& c, const std::vector<recorded_event>& got, const bson_iter_t& want) {
    auto list = children(want);
    for (std::size_t i = 0; i < std::max(list.size(), got.size()); ++i) {
        auto at = fmt::format("events[{}]", i);
        if (i >= list.size()) {
            c.fail(fmt::format("{}: unexpected {} {}", at, event_name(got[i].what), got[i].address));
            continue;
        }
        auto body = children(list[i]);
        std::string name = body.empty() ? "" : bson_iter_key(&body[0]);
        if (i >= got.size()) {
            c.fail(fmt::format("{}: expected {}, got nothing", at, name));
            continue;
        }
        const auto& ev = got[i];
        if (name != event_name(ev.what)) {
            c.fail(fmt::format("{}: expected {}, got {} {}", at, name, event_name(ev.what), ev.address));
            continue;
        }
        for (const auto& f : children(body[0])) {
            std::string_view key = bson_iter_key(&f);
            if (key == "address" && str(f) != ev.address)
                c.fail(fmt::format("{}.address: expected {}, got {}", at, str(f), ev.address));
            else if (key == "previousDescription" || key == "newDescription") {
                bool prev = key == "previousDescription";
                auto p = fmt::format("{}.{}", at, key);
                if (ev.what == topo::sdam_event::kind::server_description_changed)
                    check_event_server(c, p, f, prev ? *ev.previous_server : *ev.new_server);
                else check_event_topology(c, p, f, prev ? *ev.previous_topology : *ev.new_topology);
            }
        }
    }
}

// --- the file --------------------------------------------------------------------------------

int report(const std::filesystem::path& file, std::size_t phase, const bson_iter_t* description,
           const checker& c) {
    std::cerr << file.filename().string() << ": phase " << phase;
    if (description) std::cerr << " (" << str(*description) << ")";
    std::cerr << " differs:\n";
    for (const auto& d : c.diffs) std::cerr << "  " << d << "\n";
    return 1;
}

void run_phase(harness& h, const bson_iter_t& phase) {
    if (auto responses = find(phase, "responses"))
        for (const auto& r : children(*responses)) feed_response(*h.state, r);
    if (auto errors = find(phase, "applicationErrors"))
        for (const auto& e : children(*errors))
            if (auto err = app_error_of(*h.state, e)) (void)h.state->on_application_error(*err);
}

}  // namespace

int run_sdam_file(const std::filesystem::path& file, const bson_t* test) {
    auto uri = find(test, "uri");
    auto phases = find(test, "phases");
    if (!uri || !phases) {
        std::cerr << file << ": no uri or phases\n";
        return 1;
    }
    morm::error_code ec;
    morm::diagnostics diag;
    auto cs = morm::connection_string::parse(str(*uri), ec, diag);
    if (ec) {
        std::cerr << file << ": the uri does not parse: " << diag.message << "\n";
        return 1;
    }
    harness h;
    h.state.emplace(options_of(cs), [&h](const topo::sdam_event& ev) {
        recorded_event r{ev.what, ev.address, {}, {}, {}, {}};
        if (ev.previous_server) r.previous_server = *ev.previous_server;
        if (ev.new_server) r.new_server = *ev.new_server;
        if (ev.previous_topology) r.previous_topology = *ev.previous_topology;
        if (ev.new_topology) r.new_topology = *ev.new_topology;
        h.events.push_back(std::move(r));
    });
    std::size_t n = 0;
    for (const auto& phase : children(*phases)) {
        run_phase(h, phase);
        auto outcome = find(phase, "outcome");
        if (!outcome) continue;
        checker c;
        if (auto events = find(*outcome, "events")) {
            check_events(c, h.events, *events);
            h.events.clear();
        } else check_topology(c, *h.state, *outcome);
        auto description = find(phase, "description");
        if (!c.diffs.empty()) return report(file, n, description ? &*description : nullptr, c);
        ++n;
    }
    return 0;
}

}  // namespace morm_spec
