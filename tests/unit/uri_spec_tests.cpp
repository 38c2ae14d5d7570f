// Conformance of the connection-string parser with connection-string-spec.md and
// uri-options.md (plus the seedlist, load-balancer, SOCKS5 and server-monitoring rules
// they point to): which URIs parse and to what, which are refused and why, which parse
// with a warning (the option ignored), and the option table. Values are our own.
#include "common/mock_server.hpp"
#include "common/socks5_proxy.hpp"

#include <morm/client/client.hpp>
#include <morm/uri.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <bson/bson.h>

#include <cstdlib>
#include <string>

using morm::connection_string;
using morm::host;
using namespace std::chrono_literals;

namespace {

connection_string parses(std::string_view uri) {
    morm::error_code ec;
    morm::diagnostics diag;
    auto cs = connection_string::parse(uri, ec, diag);
    INFO(uri << " -> " << diag.message);
    REQUIRE(!ec);
    return cs;
}

// Parses without any warning.
connection_string clean(std::string_view uri) {
    auto cs = parses(uri);
    INFO(uri << " -> " << (cs.warnings.empty() ? std::string() : cs.warnings.front()));
    CHECK(cs.warnings.empty());
    return cs;
}

// Parses with exactly one warning containing every fragment.
connection_string warns(std::string_view uri, std::initializer_list<std::string_view> fragments) {
    auto cs = parses(uri);
    INFO(uri);
    REQUIRE(cs.warnings.size() == 1);
    INFO(cs.warnings[0]);
    for (auto f : fragments) CHECK(cs.warnings[0].find(f) != std::string::npos);
    return cs;
}

// Refused with errc::bad_uri and a message containing `reason`; the throwing form throws
// morm::error and nothing else.
void refused(std::string_view uri, std::string_view reason) {
    morm::error_code ec;
    morm::diagnostics diag;
    auto cs = connection_string::parse(uri, ec, diag);
    INFO(uri << " -> " << diag.message);
    CHECK(ec == morm::errc::bad_uri);
    CHECK(diag.message.find(reason) != std::string::npos);
    CHECK(cs.hosts.empty());
    CHECK_THROWS_AS(connection_string::parse(uri), morm::error);
}

// Sets an environment variable for the scope of a test.
struct scoped_env {
    std::string name;
    std::optional<std::string> old;
    scoped_env(std::string n, const char* value) : name(std::move(n)) {
        if (const char* o = std::getenv(name.c_str())) old = o;
        if (value) ::setenv(name.c_str(), value, 1);
        else ::unsetenv(name.c_str());
    }
    ~scoped_env() {
        if (old) ::setenv(name.c_str(), old->c_str(), 1);
        else ::unsetenv(name.c_str());
    }
};

}  // namespace

// ---------------------------------------------------------------- syntax: valid

TEST_CASE("uri spec: the slash before the options is optional", "[uri_spec]") {
    auto cs = clean("mongodb://db1.example.net?replicaSet=blue");
    REQUIRE(cs.hosts.size() == 1);
    CHECK(cs.hosts[0] == host{"db1.example.net", 27017, host::kind::hostname});
    CHECK(!cs.database);
    CHECK(cs.replica_set == "blue");
    auto two = clean("mongodb://u:p@h1:2001,[::2]:2002?appName=x");
    REQUIRE(two.hosts.size() == 2);
    CHECK(two.hosts[1] == host{"::2", 2002, host::kind::ipv6});
    CHECK(two.app_name == "x");
}

TEST_CASE("uri spec: hosts ports IP literals and percent-encoded sockets", "[uri_spec]") {
    auto cs = clean("mongodb://h.example:1,[2001:db8::7]:65535,%2Fvar%2Frun%2Fm.sock,10.1.2.3/x");
    REQUIRE(cs.hosts.size() == 4);
    CHECK(cs.hosts[0] == host{"h.example", 1, host::kind::hostname});
    CHECK(cs.hosts[1] == host{"2001:db8::7", 65535, host::kind::ipv6});
    CHECK(cs.hosts[2].type == host::kind::unix_socket);
    CHECK(cs.hosts[2].name == "/var/run/m.sock");
    CHECK(cs.hosts[3] == host{"10.1.2.3", 27017, host::kind::ipv4});
    CHECK(cs.database == "x");
}

TEST_CASE("uri spec: user info is percent-decoded and the auth database too", "[uri_spec]") {
    auto cs = clean("mongodb://r%C3%B6b%3Aert:p%40ss%2Fw%25rd@h/sales%3Fq");
    REQUIRE(cs.auth);
    CHECK(cs.auth->username == "r\xC3\xB6" "b:ert");
    CHECK(cs.auth->password == "p@ss/w%rd");
    CHECK(cs.database == "sales?q");
    CHECK(clean("mongodb://h/shop.orders").database == "shop.orders");  // a namespace is allowed
}

