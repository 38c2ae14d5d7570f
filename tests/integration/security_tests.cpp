// Malformed ids and values never reach another user's record (issue: `get("\xff")` used to
// send the filter `{}` and return, then update or delete, whichever document came first).
// Every operation by id, every typed filter or update and every client command refuses a
// value it cannot encode with errc::invalid_argument, before anything is sent: command
// monitoring sees no command, and the stored documents are unchanged.
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace sec_it {
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
}  // namespace sec_it

using namespace sec_it;
using morm::field;
using morm::bson::document;

namespace {

/// Names of the commands started through an engine, in order.
struct started_log {
    std::vector<std::string> names;
};

const std::vector<std::string> bad_ids = {"\xff", std::string("a1\0", 3), std::string("\0", 1), "alice\xc3",
                                          "\xc0\xaf"};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<started_log> log) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("sec");
    opts.client.command_listener = [log](const morm::net::command_event& e) {
        if (e.kind == morm::net::command_event::started) log->names.emplace_back(e.command_name);
    };
    auto uri = morm_test::server_uri();
    auto e = co_await morm::create_engine(uri, opts);
    co_return e;
}

asio::awaitable<std::vector<std::string>> snapshot(const morm::engine& eng) {
    std::vector<std::string> out;
    auto coll = eng.database().collection("users");
    document all;
    morm::find_options fo;
    fo.sort = document::from_json(R"({"_id": 1})");
    auto c = co_await coll.find(all, fo);
    while (auto d = co_await c.next()) out.push_back(d->to_json());
    co_return out;
}

/// Stores alice and a1 (a prefix of the NUL id "a1\0") and returns their documents as JSON.
asio::awaitable<std::vector<std::string>> seed(const morm::engine& eng) {
    {
        morm::session s{eng};
        s.add(User{"alice", "Alice", "alice@secret.example"});
        s.add(User{"a1", "Bob", "bob@secret.example"});
        co_await s.commit();
    }
    co_return co_await snapshot(eng);
}

/// The morm error code a synchronous call throws (ok if it does not throw).
morm::error_code thrown_by(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const morm::error& e) {
        if (message) *message = e.what();
        return e.code();
    }
    return {};
}

}  // namespace

TEST_CASE("security: get() with an id that cannot be encoded throws invalid_argument and sends nothing",
          "[security][orm][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto log = std::make_shared<started_log>();
        auto eng = co_await make_engine(log);
        const auto before = co_await seed(eng);
        REQUIRE(before.size() == 2);
        for (const auto& id : bad_ids) {
            INFO("id bytes: " << morm::detail::id_json_of(id));
            morm::session s{eng};
            log->names.clear();
            morm::error_code code;
            std::string message;
            try {
                auto u = co_await s.get<User>(id);
                FAIL("get() returned " << (u ? u->id : "nullptr") << " instead of throwing");
            } catch (const morm::error& e) {
                code = e.code();
                message = e.what();
            }
            CHECK(code == morm::errc::invalid_argument);
            CHECK(message.find("_id") != std::string::npos);
            CHECK(message.find("'users'") != std::string::npos);
            CHECK(log->names.empty());  // no find went out
            CHECK(s.size() == 0);       // nothing loaded, nothing tracked
            auto r = co_await s.commit();
            CHECK(r.ok());
            CHECK(log->names.empty());
        }
        // A valid id still loads its own document.
        morm::session s{eng};
        std::string a1 = "a1";
        auto bob = co_await s.get<User>(a1);
        REQUIRE(bob);
        CHECK(bob->name == "Bob");
        CHECK(co_await snapshot(eng) == before);
        co_await eng.database().drop();
    });
}

