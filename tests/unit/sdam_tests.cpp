// The SDAM state machine beyond the spec's JSON files: hello parsing of a FerretDB-like reply,
// the actions the runtime acts on (new and removed members, cleared pools, immediate checks),
// SRV host updates and the closing events.
#include <morm/topology/sdam.hpp>
#include <morm/wire/handshake.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace morm::topology;

namespace {

// A document from relaxed extended JSON; freed with the returned handle.
struct json_doc {
    bson_t* doc;
    explicit json_doc(const char* json) {
        bson_error_t err;
        doc = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json), -1, &err);
        REQUIRE(doc != nullptr);
    }
    ~json_doc() { bson_destroy(doc); }
    json_doc(const json_doc&) = delete;
    json_doc& operator=(const json_doc&) = delete;
};

server_description hello(const std::string& address, const char* json) {
    json_doc d(json);
    return parse_hello(address, d.doc, 1.5, 100);
}

const char* primary_of_abc = R"({"ok": 1, "isWritablePrimary": true, "setName": "rs", "maxWireVersion": 21,
                                  "hosts": ["a:27017", "b:27017", "c:27017"]})";

sdam_state replica_set(std::vector<std::string> seeds, sdam_listener l = {}) {
    sdam_options o;
    o.seeds = std::move(seeds);
    o.replica_set = "rs";
    return sdam_state(o, std::move(l));
}

// An error on a connection of the pool's current generation.
app_error error_on(const sdam_state& st, const std::string& address, app_error::kind k, std::int32_t code = 0,
                   std::int32_t wire = 21) {
    app_error e;
    e.address = address;
    e.generation = st.pool_generation(address);
    e.what = k;
    e.code = code;
    e.max_wire_version = wire;
    e.message = "test error";
    return e;
}

}  // namespace

TEST_CASE("parse_hello: a FerretDB-like replica set primary without me, primary or electionId", "[sdam]") {
    auto sd = hello("127.0.0.1:27099", R"({"isWritablePrimary": true, "setName": "rs0", "hosts": ["127.0.0.1:27099"],
                                         "maxWireVersion": 21, "logicalSessionTimeoutMinutes": 30, "ok": 1})");
    CHECK(sd.type == server_type::rs_primary);
    CHECK(sd.set_name == "rs0");
    CHECK(sd.hosts == std::vector<std::string>{"127.0.0.1:27099"});
    CHECK(sd.max_wire_version == 21);
    CHECK(sd.min_wire_version == 0);
    CHECK(sd.logical_session_timeout_minutes == 30);
    CHECK_FALSE(sd.me);
    CHECK_FALSE(sd.primary);
    CHECK_FALSE(sd.election_id);
    CHECK_FALSE(sd.set_version);
    CHECK(sd.round_trip_time_ms == 1.5);

    // The topology built on it is a usable replica set.
    sdam_options o;
    o.seeds = {"127.0.0.1:27099"};
    o.replica_set = "rs0";
    sdam_state st(o);
    auto a = st.on_server_description(sd);
    CHECK(a.changed);
    CHECK(a.added.empty());
    CHECK(a.removed.empty());
    const auto& td = st.description();
    CHECK(td.type == topology_type::replica_set_with_primary);
    CHECK_FALSE(td.compatibility_error);
    CHECK(td.logical_session_timeout_minutes == 30);
    CHECK_FALSE(td.max_election_id);  // null electionId and setVersion are accepted (6.0 rule)
    CHECK(td.has_writable_server());
}

