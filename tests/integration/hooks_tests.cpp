// Lifecycle hooks (orm/hooks.hpp) and merge() against the real server: when each hook
// runs, a hook's change written in the same commit, a rejected object left pending while
// the rest of the commit is written; merge() keeps the fields the model does not declare
// (written here by pymongo).
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using morm::bson::document;

namespace hooks_it {

struct Order {
    std::string id;
    double total = 0;
    std::string status;
    std::int64_t revision = 0;
    // Not stored: how often each hook ran on this object.
    int inserts = 0, updates = 0, deletes = 0, loads = 0;

    morm::hook_result before_insert() {
        ++inserts;
        if (total <= 0) return morm::reject("total must be positive");
        status = "new";
        return {};
    }
    void before_update() {
        ++updates;
        ++revision;
    }
    morm::hook_result before_delete() {
        ++deletes;
        if (status == "locked") return morm::reject("a locked order is kept");
        return {};
    }
    morm::hook_result after_load() {
        ++loads;
        if (status == "corrupt") return morm::reject("corrupt order");
        return {};
    }
};
MORM_MODEL(Order, "orders", (id, "_id"), total, status, revision);

struct Plain {
    std::string id;
    std::string text;
};
MORM_MODEL(Plain, "plain", (id, "_id"), text);

struct User {
    std::string id;
    std::string name;
    std::string email;
};
MORM_MODEL(User, "users", (id, "_id"), name, email);

struct Versioned {
    std::string id;
    std::string title;
    std::int64_t version = 0;
};
MORM_MODEL(Versioned, "versioned", (id, "_id"), title, (version, "version", morm::codec::field_flags::version));

struct OnlyId {
    std::string id;
};
MORM_MODEL(OnlyId, "only_ids", (id, "_id"));

}  // namespace hooks_it

using namespace hooks_it;

namespace {

struct recorder {
    std::vector<document> updates;  // the update commands sent
};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<recorder> rec = nullptr) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("hooks");
    if (rec)
        opts.client.command_listener = [rec](const morm::net::command_event& e) {
            if (e.kind == morm::net::command_event::started && e.command_name == "update" && e.document)
                rec->updates.push_back(document::from_bytes(bson_get_data(e.document), e.document->len));
        };
    auto uri = morm_test::server_uri();
    co_return co_await morm::create_engine(uri, opts);
}

asio::awaitable<std::optional<document>> server_doc(const morm::engine& e, std::string_view coll,
                                                   std::string_view json) {
    auto filter = document::from_json(json);
    auto c = e.database().collection(coll);
    co_return co_await c.find_one(filter);
}

asio::awaitable<std::int64_t> server_count(const morm::engine& e, std::string_view coll) {
    auto filter = document::from_json("{}");
    auto c = e.database().collection(coll);
    co_return co_await c.count_documents(filter);
}

std::string str_at(const document& d, std::string_view path) {
    auto it = d.find(path);
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_UTF8(&*it));
    return bson_iter_utf8(&*it, nullptr);
}
std::int64_t int_at(const document& d, std::string_view path) {
    auto it = d.find(path);
    REQUIRE(it);
    return bson_iter_as_int64(&*it);
}

Order order(std::string id, double total) {
    Order o;
    o.id = std::move(id);
    o.total = total;
    return o;
}

int shell(const std::string& cmd, std::string& output) {
    output.clear();
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return -1;
    char buf[1024];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    int st = ::pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

}  // namespace

