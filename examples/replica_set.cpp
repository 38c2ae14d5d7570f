// A replica set through its connection string: discovery and monitoring (SDAM events
// printed as they come), writes to the primary, reads from a secondary when one is up
// (read preference secondaryPreferred), and the topology morm sees.
//
//   MORM_URI='mongodb://127.0.0.1:27017/mydatabase?replicaSet=rs0' ./replica_set
//
// With FerretDB started as `ferretdb --repl-set-name=rs0` the "replica set" has one member,
// its primary, so secondaryPreferred reads go there. Against a real replica set (three
// members) the same program reads from a secondary. mongodb+srv:// URIs work the same way.
#include <morm/morm.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <string>

namespace asio = boost::asio;

struct Reading {
    std::string id;
    std::string sensor;
    double value = 0;
};
MORM_MODEL(Reading, "rs_example_readings", (id, "_id"), sensor, value);

/// Prints what SDAM reports: servers found, their types changing, the topology changing.
void print_event(const morm::topology::sdam_event& ev) {
    using kind = morm::topology::sdam_event::kind;
    switch (ev.what) {
        case kind::server_description_changed:
            fmt::print("sdam: {} is now {}\n", ev.address, to_string(ev.new_server->type));
            break;
        case kind::topology_description_changed:
            fmt::print("sdam: topology {} -> {}\n", to_string(ev.previous_topology->type), to_string(ev.new_topology->type));
            break;
        case kind::server_opening: fmt::print("sdam: monitoring {}\n", ev.address); break;
        case kind::server_closed: fmt::print("sdam: {} left the topology\n", ev.address); break;
        default: break;  // heartbeats: every heartbeatFrequencyMS, too chatty to print
    }
}

asio::awaitable<void> run(std::string uri) {
    morm::engine_options opts;
    opts.client.sdam_listener = print_event;
    auto engine = co_await morm::engine::create(uri, opts);
    morm::session session{engine};

    // Writes go to the primary, with a txnNumber: a failover retries them once on the new
    // primary without writing anything twice.
    for (int i = 0; i < 3; ++i)
        session.add(Reading{fmt::format("r{}", i), "boiler", 20.5 + i});
    co_await session.commit();

    // Reads go where the read preference says; secondaryPreferred falls back to the primary.
    auto readings = co_await session.query<Reading>()
                        .read_pref(morm::read_mode::secondary_preferred)
                        .sort(&Reading::id)
                        .all();
    for (auto& r : readings) fmt::print("read {} = {}\n", r->id, r->value);

    auto td = engine.client().topology_description();
    fmt::print("topology: {} ({})\n", to_string(td.type), td.summary());

    co_await session.query<Reading>().remove();
    engine.client().close();
}

int main() {
    const char* env = std::getenv("MORM_URI");
    std::string uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    asio::io_context ioc;
    int status = 0;
    asio::co_spawn(ioc, run(uri), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& err) {
            fmt::print(stderr, "error: {}\n", err.what());
        }
        status = 1;
    });
    ioc.run();
    return status;
}