TEST_CASE("uri spec: option keys are case-insensitive", "[uri_spec]") {
    auto cs = clean("mongodb://h/?REPLICASET=r1&ConnectTimeoutMs=1234&serverMONITORINGmode=poll");
    CHECK(cs.replica_set == "r1");
    CHECK(cs.connect_timeout == 1234ms);
    CHECK(cs.server_monitoring == morm::server_monitoring_mode::poll);
}

TEST_CASE("uri spec: auth source or mechanism properties alone ask for no authentication", "[uri_spec]") {
    auto a = clean("mongodb://h/?authSource=records");
    CHECK(!a.auth);
    auto b = clean("mongodb://h?authMechanismProperties=TOKEN_RESOURCE:mongodb://audience.example");
    CHECK(!b.auth);
    auto c = clean("mongodb://h/inventory");
    CHECK(!c.auth);
}

TEST_CASE("uri spec: a key:value list keeps colons in values", "[uri_spec]") {
    auto cs = clean("mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,"
                    "TOKEN_RESOURCE:api://app-7:9");
    REQUIRE(cs.auth);
    REQUIRE(cs.auth->property("TOKEN_RESOURCE"));
    CHECK(*cs.auth->property("TOKEN_RESOURCE") == "api://app-7:9");
}

TEST_CASE("uri spec: MONGODB-CR parses and is refused only at connect", "[uri_spec]") {
    auto cs = clean("mongodb://ann:pw@h/books?authMechanism=MONGODB-CR");
    CHECK(cs.auth->mechanism == morm::auth_mechanism::mongodb_cr);
    CHECK(cs.auth_database() == "books");
    refused("mongodb://h/?authMechanism=MONGODB-CR", "requires a user name");
}

// ---------------------------------------------------------------- syntax: refused

TEST_CASE("uri spec: malformed URIs are refused with the reason", "[uri_spec]") {
    refused("mongodb://h:0", "port must be 1..65535");
    refused("mongodb://h:70000/", "port must be 1..65535");
    refused("mongodb://[fe80::9]:0", "port must be 1..65535");
    refused("mongodb://fe80::9", "IPv6 literals need brackets");
    refused("mongodb://[fe80::9", "missing ']'");
    refused("mongodb:///var/run/m.sock", "missing host");
    refused("mongodb://h/a/b", "must not contain '/'");
    refused("mongodb://ann:x:y@h", "':' in the password");
    refused("mongodb://ann@x@h", "'@' in the user info");
    refused("mongodb://ann:50%@h", "invalid percent-escape in password");
    refused("mongodb://ann smith:pw@h", "byte 0x20 in the user info must be percent-encoded");
    refused("mongodb://ann:p\"w@h", "'\"' in the user info must be percent-encoded");
    refused("mongodb://r\xC3\xB6" "b:pw@h", "byte 0xc3 in the user info");
    refused("mongodb://ann:p^w@h", "'^' in the user info");
    refused("mongodb://h/my%20db", "database name must not contain ' '");
    refused("mongodb://h/%24cmd", "database name must not contain '$'");
    refused("mongodb://h/a%5Cb", "database name must not contain '\\'");
    refused("mongodb://h/a%22b", "database name must not contain '\"'");
    refused("mongodb://h/a%2Fb", "database name must not contain '/'");
    refused("mongodb://h/?w", "key=value");
    refused("mongodb://h/?authSource=", "authSource must not be empty");
}