TEST_CASE("hooks: each hook runs at its time and not otherwise", "[hooks][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        {
            morm::session s{eng};
            auto o = s.add(order("o1", 10));
            CHECK(o->inserts == 0);  // staging runs nothing
            auto r = co_await s.commit();
            CHECK(r.inserted == 1);
            CHECK(o->inserts == 1);
            CHECK(o->updates == 0);
            // The hook's change was written with the insert, and is the tracked state.
            auto d = co_await server_doc(eng, "orders", R"({"_id": "o1"})");
            REQUIRE(d);
            CHECK(str_at(*d, "status") == "new");
            CHECK_FALSE(s.dirty());

            // Nothing changed: nothing written, no hook.
            r = co_await s.commit();
            CHECK(r.unchanged == 1);
            CHECK(o->updates == 0);
            CHECK(o->inserts == 1);

            // A change: before_update runs and its change goes in the same update.
            o->total = 12;
            r = co_await s.commit();
            CHECK(r.updated == 1);
            CHECK(o->updates == 1);
            d = co_await server_doc(eng, "orders", R"({"_id": "o1"})");
            REQUIRE(d);
            CHECK(int_at(*d, "revision") == 1);
            CHECK(int_at(*d, "total") == 12);
            CHECK_FALSE(s.dirty());
            CHECK(o->loads == 0);  // its own objects are never "loaded"
        }
        {
            morm::session s{eng};
            std::string id = "o1";
            auto o = co_await s.get<Order>(id);
            REQUIRE(o);
            CHECK(o->loads == 1);
            auto again = co_await s.get<Order>(id);
            CHECK(again.get() == o.get());
            auto all = co_await s.query<Order>().all();
            REQUIRE(all.size() == 1);
            CHECK(all[0].get() == o.get());
            CHECK(o->loads == 1);  // already in the session: not loaded again
            co_await s.refresh(o);
            CHECK(o->loads == 2);
            CHECK(o->inserts + o->updates + o->deletes == 0);
            // A loaded object is unchanged: a commit writes nothing and runs no hook.
            auto r = co_await s.commit();
            CHECK(r.unchanged == 1);
            CHECK(o->updates == 0);

            auto st = co_await s.query<Order>().stream();
            auto streamed = co_await st.next();
            REQUIRE(streamed);
            CHECK(streamed->loads == 1);

            s.remove(o);
            CHECK(o->deletes == 0);
            r = co_await s.commit();
            CHECK(r.deleted == 1);
            CHECK(o->deletes == 1);
            CHECK(co_await server_count(eng, "orders") == 0);

            // A pending insert that is removed was never written: dropped without a hook.
            auto tmp = s.add(order("tmp", 1));
            s.remove(tmp);
            r = co_await s.commit();
            CHECK(tmp->inserts + tmp->deletes == 0);
        }
        {
            // merge() runs before_update, whether it turns out an insert or an update.
            morm::session s{eng};
            auto m = s.merge(order("m1", 5));
            auto r = co_await s.commit();
            CHECK(r.updated == 1);
            CHECK(m->updates == 1);
            CHECK(m->inserts == 0);
            auto d = co_await server_doc(eng, "orders", R"({"_id": "m1"})");
            REQUIRE(d);
            CHECK(int_at(*d, "revision") == 1);
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("hooks: a rejected object stays pending with the reason, the rest of the commit is written",
          "[hooks][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        morm::session s{eng};
        s.add(order("a", 1));
        auto bad = s.add(order("bad", -5));
        s.add(order("b", 2));
        std::optional<morm::commit_result> thrown;
        try {
            co_await s.commit();
        } catch (const morm::commit_error& e) {
            CHECK(e.code() == morm::errc::rejected_by_hook);
            CHECK(std::string(e.what()).find("total must be positive") != std::string::npos);
            thrown = e.result();
        }
        REQUIRE(thrown);
        CHECK(thrown->inserted == 2);
        REQUIRE(thrown->failures.size() == 1);
        const auto& f = thrown->failures[0];
        CHECK(f.error == morm::errc::rejected_by_hook);
        CHECK(f.op == morm::object_outcome::operation::insert);
        CHECK(f.collection == "orders");
        CHECK(f.id == "\"bad\"");
        CHECK(f.message == "rejected by before_insert(): total must be positive");
        CHECK(std::static_pointer_cast<Order>(f.object) == bad);
        CHECK(co_await server_count(eng, "orders") == 2);
        CHECK(s.dirty());  // still pending

        // The non-throwing form reports the same.
        morm::error_code ec;
        morm::diagnostics diag;
        auto r = co_await s.commit(ec, diag);
        CHECK(ec == morm::errc::rejected_by_hook);
        CHECK(r.inserted == 0);
        REQUIRE(r.failures.size() == 1);
        CHECK(r.failures[0].message == "rejected by before_insert(): total must be positive");
        CHECK(bad->inserts == 2);

        // Fixed: the next commit writes it.
        bad->total = 3;
        r = co_await s.commit();
        CHECK(r.inserted == 1);
        CHECK(r.ok());
        CHECK(co_await server_count(eng, "orders") == 3);
        auto d = co_await server_doc(eng, "orders", R"({"_id": "bad"})");
        REQUIRE(d);
        CHECK(str_at(*d, "status") == "new");

        // before_delete can refuse too: the object stays, staged for deletion.
        bad->status = "locked";
        co_await s.commit();
        s.remove(bad);
        r = co_await s.commit(ec, diag);
        CHECK(ec == morm::errc::rejected_by_hook);
        REQUIRE(r.failures.size() == 1);
        CHECK(r.failures[0].op == morm::object_outcome::operation::remove);
        CHECK(co_await server_count(eng, "orders") == 3);
        co_await eng.database().drop();
    });
}

TEST_CASE("hooks: an after_load rejection fails the load and tracks nothing", "[hooks][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        auto coll = eng.database().collection("orders");
        auto doc = document::from_json(R"({"_id": "c1", "total": 1.0, "status": "corrupt", "revision": 0})");
        const morm::insert_options io;
        co_await coll.insert_one(doc, io);
        morm::session s{eng};
        std::string id = "c1";
        morm::error_code ec;
        try {
            co_await s.get<Order>(id);
        } catch (const morm::error& e) {
            ec = e.code();
            CHECK(std::string(e.what()).find("after_load() rejected orders with _id \"c1\": corrupt order") !=
                  std::string::npos);
        }
        CHECK(ec == morm::errc::rejected_by_hook);
        CHECK(s.size() == 0);
        co_await eng.database().drop();
    });
}

