// Connection string parsing; cases follow the MongoDB connection-string and uri-options
// spec test suites (invalid-uris, valid-auth, valid-host_identifiers, valid-options,
// valid-unix_socket-*, valid-warnings, auth/tls/concern/pool/read-preference/compression).
#include <morm/uri.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>

using morm::connection_string;
using morm::host;
using namespace std::chrono_literals;

namespace {

struct failure {
    std::size_t pos;
    std::string message;
};

// Parses `uri` expecting failure; returns the position and message.
failure parse_fail(std::string_view uri) {
    morm::error_code ec;
    morm::diagnostics diag;
    auto cs = connection_string::parse(uri, ec, diag);
    INFO(uri);
    REQUIRE(ec == morm::errc::bad_uri);
    const std::string prefix = "invalid connection string at position ";
    REQUIRE(diag.message.starts_with(prefix));
    auto colon = diag.message.find(':', prefix.size());
    REQUIRE(colon != std::string::npos);
    REQUIRE(cs.hosts.empty());
    return {std::stoul(diag.message.substr(prefix.size(), colon - prefix.size())), diag.message};
}

void check_fail(std::string_view uri, std::size_t pos, std::string_view reason) {
    auto f = parse_fail(uri);
    INFO(uri << " -> " << f.message);
    CHECK(f.pos == pos);
    CHECK(f.message.find(reason) != std::string::npos);
}

connection_string ok(std::string_view uri) {
    morm::error_code ec;
    morm::diagnostics diag;
    auto cs = connection_string::parse(uri, ec, diag);
    INFO(uri << " -> " << diag.message);
    REQUIRE(!ec);
    return cs;
}

bool has_warning(const connection_string& cs, std::string_view text) {
    for (auto& w : cs.warnings)
        if (w.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

// ---------------------------------------------------------------- invalid-uris

TEST_CASE("uri: invalid scheme and structure", "[uri]") {
    check_fail("", 0, "empty connection string");
    check_fail("mongo://localhost:27017", 0, "scheme");
    check_fail("MONGODB://localhost", 0, "scheme");
    check_fail("mongodb://", 10, "missing host");
    // The '/' before the options is optional (connection-string-spec.md, 2023-08-02).
    CHECK(std::get<std::int32_t>(*ok("mongodb://example.com?w=1").w) == 1);
    check_fail("mongodb://example.com/?w", 23, "key=value");
    check_fail("mongodb://localhost/?=1", 21, "empty key");
    check_fail("mongodb:///tmp/mongodb-27017.sock/", 10, "missing host");
    check_fail("mongodb://localhost/tmp/mongodb-27017.sock", 23, "must not contain '/'");
    check_fail("mongodb://localhost,,other", 20, "empty host");
}

TEST_CASE("uri: invalid ports", "[uri]") {
    check_fail("mongodb://localhost::27017", 20, "unexpected ':'");
    check_fail("mongodb://localhost::27017/", 20, "unexpected ':'");
    check_fail("mongodb://::", 10, "empty host name");
    check_fail("mongodb://localhost,localhost::", 30, "unexpected ':'");
    check_fail("mongodb://localhost:27017,localhost::", 36, "unexpected ':'");
    check_fail("mongodb://localhost:-1", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:0/", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:65536", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:65536/", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:foo", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:", 20, "port must be 1..65535");
    check_fail("mongodb://localhost:99999999999999999999", 20, "port must be 1..65535");
    check_fail("mongodb://[::1]:-1", 16, "port must be 1..65535");
    check_fail("mongodb://[::1]:0/", 16, "port must be 1..65535");
    check_fail("mongodb://[::1]:65536", 16, "port must be 1..65535");
    check_fail("mongodb://[::1]:foo", 16, "port must be 1..65535");
    check_fail("mongodb://[::1", 10, "missing ']'");
    check_fail("mongodb://[::1]x", 15, "expected ':'");
    check_fail("mongodb://[zz::1]", 11, "invalid character in IPv6");
}

TEST_CASE("uri: invalid user info", "[uri]") {
    check_fail("mongodb://alice:foo:bar@127.0.0.1", 19, "':' in the password");
    check_fail("mongodb://alice@@127.0.0.1", 15, "'@' in the user info");
    check_fail("mongodb://alice@foo:bar@127.0.0.1", 15, "'@' in the user info");
    check_fail("mongodb://alice/@localhost/db", 15, "'/' in the user info");
    check_fail("mongodb://alice/bob:foo@localhost/db", 15, "'/' in the user info");
    check_fail("mongodb://alice:foo/bar@localhost/db", 19, "'/' in the user info");
    check_fail("mongodb://alice%foo:bar@127.0.0.1", 15, "invalid percent-escape in user name");
    check_fail("mongodb://user%20%:password@localhost", 17, "invalid percent-escape in user name");
    check_fail("mongodb://user%w:password@localhost", 14, "invalid percent-escape in user name");
    check_fail("mongodb://user:password%@localhost", 23, "invalid percent-escape in password");
    check_fail("mongodb://user:%password@localhost", 15, "invalid percent-escape in password");
    check_fail("mongodb://user:%@localhost", 15, "invalid percent-escape in password");
    check_fail("mongodb://user:%20%@localhost", 18, "invalid percent-escape in password");
    check_fail("mongodb://:password@localhost", 10, "user name must not be empty");
    check_fail("mongodb://user@", 15, "missing host");
}

TEST_CASE("uri: srv rules", "[uri]") {
    check_fail("mongodb+srv://test5.test.mongodb.com,test6.test.mongodb.com", 36, "exactly one host");
    check_fail("mongodb+srv://test7.test.mongodb.com:27018", 36, "must not specify a port");
    check_fail("mongodb+srv://[::1]", 14, "requires a host name");
    check_fail("mongodb+srv://%2Ftmp%2Fm.sock", 14, "requires a host name");
    check_fail("mongodb+srv://test1.test.build.10gen.cc/?directConnection=true", 41,
               "not allowed with mongodb+srv");
    check_fail("mongodb://localhost/?srvMaxHosts=2", 21, "srvMaxHosts requires mongodb+srv");
    check_fail("mongodb://localhost/?srvServiceName=customname", 21, "srvServiceName requires mongodb+srv");
    check_fail("mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=1&replicaSet=repl0", 55,
               "srvMaxHosts is not allowed with replicaSet");
    check_fail("mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=1&loadBalanced=true", 55,
               "srvMaxHosts is not allowed with loadBalanced");
    CHECK(has_warning(ok("mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=-1"), "srvMaxHosts: '-1'"));
}

// ---------------------------------------------------------------- valid-host_identifiers

TEST_CASE("uri: host identifiers", "[uri]") {
    SECTION("single hostname, default port") {
        auto cs = ok("mongodb://example.com");
        REQUIRE(cs.hosts.size() == 1);
        CHECK(cs.hosts[0] == host{"example.com", 27017, host::kind::hostname});
        CHECK(!cs.database);
        CHECK(!cs.auth);
        CHECK(!cs.srv);
        CHECK(cs.warnings.empty());
    }
    SECTION("hostname with port, lower-cased") {
        auto cs = ok("mongodb://LocalHost:27018/");
        CHECK(cs.hosts[0] == host{"localhost", 27018, host::kind::hostname});
    }
    SECTION("ipv4 and ipv6") {
        auto cs = ok("mongodb://127.0.0.1:27018,[::1]:27019,[FE80::1],example.com:65535");
        REQUIRE(cs.hosts.size() == 4);
        CHECK(cs.hosts[0] == host{"127.0.0.1", 27018, host::kind::ipv4});
        CHECK(cs.hosts[1] == host{"::1", 27019, host::kind::ipv6});
        CHECK(cs.hosts[2] == host{"fe80::1", 27017, host::kind::ipv6});
        CHECK(cs.hosts[3] == host{"example.com", 65535, host::kind::hostname});
        CHECK(cs.hosts[1].to_string() == "[::1]:27019");
        CHECK(cs.hosts[0].to_string() == "127.0.0.1:27018");
    }
    SECTION("not quite ipv4 is a hostname") {
        auto cs = ok("mongodb://256.0.0.1,1.2.3");
        CHECK(cs.hosts[0].type == host::kind::hostname);
        CHECK(cs.hosts[1].type == host::kind::hostname);
    }
    SECTION("trailing slash and empty options") {
        auto cs = ok("mongodb://localhost/?");
        CHECK(cs.hosts.size() == 1);
        CHECK(!cs.database);
    }
}

// ---------------------------------------------------------------- unix sockets

TEST_CASE("uri: unix domain sockets", "[uri]") {
    SECTION("absolute") {
        auto cs = ok("mongodb://%2Ftmp%2Fmongodb-27017.sock");
        REQUIRE(cs.hosts.size() == 1);
        CHECK(cs.hosts[0].name == "/tmp/mongodb-27017.sock");
        CHECK(cs.hosts[0].type == host::kind::unix_socket);
        CHECK(!cs.hosts[0].is_tcp());
        CHECK(cs.hosts[0].to_string() == "/tmp/mongodb-27017.sock");
    }
    SECTION("mixed with tcp, lower-case escapes, auth database resembling a socket") {
        auto cs = ok("mongodb://alice:foo@%2ftmp%2fmongodb-27017.sock,localhost:27018/admin.sock");
        REQUIRE(cs.hosts.size() == 2);
        CHECK(cs.hosts[0].name == "/tmp/mongodb-27017.sock");
        CHECK(cs.hosts[1] == host{"localhost", 27018, host::kind::hostname});
        CHECK(*cs.database == "admin.sock");
        CHECK(cs.auth_database() == "admin.sock");
    }
    SECTION("relative") {
        auto cs = ok("mongodb://rel%2Fmongodb-27017.sock/admin.shoe");
        CHECK(cs.hosts[0].name == "rel/mongodb-27017.sock");
        CHECK(*cs.database == "admin.shoe");
    }
    SECTION("path must end in .sock") {
        check_fail("mongodb://%2Ftmp%2Fmongodb", 10, "must end in .sock");
    }
}

// ---------------------------------------------------------------- valid-auth

TEST_CASE("uri: user info and auth database", "[uri]") {
    SECTION("user and password") {
        auto cs = ok("mongodb://alice:foo@127.0.0.1");
        REQUIRE(cs.auth);
        CHECK(cs.auth->username == "alice");
        CHECK(cs.auth->password == "foo");
        CHECK(!cs.auth->mechanism);
        CHECK(cs.auth_database() == "admin");
    }
    SECTION("empty password is present") {
        auto cs = ok("mongodb://alice:@127.0.0.1");
        CHECK(cs.auth->password == "");
    }
    SECTION("no password") {
        auto cs = ok("mongodb://alice@127.0.0.1/test");
        CHECK(!cs.auth->password);
        CHECK(cs.auth_database() == "test");
    }
    SECTION("escaped user info and database") {
        auto cs = ok("mongodb://%24am:f%3Azzb%40z%2Fz%3D@127.0.0.1/admin%3F?authMechanism=SCRAM-SHA-1");
        CHECK(cs.auth->username == "$am");
        CHECK(cs.auth->password == "f:zzb@z/z=");
        CHECK(*cs.database == "admin?");
        CHECK(cs.auth_database() == "admin?");
        CHECK(cs.auth->mechanism == morm::auth_mechanism::scram_sha_1);
    }
    SECTION("subdelimiters need no escaping") {
        auto cs = ok("mongodb://!$&'()*+,;=:!$&'()*+,;=@127.0.0.1/admin?authMechanism=PLAIN");
        CHECK(cs.auth->username == "!$&'()*+,;=");
        CHECK(cs.auth->password == "!$&'()*+,;=");
        CHECK(cs.auth_database() == "admin");
    }
    SECTION("at-signs in options are not user info") {
        auto cs = ok("mongodb://alice:secret@example.com/admin?replicaset=my@replicaset");
        CHECK(cs.auth->username == "alice");
        CHECK(*cs.replica_set == "my@replicaset");
    }
    SECTION("escaped X509 subject") {
        auto cs = ok("mongodb://CN%3DmyName%2COU%3DmyOrgUnit%2CO%3DmyOrg%2CL%3DmyLocality%2CST%3DmyState%2CC%3DmyCountry"
                     "@localhost/?authMechanism=MONGODB-X509");
        CHECK(cs.auth->username == "CN=myName,OU=myOrgUnit,O=myOrg,L=myLocality,ST=myState,C=myCountry");
        CHECK(cs.auth_database() == "$external");
    }
    SECTION("authSource wins over database") {
        auto cs = ok("mongodb://user:pw@localhost/db?authSource=other");
        CHECK(cs.auth_database() == "other");
        CHECK(*cs.database == "db");
    }
    SECTION("escaped database") {
        auto cs = ok("mongodb://localhost/my%3Ddb");
        CHECK(*cs.database == "my=db");
        // A space is one of the characters a database name must not hold once decoded.
        check_fail("mongodb://localhost/my%20db", 20, "must not contain ' '");
    }
}

// ---------------------------------------------------------------- auth mechanisms (auth spec)

TEST_CASE("uri: auth mechanisms", "[uri]") {
    SECTION("GSSAPI defaults SERVICE_NAME and uses $external") {
        auto cs = ok("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI");
        CHECK(cs.auth->username == "user@DOMAIN.COM");
        CHECK(cs.auth->mechanism == morm::auth_mechanism::gssapi);
        REQUIRE(cs.auth->property("SERVICE_NAME"));
        CHECK(*cs.auth->property("SERVICE_NAME") == "mongodb");
        CHECK(cs.auth_database() == "$external");
    }
    SECTION("GSSAPI properties") {
        auto cs = ok("mongodb://user%40EXAMPLE.COM:secret@localhost/?authMechanismProperties=SERVICE_NAME:other,"
                     "CANONICALIZE_HOST_NAME:forward,SERVICE_REALM:R%3A1&authMechanism=GSSAPI");
        CHECK(*cs.auth->property("service_name") == "other");
        CHECK(*cs.auth->property("CANONICALIZE_HOST_NAME") == "forward");
        CHECK(*cs.auth->property("SERVICE_REALM") == "R:1");
        CHECK(cs.auth->password == "secret");
    }
    SECTION("deprecated gssapiServiceName") {
        auto cs = ok("mongodb://user@localhost/?authMechanism=GSSAPI&gssapiServiceName=svc");
        CHECK(*cs.auth->property("SERVICE_NAME") == "svc");
        CHECK(has_warning(cs, "deprecated"));
    }
    SECTION("X509 without user name") {
        auto cs = ok("mongodb://localhost/?authMechanism=MONGODB-X509");
        REQUIRE(cs.auth);
        CHECK(cs.auth->username.empty());
        CHECK(cs.auth_database() == "$external");
    }
    SECTION("PLAIN: database, else $external") {
        CHECK(ok("mongodb://user:pw@localhost/?authMechanism=PLAIN").auth_database() == "$external");
        CHECK(ok("mongodb://user:pw@localhost/foo?authMechanism=PLAIN").auth_database() == "foo");
    }
    SECTION("MONGODB-AWS with and without credentials") {
        auto cs = ok("mongodb://localhost/?authMechanism=MONGODB-AWS");
        CHECK(cs.auth_database() == "$external");
        auto c2 = ok("mongodb://AKIA:secretkey@localhost/?authMechanism=MONGODB-AWS"
                     "&authMechanismProperties=AWS_SESSION_TOKEN:tokentoken");
        CHECK(*c2.auth->property("AWS_SESSION_TOKEN") == "tokentoken");
        CHECK(c2.redacted().find("tokentoken") == std::string::npos);
        CHECK(c2.redacted().find("secretkey") == std::string::npos);
    }
    SECTION("SCRAM-SHA-256, mechanism case-insensitive") {
        auto cs = ok("mongodb://user:pw@localhost/?authmechanism=scram-sha-256");
        CHECK(cs.auth->mechanism == morm::auth_mechanism::scram_sha_256);
        CHECK(cs.auth_database() == "admin");
    }
    SECTION("invalid combinations") {
        check_fail("mongodb://localhost/?authMechanism=SCRAM-SHA-1", 21, "requires a user name");
        check_fail("mongodb://user@localhost/?authMechanism=SCRAM-SHA-256", 10, "requires a password");
        check_fail("mongodb://localhost/?authMechanism=GSSAPI", 21, "requires a user name");
        check_fail("mongodb://user@localhost/?authMechanism=GSSAPI&authSource=foo", 47, "authSource=$external");
        check_fail("mongodb://user@localhost/?authMechanism=GSSAPI&authMechanismProperties=CANONICALIZE_HOST_NAME:maybe",
                   47, "CANONICALIZE_HOST_NAME");
        check_fail("mongodb://user:pw@localhost/?authMechanism=MONGODB-X509", 10, "does not take a password");
        check_fail("mongodb://localhost/?authMechanism=MONGODB-X509&authSource=bar", 48, "authSource=$external");
        check_fail("mongodb://user@localhost/?authMechanism=PLAIN", 10, "requires a password");
        check_fail("mongodb://user@localhost/?authMechanism=MONGODB-AWS", 10, "requires a password");
        check_fail("mongodb://localhost/?authMechanism=MONGODB-CR", 21, "requires a user name");
        check_fail("mongodb://localhost/?authMechanism=SCRAM-SHA-512", 35, "unknown authMechanism");
        CHECK(!ok("mongodb://localhost/?authSource=foo").auth);  // no credentials, no authentication
        check_fail("mongodb://user@localhost/?authSource=", 37, "authSource must not be empty");
        check_fail("mongodb://user:pw@localhost/?authMechanism=SCRAM-SHA-1&authMechanismProperties=A:b", 55,
                   "not valid for SCRAM-SHA-1");
        // An entry without ':' is an invalid value: ignored with a warning.
        auto cs = ok("mongodb://user@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME");
        CHECK(has_warning(cs, "authMechanismProperties"));
        CHECK(*cs.auth->property("SERVICE_NAME") == "mongodb");
    }
}

// ---------------------------------------------------------------- valid-options / uri-options

TEST_CASE("uri: options are typed and keys case-insensitive", "[uri]") {
    auto cs = ok("mongodb://example.com/?replicaSet=uri-options-spec&APPNAME=my%20app&connectTimeoutMS=20000"
                 "&SocketTimeoutMS=7500&serverSelectionTimeoutMS=15000&heartbeatFrequencyMS=500"
                 "&localThresholdMS=0&retryWrites=false&retryReads=false&directConnection=false"
                 "&readConcernLevel=majority&timeoutMS=0&maxConnecting=5");
    CHECK(*cs.replica_set == "uri-options-spec");
    CHECK(*cs.app_name == "my app");
    CHECK(cs.connect_timeout == 20000ms);
    CHECK(cs.socket_timeout == 7500ms);
    CHECK(cs.server_selection_timeout == 15000ms);
    CHECK(cs.heartbeat_frequency == 500ms);
    CHECK(cs.local_threshold == 0ms);
    CHECK(!cs.retry_writes);
    CHECK(!cs.retry_reads);
    CHECK(cs.direct_connection == false);
    CHECK(*cs.read_concern_level == "majority");
    CHECK(cs.timeout == 0ms);
    CHECK(cs.max_connecting == 5);
    CHECK(cs.warnings.empty());
}

TEST_CASE("uri: defaults", "[uri]") {
    auto cs = ok("mongodb://localhost");
    CHECK(cs.connect_timeout == 10000ms);
    CHECK(!cs.socket_timeout);
    CHECK(cs.server_selection_timeout == 30000ms);
    CHECK(cs.heartbeat_frequency == 10000ms);
    CHECK(cs.local_threshold == 15ms);
    CHECK(cs.max_pool_size == 100);
    CHECK(cs.min_pool_size == 0);
    CHECK(cs.retry_writes);
    CHECK(cs.retry_reads);
    CHECK(!cs.tls_enabled());
    CHECK(cs.effective_read_preference() == morm::read_mode::primary);
    CHECK(!cs.w);
    CHECK(cs.compressors.empty());
}

// The spec makes an invalid value a warning: the option is ignored (its default stays).
TEST_CASE("uri: invalid option values", "[uri]") {
    auto warned = [](std::string_view uri, std::string_view text) {
        auto cs = ok(uri);
        INFO(uri);
        CHECK(has_warning(cs, text));
        return cs;
    };
    CHECK(warned("mongodb://localhost/?connectTimeoutMS=abc", "connectTimeoutMS: 'abc'").connect_timeout == 10000ms);
    CHECK(warned("mongodb://localhost/?connectTimeoutMS=-2", ">= 0").connect_timeout == 10000ms);
    warned("mongodb://localhost/?connectTimeoutMS=10s", "expected an integer");
    CHECK(!warned("mongodb://localhost/?socketTimeoutMS=99999999999", "socketTimeoutMS").socket_timeout);
    warned("mongodb://localhost/?socketTimeoutMS=999999999999999999999", "socketTimeoutMS");
    warned("mongodb://localhost/?heartbeatFrequencyMS=499", "heartbeatFrequencyMS: '499' (expected an integer >= 500)");
    CHECK(warned("mongodb://localhost/?retryWrites=yes", "retryWrites").retry_writes);
    CHECK(warned("mongodb://localhost/?retryReads=1", "true or false").retry_reads);
    CHECK(!warned("mongodb://localhost/?directConnection=maybe", "directConnection").direct_connection);
    CHECK(!warned("mongodb://localhost/?appName=" + std::string(129, 'a'), "128 bytes").app_name);
    CHECK(warned("mongodb://localhost/?maxConnecting=0", "maxConnecting").max_connecting == 2);
    check_fail("mongodb://localhost/?connectTimeoutMS=1%", 39, "invalid percent-escape");
    CHECK(ok("mongodb://localhost/?appName=" + std::string(128, 'a')).app_name->size() == 128);
}

TEST_CASE("uri: topology options", "[uri]") {
    CHECK(ok("mongodb://localhost/?directConnection=true").direct_connection == true);
    CHECK(ok("mongodb://a,b/?directConnection=false").direct_connection == false);
    check_fail("mongodb://a,b/?directConnection=true", 15, "requires exactly one host");
    CHECK(ok("mongodb://localhost/?loadBalanced=true").load_balanced);
    check_fail("mongodb://a,b/?loadBalanced=true", 15, "loadBalanced=true requires exactly one host");
    check_fail("mongodb://a/?loadBalanced=true&replicaSet=rs", 31, "not allowed with replicaSet");
    check_fail("mongodb://a/?loadBalanced=true&directConnection=true", 31, "not allowed with directConnection");
    CHECK(ok("mongodb://a/?loadBalanced=true&directConnection=false").load_balanced);
}

// ---------------------------------------------------------------- tls-options

TEST_CASE("uri: tls options", "[uri]") {
    SECTION("values") {
        auto cs = ok("mongodb://example.com/?tls=true&tlsCAFile=ca.pem&tlsCertificateKeyFile=cert.pem"
                     "&tlsCertificateKeyFilePassword=hunter2&tlsAllowInvalidHostnames=true");
        CHECK(cs.tls_enabled());
        CHECK(*cs.tls_ca_file == "ca.pem");
        CHECK(*cs.tls_certificate_key_file == "cert.pem");
        CHECK(*cs.tls_certificate_key_file_password == "hunter2");
        CHECK(cs.tls_skip_hostname_check());
        CHECK(!cs.tls_skip_certificate_check());
        CHECK(cs.redacted().find("hunter2") == std::string::npos);
        CHECK(cs.redacted().find("tlsCertificateKeyFilePassword=****") != std::string::npos);
    }
    SECTION("tls and ssl agree") {
        CHECK(ok("mongodb://example.com/?tls=true&ssl=true").tls_enabled());
        CHECK(!ok("mongodb://example.com/?tls=false&ssl=false").tls_enabled());
        CHECK(ok("mongodb://example.com/?ssl=true").tls_enabled());
        check_fail("mongodb://example.com/?tls=true&ssl=false", 32, "tls and ssl must agree");
        check_fail("mongodb://example.com/?ssl=false&tls=true", 33, "tls and ssl must agree");
    }
    SECTION("tlsInsecure") {
        auto cs = ok("mongodb://example.com/?tlsInsecure=true");
        CHECK(cs.tls_skip_certificate_check());
        CHECK(cs.tls_skip_hostname_check());
    }
    SECTION("conflicts, whatever the values") {
        check_fail("mongodb://example.com/?tlsInsecure=true&tlsAllowInvalidCertificates=true", 40,
                   "tlsInsecure and tlsAllowInvalidCertificates");
        check_fail("mongodb://example.com/?tlsAllowInvalidCertificates=false&tlsInsecure=false", 57,
                   "tlsInsecure and tlsAllowInvalidCertificates");
        check_fail("mongodb://example.com/?tlsInsecure=true&tlsAllowInvalidHostnames=false", 40,
                   "tlsInsecure and tlsAllowInvalidHostnames");
        check_fail("mongodb://example.com/?tlsInsecure=true&tlsDisableOCSPEndpointCheck=true", 40,
                   "tlsInsecure and tlsDisableOCSPEndpointCheck");
        check_fail("mongodb://example.com/?tlsInsecure=true&tlsDisableCertificateRevocationCheck=true", 40,
                   "tlsInsecure and tlsDisableCertificateRevocationCheck");
        check_fail("mongodb://example.com/?tlsAllowInvalidCertificates=true&tlsDisableOCSPEndpointCheck=true", 56,
                   "tlsAllowInvalidCertificates and tlsDisableOCSPEndpointCheck");
        check_fail("mongodb://example.com/?tlsDisableOCSPEndpointCheck=true&tlsDisableCertificateRevocationCheck=false",
                   56, "tlsDisableOCSPEndpointCheck and tlsDisableCertificateRevocationCheck");
    }
    SECTION("allowed combination") {
        auto cs = ok("mongodb://example.com/?tlsAllowInvalidHostnames=true&tlsDisableOCSPEndpointCheck=true");
        CHECK(cs.tls_disable_ocsp_endpoint_check);
        CHECK(cs.tls_allow_invalid_hostnames);
    }
}

// ---------------------------------------------------------------- concern-options

TEST_CASE("uri: write concern", "[uri]") {
    SECTION("numeric w, journal, wtimeoutMS") {
        auto cs = ok("mongodb://example.com/?w=1&journal=true&wtimeoutMS=1000");
        CHECK(std::get<std::int32_t>(*cs.w) == 1);
        CHECK(cs.journal == true);
        CHECK(cs.wtimeout == 1000ms);
    }
    SECTION("w as a string") {
        auto cs = ok("mongodb://example.com/?w=majority");
        CHECK(std::get<std::string>(*cs.w) == "majority");
        CHECK(std::get<std::string>(*ok("mongodb://example.com/?w=arbitraryButStillValid").w) == "arbitraryButStillValid");
    }
    SECTION("w=0 without journal") {
        CHECK(std::get<std::int32_t>(*ok("mongodb://example.com/?w=0").w) == 0);
        CHECK(ok("mongodb://example.com/?w=0&journal=false").journal == false);
    }
    SECTION("invalid") {
        check_fail("mongodb://example.com/?w=0&journal=true", 27, "w=0 is not allowed with journal=true");
        CHECK(!ok("mongodb://example.com/?w=-1").w);
        CHECK(has_warning(ok("mongodb://example.com/?journal=invalid"), "journal: 'invalid' (expected true or false)"));
        CHECK(!ok("mongodb://example.com/?wtimeoutMS=-2").wtimeout);
    }
    SECTION("deprecated wtimeout loses to wtimeoutMS") {
        auto cs = ok("mongodb://example.com/?wtimeout=5&wtimeoutMS=10");
        CHECK(cs.wtimeout == 10ms);
        CHECK(has_warning(cs, "wtimeout is deprecated"));
        CHECK(ok("mongodb://example.com/?wtimeout=5").wtimeout == 5ms);
    }
}

// ---------------------------------------------------------------- connection-pool-options

TEST_CASE("uri: pool options", "[uri]") {
    auto cs = ok("mongodb://example.com/?maxIdleTimeMS=50000&minPoolSize=5&maxPoolSize=10&waitQueueTimeoutMS=100");
    CHECK(cs.max_idle_time == 50000ms);
    CHECK(cs.min_pool_size == 5);
    CHECK(cs.max_pool_size == 10);
    CHECK(cs.wait_queue_timeout == 100ms);
    CHECK(ok("mongodb://example.com/?maxPoolSize=0&minPoolSize=50").max_pool_size == 0);  // 0 = unlimited
    CHECK(ok("mongodb://example.com/?maxIdleTimeMS=0").max_idle_time == 0ms);
    check_fail("mongodb://example.com/?minPoolSize=11&maxPoolSize=10", 38, "minPoolSize must not exceed maxPoolSize");
    // Invalid values warn and are ignored.
    CHECK(has_warning(ok("mongodb://example.com/?maxIdleTimeMS=-2"), "maxIdleTimeMS: '-2' (expected an integer >= 0)"));
    CHECK(has_warning(ok("mongodb://example.com/?maxIdleTimeMS=invalid"), "maxIdleTimeMS: 'invalid' (expected an integer)"));
    CHECK(ok("mongodb://example.com/?minPoolSize=-1").min_pool_size == 0);
    CHECK(ok("mongodb://example.com/?maxPoolSize=2147483648").max_pool_size == 100);
}

// ---------------------------------------------------------------- read-preference-options

TEST_CASE("uri: read preference", "[uri]") {
    SECTION("mode, tags, staleness") {
        auto cs = ok("mongodb://example.com/?readPreference=primaryPreferred&readPreferenceTags=dc:ny,rack:1"
                     "&maxStalenessSeconds=120&readPreferenceTags=dc:ny&readPreferenceTags=");
        CHECK(cs.read_preference == morm::read_mode::primary_preferred);
        REQUIRE(cs.read_preference_tags.size() == 3);
        CHECK(cs.read_preference_tags[0] == morm::key_value_list{{"dc", "ny"}, {"rack", "1"}});
        CHECK(cs.read_preference_tags[1] == morm::key_value_list{{"dc", "ny"}});
        CHECK(cs.read_preference_tags[2].empty());
        CHECK(cs.max_staleness_seconds == 120);
        CHECK(cs.warnings.empty());  // repeating readPreferenceTags is not a "repeated option"
    }
    SECTION("all modes, spelt as the spec does") {
        CHECK(ok("mongodb://a/?readPreference=secondary").read_preference == morm::read_mode::secondary);
        CHECK(ok("mongodb://a/?readPreference=secondaryPreferred").read_preference ==
              morm::read_mode::secondary_preferred);
        CHECK(!ok("mongodb://a/?readPreference=SECONDARYPREFERRED").read_preference);  // warned, ignored
        CHECK(ok("mongodb://a/?readPreference=nearest&maxStalenessSeconds=-1").max_staleness_seconds == -1);
        CHECK(ok("mongodb://a/?readPreference=primary").read_preference == morm::read_mode::primary);
    }
    SECTION("invalid") {
        CHECK(has_warning(ok("mongodb://a/?readPreference=fastest"), "readPreference: 'fastest'"));
        CHECK(has_warning(ok("mongodb://a/?readPreference=secondary&maxStalenessSeconds=89"), "-1 or an integer >= 90"));
        CHECK(!ok("mongodb://a/?readPreference=secondary&maxStalenessSeconds=0").max_staleness_seconds);
        check_fail("mongodb://a/?readPreferenceTags=dc:ny", 13, "not allowed with readPreference=primary");
        check_fail("mongodb://a/?maxStalenessSeconds=120", 13, "not allowed with readPreference=primary");
        auto bad_tags = ok("mongodb://a/?readPreference=nearest&readPreferenceTags=invalid");
        CHECK(has_warning(bad_tags, "readPreferenceTags: 'invalid'"));
        CHECK(bad_tags.read_preference_tags.empty());
    }
}

// ---------------------------------------------------------------- compression-options

TEST_CASE("uri: compressors", "[uri]") {
    auto cs = ok("mongodb://example.com/?compressors=zstd,snappy,zlib&zlibCompressionLevel=9");
    CHECK(cs.compressors == std::vector{morm::compressor::zstd, morm::compressor::snappy, morm::compressor::zlib});
    CHECK(cs.zlib_compression_level == 9);
    auto dropped = ok("mongodb://example.com/?compressors=foo,zlib");
    CHECK(dropped.compressors == std::vector{morm::compressor::zlib});
    CHECK(has_warning(dropped, "'foo'"));
    CHECK(ok("mongodb://example.com/?zlibCompressionLevel=-1").zlib_compression_level == -1);
    CHECK(has_warning(ok("mongodb://example.com/?zlibCompressionLevel=10"), "expected an integer in -1..9"));
    CHECK(!ok("mongodb://example.com/?zlibCompressionLevel=-2").zlib_compression_level);
}

// ---------------------------------------------------------------- valid-warnings

TEST_CASE("uri: warnings", "[uri]") {
    SECTION("unknown option") {
        auto cs = ok("mongodb://example.com/?foo=bar");
        REQUIRE(cs.warnings.size() == 1);
        CHECK(cs.warnings[0].find("foo") != std::string::npos);
        CHECK(cs.warnings[0].find("bar") == std::string::npos);  // values may be secret
    }
    SECTION("repeated option: last wins") {
        auto cs = ok("mongodb://example.com/?replicaSet=test&replicaset=test2");
        CHECK(*cs.replica_set == "test2");
        CHECK(has_warning(cs, "more than once"));
    }
    SECTION("empty values are ignored") {
        auto cs = ok("mongodb://example.com/?maxIdleTimeMS=&journal=");
        CHECK(!cs.max_idle_time);
        CHECK(!cs.journal);
        CHECK(cs.warnings.size() == 2);
    }
}

// ---------------------------------------------------------------- srv

TEST_CASE("uri: mongodb+srv", "[uri]") {
    auto cs = ok("mongodb+srv://User:Pass@Test1.Test.Build.10gen.cc/db?srvServiceName=customname&srvMaxHosts=2");
    CHECK(cs.srv);
    REQUIRE(cs.hosts.size() == 1);
    CHECK(cs.hosts[0].name == "test1.test.build.10gen.cc");
    CHECK(cs.tls_enabled());
    CHECK(cs.srv_service_name == "customname");
    CHECK(cs.srv_max_hosts == 2);
    CHECK(cs.srv_query_name() == "_customname._tcp.test1.test.build.10gen.cc");
    CHECK(!ok("mongodb+srv://test1.test.build.10gen.cc/?tls=false").tls_enabled());
    CHECK(ok("mongodb+srv://test1.test.build.10gen.cc").srv_service_name == "mongodb");

    SECTION("SRV results: domain check and srvMaxHosts") {
        morm::error_code ec;
        morm::diagnostics diag;
        auto copy = cs;
        copy.apply_srv_hosts({{"evil.example.com", 27017, host::kind::hostname}}, ec, diag);
        CHECK(ec == morm::errc::bad_uri);
        CHECK(copy.hosts == cs.hosts);
        copy.apply_srv_hosts({{"localhost.test.build.10gen.cc.", 27017, host::kind::hostname},
                              {"LOCALHOST2.test.build.10gen.cc", 27018, host::kind::hostname},
                              {"localhost3.test.build.10gen.cc", 27019, host::kind::hostname}},
                             ec, diag);
        REQUIRE(!ec);
        REQUIRE(copy.hosts.size() == 2);
        CHECK(copy.hosts[0].name == "localhost.test.build.10gen.cc");
        CHECK(copy.hosts[1].name == "localhost2.test.build.10gen.cc");
    }
    SECTION("TXT record") {
        morm::error_code ec;
        morm::diagnostics diag;
        auto c2 = ok("mongodb+srv://user:pw@test1.test.build.10gen.cc/?replicaSet=mine");
        c2.apply_txt_record("authSource=thisDB&replicaSet=repl0", ec, diag);
        REQUIRE(!ec);
        CHECK(c2.auth_database() == "thisDB");
        CHECK(*c2.replica_set == "mine");  // the URI wins
        c2.apply_txt_record("ssl=true", ec, diag);
        CHECK(ec == morm::errc::bad_uri);
        CHECK(diag.message.find("only authSource, replicaSet and loadBalanced") != std::string::npos);
    }
}

// ---------------------------------------------------------------- secrets

TEST_CASE("uri: passwords never leak", "[uri]") {
    const std::string secret = "s3cr%3At";
    SECTION("redacted form") {
        auto cs = ok("mongodb://alice:" + secret + "@localhost:27017/db?appName=x");
        CHECK(cs.auth->password == "s3cr:t");
        CHECK(cs.redacted() == "mongodb://alice:****@localhost:27017/db?appName=x");
        CHECK(cs.to_string() == cs.redacted());
        CHECK(fmt::format("{}", cs) == cs.redacted());
    }
    SECTION("secret-looking options are redacted even if unknown") {
        auto cs = ok("mongodb://localhost/?proxyHost=p&proxyUsername=u&proxyPassword=pp1&appName=a"
                     "&tlsCertificateKeyFilePassword=pp2&mySecret=pp3");
        CHECK(cs.redacted() == "mongodb://localhost/?proxyHost=p&proxyUsername=u&proxyPassword=****&appName=a"
                               "&tlsCertificateKeyFilePassword=****&mySecret=****");
        CHECK(has_warning(cs, "mySecret"));
        for (auto& w : cs.warnings) CHECK(w.find("pp3") == std::string::npos);
    }
    SECTION("no password: nothing to redact") {
        auto cs = ok("mongodb://alice@localhost");
        CHECK(cs.redacted() == "mongodb://alice@localhost");
    }
    SECTION("errors after the password do not contain it") {
        const char* bad[] = {
            "mongodb://alice:s3cr%3At@localhost:0",
            "mongodb://alice:s3cr%3At@localhost/?connectTimeoutMS=1%",
            "mongodb://alice:s3cr%3At:x@localhost",
            "mongodb://alice:s3cr%3At%@localhost",
            "mongodb://alice:s3cr%3At@localhost/?authMechanism=MONGODB-X509",
            "mongodb://alice:s3cr%3At@localhost/?tlsCertificateKeyFilePassword=s3cr%3At&tlsInsecure=true"
            "&tlsAllowInvalidHostnames=false",
            "mongodb://alice:s3cr%3At@localhost/?proxyHost=h&proxyPassword=s3cr%3At",
        };
        for (auto uri : bad) {
            auto f = parse_fail(uri);
            INFO(f.message);
            CHECK(f.message.find("s3cr") == std::string::npos);
        }
    }
    SECTION("throwing form carries the position, not the password") {
        try {
            connection_string::parse("mongodb://bob:topsecret@localhost:65536");
            FAIL("expected morm::error");
        } catch (const morm::error& e) {
            CHECK(e.code() == morm::errc::bad_uri);
            CHECK(e.diag().message == "invalid connection string at position 34: port must be 1..65535");
            CHECK(std::string(e.what()).find("topsecret") == std::string::npos);
        }
    }
}