TEST_CASE("uri spec: combinations the specs make errors", "[uri_spec]") {
    // tls and ssl: every instance must agree.
    CHECK(parses("mongodb://h/?tls=true&ssl=true&tls=true").tls_enabled());  // a repeated-key warning only
    refused("mongodb://h/?tls=true&ssl=false", "tls and ssl must agree");
    refused("mongodb://h/?ssl=false&tls=false&ssl=true", "tls and ssl must agree");
    refused("mongodb://h/?tls=true&tls=false", "tls and ssl must agree");
    // The insecure TLS options exclude each other whatever their values.
    const char* pairs[][2] = {
        {"tlsInsecure", "tlsAllowInvalidCertificates"},
        {"tlsInsecure", "tlsAllowInvalidHostnames"},
        {"tlsInsecure", "tlsDisableOCSPEndpointCheck"},
        {"tlsInsecure", "tlsDisableCertificateRevocationCheck"},
        {"tlsAllowInvalidCertificates", "tlsDisableOCSPEndpointCheck"},
        {"tlsAllowInvalidCertificates", "tlsDisableCertificateRevocationCheck"},
        {"tlsDisableOCSPEndpointCheck", "tlsDisableCertificateRevocationCheck"},
    };
    for (auto& p : pairs) {
        refused(fmt::format("mongodb://h/?{}=false&{}=true", p[0], p[1]), "must not both be given");
        refused(fmt::format("mongodb://h/?{}=true&{}=false", p[1], p[0]), "must not both be given");
    }
    clean("mongodb://h/?tlsAllowInvalidHostnames=true&tlsDisableOCSPEndpointCheck=true");
    // directConnection.
    refused("mongodb://a,b/?directConnection=true", "requires exactly one host");
    refused("mongodb+srv://c.example.com/?directConnection=true", "not allowed with mongodb+srv");
    clean("mongodb+srv://c.example.com/?directConnection=false");
    // loadBalanced.
    refused("mongodb://a,b/?loadBalanced=true", "requires exactly one host");
    refused("mongodb://a/?loadBalanced=true&replicaSet=r", "not allowed with replicaSet");
    refused("mongodb://a/?loadBalanced=true&directConnection=true", "not allowed with directConnection");
    clean("mongodb://a,b/?loadBalanced=false&replicaSet=r");
    // SRV-only options and srvMaxHosts.
    refused("mongodb://a/?srvServiceName=db", "srvServiceName requires mongodb+srv");
    refused("mongodb://a/?srvMaxHosts=0", "srvMaxHosts requires mongodb+srv");
    refused("mongodb+srv://c.example.com/?srvMaxHosts=3&replicaSet=r", "not allowed with replicaSet");
    refused("mongodb+srv://c.example.com/?srvMaxHosts=3&loadBalanced=true", "not allowed with loadBalanced");
    clean("mongodb+srv://c.example.com/?srvMaxHosts=0&replicaSet=r");
    clean("mongodb+srv://c.example.com/?srvMaxHosts=0&loadBalanced=true");
    clean("mongodb+srv://c.example.com/?srvMaxHosts=3&loadBalanced=false");
    refused("mongodb+srv://c.example.com:27017", "must not specify a port");
    refused("mongodb+srv://c.example.com,d.example.com", "exactly one host");
    // Write concern, pool, read preference.
    refused("mongodb://h/?w=0&journal=true", "w=0 is not allowed with journal=true");
    refused("mongodb://h/?minPoolSize=8&maxPoolSize=4", "minPoolSize must not exceed maxPoolSize");
    refused("mongodb://h/?readPreferenceTags=zone:x", "not allowed with readPreference=primary");
}

// ---------------------------------------------------------------- warnings

TEST_CASE("uri spec: unknown keys warn and are ignored", "[uri_spec]") {
    auto cs = warns("mongodb://h/?colour=blue", {"unsupported option colour"});
    CHECK(cs.warnings[0].find("blue") == std::string::npos);  // unknown: the value may be a secret
}

