#include "common/test_server.hpp"

#include <morm/net/connection.hpp>
#include <morm/net/pool.hpp>
#include <morm/wire/reply.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>

namespace asio = boost::asio;
using namespace morm;

namespace {
net::endpoint test_endpoint() {
    auto hp = morm_test::host_port();
    auto colon = hp.rfind(':');
    return {hp.substr(0, colon), static_cast<std::uint16_t>(std::stoi(hp.substr(colon + 1))), false};
}
}  // namespace

TEST_CASE("connect, hello and ping against the real server", "[net][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        net::connection_params params;
        params.hello.app_name = "morm-tests";
        net::connection c(co_await asio::this_coro::executor);
        error_code ec;
        diagnostics diag;
        co_await c.async_connect(test_endpoint(), params, ec, diag);
        INFO(diag.message);
        REQUIRE_FALSE(ec);
        CHECK(c.server().max_wire_version >= 6);
        CHECK(c.server().max_bson_object_size > 0);
        CHECK(c.server().max_write_batch_size > 0);
        bool ok = false;
        co_await c.async_command(
            "admin", [](bson_t* b) { BSON_APPEND_INT32(b, "ping", 1); },
            [&](const bson_t* r) {
                bson_iter_t it;
                ok = bson_iter_init_find(&it, r, "ok") && bson_iter_as_double(&it) == 1.0;
            },
            std::chrono::milliseconds(5000), ec, diag);
        REQUIRE_FALSE(ec);
        CHECK(ok);
        // A server error keeps its code and codeName.
        co_await c.async_command(
            "admin", [](bson_t* b) { BSON_APPEND_INT32(b, "noSuchCommandXyz", 1); }, nullptr,
            std::chrono::milliseconds(5000), ec, diag);
        CHECK(ec == errc::server_error);
        CHECK(diag.server_code == 59);
        CHECK(diag.code_name == "CommandNotFound");
        CHECK(c.is_open());
    });
}

TEST_CASE("connection refused gives a network error naming the address", "[net][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        net::connection_params params;
        params.connect_timeout = std::chrono::milliseconds(2000);
        net::connection c(co_await asio::this_coro::executor);
        error_code ec;
        diagnostics diag;
        // A named endpoint: g++ 12 destroys aggregate temporaries inside co_await twice.
        net::endpoint closed_port{"127.0.0.1", 1, false};
        co_await c.async_connect(closed_port, params, ec, diag);
        CHECK(ec == errc::network);
        CHECK(diag.message.find("127.0.0.1:1") != std::string::npos);
    });
}