TEST_CASE("parse_hello: types, limits, topologyVersion and ok: 0", "[sdam]") {
    CHECK(hello("a", R"({"ok": 1, "msg": "isdbgrid", "maxWireVersion": 21})").type == server_type::mongos);
    CHECK(hello("a", R"({"ok": 1, "isreplicaset": true})").type == server_type::rs_ghost);
    CHECK(hello("a", R"({"ok": 1, "setName": "rs", "secondary": true, "hidden": true})").type == server_type::rs_other);
    CHECK(hello("a", R"({"ok": 1, "setName": "rs", "arbiterOnly": true})").type == server_type::rs_arbiter);
    CHECK(hello("a", R"({"ok": 1, "ismaster": true})").type == server_type::standalone);

    auto sd = hello("A:1", R"({"ok": 1.0, "isWritablePrimary": true, "setName": "rs", "me": "A:1", "primary": "A:1",
                               "hosts": ["A:1", "B:2"], "maxBsonObjectSize": 1000, "maxMessageSizeBytes": 2000,
                               "maxWriteBatchSize": 3, "helloOk": true, "tags": {"dc": "east"},
                               "topologyVersion": {"processId": {"$oid": "000000000000000000000001"},
                                                   "counter": {"$numberLong": "7"}}})");
    CHECK(sd.address == "a:1");
    CHECK(sd.me == "a:1");
    CHECK(sd.primary == "a:1");
    CHECK(sd.hosts == std::vector<std::string>{"a:1", "b:2"});
    CHECK(sd.max_bson_object_size == 1000);
    CHECK(sd.max_message_size_bytes == 2000);
    CHECK(sd.max_write_batch_size == 3);
    CHECK(sd.hello_ok);
    CHECK(sd.tags.at("dc") == "east");
    REQUIRE(sd.topology_version);
    CHECK(sd.topology_version->counter == 7);

    auto failed = hello("a", R"({"ok": 0, "errmsg": "no", "code": 13})");
    CHECK(failed.type == server_type::unknown);
    REQUIRE(failed.error);
    CHECK(failed.error->find("no") != std::string::npos);
}

TEST_CASE("normalize_address and the spec's spellings", "[sdam]") {
    CHECK(normalize_address("Host") == "host:27017");
    CHECK(normalize_address("A.B:1") == "a.b:1");
    CHECK(normalize_address("[::1]") == "[::1]:27017");
    CHECK(normalize_address("::1") == "[::1]:27017");
    CHECK(normalize_address("/tmp/Mongo.sock") == "/tmp/Mongo.sock");
    CHECK(to_string(server_type::rs_primary) == "RSPrimary");
    CHECK(to_string(topology_type::replica_set_with_primary) == "ReplicaSetWithPrimary");
}

TEST_CASE("sdam actions: members added and removed by the primary, the old primary checked", "[sdam]") {
    auto st = replica_set({"a:27017"});
    auto a = st.on_server_description(hello("a:27017", primary_of_abc));
    CHECK(a.added == std::vector<std::string>{"b:27017", "c:27017"});
    CHECK(a.removed.empty());

    a = st.on_server_description(hello("a:27017", R"({"ok": 1, "isWritablePrimary": true, "setName": "rs",
                                                     "maxWireVersion": 21, "hosts": ["a:27017", "b:27017"]})"));
    CHECK(a.added.empty());
    CHECK(a.removed == std::vector<std::string>{"c:27017"});
    CHECK(st.description().servers.size() == 2);

    // b claims the primacy with a newer electionId: a is invalidated and must be checked now.
    a = st.on_server_description(hello("b:27017", R"({"ok": 1, "isWritablePrimary": true, "setName": "rs",
        "maxWireVersion": 21, "setVersion": 1, "electionId": {"$oid": "000000000000000000000002"},
        "hosts": ["a:27017", "b:27017"]})"));
    CHECK(a.check_now == std::vector<std::string>{"a:27017"});
    CHECK(st.description().servers.at("a:27017").type == server_type::unknown);
    CHECK(a.cleared.empty());  // the spec forbids clearing the old primary's pool
}

TEST_CASE("sdam actions: cleared pools and their generations", "[sdam]") {
    auto st = replica_set({"a:27017"});
    (void)st.on_server_description(hello("a:27017", primary_of_abc));

    // NotWritablePrimary on 4.2+: Unknown and checked now, the pool is kept.
    auto a = st.on_application_error(error_on(st, "a:27017", app_error::kind::command, 10107));
    CHECK(a.cleared.empty());
    CHECK(a.check_now == std::vector<std::string>{"a:27017"});
    CHECK(st.description().type == topology_type::replica_set_no_primary);

    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    // Before 4.2 (wire version 7) it also cleared the pool.
    a = st.on_application_error(error_on(st, "a:27017", app_error::kind::command, 10107, 7));
    CHECK(a.cleared == std::vector<std::string>{"a:27017"});
    CHECK(st.pool_generation("a:27017") == 1);

    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    a = st.on_application_error(error_on(st, "a:27017", app_error::kind::network));
    CHECK(a.cleared == std::vector<std::string>{"a:27017"});
    CHECK(a.check_now.empty());
    CHECK(st.pool_generation("a:27017") == 2);

    // An error from a connection of an older generation changes nothing.
    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    auto stale = error_on(st, "a:27017", app_error::kind::command, 91);
    stale.generation = 1;  // the pool is at 2
    a = st.on_application_error(stale);
    CHECK_FALSE(a.changed);
    CHECK(a.cleared.empty());
    CHECK(st.description().servers.at("a:27017").type == server_type::rs_primary);

    // A timeout changes nothing; a shutdown error clears.
    CHECK_FALSE(st.on_application_error(error_on(st, "a:27017", app_error::kind::timeout)).changed);
    auto shutdown = error_on(st, "a:27017", app_error::kind::command, 91);
    CHECK(st.on_application_error(shutdown).cleared == std::vector<std::string>{"a:27017"});

    // Legacy message without a code.
    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    auto legacy = error_on(st, "a:27017", app_error::kind::command, 0);
    legacy.message = "not master";
    CHECK(st.on_application_error(legacy).check_now == std::vector<std::string>{"a:27017"});
}