TEST_CASE("uri spec: invalid values warn name the option and value and keep the default", "[uri_spec]") {
    CHECK(warns("mongodb://h/?connectTimeoutMS=soon", {"connectTimeoutMS", "'soon'", "integer"}).connect_timeout ==
          10000ms);
    CHECK(warns("mongodb://h/?socketTimeoutMS=-7", {"socketTimeoutMS", "'-7'", ">= 0"}).socket_timeout ==
          std::nullopt);
    CHECK(warns("mongodb://h/?heartbeatFrequencyMS=499", {"heartbeatFrequencyMS", "'499'", ">= 500"})
              .heartbeat_frequency == 10000ms);
    CHECK(warns("mongodb://h/?localThresholdMS=-1", {"localThresholdMS", "'-1'"}).local_threshold == 15ms);
    CHECK(warns("mongodb://h/?serverSelectionTimeoutMS=0", {"serverSelectionTimeoutMS", "'0'"})
              .server_selection_timeout == 30000ms);
    CHECK(warns("mongodb://h/?timeoutMS=-5", {"timeoutMS", "'-5'"}).timeout == std::nullopt);
    CHECK(warns("mongodb://h/?maxIdleTimeMS=x", {"maxIdleTimeMS", "'x'"}).max_idle_time == std::nullopt);
    CHECK(warns("mongodb://h/?maxPoolSize=-1", {"maxPoolSize", "'-1'"}).max_pool_size == 100);
    CHECK(warns("mongodb://h/?maxPoolSize=3000000000", {"maxPoolSize", "'3000000000'"}).max_pool_size == 100);
    CHECK(warns("mongodb://h/?minPoolSize=-2", {"minPoolSize"}).min_pool_size == 0);
    CHECK(warns("mongodb://h/?maxConnecting=0", {"maxConnecting", "'0'", ">= 1"}).max_connecting == 2);
    CHECK(warns("mongodb://h/?waitQueueTimeoutMS=0", {"waitQueueTimeoutMS", "'0'"}).wait_queue_timeout ==
          std::nullopt);
    CHECK(warns("mongodb://h/?zlibCompressionLevel=10", {"zlibCompressionLevel", "'10'", "-1..9"})
              .zlib_compression_level == std::nullopt);
    CHECK(warns("mongodb://h/?w=-3", {"for w:", "'-3'"}).w == std::nullopt);
    CHECK(warns("mongodb://h/?wTimeoutMS=-1", {"wTimeoutMS", "'-1'"}).wtimeout == std::nullopt);
    CHECK(warns("mongodb://h/?maxStalenessSeconds=-4", {"maxStalenessSeconds", "'-4'"}).max_staleness_seconds ==
          std::nullopt);
    CHECK(warns("mongodb://h/?readPreference=nearest&maxStalenessSeconds=30", {"maxStalenessSeconds", "'30'"})
              .max_staleness_seconds == std::nullopt);
    CHECK(warns("mongodb://h/?maxAdaptiveRetries=-1", {"maxAdaptiveRetries"}).max_adaptive_retries == 2);
    CHECK(warns("mongodb://h/?appName=" + std::string(129, 'n'), {"appName", "128 bytes"}).app_name ==
          std::nullopt);
    CHECK(warns("mongodb+srv://c.example.com/?srvMaxHosts=-1", {"srvMaxHosts", "'-1'"}).srv_max_hosts ==
          std::nullopt);
    CHECK(warns("mongodb+srv://c.example.com/?srvServiceName=my_svc", {"srvServiceName", "'my_svc'", "6335"})
              .srv_service_name == "mongodb");
    CHECK(warns("mongodb://h/?serverMonitoringMode=push", {"serverMonitoringMode", "'push'", "stream, poll or auto"})
              .server_monitoring == morm::server_monitoring_mode::automatic);
}

TEST_CASE("uri spec: booleans are exactly true or false", "[uri_spec]") {
    for (const char* v : {"TRUE", "True", "1", "yes", "y", "t", "0", "no", "f", "-1", "on"}) {
        auto cs = warns(fmt::format("mongodb://h/?retryWrites={}", v), {"retryWrites", "true or false"});
        CHECK(cs.retry_writes);  // the default stays
    }
    CHECK(warns("mongodb://h/?directConnection=sure", {"directConnection"}).direct_connection == std::nullopt);
    CHECK(!warns("mongodb://h/?loadBalanced=1", {"loadBalanced"}).load_balanced);
    CHECK(warns("mongodb://h/?journal=maybe", {"journal"}).journal == std::nullopt);
    CHECK(!warns("mongodb://h/?tlsInsecure=yes", {"tlsInsecure"}).tls_insecure);
    // An ignored value is not "given": it takes part in no conflict.
    warns("mongodb://a,b/?directConnection=1", {"directConnection"});
    warns("mongodb://h/?tlsInsecure=on&tlsAllowInvalidHostnames=true", {"tlsInsecure"});
    CHECK(!clean("mongodb://h/?retryReads=false").retry_reads);
}

TEST_CASE("uri spec: list values: bad entries warn and the whole value is ignored", "[uri_spec]") {
    auto tags = warns("mongodb://h/?readPreference=secondary&readPreferenceTags=rack", {"readPreferenceTags", "'rack'"});
    CHECK(tags.read_preference_tags.empty());
    // Values are decoded before they are split: an escaped ',' still separates entries.
    warns("mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test,"
          "TOKEN_RESOURCE:a%2Cb",
          {"authMechanismProperties", "'b'"});
    auto ok = clean("mongodb://h/?readPreference=nearest&readPreferenceTags=dc:east,rack:4&readPreferenceTags=dc:west"
                    "&readPreferenceTags=");
    REQUIRE(ok.read_preference_tags.size() == 3);
    CHECK(ok.read_preference_tags[0] == morm::key_value_list{{"dc", "east"}, {"rack", "4"}});
    CHECK(ok.read_preference_tags[1] == morm::key_value_list{{"dc", "west"}});
    CHECK(ok.read_preference_tags[2].empty());
    auto comp = warns("mongodb://h/?compressors=lz4,zstd", {"'lz4'"});
    CHECK(comp.compressors == std::vector{morm::compressor::zstd});
}

