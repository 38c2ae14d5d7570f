// The scriptable mock server (tests/common/mock_server.hpp): roles in hello, the shared
// store, NotWritablePrimary, retryable-write deduplication, elections, fault scripting,
// awaitable and streamed hello, transactions and the command log. Both the morm client
// (directConnection) and raw OP_MSG / OP_QUERY exchanges drive it. Loopback only.
#include <common/mock_server.hpp>

#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/cursor.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using morm_test::member_role;
using morm_test::mock_cluster;
using doc = morm::bson::document;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Runs a coroutine to completion on a fresh io_context (the client side); rethrows.
template <class F>
auto run(F&& f) {
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, std::forward<F>(f)(), asio::use_future);
    ioc.run();
    return fut.get();
}

doc json(std::string_view j) { return doc::from_json(j); }

/// The morm client on a direct connection (arguments named: g++ 12 coroutine rule).
asio::awaitable<morm::client> connect_to(std::string uri) {
    morm::client_options opts;
    co_return co_await morm::client::connect(uri, opts);
}

std::string str(const doc& d, std::string_view key) { return morm_test::mock_detail::get_string(d, key); }
std::optional<std::int64_t> num(const doc& d, std::string_view key) { return morm_test::mock_detail::get_int(d, key); }
bool has(const doc& d, std::string_view key) { return d.find(key).has_value(); }
std::vector<std::string> strings(const doc& d, std::string_view key) {
    std::vector<std::string> out;
    for (auto& e : morm_test::mock_detail::get_doc(d, key)) out.emplace_back(bson_iter_utf8(&e, nullptr));
    return out;
}
std::string first_key_of(const doc& d, std::string_view key) {
    return morm_test::mock_detail::first_key(morm_test::mock_detail::get_doc(d, key));
}
morm::bson::object_id oid(const doc& d, std::string_view key) {
    auto it = d.find(key);
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_OID(&*it));
    return morm::bson::object_id(*bson_iter_oid(&*it));
}

/// A blocking wire client with timeouts: builds frames with morm's op_msg_writer and
/// parses replies with parse_op_msg, so the mock is checked against morm's own codec.
class raw_conn {
public:
    explicit raw_conn(std::uint16_t port) {
        sock_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }

    struct reply {
        morm::wire::message_header header;
        std::uint32_t flag_bits = 0;
        doc body;
    };

    /// Sends one OP_MSG; `seq_id` non-empty adds a kind-1 section of `seq_docs`.
    std::int32_t send(const doc& body, std::uint32_t flags = 0, std::string_view seq_id = {},
                      const std::vector<doc>& seq_docs = {}) {
        morm::wire::frame_buffer buf;
        const std::int32_t rid = append(buf, body, flags, seq_id, seq_docs);
        boost::system::error_code ignored;  // a closed peer shows up in receive()
        asio::write(sock_, asio::buffer(buf.data(), buf.size()), ignored);
        return rid;
    }
    std::int32_t append(morm::wire::frame_buffer& buf, const doc& body, std::uint32_t flags = 0,
                        std::string_view seq_id = {}, const std::vector<doc>& seq_docs = {}) {
        morm::wire::op_msg_writer w(buf, ++rid_, flags);
        bson_concat(w.begin_body(), body.get());
        w.end_body();
        if (!seq_id.empty()) {
            w.begin_sequence(seq_id);
            for (auto& d : seq_docs) {
                bson_concat(w.begin_document(), d.get());
                w.end_document();
            }
            w.end_sequence();
        }
        w.finish();
        return rid_;
    }
    void write(const morm::wire::frame_buffer& buf) { asio::write(sock_, asio::buffer(buf.data(), buf.size())); }
    void write_bytes(const std::vector<std::uint8_t>& b) { asio::write(sock_, asio::buffer(b)); }

    /// The next reply, or nullopt when the connection closed or `timeout` passed.
    std::optional<reply> receive(std::chrono::milliseconds timeout = 5s) {
        std::vector<std::uint8_t> f(16);
        if (!read_exact(f.data(), 16, timeout)) return std::nullopt;
        std::int32_t len;
        std::memcpy(&len, f.data(), 4);
        f.resize(static_cast<std::size_t>(len));
        if (!read_exact(f.data() + 16, f.size() - 16, timeout)) return std::nullopt;
        reply r;
        std::memcpy(&r.header.response_to, f.data() + 8, 4);
        std::memcpy(&r.header.request_id, f.data() + 4, 4);
        std::memcpy(&r.header.op_code, f.data() + 12, 4);
        if (r.header.op_code == morm::wire::op_reply_opcode) {  // legacy: 20 bytes, then the document
            r.body = doc::from_bytes(f.data() + 36, f.size() - 36);
            return r;
        }
        morm::wire::op_msg_view v;
        morm::diagnostics diag;
        auto ec = morm::wire::parse_op_msg(f, v, diag);
        REQUIRE_FALSE(ec);
        r.flag_bits = v.flag_bits;
        r.body = doc::from_bytes(bson_get_data(&v.body), v.body.len);
        return r;
    }

