// SCRAM authentication and TLS against dedicated FerretDB instances started by the test
// (scripts/ferretdb.sh start DIR -- flags) in a temp dir, with a self-signed CA made by
// the openssl CLI.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/ferretdb_instance.hpp"
#include "common/test_server.hpp"

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace morm;
using morm_test::ferretdb_instance;
using morm_test::free_port;
using morm_test::run_capture;

namespace {

/// Connects and runs a write + read through the whole stack.
asio::awaitable<std::int64_t> roundtrip(std::string uri) {
    client_options o;
    auto cl = co_await client::connect(uri, o);
    auto coll = cl.database("authdb").collection("c");
    auto d = bson::document::from_json(R"({"x": 1})");
    insert_options io;
    co_await coll.insert_one(d, io);
    bson::document all;
    count_options co;
    auto n = co_await coll.count_documents(all, co);
    co_await coll.drop();
    co_return n;
}

/// Connects and returns the failure (or success).
asio::awaitable<std::pair<error_code, std::string>> try_connect(std::string uri) {
    try {
        client_options o;
        auto cl = co_await client::connect(uri, o);
        auto ping = bson::document::from_json(R"({"listCollections": 1})");
        co_await cl.run_command("authdb", ping);
        co_return std::pair{error_code{}, std::string{}};
    } catch (const morm::error& e) {
        co_return std::pair{e.code(), std::string(e.what())};
    }
}

const char* const user = "morm_admin";
const char* const password = "pw-Xq7!zz";

}  // namespace

TEST_CASE("SCRAM authentication against FerretDB", "[auth][integration]") {
    ferretdb_instance srv({"--test-enable-new-auth", "--setup-database=admin", std::string("--setup-username=") + user,
                           std::string("--setup-password=") + password});
    const std::string base = fmt::format("mongodb://{}:{}@127.0.0.1:{}/authdb?authSource=admin", user, password, srv.port());

    SECTION("negotiated mechanism") { CHECK(morm_test::run([&] { return roundtrip(base); }) == 1); }
    SECTION("SCRAM-SHA-256") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&authMechanism=SCRAM-SHA-256"); }) == 1);
    }
    SECTION("SCRAM-SHA-1") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&authMechanism=SCRAM-SHA-1"); }) == 1);
    }
    SECTION("no credentials: the server refuses commands") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(fmt::format("mongodb://127.0.0.1:{}/authdb", srv.port())); });
        CHECK(ec == errc::server_error);
        INFO(msg);
        CHECK(msg.find("authentication") != std::string::npos);
    }
    SECTION("bad password: auth_failed naming mechanism and user, never the password") {
        for (std::string mech : {"SCRAM-SHA-256", "SCRAM-SHA-1"}) {
            const std::string wrong = "WrongPassw0rd-zz";
            auto uri = fmt::format("mongodb://{}:{}@127.0.0.1:{}/authdb?authSource=admin&authMechanism={}", user,
                                   wrong, srv.port(), mech);
            auto [ec, msg] = morm_test::run([&] { return try_connect(uri); });
            INFO(mech << ": " << msg);
            CHECK(ec == errc::auth_failed);
            CHECK(msg.find(mech) != std::string::npos);
            CHECK(msg.find(user) != std::string::npos);
            CHECK(msg.find(wrong) == std::string::npos);
            CHECK(msg.find(password) == std::string::npos);
        }
    }
    SECTION("unknown user") {
        auto uri = fmt::format("mongodb://nobody:{}@127.0.0.1:{}/authdb?authSource=admin", password, srv.port());
        auto [ec, msg] = morm_test::run([&] { return try_connect(uri); });
        INFO(msg);
        CHECK(ec == errc::auth_failed);
        CHECK(msg.find("nobody") != std::string::npos);
        CHECK(msg.find(password) == std::string::npos);
    }
}

namespace {

struct tls_files {
    fs::path dir, ca, other_ca, cert, key;
};

/// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA.
tls_files make_certs(const fs::path& dir) {
    tls_files t{dir, dir / "ca.pem", dir / "other-ca.pem", dir / "server.pem", dir / "server.key"};
    const std::string d = dir.string();
    const std::string script = fmt::format(
        "set -e; cd '{0}';"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=morm test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign;"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 "
        "-subj '/CN=other CA' -addext basicConstraints=critical,CA:TRUE;"
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1';"
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
        "extendedKeyUsage=serverAuth\\n' > ext.cnf;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile ext.cnf",
        d);
    int status = 0;
    run_capture({"bash", "-c", "( " + script + " ) >/dev/null 2>&1"}, status);
    REQUIRE(status == 0);
    REQUIRE(fs::exists(t.cert));
    return t;
}

}  // namespace

TEST_CASE("TLS against FerretDB with a self-signed CA", "[tls][integration]") {
    char tmpl[] = "/tmp/morm-client-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const fs::path dir = tmpl;
    struct cleanup {
        fs::path p;
        ~cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup_dir{dir};
    auto certs = make_certs(dir);
    const auto tls_port = free_port();
    ferretdb_instance srv({fmt::format("--listen-tls=127.0.0.1:{}", tls_port),
                           "--listen-tls-cert-file=" + certs.cert.string(),
                           "--listen-tls-key-file=" + certs.key.string()},
                          dir);
    const std::string base = fmt::format("mongodb://127.0.0.1:{}/authdb?tls=true", tls_port);

    SECTION("verified with the CA") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsCAFile=" + certs.ca.string()); }) == 1);
    }
    SECTION("the wrong CA fails with tls_error") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(base + "&tlsCAFile=" + certs.other_ca.string()); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
    }
    SECTION("no CA (system store) fails with tls_error") {
        auto [ec, msg] = morm_test::run([&] { return try_connect(base); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
    }
    SECTION("tlsAllowInvalidCertificates works without the CA") {
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsAllowInvalidCertificates=true"); }) == 1);
        CHECK(morm_test::run([&] { return roundtrip(base + "&tlsInsecure=true"); }) == 1);
    }
    SECTION("a name the certificate does not cover fails unless hostname checks are off") {
        // The certificate names only IP 127.0.0.1; "localhost" reaches the same listener.
        auto other = fmt::format("mongodb://localhost:{}/authdb?tls=true&tlsCAFile={}", tls_port, certs.ca.string());
        auto [ec, msg] = morm_test::run([&] { return try_connect(other); });
        INFO(msg);
        CHECK(ec == errc::tls_error);
        CHECK(morm_test::run([&] { return roundtrip(other + "&tlsAllowInvalidHostnames=true"); }) == 1);
    }
    SECTION("plain TCP still served on the other port") {
        CHECK(morm_test::run([&] { return roundtrip(fmt::format("mongodb://127.0.0.1:{}/authdb", srv.port())); }) == 1);
    }
}