TEST_CASE("uri spec: read preference mode must be spelt as the spec does", "[uri_spec]") {
    CHECK(clean("mongodb://h/?readPreference=secondaryPreferred").read_preference ==
          morm::read_mode::secondary_preferred);
    CHECK(warns("mongodb://h/?readPreference=SecondaryPreferred", {"readPreference", "'SecondaryPreferred'"})
              .read_preference == std::nullopt);
    warns("mongodb://h/?readPreference=fastest", {"readPreference", "'fastest'"});
}

TEST_CASE("uri spec: empty repeated and deprecated options warn", "[uri_spec]") {
    warns("mongodb://h/?heartbeatFrequencyMS=", {"heartbeatFrequencyMS", "empty"});
    warns("mongodb://h/?tls=", {"tls", "empty"});
    CHECK(warns("mongodb://h/?appName=a&APPNAME=b", {"more than once"}).app_name == "b");
    auto both = parses("mongodb://h/?wtimeout=50&wTimeoutMS=70");
    CHECK(both.wtimeout == 70ms);
    REQUIRE(both.warnings.size() == 2);
    CHECK(both.warnings[0].find("deprecated") != std::string::npos);
    CHECK(both.warnings[1].find("wTimeoutMS replaces it") != std::string::npos);
    CHECK(warns("mongodb://h/?wtimeout=50", {"deprecated"}).wtimeout == 50ms);
    warns("mongodb://h/?serverSelectionTryOnce=false", {"serverSelectionTryOnce", "single-threaded"});
}

TEST_CASE("uri spec: secrets stay out of warnings", "[uri_spec]") {
    auto cs = warns("mongodb://h/?tlsCertificateKeyFilePassword=", {"tlsCertificateKeyFilePassword"});
    auto px = warns("mongodb://h/?proxyHost=p&proxyPort=nine&proxyUsername=u&proxyPassword=hunter2",
                    {"proxyPort", "'nine'"});
    CHECK(px.redacted().find("hunter2") == std::string::npos);
    CHECK(px.warnings[0].find("hunter2") == std::string::npos);
}

// ---------------------------------------------------------------- the option table

TEST_CASE("uri spec: every option of the table parses to its field", "[uri_spec]") {
    auto cs = clean(
        "mongodb://ann:pw@h1,h2/db?appName=inv&authMechanism=SCRAM-SHA-256&authSource=adm&compressors=zlib,snappy"
        "&connectTimeoutMS=1500&directConnection=false&heartbeatFrequencyMS=750&journal=true"
        "&localThresholdMS=5&maxIdleTimeMS=60000&maxPoolSize=40&maxConnecting=4&minPoolSize=2"
        "&readConcernLevel=linearizable&readPreference=secondary&readPreferenceTags=az:1"
        "&maxStalenessSeconds=95&replicaSet=r9&retryReads=false&retryWrites=false"
        "&serverMonitoringMode=stream&serverSelectionTimeoutMS=2500&socketTimeoutMS=9000"
        "&tls=true&tlsCAFile=ca.pem&tlsCertificateKeyFile=me.pem&tlsCertificateKeyFilePassword=k"
        "&tlsAllowInvalidHostnames=true&w=majority&waitQueueTimeoutMS=300&wTimeoutMS=6000000000"
        "&zlibCompressionLevel=4&timeoutMS=800&maxAdaptiveRetries=5&enableOverloadRetargeting=true"
        "&proxyHost=socks.example&proxyPort=1081&proxyUsername=pu&proxyPassword=pp");
    CHECK(cs.app_name == "inv");
    CHECK(cs.auth->mechanism == morm::auth_mechanism::scram_sha_256);
    CHECK(cs.auth_database() == "adm");
    CHECK(cs.compressors == std::vector{morm::compressor::zlib, morm::compressor::snappy});
    CHECK(cs.connect_timeout == 1500ms);
    CHECK(cs.direct_connection == false);
    CHECK(cs.heartbeat_frequency == 750ms);
    CHECK(cs.journal == true);
    CHECK(cs.local_threshold == 5ms);
    CHECK(cs.max_idle_time == 60000ms);
    CHECK(cs.max_pool_size == 40);
    CHECK(cs.max_connecting == 4);
    CHECK(cs.min_pool_size == 2);
    CHECK(cs.read_concern_level == "linearizable");
    CHECK(cs.read_preference == morm::read_mode::secondary);
    CHECK(cs.read_preference_tags.size() == 1);
    CHECK(cs.max_staleness_seconds == 95);
    CHECK(cs.replica_set == "r9");
    CHECK(!cs.retry_reads);
    CHECK(!cs.retry_writes);
    CHECK(cs.server_monitoring == morm::server_monitoring_mode::stream);
    CHECK(cs.streaming_monitoring());
    CHECK(cs.server_selection_timeout == 2500ms);
    CHECK(cs.socket_timeout == 9000ms);
    CHECK(cs.tls_enabled());
    CHECK(cs.tls_ca_file == "ca.pem");
    CHECK(cs.tls_certificate_key_file == "me.pem");
    CHECK(cs.tls_certificate_key_file_password == "k");
    CHECK(cs.tls_skip_hostname_check());
    CHECK(!cs.tls_skip_certificate_check());
    CHECK(cs.w == morm::write_concern_w{std::string("majority")});
    CHECK(cs.wait_queue_timeout == 300ms);
    CHECK(cs.wtimeout == 6000000000ms);  // 64-bit
    CHECK(cs.zlib_compression_level == 4);
    CHECK(cs.timeout == 800ms);
    CHECK(cs.max_adaptive_retries == 5);
    CHECK(cs.enable_overload_retargeting);
    REQUIRE(cs.proxy);
    CHECK(*cs.proxy == morm::proxy_options{"socks.example", 1081, "pu", "pp"});
    CHECK(cs.redacted().find("proxyPassword=****") != std::string::npos);

    auto d = clean("mongodb://h");
    CHECK(d.server_monitoring == morm::server_monitoring_mode::automatic);
    CHECK(d.max_adaptive_retries == 2);
    CHECK(!d.enable_overload_retargeting);
    CHECK(!d.proxy);
    CHECK(clean("mongodb+srv://c.example.com/?srvServiceName=mongo-db2&srvMaxHosts=3").srv_service_name ==
          "mongo-db2");
}