    /// Sends `body` and returns the reply body (fails the test when none comes).
    doc command(const doc& body) {
        send(body);
        auto r = receive();
        REQUIRE(r);
        return r->body;
    }

private:
    bool read_exact(std::uint8_t* p, std::size_t n, std::chrono::milliseconds timeout) {
        boost::system::error_code ec = asio::error::would_block;
        asio::async_read(sock_, asio::buffer(p, n), [&](boost::system::error_code e, std::size_t) { ec = e; });
        ioc_.restart();
        ioc_.run_for(timeout);
        if (ec == asio::error::would_block) {
            sock_.cancel();
            ioc_.restart();
            ioc_.run();
            return false;
        }
        return !ec;
    }

    asio::io_context ioc_;
    asio::ip::tcp::socket sock_{ioc_};
    std::int32_t rid_ = 100;
};

const char* lsid_json = R"({"id": {"$binary": {"base64": "AAECAwQFBgcICQoLDA0ODw==", "subType": "04"}}})";

doc retryable_insert(int id, std::int64_t txn) {
    doc d = json(R"({"insert": "c", "documents": [{"_id": )" + std::to_string(id) + R"(}], "lsid": )" + lsid_json +
                 R"(, "txnNumber": {"$numberLong": ")" + std::to_string(txn) + R"("}, "$db": "db"})");
    return d;
}

}  // namespace

TEST_CASE("mock: hello reflects each member's role", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary, member_role::arbiter, member_role::mongos,
                    member_role::standalone});
    c.set_tags(1, {{"dc", "east"}});

    raw_conn p(c.port(0));
    doc hp = p.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(hp, "isWritablePrimary") == 1);
    CHECK(num(hp, "secondary") == 0);
    CHECK(str(hp, "setName") == "rs0");
    CHECK(strings(hp, "hosts") == std::vector<std::string>{c.address(0), c.address(1)});
    CHECK(strings(hp, "arbiters") == std::vector<std::string>{c.address(2)});
    CHECK(str(hp, "primary") == c.address(0));
    CHECK(str(hp, "me") == c.address(0));
    CHECK(num(hp, "setVersion") == 1);
    CHECK(oid(hp, "electionId") == c.election_id(0));
    CHECK_FALSE(c.election_id(0).is_zero());
    CHECK(oid(hp, "topologyVersion.processId") == c.process_id(0));
    CHECK(num(hp, "topologyVersion.counter") == c.topology_counter(0));
    CHECK(num(hp, "maxWireVersion") == 17);
    CHECK(num(hp, "minWireVersion") == 0);
    CHECK(num(hp, "logicalSessionTimeoutMinutes") == 30);
    CHECK(num(hp, "maxWriteBatchSize") == 100000);
    CHECK(has(hp, "lastWrite.lastWriteDate"));
    CHECK(has(hp, "$clusterTime.signature.hash"));
    CHECK(has(hp, "operationTime"));

    raw_conn s(c.port(1));
    doc hs = s.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(hs, "isWritablePrimary") == 0);
    CHECK(num(hs, "secondary") == 1);
    CHECK(str(hs, "primary") == c.address(0));
    CHECK(str(hs, "me") == c.address(1));
    CHECK(str(hs, "tags.dc") == "east");
    CHECK_FALSE(has(hs, "electionId"));

    raw_conn a(c.port(2));
    doc ha = a.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(ha, "arbiterOnly") == 1);
    CHECK(num(ha, "isWritablePrimary") == 0);

    raw_conn m(c.port(3));
    doc hm = m.command(json(R"({"isMaster": 1, "helloOk": true, "$db": "admin"})"));
    CHECK(str(hm, "msg") == "isdbgrid");
    CHECK(num(hm, "ismaster") == 1);  // legacy hello answers with the legacy field name
    CHECK(num(hm, "helloOk") == 1);
    CHECK_FALSE(has(hm, "setName"));

    raw_conn sa(c.port(4));
    doc hsa = sa.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(hsa, "isWritablePrimary") == 1);
    CHECK_FALSE(has(hsa, "setName"));
    CHECK_FALSE(has(hsa, "$clusterTime"));

    // The morm client's handshake reads the same replies.
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(0);
        auto cl = co_await connect_to(uri);
        CHECK(cl.server().is_writable_primary);
        CHECK(cl.server().set_name == "rs0");
        CHECK(cl.server().hosts.size() == 2);
        std::string mongos_uri = c.direct_uri(3);
        auto ms = co_await connect_to(mongos_uri);
        CHECK(ms.server().is_mongos);
    });
}