TEST_CASE("hooks: a model without hooks is unaffected", "[hooks][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        morm::session s{eng};
        auto p = s.add(Plain{"p1", "one"});
        auto r = co_await s.commit();
        CHECK(r.inserted == 1);
        p->text = "two";
        r = co_await s.commit();
        CHECK(r.updated == 1);
        s.merge(Plain{"p2", "merged"});
        r = co_await s.commit();
        CHECK(r.updated == 1);
        CHECK(r.ok());
        morm::session s2{eng};
        auto all = co_await s2.query<Plain>().sort(&Plain::id).all();
        REQUIRE(all.size() == 2);
        CHECK(all[0]->text == "two");
        CHECK(all[1]->text == "merged");
        co_await eng.database().drop();
    });
}

// ======================================================================= merge

TEST_CASE("merge: an upsert of the model's fields keeps the fields it does not declare", "[merge][integration]") {
    std::string out;
    if (shell("python3 -c 'import pymongo'", out) != 0)
        FAIL("pymongo is not installed for python3: run scripts/deps.sh. " << out);
    morm_test::run([&]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        const std::string db = eng.database().name();
        // Another program (pymongo) wrote a document with fields the model does not know.
        const std::string py = R"(
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1])
c[sys.argv[2]]['users'].insert_one({'_id': 'u1', 'name': 'Old', 'email': 'old@example.com',
                                    'extra': 'keep me', 'nested': {'x': 1}})
)";
        std::string pyout;
        const int rc = shell(fmt::format("python3 -c {} {} {}", quote(py), quote(morm_test::server_uri()), quote(db)),
                             pyout);
        REQUIRE(rc == 0);
        INFO(pyout);

        morm::session s{eng};
        auto m = s.merge(User{"u1", "New", "new@example.com"});
        auto fresh = s.merge(User{"u2", "Fresh", "fresh@example.com"});
        auto r = co_await s.commit();
        CHECK(r.updated == 2);
        CHECK(r.ok());
        // The statements were updates with $set, not replacements.
        REQUIRE(rec->updates.size() == 1);
        auto statement = rec->updates[0].find("updates.0.u");
        REQUIRE(statement);
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(&*statement, &len, &data);
        CHECK(document::from_bytes(data, len).to_json(morm::bson::json_mode::canonical) ==
              document::from_json(R"({"$set": {"name": "New", "email": "new@example.com"}})")
                  .to_json(morm::bson::json_mode::canonical));

        auto d = co_await server_doc(eng, "users", R"({"_id": "u1"})");
        REQUIRE(d);
        CHECK(str_at(*d, "name") == "New");
        CHECK(str_at(*d, "email") == "new@example.com");
        CHECK(str_at(*d, "extra") == "keep me");
        CHECK(int_at(*d, "nested.x") == 1);
        // A new id is inserted.
        d = co_await server_doc(eng, "users", R"({"_id": "u2"})");
        REQUIRE(d);
        CHECK(str_at(*d, "name") == "Fresh");
        CHECK(co_await server_count(eng, "users") == 2);

        // Tracked after the commit: a change is a $set of that path, and the extra field stays.
        rec->updates.clear();
        m->email = "newer@example.com";
        r = co_await s.commit();
        CHECK(r.updated == 1);
        CHECK_FALSE(s.dirty());
        d = co_await server_doc(eng, "users", R"({"_id": "u1"})");
        REQUIRE(d);
        CHECK(str_at(*d, "email") == "newer@example.com");
        CHECK(str_at(*d, "extra") == "keep me");
        (void)fresh;
        co_await eng.database().drop();
    });
}

TEST_CASE("merge: a version field is only set on insert, a model with only _id is inserted", "[merge][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        {
            morm::session s{eng};
            s.merge(Versioned{"v1", "first", 4});
            s.merge(OnlyId{"i1"});
            auto r = co_await s.commit();
            CHECK(r.updated == 2);
            auto d = co_await server_doc(eng, "versioned", R"({"_id": "v1"})");
            REQUIRE(d);
            CHECK(int_at(*d, "version") == 4);
            CHECK(co_await server_count(eng, "only_ids") == 1);
        }
        {
            // Over an existing document: the stored version is neither checked nor moved back.
            auto coll = eng.database().collection("versioned");
            auto filter = document::from_json(R"({"_id": "v1"})");
            auto bump = document::from_json(R"({"$set": {"version": {"$numberLong": "9"}}})");
            const morm::update_options uo;
            co_await coll.update_one(filter, bump, uo);
            morm::session s{eng};
            auto v = s.merge(Versioned{"v1", "second", 2});
            s.merge(OnlyId{"i1"});
            auto r = co_await s.commit();
            CHECK(r.updated == 2);
            CHECK(r.ok());
            auto d = co_await server_doc(eng, "versioned", R"({"_id": "v1"})");
            REQUIRE(d);
            CHECK(str_at(*d, "title") == "second");
            CHECK(int_at(*d, "version") == 9);
            CHECK(co_await server_count(eng, "only_ids") == 1);
            // The object kept its version: a later update is checked against it (a conflict).
            v->title = "third";
            morm::error_code ec;
            morm::diagnostics diag;
            r = co_await s.commit(ec, diag);
            CHECK(ec == morm::errc::conflict);
        }
        co_await eng.database().drop();
    });
}