TEST_CASE("uri spec: proxy options and their dependencies", "[uri_spec]") {
    auto only = clean("mongodb://a,b/?proxyHost=socks.lan");
    REQUIRE(only.proxy);
    CHECK(only.proxy->port == 1080);
    CHECK(!only.proxy->username);
    CHECK(clean("mongodb://h/?proxyHost=%5B::1%5D&proxyPort=9050").proxy->host == "::1");
    refused("mongodb://h/?proxyPort=9050", "proxyPort requires proxyHost");
    refused("mongodb://h/?proxyUsername=u&proxyPassword=p", "proxyUsername requires proxyHost");
    refused("mongodb://h/?proxyPassword=p", "proxyPassword requires proxyHost");
    refused("mongodb://h/?proxyHost=s&proxyUsername=u", "proxyUsername requires proxyPassword");
    refused("mongodb://h/?proxyHost=s&proxyPassword=p", "proxyPassword requires proxyUsername");
    refused("mongodb://h/?proxyHost=s&proxyHost=s", "proxyHost must not be given more than once");
    refused("mongodb://h/?proxyHost=s&proxyPort=1&proxyPort=1", "proxyPort must not be given more than once");
    refused("mongodb://h/?proxyHost=s&proxyUsername=a&proxyUsername=b&proxyPassword=p", "more than once");
    refused("mongodb://h/?proxyHost=s&proxyUsername=a&proxyPassword=p&proxyPassword=q", "more than once");
    refused("mongodb://h/?proxyHost=s&proxyUsername=" + std::string(256, 'u') + "&proxyPassword=p", "255 bytes");
    // An empty user name is ignored (with a warning), so the password lacks its user name.
    refused("mongodb://h/?proxyHost=s&proxyUsername=&proxyPassword=p", "proxyPassword requires proxyUsername");
    // A bad port is ignored with a warning; without proxyHost it then asks for nothing.
    warns("mongodb://h/?proxyPort=-1", {"proxyPort", "'-1'"});
    CHECK(warns("mongodb://h/?proxyHost=s&proxyPort=65536", {"proxyPort"}).proxy->port == 1080);
}

TEST_CASE("uri spec: no exception but morm::error leaves parse", "[uri_spec]") {
    const std::string odd[] = {
        "mongodb://h:99999999999999999999999",      "mongodb://h/?maxPoolSize=99999999999999999999999",
        "mongodb://h/?wTimeoutMS=99999999999999999999", "mongodb://h/?w=99999999999999999999",
        "mongodb://[", "mongodb://]", "mongodb://%", "mongodb://h/?%=1", "mongodb://h/?a=%", "mongodb://@",
        "mongodb://:@h", "mongodb://h/?readPreferenceTags=%ZZ", "mongodb+srv://", "mongodb://h,", "mongodb://,h",
        "mongodb://h/?proxyHost=%00", std::string("mongodb://h\0x", 13),
    };
    for (auto& u : odd) {
        INFO(u);
        try {
            (void)connection_string::parse(u);
        } catch (const morm::error&) {
        } catch (...) {
            FAIL("an exception other than morm::error escaped");
        }
    }
}