TEST_CASE("mock: legacy OP_QUERY isMaster gets an OP_REPLY", "[mock]") {
    mock_cluster c({member_role::primary});
    raw_conn r(c.port(0));
    // OP_QUERY: header, flags, "admin.$cmd", skip 0, return -1, {isMaster: 1}.
    doc q = json(R"({"isMaster": 1})");
    std::vector<std::uint8_t> f(16, 0);
    auto put = [&](std::int32_t v) {
        for (int i = 0; i < 4; ++i) f.push_back(static_cast<std::uint8_t>(std::uint32_t(v) >> (8 * i)));
    };
    put(0);
    for (char ch : std::string_view("admin.$cmd")) f.push_back(static_cast<std::uint8_t>(ch));
    f.push_back(0);
    put(0);
    put(-1);
    f.insert(f.end(), q.data(), q.data() + q.size());
    const std::int32_t len = static_cast<std::int32_t>(f.size()), rid = 42, op = 2004;
    std::memcpy(f.data(), &len, 4);
    std::memcpy(f.data() + 4, &rid, 4);
    std::memcpy(f.data() + 12, &op, 4);
    r.write_bytes(f);
    auto rep = r.receive();
    REQUIRE(rep);
    CHECK(rep->header.op_code == morm::wire::op_reply_opcode);
    CHECK(rep->header.response_to == 42);
    CHECK(num(rep->body, "ismaster") == 1);
    CHECK(str(rep->body, "setName") == "rs0");
    auto log = c.commands_named("isMaster");
    REQUIRE(log.size() == 1);
    CHECK(log[0].legacy);
    CHECK(log[0].db == "admin");
}

TEST_CASE("mock: insert, find with getMore, update, count and delete through the morm client", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(0);
        auto cl = co_await connect_to(uri);
        auto coll = cl.database("db")["c"];
        doc one = json(R"({"_id": 1, "n": 10, "tag": "a"})");
        co_await coll.insert_one(one);
        std::vector<doc> more;
        for (int i = 2; i <= 6; ++i) more.push_back(json(R"({"_id": )" + std::to_string(i) + R"(, "n": )" +
                                                          std::to_string(i * 10) + R"(, "tag": "b"})"));
        auto bw = co_await coll.insert_many(more);
        CHECK(bw.inserted_count == 5);

        morm::find_options fo;
        fo.batch_size = 2;
        doc all;
        auto cur = co_await coll.find(all, fo);
        std::vector<std::int64_t> ids;
        while (auto d = co_await cur.next()) ids.push_back(*morm_test::mock_detail::get_int(*d, "_id"));
        CHECK(ids == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
        CHECK(c.count_named("getMore", 0) >= 2);

        doc by_tag = json(R"({"tag": "b", "n": {"$gte": 40}})");
        CHECK(co_await coll.count_documents(by_tag) == 3);

        doc f1 = json(R"({"_id": 1})");
        doc inc = json(R"({"$inc": {"n": 5}, "$set": {"seen": true}})");
        auto ur = co_await coll.update_one(f1, inc);
        CHECK(ur.matched_count == 1);
        CHECK(ur.modified_count == 1);
        auto got = co_await coll.find_one(f1);
        REQUIRE(got);
        CHECK(num(*got, "n") == 15);
        CHECK(num(*got, "seen") == 1);

        doc f2 = json(R"({"_id": 2})");
        auto dr = co_await coll.delete_one(f2);
        CHECK(dr.deleted_count == 1);
    });
    auto docs = c.documents("db.c");
    REQUIRE(docs.size() == 5);
    CHECK(num(docs[0], "n") == 15);
    CHECK(num(docs[1], "_id") == 3);  // insertion order kept
    // The inserts arrived as kind-1 "documents" sequences.
    auto inserts = c.commands_named("insert");
    REQUIRE(inserts.size() == 2);
    CHECK(inserts[1].sequence_id == "documents");
    CHECK(inserts[1].sequence_documents == 5);
    CHECK(inserts[1].db == "db");
}