TEST_CASE("security: add, merge, refresh, remove and commit never write through a bad or changed id",
          "[security][orm][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto log = std::make_shared<started_log>();
        auto eng = co_await make_engine(log);
        const auto before = co_await seed(eng);

        SECTION("add and merge refuse an id that cannot be encoded") {
            morm::session s{eng};
            for (const auto& id : bad_ids) {
                INFO("id bytes: " << morm::detail::id_json_of(id));
                std::string msg;
                CHECK(thrown_by([&] { s.add(User{id, "M", "m@evil.example"}); }, &msg) == morm::errc::invalid_argument);
                CHECK(msg.find("_id") != std::string::npos);
                CHECK(thrown_by([&] { s.merge(User{id, "M", "m@evil.example"}); }) == morm::errc::invalid_argument);
            }
            CHECK(s.size() == 0);
            log->names.clear();
            auto r = co_await s.commit();
            CHECK(r.ok());
            CHECK(log->names.empty());
        }
        SECTION("a pending object whose id is made invalid after add() is not sent") {
            morm::session s{eng};
            auto m = s.add(User{"mallory", "M", "m@evil.example"});
            m->id = "\xff";
            log->names.clear();
            morm::error_code code;
            try {
                co_await s.commit();
            } catch (const morm::commit_error& e) {
                code = e.code();
                REQUIRE(e.result().failures.size() == 1);
                CHECK(e.result().failures[0].error == morm::errc::invalid_argument);
                CHECK(e.result().failures[0].id == "<invalid: \"\\xff\">");
            }
            CHECK(code == morm::errc::invalid_argument);
            CHECK(log->names.empty());
        }
        SECTION("a loaded object whose id member is changed is never written elsewhere") {
            morm::session s{eng};
            std::string alice_id = "alice";
            auto alice = co_await s.get<User>(alice_id);
            REQUIRE(alice);
            for (std::string other : {std::string("a1"), std::string("\xff"), std::string("a1\0", 3)}) {
                alice->id = other;
                alice->email = "pwned@evil.example";
                log->names.clear();
                morm::error_code code;
                try {
                    co_await s.commit();
                } catch (const morm::commit_error& e) {
                    code = e.code();
                    REQUIRE(e.result().failures.size() == 1);
                    CHECK(e.result().failures[0].op == morm::object_outcome::operation::update);
                }
                CHECK(code == morm::errc::invalid_argument);
                CHECK(log->names.empty());  // no update went out
            }
            // refresh() reloads the stored document by the id the object was loaded with.
            co_await s.refresh(alice);
            CHECK(alice->id == "alice");
            CHECK(alice->email == "alice@secret.example");
            log->names.clear();
            co_await s.commit();
            CHECK(log->names.empty());
            // remove() of it (id member changed again) deletes alice, not a1.
            alice->id = "a1";
            s.remove(alice);
            co_await s.commit();
            auto after = co_await snapshot(eng);
            REQUIRE(after.size() == 1);
            CHECK(after[0] == before[0]);  // sorted by _id: "a1" first
        }
        SECTION("rollback restores a changed id") {
            morm::session s{eng};
            std::string alice_id = "alice";
            auto alice = co_await s.get<User>(alice_id);
            REQUIRE(alice);
            alice->id = "\xff";
            s.rollback();
            CHECK(alice->id == "alice");
            CHECK_FALSE(s.dirty());
        }
        if (before.size() == 2) {
            auto now = co_await snapshot(eng);
            if (now.size() == 2) CHECK(now == before);
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("security: typed filters and updates with values that cannot be encoded throw before sending",
          "[security][orm][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto log = std::make_shared<started_log>();
        auto eng = co_await make_engine(log);
        const auto before = co_await seed(eng);
        morm::session s{eng};
        log->names.clear();
        const std::string bad = "\xff";
        const std::string nul("alice\0", 6);
        std::string msg;
        CHECK(thrown_by([&] { s.query<User>().filter(field(&User::id) == bad); }, &msg) ==
              morm::errc::invalid_argument);
        CHECK(msg.find("'_id'") != std::string::npos);
        CHECK(thrown_by([&] { s.query<User>().filter(field(&User::name) != nul); }, &msg) ==
              morm::errc::invalid_argument);
        CHECK(msg.find("'name'") != std::string::npos);
        CHECK(thrown_by([&] { (void)field(&User::id).in({std::string("alice"), bad}); }) ==
              morm::errc::invalid_argument);
        CHECK(thrown_by([&] { (void)field(&User::name).regex(nul); }) == morm::errc::invalid_argument);
        // Bulk update/remove: the update or the filter fails to build, so nothing is sent.
        CHECK(thrown_by([&] { (void)morm::set(field(&User::email), bad); }, &msg) == morm::errc::invalid_argument);
        CHECK(msg.find("'email'") != std::string::npos);
        CHECK(thrown_by([&] { s.query<User>().filter(field(&User::id) == nul); }) == morm::errc::invalid_argument);
        // What a caller would run if it swallowed the throw: an unfiltered query is not built.
        auto q = s.query<User>();
        morm::error_code code;
        try {
            q.filter(field(&User::id) == bad);
            co_await q.remove();
        } catch (const morm::error& e) {
            code = e.code();
        }
        CHECK(code == morm::errc::invalid_argument);
        CHECK(log->names.empty());
        CHECK(co_await snapshot(eng) == before);
        co_await eng.database().drop();
    });
}