TEST_CASE("sdam actions: a failed check clears the pool of a known server once", "[sdam]") {
    auto st = replica_set({"a:27017"});
    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    auto a = st.on_server_description(unknown_server("a:27017", "connection refused"));
    CHECK(a.cleared == std::vector<std::string>{"a:27017"});
    a = st.on_server_description(unknown_server("a:27017", "connection refused"));
    CHECK(a.cleared.empty());
    CHECK(st.pool_generation("a:27017") == 1);
}

TEST_CASE("sdam: wire version compatibility", "[sdam]") {
    sdam_options o;
    o.seeds = {"a:27017"};
    o.direct_connection = true;
    sdam_state st(o);
    (void)st.on_server_description(hello("a:27017", R"({"ok": 1, "isWritablePrimary": true, "maxWireVersion": 5})"));
    REQUIRE(st.description().compatibility_error);
    CHECK(*st.description().compatibility_error ==
          "Server at a:27017 reports wire version 5, but this version of morm requires at least 6 (MongoDB 3.6).");
    (void)st.on_server_description(
        hello("a:27017", R"({"ok": 1, "isWritablePrimary": true, "minWireVersion": 99, "maxWireVersion": 100})"));
    REQUIRE(st.description().compatibility_error);
    CHECK(st.description().compatibility_error->find("requires wire version 99") != std::string::npos);
}

TEST_CASE("sdam: SRV host updates honour srvMaxHosts and only apply to sharded or unknown topologies", "[sdam]") {
    sdam_options o;
    o.seeds = {"a:27017", "b:27017"};
    o.srv = true;
    o.srv_max_hosts = 2;
    sdam_state st(o);
    auto a = st.on_srv_hosts({"b:27017", "c:27017", "d:27017"});
    CHECK(a.removed == std::vector<std::string>{"a:27017"});
    CHECK(a.added == std::vector<std::string>{"c:27017"});
    CHECK(st.description().servers.size() == 2);
    CHECK_FALSE(st.on_srv_hosts({}).changed);

    auto rs = replica_set({"a:27017"});
    CHECK_FALSE(rs.on_srv_hosts({"z:27017"}).changed);
}

TEST_CASE("sdam: events at opening and closing", "[sdam]") {
    std::vector<std::string> seen;
    auto st = replica_set({"a:27017"}, [&](const sdam_event& ev) {
        seen.push_back(std::string(to_string(ev.what)) + (ev.address.empty() ? "" : " " + ev.address));
    });
    CHECK(seen == std::vector<std::string>{"TopologyOpeningEvent", "TopologyDescriptionChangedEvent",
                                           "ServerOpeningEvent a:27017"});
    seen.clear();
    (void)st.on_server_description(hello("a:27017", primary_of_abc));
    CHECK(seen == std::vector<std::string>{"ServerDescriptionChangedEvent a:27017", "ServerOpeningEvent b:27017",
                                           "ServerOpeningEvent c:27017", "TopologyDescriptionChangedEvent"});
    seen.clear();
    st.close();
    CHECK(seen == std::vector<std::string>{"ServerClosedEvent a:27017", "ServerClosedEvent b:27017",
                                           "ServerClosedEvent c:27017", "TopologyDescriptionChangedEvent",
                                           "TopologyClosedEvent"});
    CHECK(st.description().servers.empty());
    CHECK(st.description().type == topology_type::unknown);
}