TEST_CASE("mock: writes on a secondary get NotWritablePrimary, reads are served there", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    c.insert_document("db.c", json(R"({"_id": 1, "x": 1})"));
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(1);
        auto cl = co_await connect_to(uri);
        auto coll = cl.database("db")["c"];
        doc d = json(R"({"_id": 2})");
        try {
            co_await coll.insert_one(d);
            FAIL("insert on a secondary succeeded");
        } catch (const morm::error& e) {
            CHECK(e.server_code() == 10107);
            CHECK(e.code_name() == "NotWritablePrimary");
        }
        doc f = json(R"({"_id": 1})");
        auto got = co_await coll.find_one(f);
        REQUIRE(got);
        CHECK(num(*got, "x") == 1);
    });
    CHECK(c.documents("db.c").size() == 1);
    CHECK(c.count_named("find", 1) == 1);
    CHECK(c.count_named("find", 0) == 0);
    // A raw retryable write on the secondary: the 6.0 server labels the error.
    raw_conn r(c.port(1));
    doc rep = r.command(retryable_insert(3, 1));
    CHECK(num(rep, "code") == 10107);
    CHECK(strings(rep, "errorLabels") == std::vector<std::string>{"RetryableWriteError"});
    CHECK(has(rep, "topologyVersion.counter"));
}

TEST_CASE("mock: a retryable write repeated with the same lsid and txnNumber is applied once", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(0);
        auto cl = co_await connect_to(uri);
        doc w1 = retryable_insert(1, 1);
        doc r1 = co_await cl.run_command("db", w1);
        doc r2 = co_await cl.run_command("db", w1);  // the retry
        CHECK(num(r1, "n") == 1);
        CHECK(num(r2, "n") == 1);  // the stored reply, not a DuplicateKey error
        CHECK_FALSE(has(r2, "writeErrors"));
    });
    CHECK(c.documents("db.c").size() == 1);
    CHECK(c.retried_writes() == 1);
    CHECK(c.writes_applied() == 1);

    // After a failover the new primary knows the transaction table too.
    c.step_down(1);
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(1);
        auto cl = co_await connect_to(uri);
        doc w1 = retryable_insert(1, 1);
        doc r3 = co_await cl.run_command("db", w1);
        CHECK(num(r3, "n") == 1);
        doc w2 = retryable_insert(2, 2);  // a new txnNumber is a new write
        doc r4 = co_await cl.run_command("db", w2);
        CHECK(num(r4, "n") == 1);
        doc old = retryable_insert(9, 1);  // the same pair with another body: still the stored reply
        doc r5 = co_await cl.run_command("db", old);
        CHECK(num(r5, "n") == 1);
    });
    auto docs = c.documents("db.c");
    REQUIRE(docs.size() == 2);
    CHECK(num(docs[1], "_id") == 2);
    CHECK(c.retried_writes() == 3);
    // Without txnNumber a repeat is applied again (and here collides on _id).
    raw_conn r(c.port(1));
    doc plain = json(R"({"insert": "c", "documents": [{"_id": 1}], "$db": "db"})");
    doc rep = r.command(plain);
    CHECK(num(rep, "n") == 0);
    CHECK(num(rep, "writeErrors.0.code") == 11000);
}

