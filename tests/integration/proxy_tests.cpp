// Connecting to the test server through a SOCKS5 proxy (proxyHost, socks5.md): every
// connection goes through the proxy, with or without username/password authentication.
#include "common/socks5_proxy.hpp"
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>

namespace {

// The test server's URI with the proxy options added.
std::string through(std::uint16_t proxy_port, std::string_view more = "") {
    auto uri = morm_test::server_uri();
    const char sep = uri.find('?') == std::string::npos ? (uri.find('/', uri.find("://") + 3) == std::string::npos ? '/' : '?') : '&';
    std::string glue = sep == '/' ? "/?" : std::string(1, sep);
    return fmt::format("{}{}proxyHost=127.0.0.1&proxyPort={}{}", uri, glue, proxy_port, more);
}

}  // namespace

TEST_CASE("proxy: insert and read back through a SOCKS5 proxy", "[proxy]") {
    morm_test::socks5_proxy proxy(std::string("mo"), std::string("rm"));
    const auto uri = through(proxy.port(), "&proxyUsername=mo&proxyPassword=rm");
    auto found = morm_test::run([&]() -> boost::asio::awaitable<std::int64_t> {
        auto cl = co_await morm::client::connect(uri);
        auto db = cl.database(morm_test::unique_db("proxy"));
        auto c = db.collection("through");
        auto doc = morm::bson::document::from_json(R"({"via": "socks5"})");
        co_await c.insert_one(doc);
        auto filter = morm::bson::document::from_json(R"({"via": "socks5"})");
        auto n = co_await c.count_documents(filter);
        co_await db.drop();
        cl.close();
        co_return n;
    });
    CHECK(found == 1);
    const auto hp = morm_test::host_port();
    const auto port = static_cast<std::uint16_t>(std::stoi(hp.substr(hp.rfind(':') + 1)));
    auto reqs = proxy.requests();
    REQUIRE(!reqs.empty());
    for (auto& r : reqs) CHECK(r.port == port);
    CHECK(proxy.refusals() == 0);
}