TEST_CASE("security: the client refuses names, keys and databases that are not valid UTF-8 or hold a NUL",
          "[security][client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto log = std::make_shared<started_log>();
        auto eng = co_await make_engine(log);
        const auto before = co_await seed(eng);
        const auto db = eng.database();
        // "users\0x" would be "users" to a reader that stops at the NUL.
        auto bad_coll = db.collection(std::string("users\0x", 7));
        auto users = db.collection("users");
        document all;
        log->names.clear();

        std::vector<std::pair<std::string, morm::error_code>> codes;
        auto attempt = [&](std::string what, morm::error_code& out) { codes.emplace_back(std::move(what), out); };
        morm::error_code c1, c2, c3, c4, c5, c6, c7, c8, c9;
        try { co_await bad_coll.find(all); } catch (const morm::error& e) { c1 = e.code(); }
        attempt("find", c1);
        try { co_await bad_coll.delete_many(all); } catch (const morm::error& e) { c2 = e.code(); }
        attempt("delete_many", c2);
        try {
            auto upd = document::from_json(R"({"$set": {"email": "pwned@evil.example"}})");
            co_await bad_coll.update_many(all, upd);
        } catch (const morm::error& e) { c3 = e.code(); }
        attempt("update_many", c3);
        try {
            std::vector<document> docs;
            docs.push_back(document::from_json(R"({"_id": "m", "name": "M"})"));
            co_await bad_coll.insert_many(docs);
        } catch (const morm::error& e) { c4 = e.code(); }
        attempt("insert_many", c4);
        try { co_await bad_coll.find_one_and_delete(all); } catch (const morm::error& e) { c5 = e.code(); }
        attempt("find_one_and_delete", c5);
        try { co_await users.distinct(std::string("name\0x", 6)); } catch (const morm::error& e) { c6 = e.code(); }
        attempt("distinct", c6);
        try { co_await db.create_collection("bad\xff"); } catch (const morm::error& e) { c7 = e.code(); }
        attempt("create_collection", c7);
        try {
            auto other = eng.client().database(std::string("db\0x", 4)).collection("users");
            co_await other.count_documents(all);
        } catch (const morm::error& e) { c8 = e.code(); }
        attempt("another database", c8);
        try { co_await users.drop_index(std::string("name_1\0", 7)); } catch (const morm::error& e) { c9 = e.code(); }
        attempt("drop_index", c9);
        for (auto& [what, code] : codes) {
            INFO(what);
            CHECK(code == morm::errc::invalid_argument);
        }
        CHECK(log->names.empty());
        CHECK(co_await snapshot(eng) == before);
        co_await eng.database().drop();
    });
}