TEST_CASE("mock: step_down flips roles, bumps electionId and topologyVersion, closes the old primary's connections",
          "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary, member_role::secondary});
    auto e0 = c.election_id(0);
    auto counter0 = c.topology_counter(0);
    raw_conn old_primary(c.port(0));
    CHECK(num(old_primary.command(json(R"({"ping": 1, "$db": "admin"})")), "ok") == 1);

    c.step_down(2);
    CHECK(c.role(0) == member_role::secondary);
    CHECK(c.role(2) == member_role::primary);
    CHECK(c.primary() == std::optional<std::size_t>(2));
    CHECK(c.term() == 2);
    CHECK(c.election_id(2) > e0);
    CHECK(c.topology_counter(0) > counter0);

    // The old primary's connection was closed by the election.
    old_primary.send(json(R"({"ping": 1, "$db": "admin"})"));
    CHECK_FALSE(old_primary.receive(2s));

    raw_conn s(c.port(0));
    doc h0 = s.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(h0, "secondary") == 1);
    CHECK(str(h0, "primary") == c.address(2));
    raw_conn p(c.port(2));
    doc h2 = p.command(json(R"({"hello": 1, "$db": "admin"})"));
    CHECK(num(h2, "isWritablePrimary") == 1);
    CHECK(oid(h2, "electionId") == c.election_id(2));

    // set_role alone can leave a stale primary behind, with its older electionId.
    c.set_role(0, member_role::primary);
    c.set_role(2, member_role::primary);  // already primary: no new election
    CHECK(c.term() == 3);
    CHECK(c.primary() == std::optional<std::size_t>(0));
    raw_conn stale(c.port(2));
    CHECK(oid(stale.command(json(R"({"hello": 1, "$db": "admin"})")), "electionId") < c.election_id(0));

    c.set_role(1, member_role::down);
    run([&]() -> asio::awaitable<void> {
        bool failed = false;
        try {
            std::string uri = c.direct_uri(1, "connectTimeoutMS=2000");
            auto cl = co_await connect_to(uri);
        } catch (const morm::error&) {
            failed = true;
        }
        CHECK(failed);
    });
    CHECK(c.connections_accepted(1) >= 1);
}

TEST_CASE("mock: fail_next and close_connection_on inject failures", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    c.fail_next("insert", 91, "ShutdownInProgress");
    c.fail_next("find", 189, "PrimarySteppedDown", 1, std::vector<std::string>{"Custom"});
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(0);
        auto cl = co_await connect_to(uri);
        doc w1 = retryable_insert(1, 1);
        morm::error_code ec;
        morm::diagnostics diag;
        try {
            co_await cl.run_command("db", w1);
        } catch (const morm::error& e) {
            ec = e.code();
            diag = e.diag();
        }
        CHECK(ec == morm::errc::server_error);
        CHECK(diag.server_code == 91);
        CHECK(diag.has_label("RetryableWriteError"));
        doc r = co_await cl.run_command("db", w1);  // the retry is applied: the failure was injected first
        CHECK(num(r, "n") == 1);

        // run_command is never retried by a driver, so these stay valid once morm retries.
        doc find = json(R"({"find": "c", "filter": {}})");
        try {
            co_await cl.run_command("db", find);
            FAIL("find succeeded");
        } catch (const morm::error& e) {
            CHECK(e.server_code() == 189);
            CHECK(e.diag().has_label("Custom"));
            CHECK_FALSE(e.diag().has_label("RetryableWriteError"));
        }
        doc again = co_await cl.run_command("db", find);  // one failure only
        CHECK(num(again, "cursor.firstBatch.0._id") == 1);

        c.close_connection_on("count");
        doc cnt = json(R"({"count": "c"})");
        bool network = false;
        try {
            co_await cl.run_command("db", cnt);
        } catch (const morm::error& e) {
            network = e.code() != morm::errc::server_error;
        }
        CHECK(network);
        doc again_cnt = co_await cl.run_command("db", cnt);
        CHECK(num(again_cnt, "n") == 1);
    });
    CHECK(c.documents("db.c").size() == 1);
    CHECK(c.count_named("count") == 2);
    CHECK(c.retried_writes() == 0);
}

TEST_CASE("mock: write_concern_error_next applies the write and reports the error", "[mock]") {
    mock_cluster c({member_role::primary});
    c.write_concern_error_next("insert", 64, "WriteConcernFailed");
    raw_conn r(c.port(0));
    doc rep = r.command(retryable_insert(1, 1));
    CHECK(num(rep, "ok") == 1);
    CHECK(num(rep, "writeConcernError.code") == 64);
    CHECK(c.documents("db.c").size() == 1);
    doc rep2 = r.command(retryable_insert(1, 1));  // the retry: stored reply, no injected error left
    CHECK_FALSE(has(rep2, "writeConcernError"));
    CHECK(c.retried_writes() == 1);
}

TEST_CASE("mock: close_after_writes cuts a pipelined batch after n applied writes", "[mock]") {
    mock_cluster c({member_role::primary});
    c.close_after_writes(2);
    raw_conn r(c.port(0));
    morm::wire::frame_buffer buf;
    for (int i = 1; i <= 4; ++i)
        r.append(buf, json(R"({"insert": "c", "documents": [{"_id": )" + std::to_string(i) + R"(}], "$db": "db"})"));
    r.write(buf);  // four inserts in one write
    auto first = r.receive(2s);
    REQUIRE(first);
    CHECK(num(first->body, "n") == 1);
    CHECK_FALSE(r.receive(2s));  // the second was applied, then the connection was cut
    CHECK(c.documents("db.c").size() == 2);
    CHECK(c.writes_applied() == 2);
    CHECK(c.count_named("insert") == 2);  // the frames behind the cut were never read
}

