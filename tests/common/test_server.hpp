// Where the integration tests find their server: MORM_TEST_URI, else the URI file the
// ctest fixture (tests/server_fixture.sh) wrote.
#pragma once

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace morm_test {

inline std::string server_uri() {
    if (const char* u = std::getenv("MORM_TEST_URI"); u && *u) return u;
#ifdef MORM_TEST_SERVER_DIR
    std::ifstream f(std::string(MORM_TEST_SERVER_DIR) + "/uri");
    std::string uri;
    if (f >> uri) return uri;
#endif
    throw std::runtime_error("no test server: set MORM_TEST_URI or run through ctest (fixture server_start)");
}

inline std::string host_port() {
    std::string u = server_uri();
    auto p = u.find("://");
    std::string rest = u.substr(p + 3);
    if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
    return rest.substr(0, rest.find_first_of("/?"));
}

/// Runs an awaitable to completion on a fresh io_context; rethrows its exception.
template <class F>
auto run(F&& f) {
    boost::asio::io_context ioc;
    auto fut = boost::asio::co_spawn(ioc, std::forward<F>(f)(), boost::asio::use_future);
    ioc.run();
    return fut.get();
}

/// A database name unique to this process and test, so parallel runs never collide.
inline std::string unique_db(const std::string& base) {
    static int counter = 0;
    return base + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

// URI of the test server with the host replaced by `host_port` and extra options.
inline std::string uri_via(const std::string& host_port, const std::string& db, const std::string& options) {
    auto u = server_uri();
    auto scheme = u.find("://") + 3;
    auto rest = u.substr(scheme);
    std::string creds;
    if (auto at = rest.rfind('@'); at != std::string::npos) creds = rest.substr(0, at + 1);
    std::string query;
    if (auto q = u.find('?'); q != std::string::npos) query = u.substr(q + 1);
    if (!options.empty()) query += (query.empty() ? "" : "&") + options;
    return u.substr(0, scheme) + creds + host_port + "/" + db + (query.empty() ? "" : "?" + query);
}

}  // namespace morm_test
