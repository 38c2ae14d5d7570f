// The session when the connection dies mid-commit: the writes whose replies never came
// are reported as unknown, stay pending, and a retry on a fresh connection cannot
// duplicate them (client-side _ids: the server's duplicate-key answer on _id proves the
// first attempt landed).
#include "common/fault_proxy.hpp"
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

namespace asio = boost::asio;

namespace session_fault_it {
struct Event {
    morm::bson::object_id id;
    std::string kind;
    std::int32_t seq = 0;
};
MORM_MODEL(Event, "events", (id, "_id"), kind, seq);
}  // namespace session_fault_it

using session_fault_it::Event;

TEST_CASE("connection cut mid-commit: unknown outcome reported, retry does not duplicate",
          "[orm][fault][integration]") {
    auto hp = morm_test::host_port();
    auto colon = hp.rfind(':');
    morm_test::fault_proxy proxy(hp.substr(0, colon), static_cast<std::uint16_t>(std::stoi(hp.substr(colon + 1))));
    const std::string db = morm_test::unique_db("sessfault");
    morm_test::run([&]() -> asio::awaitable<void> {
        // maxPoolSize=1: the retry has to replace the broken connection.
        std::string uri = "mongodb://" + proxy.host_port() + "/" + db + "?maxPoolSize=1";
        auto engine = co_await morm::create_engine(uri);
        morm::session s{engine};
        constexpr int n = 500;
        for (int i = 0; i < n; ++i) s.add(Event{{}, "click", i});

        // The server executes the insert, but its reply is cut after 10 bytes.
        morm_test::fault_rules cut;
        cut.cut_after_bytes = 10;
        proxy.arm(cut);
        morm::error_code ec;
        morm::diagnostics diag;
        auto r1 = co_await s.commit(ec, diag);
        CHECK((ec == morm::errc::connection_closed || ec == morm::errc::network));
        CHECK(diag.message.find("unknown outcome") != std::string::npos);
        CHECK(r1.inserted == 0);
        REQUIRE(r1.failures.size() == n);
        for (auto& f : r1.failures) CHECK(f.state == morm::item_outcome::state::unacknowledged);
        CHECK(s.dirty());  // still pending

        // Retry on a fresh connection: every object is confirmed, none is written twice.
        proxy.disarm();
        auto r2 = co_await s.commit(ec, diag);
        INFO(diag.message);
        CHECK_FALSE(ec);
        CHECK(r2.inserted == n);
        CHECK(r2.failures.empty());
        CHECK_FALSE(s.dirty());
        auto stored = co_await engine.collection<Event>().count_documents();
        CHECK(stored == n);
        co_await engine.database().drop();
    });
}