TEST_CASE("mock: awaitable hello waits for a state change or maxAwaitTimeMS", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    raw_conn r(c.port(1));
    doc h = r.command(json(R"({"hello": 1, "$db": "admin"})"));
    const auto pid = oid(h, "topologyVersion.processId");
    const auto counter = *num(h, "topologyVersion.counter");
    auto awaitable = [&](std::int64_t ms) {
        doc q;
        BSON_APPEND_INT32(q.get(), "hello", 1);
        bson_t tv;
        BSON_APPEND_DOCUMENT_BEGIN(q.get(), "topologyVersion", &tv);
        bson_oid_t o = pid;
        BSON_APPEND_OID(&tv, "processId", &o);
        BSON_APPEND_INT64(&tv, "counter", counter);
        bson_append_document_end(q.get(), &tv);
        BSON_APPEND_INT64(q.get(), "maxAwaitTimeMS", ms);
        BSON_APPEND_UTF8(q.get(), "$db", "admin");
        return q;
    };

    // No change: the reply comes after maxAwaitTimeMS, same counter.
    auto t0 = std::chrono::steady_clock::now();
    doc same = r.command(awaitable(300));
    auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= 250ms);
    CHECK(num(same, "topologyVersion.counter") == counter);

    // A change while waiting: the reply comes early with the new state.
    std::thread changer([&] {
        std::this_thread::sleep_for(200ms);
        c.step_down(1);
    });
    t0 = std::chrono::steady_clock::now();
    doc changed = r.command(awaitable(10000));
    waited = std::chrono::steady_clock::now() - t0;
    changer.join();
    CHECK(waited < 5s);
    CHECK(num(changed, "topologyVersion.counter") > counter);
    CHECK(num(changed, "isWritablePrimary") == 1);

    // Only one of the two fields: an error.
    doc bad = r.command(json(R"({"hello": 1, "maxAwaitTimeMS": 10, "$db": "admin"})"));
    CHECK(num(bad, "ok") == 0);
}

TEST_CASE("mock: exhaustAllowed streams hello replies with moreToCome", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary});
    raw_conn r(c.port(1));
    doc h = r.command(json(R"({"hello": 1, "$db": "admin"})"));
    doc q;
    BSON_APPEND_INT32(q.get(), "hello", 1);
    bson_t tv;
    BSON_APPEND_DOCUMENT_BEGIN(q.get(), "topologyVersion", &tv);
    bson_oid_t o = c.process_id(1);
    BSON_APPEND_OID(&tv, "processId", &o);
    BSON_APPEND_INT64(&tv, "counter", *num(h, "topologyVersion.counter"));
    bson_append_document_end(q.get(), &tv);
    BSON_APPEND_INT64(q.get(), "maxAwaitTimeMS", 200);
    BSON_APPEND_UTF8(q.get(), "$db", "admin");
    const std::int32_t rid = r.send(q, morm::wire::flags::exhaust_allowed);

    auto first = r.receive();  // after maxAwaitTimeMS: nothing changed
    REQUIRE(first);
    CHECK(first->header.response_to == rid);
    CHECK((first->flag_bits & morm::wire::flags::more_to_come) != 0);
    c.set_role(0, member_role::secondary);  // a change: the next streamed reply shows it
    auto second = r.receive();
    REQUIRE(second);
    CHECK(second->header.response_to == first->header.request_id);
    CHECK((second->flag_bits & morm::wire::flags::more_to_come) != 0);
    CHECK(num(second->body, "topologyVersion.counter") > num(first->body, "topologyVersion.counter"));
    CHECK_FALSE(has(second->body, "primary"));
}