// ---------------------------------------------------------------- serverMonitoringMode

TEST_CASE("uri spec: auto monitoring polls on a FaaS platform", "[uri_spec]") {
    scoped_env a("AWS_EXECUTION_ENV", nullptr), b("AWS_LAMBDA_RUNTIME_API", nullptr),
        c("FUNCTIONS_WORKER_RUNTIME", nullptr), d("K_SERVICE", nullptr), e("FUNCTION_NAME", nullptr),
        f("VERCEL", nullptr);
    auto cs = clean("mongodb://h");
    CHECK(!morm::running_on_faas());
    CHECK(cs.streaming_monitoring());
    {
        scoped_env lambda("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12");
        CHECK(morm::running_on_faas());
        CHECK(!cs.streaming_monitoring());
        CHECK(clean("mongodb://h/?serverMonitoringMode=stream").streaming_monitoring());
        scoped_env azure("FUNCTIONS_WORKER_RUNTIME", "node");  // two providers: not FaaS
        CHECK(!morm::running_on_faas());
    }
    {
        scoped_env ec2("AWS_EXECUTION_ENV", "AWS_ECS_EC2");
        CHECK(!morm::running_on_faas());
    }
    {
        scoped_env gcp("K_SERVICE", "svc");
        CHECK(morm::running_on_faas());
        scoped_env vercel("VERCEL", "1");  // and GCP: two providers
        CHECK(!morm::running_on_faas());
    }
    {
        scoped_env vercel("VERCEL", "1"), lambda("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        CHECK(morm::running_on_faas());  // Vercel wins over AWS
    }
    CHECK(!clean("mongodb://h/?serverMonitoringMode=poll").streaming_monitoring());
}

namespace {

// Connects to a two-member mock replica set with `options` and a read preference no member
// satisfies: connect() waits in server selection for serverSelectionTimeoutMS (2 s), the
// monitors checking meanwhile (an idle client would pause them). Returns the hellos the
// members got.
std::vector<morm_test::recorded_command> monitor_hellos(const std::string& options) {
    morm_test::mock_cluster rs({morm_test::member_role::primary, morm_test::member_role::secondary});
    boost::asio::io_context ioc;
    morm::error_code ec;
    morm::diagnostics diag;
    auto body = [&]() -> boost::asio::awaitable<void> {
        const auto uri = "mongodb://" + rs.seed_list() +
                         "/?replicaSet=rs0&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=2000"
                         "&readPreference=secondary&readPreferenceTags=dc:nowhere" + options;
        auto cl = co_await morm::client::connect(uri, morm::client_options{}, ec, diag);
    };
    auto fut = boost::asio::co_spawn(ioc, body(), boost::asio::use_future);
    ioc.run_for(20s);
    REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    fut.get();
    CHECK(ec);  // no member has the tag
    return rs.commands_named("hello");
}

std::size_t awaitable_count(const std::vector<morm_test::recorded_command>& hellos) {
    std::size_t n = 0;
    for (auto& h : hellos) n += bson_has_field(h.body.get(), "maxAwaitTimeMS") ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("uri spec: serverMonitoringMode poll never sends the awaitable hello", "[uri_spec][monitor]") {
    auto polled = monitor_hellos("&serverMonitoringMode=poll");
    INFO(polled.size() << " hellos");
    CHECK(awaitable_count(polled) == 0);
    // Polling: a plain hello every 500 ms on each member during the 1.8 s operation.
    std::size_t per_member[2] = {0, 0};
    for (auto& h : polled) ++per_member[h.member % 2];
    CHECK(per_member[0] >= 3);
    CHECK(per_member[1] >= 3);

    auto streamed = monitor_hellos("&serverMonitoringMode=stream");
    CHECK(awaitable_count(streamed) >= 2);  // one per member at least
}

TEST_CASE("uri spec: serverMonitoringMode auto streams except on FaaS", "[uri_spec][monitor]") {
    scoped_env a("AWS_EXECUTION_ENV", nullptr), b("AWS_LAMBDA_RUNTIME_API", nullptr),
        c("FUNCTIONS_WORKER_RUNTIME", nullptr), d("K_SERVICE", nullptr), e("FUNCTION_NAME", nullptr),
        f("VERCEL", nullptr);
    CHECK(awaitable_count(monitor_hellos("")) >= 2);
    scoped_env lambda("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
    CHECK(awaitable_count(monitor_hellos("&serverMonitoringMode=auto")) == 0);
}

// ---------------------------------------------------------------- the client

namespace {

struct connect_outcome {
    morm::error_code ec;
    std::string message;
    bool pinged = false;
};

// Connects with `uri`, pings, closes; bounded in time.
connect_outcome connect_and_ping(const std::string& uri) {
    boost::asio::io_context ioc;
    connect_outcome out;
    auto body = [&]() -> boost::asio::awaitable<void> {
        morm::diagnostics diag;
        auto cl = co_await morm::client::connect(uri, morm::client_options{}, out.ec, diag);
        out.message = diag.message;
        if (out.ec) co_return;
        const auto ping = morm::bson::document::from_json(R"({"ping": 1})");
        auto reply = co_await cl.run_command("admin", ping);
        out.pinged = true;
        cl.close();
    };
    auto fut = boost::asio::co_spawn(ioc, body(), boost::asio::use_future);
    ioc.run_for(20s);
    REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    fut.get();
    return out;
}

std::string via(const morm_test::mock_cluster& m, std::uint16_t proxy_port, std::string_view more = "") {
    return fmt::format("mongodb://localhost:{}/?directConnection=true&serverSelectionTimeoutMS=3000"
                       "&proxyHost=127.0.0.1&proxyPort={}{}",
                       m.port(0), proxy_port, more);
}

}  // namespace

TEST_CASE("uri spec: every connection goes through the SOCKS5 proxy with the name unresolved", "[uri_spec][socks5]") {
    morm_test::mock_cluster m({morm_test::member_role::standalone});
    morm_test::socks5_proxy proxy;
    auto r = connect_and_ping(via(m, proxy.port()));
    INFO(r.message);
    REQUIRE(!r.ec);
    CHECK(r.pinged);
    auto reqs = proxy.requests();
    REQUIRE(reqs.size() >= 2);  // the monitor's and the pool's connections at least
    for (auto& q : reqs) CHECK(q == morm_test::socks5_proxy::request{3, "localhost", m.port(0)});
    // An IP literal is sent as an address.
    morm_test::socks5_proxy proxy2;
    auto ip = fmt::format("mongodb://127.0.0.1:{}/?directConnection=true&proxyHost=localhost&proxyPort={}", m.port(0),
                          proxy2.port());
    REQUIRE(!connect_and_ping(ip).ec);
    CHECK(proxy2.requests().front() == morm_test::socks5_proxy::request{1, "127.0.0.1", m.port(0)});
}

TEST_CASE("uri spec: SOCKS5 username and password authentication", "[uri_spec][socks5]") {
    morm_test::mock_cluster m({morm_test::member_role::standalone});
    morm_test::socks5_proxy proxy(std::string("kim"), std::string("pa:ss"));
    auto good = connect_and_ping(via(m, proxy.port(), "&proxyUsername=kim&proxyPassword=pa%3Ass"));
    INFO(good.message);
    CHECK(!good.ec);
    CHECK(good.pinged);

    auto wrong = connect_and_ping(via(m, proxy.port(), "&proxyUsername=kim&proxyPassword=nope1"));
    CHECK(wrong.ec == morm::errc::network);
    CHECK(wrong.message.find("authentication as 'kim' was refused") != std::string::npos);
    CHECK(wrong.message.find("nope1") == std::string::npos);

    auto none = connect_and_ping(via(m, proxy.port()));
    CHECK(none.ec == morm::errc::network);
    CHECK(none.message.find("requires authentication") != std::string::npos);
    CHECK(proxy.refusals() >= 2);
}

TEST_CASE("uri spec: an unreachable proxy is a network error and nothing connects directly", "[uri_spec][socks5]") {
    morm_test::mock_cluster m({morm_test::member_role::standalone});
    std::uint16_t dead_port = 0;
    {
        morm_test::socks5_proxy gone;
        dead_port = gone.port();
    }
    auto r = connect_and_ping(via(m, dead_port));
    CHECK(r.ec == morm::errc::network);
    CHECK(r.message.find("SOCKS5 proxy") != std::string::npos);
    CHECK(m.commands_named("hello").empty());
}

TEST_CASE("uri spec: the client keeps the parse warnings", "[uri_spec]") {
    morm_test::mock_cluster rs({morm_test::member_role::standalone});
    boost::asio::io_context ioc;
    std::vector<std::string> warnings;
    auto body = [&]() -> boost::asio::awaitable<void> {
        auto cl = co_await morm::client::connect("mongodb://" + rs.seed_list() + "/?colour=red&retryWrites=yes");
        warnings = cl.uri().warnings;
        cl.close();
    };
    auto fut = boost::asio::co_spawn(ioc, body(), boost::asio::use_future);
    ioc.run_for(10s);
    REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    fut.get();
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0].find("colour") != std::string::npos);
    CHECK(warnings[1].find("retryWrites") != std::string::npos);
}