TEST_CASE("mock: the log records bodies, sequences and session fields, and on_command scripts replies", "[mock]") {
    mock_cluster c({member_role::primary});
    std::atomic<int> seen{0};
    c.on_command([&](std::size_t member, const morm_test::recorded_command& cmd) {
        if (cmd.name == "ping" && member == 0) ++seen;
    });
    raw_conn r(c.port(0));
    doc body = json(std::string(R"({"insert": "c", "ordered": false, "lsid": )") + lsid_json +
                    R"(, "txnNumber": {"$numberLong": "7"}, "readConcern": {"level": "majority"}, "$db": "db"})");
    std::vector<doc> docs{json(R"({"_id": 1})"), json(R"({"_id": 2})"), json(R"({"_id": 3})")};
    r.send(body, 0, "documents", docs);
    auto rep = r.receive();
    REQUIRE(rep);
    CHECK(num(rep->body, "n") == 3);
    r.command(json(R"({"ping": 1, "$db": "admin"})"));
    CHECK(seen == 1);

    auto log = c.commands();
    REQUIRE(log.size() == 2);
    CHECK(log[0].name == "insert");
    CHECK(log[0].db == "db");
    CHECK(log[0].sequence_id == "documents");
    CHECK(log[0].sequence_documents == 3);
    CHECK(num(log[0].documents[2], "_id") == 3);
    CHECK(num(log[0].body, "txnNumber") == 7);
    CHECK(str(log[0].body, "readConcern.level") == "majority");
    CHECK(has(log[0].body, "lsid.id"));
    CHECK(log[1].name == "ping");
    CHECK(log[0].connection == log[1].connection);

    // A hook that answers instead of the server, then one that closes.
    c.on_command([](std::size_t, const morm_test::recorded_command& cmd) {
        if (cmd.name == "buildInfo") return morm_test::mock_action::reply(json(R"({"ok": 1, "version": "9.9.9"})"));
        if (cmd.name == "count") return morm_test::mock_action::close();
        return morm_test::mock_action::proceed();
    });
    CHECK(str(r.command(json(R"({"buildInfo": 1, "$db": "admin"})")), "version") == "9.9.9");
    r.send(json(R"({"count": "c", "$db": "db"})"));
    CHECK_FALSE(r.receive(2s));
    c.clear_log();
    CHECK(c.commands().empty());
}

TEST_CASE("mock: $clusterTime and operationTime advance with writes and gossip", "[mock]") {
    mock_cluster c({member_role::primary});
    raw_conn r(c.port(0));
    auto ts = [](const doc& d, std::string_view key) {
        auto it = d.find(key);
        REQUIRE(it);
        REQUIRE(BSON_ITER_HOLDS_TIMESTAMP(&*it));
        std::uint32_t t = 0, i = 0;
        bson_iter_timestamp(&*it, &t, &i);
        return std::pair{t, i};
    };
    doc before = r.command(json(R"({"ping": 1, "$db": "admin"})"));
    doc w = r.command(json(R"({"insert": "c", "documents": [{"_id": 1}], "$db": "db"})"));
    CHECK(ts(w, "operationTime") > ts(before, "operationTime"));
    CHECK(ts(w, "$clusterTime.clusterTime") == ts(w, "operationTime"));
    CHECK(num(w, "$clusterTime.signature.keyId") == 0);
    CHECK(ts(w, "operationTime") == c.cluster_time());
    // A client's later $clusterTime moves the cluster's forward.
    doc g = json(R"({"ping": 1, "$clusterTime": {"clusterTime": {"$timestamp": {"t": 4000000000, "i": 5}}},
                     "$db": "admin"})");
    doc after = r.command(g);
    CHECK(ts(after, "operationTime") == std::pair<std::uint32_t, std::uint32_t>{4000000000u, 5u});
}

TEST_CASE("mock: transactions apply at commit and vanish at abort", "[mock]") {
    mock_cluster c({member_role::primary});
    raw_conn r(c.port(0));
    auto txn_cmd = [](std::string_view cmd, std::int64_t txn, bool start) {
        std::string j = std::string("{") + std::string(cmd) + R"(, "lsid": )" + lsid_json +
                        R"(, "txnNumber": {"$numberLong": ")" + std::to_string(txn) + R"("}, "autocommit": false)" +
                        (start ? R"(, "startTransaction": true)" : "") + "}";
        return json(j);
    };
    CHECK(num(r.command(txn_cmd(R"("insert": "c", "documents": [{"_id": 1}], "$db": "db")", 1, true)), "n") == 1);
    CHECK(num(r.command(txn_cmd(R"("insert": "c", "documents": [{"_id": 2}], "$db": "db")", 1, false)), "n") == 1);
    CHECK(c.documents("db.c").empty());  // not visible before the commit
    doc in_txn = r.command(txn_cmd(R"("find": "c", "$db": "db")", 1, false));
    CHECK(num(in_txn, "cursor.firstBatch.1._id") == 2);  // the transaction reads its own writes
    CHECK(num(r.command(txn_cmd(R"("commitTransaction": 1, "$db": "admin")", 1, false)), "ok") == 1);
    CHECK(c.documents("db.c").size() == 2);
    CHECK(num(r.command(txn_cmd(R"("commitTransaction": 1, "$db": "admin")", 1, false)), "ok") == 1);  // retried
    CHECK(c.retried_writes() == 1);

    CHECK(num(r.command(txn_cmd(R"("insert": "c", "documents": [{"_id": 3}], "$db": "db")", 2, true)), "n") == 1);
    CHECK(num(r.command(txn_cmd(R"("abortTransaction": 1, "$db": "admin")", 2, false)), "ok") == 1);
    CHECK(c.documents("db.c").size() == 2);
    doc gone = r.command(txn_cmd(R"("commitTransaction": 1, "$db": "admin")", 2, false));
    CHECK(num(gone, "code") == 251);
    CHECK(strings(gone, "errorLabels") == std::vector<std::string>{"TransientTransactionError"});
}

TEST_CASE("mock: maxWriteBatchSize is reported and enforced", "[mock]") {
    mock_cluster c({member_role::primary});
    c.set_max_write_batch_size(2);
    run([&]() -> asio::awaitable<void> {
        std::string uri = c.direct_uri(0);
        auto cl = co_await connect_to(uri);
        CHECK(cl.server().max_write_batch_size == 2);
        std::vector<doc> five;
        for (int i = 0; i < 5; ++i) five.push_back(json(R"({"i": )" + std::to_string(i) + "}"));
        auto coll = cl.database("db")["c"];
        auto res = co_await coll.insert_many(five);
        CHECK(res.inserted_count == 5);
    });
    CHECK(c.count_named("insert") == 3);  // 2 + 2 + 1
    CHECK(c.documents("db.c").size() == 5);
    raw_conn r(c.port(0));
    doc big = json(R"({"insert": "c", "documents": [{}, {}, {}], "$db": "db"})");
    CHECK(num(r.command(big), "code") == 16);
}

TEST_CASE("mock: cursors stay on their member, projection, arbiter, standalone and restart", "[mock]") {
    mock_cluster c({member_role::primary, member_role::secondary, member_role::arbiter, member_role::standalone});
    for (int i = 1; i <= 3; ++i)
        c.insert_document("db.c", json(R"({"_id": )" + std::to_string(i) + R"(, "a": 1, "b": 2})"));
    raw_conn s(c.port(1));
    doc first = s.command(json(R"({"find": "c", "batchSize": 1, "projection": {"b": 0}, "$db": "db"})"));
    const auto id = *num(first, "cursor.id");
    CHECK(id != 0);
    CHECK(num(first, "cursor.firstBatch.0.a") == 1);
    CHECK_FALSE(has(first, "cursor.firstBatch.0.b"));
    auto get_more = [&](std::int64_t cursor) {
        doc g;
        BSON_APPEND_INT64(g.get(), "getMore", cursor);
        BSON_APPEND_UTF8(g.get(), "collection", "c");
        BSON_APPEND_UTF8(g.get(), "$db", "db");
        return g;
    };
    raw_conn p(c.port(0));
    CHECK(num(p.command(get_more(id)), "code") == 43);  // the cursor lives on the secondary
    doc rest = s.command(get_more(id));
    CHECK(num(rest, "cursor.id") == 0);
    CHECK(num(rest, "cursor.nextBatch.1._id") == 3);
    doc only_a = p.command(json(R"({"find": "c", "projection": {"a": 1, "_id": 0}, "$db": "db"})"));
    CHECK(first_key_of(only_a, "cursor.firstBatch.0") == "a");

    raw_conn a(c.port(2));
    CHECK(num(a.command(json(R"({"find": "c", "$db": "db"})")), "code") == 13436);
    raw_conn sa(c.port(3));
    CHECK(num(sa.command(retryable_insert(1, 1)), "code") == 20);  // no txnNumber on a standalone

    const auto pid = c.process_id(1);
    c.restart(1);
    CHECK(c.process_id(1) != pid);
    CHECK(c.topology_counter(1) == 0);
    CHECK_FALSE(s.receive(2s));  // its connections were closed
    raw_conn s2(c.port(1));
    CHECK(oid(s2.command(json(R"({"hello": 1, "$db": "admin"})")), "topologyVersion.processId") == c.process_id(1));
    CHECK(c.wait_for_commands("hello", 1, 1s, 1));
    CHECK_FALSE(c.wait_for_commands("hello", 5, 50ms, 1));
}
