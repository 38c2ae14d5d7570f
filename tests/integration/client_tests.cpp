// Client API against the real server (FerretDB by default, MORM_TEST_URI for MongoDB).
//
// Every argument of a co_await'ed call is a named variable: g++ 12 destroys braced or
// aggregate temporaries inside a co_await expression twice.
#include "common/test_server.hpp"

#include <morm/bson/object_id.hpp>
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>

namespace asio = boost::asio;
using namespace morm;
using bson::document;

namespace {

document J(std::string_view json) { return document::from_json(json); }

std::int64_t int_at(bson::document_view d, std::string_view path) {
    auto it = d.find(path);
    REQUIRE(it);
    return bson_iter_as_int64(&*it);
}

std::string str_at(bson::document_view d, std::string_view path) {
    auto it = d.find(path);
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_UTF8(&*it));
    return bson_iter_utf8(&*it, nullptr);
}

bool has(bson::document_view d, std::string_view path) { return d.find(path).has_value(); }

// Set by connect_test from buildInfo: FerretDB reports a "ferretdbVersion" field.
bool g_ferretdb = false;
bool is_ferretdb() { return g_ferretdb; }

/// A recorded command-monitoring event (the event's views die with the callback).
struct recorded_event {
    net::command_event::kind_t kind;
    std::int32_t request_id;
    std::string name;
    std::string database;
    std::chrono::nanoseconds duration;
    std::int32_t failure_code = 0;
    document doc;
};

client_options recording(std::shared_ptr<std::vector<recorded_event>> events) {
    client_options o;
    o.command_listener = [events](const net::command_event& e) {
        recorded_event r{e.kind, e.request_id, std::string(e.command_name), std::string(e.database), e.duration,
                         e.failure ? e.failure->server_code : 0, {}};
        if (e.document) r.doc = document::from_bytes(bson_get_data(e.document), e.document->len);
        events->push_back(std::move(r));
    };
    return o;
}

asio::awaitable<client> connect_test(client_options o) {
    auto uri = morm_test::server_uri();
    auto cl = co_await client::connect(uri, o);
    auto build_info = document::from_json(R"({"buildInfo": 1})");
    auto bi = co_await cl.run_command("admin", build_info);
    g_ferretdb = bi.find("ferretdbVersion").has_value();
    co_return cl;
}

/// A fresh collection in a fresh database.
asio::awaitable<std::pair<client, collection>> fresh(std::string_view name, client_options o) {
    auto cl = co_await connect_test(std::move(o));
    auto db = cl.database(morm_test::unique_db("client"));
    co_return std::pair{cl, db.collection(name)};
}

asio::awaitable<std::pair<client, collection>> fresh(std::string_view name) {
    client_options o;
    co_return co_await fresh(name, o);
}

asio::awaitable<void> drop_db(const client& cl, const collection& c) {
    auto db = cl.database(c.database_name());
    co_await db.drop();
}

asio::awaitable<void> sleep_ms(int ms) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await t.async_wait(asio::use_awaitable);
}

std::vector<document> numbered(int n) {
    std::vector<document> v;
    for (int i = 0; i < n; ++i) {
        document d;
        BSON_APPEND_INT32(d.get(), "_id", i);
        BSON_APPEND_INT32(d.get(), "n", i);
        BSON_APPEND_UTF8(d.get(), "parity", i % 2 ? "odd" : "even");
        v.push_back(std::move(d));
    }
    return v;
}

std::vector<std::int64_t> ids_of(const std::vector<document>& docs) {
    std::vector<std::int64_t> out;
    for (auto& d : docs) out.push_back(int_at(d, "_id"));
    return out;
}

}  // namespace

TEST_CASE("insert_one generates an ObjectId _id and returns it", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("ins");
        auto d = J(R"({"name": "John", "age": 42})");
        insert_options io;
        auto r = co_await c.insert_one(d, io);
        REQUIRE(r.inserted_id.type() == BSON_TYPE_OID);
        bson::object_id oid(r.inserted_id.get().value.v_oid);
        CHECK_FALSE(oid.is_zero());
        // The stored document carries that id.
        document f;
        bson_oid_t o = oid.to_bson();
        BSON_APPEND_OID(f.get(), "_id", &o);
        find_options fo;
        auto got = co_await c.find_one(f, fo);
        REQUIRE(got);
        CHECK(str_at(*got, "name") == "John");
        CHECK(int_at(*got, "age") == 42);
        // An explicit _id is kept.
        auto d2 = J(R"({"_id": "mine", "x": 1})");
        auto r2 = co_await c.insert_one(d2, io);
        CHECK(r2.inserted_id.type() == BSON_TYPE_UTF8);
        CHECK(r2.inserted_id.to_json() == R"("mine")");
        co_await drop_db(cl, c);
    });
}

TEST_CASE("insert_many ordered and unordered with a duplicate in the middle", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("many");
        auto docs = numbered(5);
        docs[2] = J(R"({"_id": 1, "dup": true})");  // duplicates index 1
        SECTION("ordered stops at the duplicate") {
            insert_options io;
            io.ordered = true;
            bool thrown = false;
            try {
                co_await c.insert_many(docs, io);
            } catch (const bulk_write_exception& e) {
                thrown = true;
                CHECK(e.code() == errc::write_error);
                auto& r = e.result();
                CHECK(r.inserted_count == 2);
                REQUIRE(r.errors.size() == 1);
                CHECK(r.errors[0].index == 2);
                CHECK(r.errors[0].code == 11000);
                CHECK(r.not_executed == std::vector<std::size_t>{3, 4});
                CHECK(e.server_code() == 11000);
            }
            CHECK(thrown);
            document all;
            count_options co;
            auto v1 = co_await c.count_documents(all, co);
            CHECK(v1 == 2);
        }
        SECTION("unordered writes all the others") {
            insert_options io;
            io.ordered = false;
            bool thrown = false;
            try {
                co_await c.insert_many(docs, io);
            } catch (const bulk_write_exception& e) {
                thrown = true;
                auto& r = e.result();
                CHECK(r.inserted_count == 4);
                REQUIRE(r.errors.size() == 1);
                CHECK(r.errors[0].index == 2);
                CHECK(r.errors[0].code == 11000);
                CHECK(r.errors[0].kind == errc::write_error);
                CHECK(r.not_executed.empty());
                CHECK(r.inserted_ids.count(4) == 1);
                CHECK(r.inserted_ids.count(2) == 0);
            }
            CHECK(thrown);
            document all;
            find_options fo;
            fo.sort = J(R"({"_id": 1})");
            auto cur = co_await c.find(all, fo);
            auto v = co_await cur.to_vector();
            CHECK(ids_of(v) == std::vector<std::int64_t>{0, 1, 3, 4});
            // Index 1 kept its own document, not the duplicate.
            CHECK_FALSE(has(v[1], "dup"));
        }
        SECTION("success reports every id by input index") {
            auto ok_docs = numbered(3);
            ok_docs.push_back(J(R"({"x": "generated id"})"));
            insert_options io;
            auto r = co_await c.insert_many(ok_docs, io);
            CHECK(r.ok());
            CHECK(r.inserted_count == 4);
            REQUIRE(r.inserted_ids.size() == 4);
            CHECK(r.inserted_ids.at(1).to_json() == "1");
            CHECK(r.inserted_ids.at(3).type() == BSON_TYPE_OID);
        }
        co_await drop_db(cl, c);
    });
}

TEST_CASE("update_one, update_many, pipelines, upsert and replace_one", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("upd");
        auto docs = numbered(6);
        insert_options io;
        co_await c.insert_many(docs, io);
        update_options uo;

        auto f_even = J(R"({"parity": "even"})");
        auto set_tag = J(R"({"$set": {"tag": "t"}})");
        auto r1 = co_await c.update_one(f_even, set_tag, uo);
        CHECK(r1.matched_count == 1);
        CHECK(r1.modified_count == 1);
        CHECK_FALSE(r1.upserted_id);

        auto inc = J(R"({"$inc": {"n": 100}})");
        auto r2 = co_await c.update_many(f_even, inc, uo);
        CHECK(r2.matched_count == 3);
        CHECK(r2.modified_count == 3);
        auto f_big = J(R"({"n": {"$gte": 100}})");
        count_options co;
        auto v2 = co_await c.count_documents(f_big, co);
        CHECK(v2 == 3);

        // No match, no upsert: nothing happens.
        auto f_none = J(R"({"_id": 999})");
        auto r3 = co_await c.update_one(f_none, set_tag, uo);
        CHECK(r3.matched_count == 0);
        CHECK(r3.modified_count == 0);
        CHECK_FALSE(r3.upserted_id);

        // Upsert returns the new id.
        update_options up;
        up.upsert = true;
        auto f_new = J(R"({"_id": "new"})");
        auto set_v = J(R"({"$set": {"v": 7}})");
        auto r4 = co_await c.update_one(f_new, set_v, up);
        CHECK(r4.matched_count == 0);
        REQUIRE(r4.upserted_id);
        CHECK(r4.upserted_id->to_json() == R"("new")");
        find_options fo;
        auto got = co_await c.find_one(f_new, fo);
        REQUIRE(got);
        CHECK(int_at(*got, "v") == 7);

        // replace_one swaps the whole document but keeps _id.
        auto f1 = J(R"({"_id": 1})");
        auto repl = J(R"({"replaced": true})");
        auto r5 = co_await c.replace_one(f1, repl, uo);
        CHECK(r5.matched_count == 1);
        CHECK(r5.modified_count == 1);
        auto got1 = co_await c.find_one(f1, fo);
        REQUIRE(got1);
        CHECK(has(*got1, "replaced"));
        CHECK_FALSE(has(*got1, "n"));
        // replace with upsert
        auto f_r = J(R"({"_id": "r"})");
        auto r6 = co_await c.replace_one(f_r, repl, up);
        REQUIRE(r6.upserted_id);
        CHECK(r6.upserted_id->to_json() == R"("r")");

        // An operator-less document is not an update.
        bool rejected = false;
        try {
            co_await c.update_one(f1, repl, uo);
        } catch (const morm::error&) {
            rejected = true;
        }
        CHECK(rejected);

        // Update with an aggregation pipeline.
        std::vector<document> pipeline{J(R"({"$set": {"m": {"$add": ["$n", 1]}}})")};
        auto f3 = J(R"({"_id": 3})");
        try {
            auto r7 = co_await c.update_one(f3, pipeline, uo);
            CHECK(r7.matched_count == 1);
            auto got3 = co_await c.find_one(f3, fo);
            REQUIRE(got3);
            CHECK(int_at(*got3, "m") == 4);
        } catch (const morm::error& e) {
            if (!is_ferretdb()) throw;
            WARN("skipped on FerretDB: update with an aggregation pipeline (" << e.what() << ")");
        }
        co_await drop_db(cl, c);
    });
}

TEST_CASE("delete_one and delete_many", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("del");
        auto docs = numbered(6);
        insert_options io;
        co_await c.insert_many(docs, io);
        delete_options dopt;
        auto f_odd = J(R"({"parity": "odd"})");
        auto r1 = co_await c.delete_one(f_odd, dopt);
        CHECK(r1.deleted_count == 1);
        auto r2 = co_await c.delete_many(f_odd, dopt);
        CHECK(r2.deleted_count == 2);
        auto r3 = co_await c.delete_many(f_odd, dopt);
        CHECK(r3.deleted_count == 0);
        document all;
        count_options co;
        auto v3 = co_await c.count_documents(all, co);
        CHECK(v3 == 3);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("bulk_write mixes all models and maps indexes", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("bulk");
        auto seed = numbered(4);
        insert_options io;
        co_await c.insert_many(seed, io);

        std::vector<write_model> models;
        models.emplace_back(insert_one_model{J(R"({"_id": 10})")});                                          // 0
        models.emplace_back(update_one_model{J(R"({"_id": 0})"), J(R"({"$set": {"u": 1}})"), {}, false});   // 1
        models.emplace_back(update_many_model{J(R"({"parity": "odd"})"), J(R"({"$set": {"o": 1}})"), {}, false});  // 2
        models.emplace_back(replace_one_model{J(R"({"_id": 2})"), J(R"({"r": 1})"), false});               // 3
        models.emplace_back(update_one_model{J(R"({"_id": "ups"})"), J(R"({"$set": {"u": 2}})"), {}, true});  // 4
        models.emplace_back(delete_one_model{J(R"({"_id": 10})")});                                          // 5
        models.emplace_back(insert_one_model{J(R"({"_id": 11})")});                                          // 6
        models.emplace_back(delete_many_model{J(R"({"o": 1})")});                                            // 7
        models.emplace_back(insert_one_model{J(R"({"noid": true})")});                                       // 8

        SECTION("ordered, all succeed") {
            bulk_write_options bo;
            auto r = co_await c.bulk_write(models, bo);
            CHECK(r.ok());
            CHECK(r.inserted_count == 3);
            CHECK(r.matched_count == 4);   // 1 + 2 + 1
            CHECK(r.modified_count == 4);
            CHECK(r.upserted_count == 1);
            if (is_ferretdb() && r.upserted_ids.count(4) == 0) {
                // FerretDB numbers upserted[].index among the upserts, not among the updates.
                WARN("skipped on FerretDB: wrong 'upserted.index' in the update reply");
            } else {
                REQUIRE(r.upserted_ids.count(4) == 1);
                CHECK(r.upserted_ids.at(4).to_json() == R"("ups")");
            }
            CHECK(r.deleted_count == 3);   // 10, then 1 and 3
            CHECK(r.inserted_ids.count(0) == 1);
            CHECK(r.inserted_ids.count(6) == 1);
            REQUIRE(r.inserted_ids.count(8) == 1);
            CHECK(r.inserted_ids.at(8).type() == BSON_TYPE_OID);
            document all;
            find_options fo;
            fo.sort = J(R"({"_id": 1})");
            auto cur = co_await c.find(all, fo);
            auto v = co_await cur.to_vector();
            // 0, 2, 11, the generated id, "ups" remain.
            CHECK(v.size() == 5);
        }
        SECTION("errors map back to the caller's indexes") {
            std::vector<write_model> bad;
            bad.emplace_back(delete_one_model{J(R"({"_id": 3})")});   // 0
            bad.emplace_back(insert_one_model{J(R"({"_id": 20})")});  // 1
            bad.emplace_back(insert_one_model{J(R"({"_id": 0})")});   // 2 duplicate
            bad.emplace_back(update_one_model{J(R"({"_id": 1})"), J(R"({"$set": {"z": 1}})"), {}, false});  // 3
            bad.emplace_back(insert_one_model{J(R"({"_id": 21})")});  // 4
            SECTION("unordered") {
                bulk_write_options bo;
                bo.ordered = false;
                bool thrown = false;
                try {
                    co_await c.bulk_write(bad, bo);
                } catch (const bulk_write_exception& e) {
                    thrown = true;
                    auto& r = e.result();
                    REQUIRE(r.errors.size() == 1);
                    CHECK(r.errors[0].index == 2);
                    CHECK(r.errors[0].code == 11000);
                    CHECK(r.inserted_count == 2);
                    CHECK(r.deleted_count == 1);
                    CHECK(r.modified_count == 1);
                    CHECK(r.not_executed.empty());
                }
                CHECK(thrown);
            }
            SECTION("ordered") {
                bulk_write_options bo;
                bool thrown = false;
                try {
                    co_await c.bulk_write(bad, bo);
                } catch (const bulk_write_exception& e) {
                    thrown = true;
                    auto& r = e.result();
                    REQUIRE(r.errors.size() == 1);
                    CHECK(r.errors[0].index == 2);
                    CHECK(r.inserted_count == 1);
                    CHECK(r.deleted_count == 1);
                    CHECK(r.modified_count == 0);
                    CHECK(r.not_executed == std::vector<std::size_t>{3, 4});
                }
                CHECK(thrown);
                auto f1 = J(R"({"_id": 1})");
                find_options fo;
                auto d1 = co_await c.find_one(f1, fo);
                REQUIRE(d1);
                CHECK_FALSE(has(*d1, "z"));
            }
        }
        co_await drop_db(cl, c);
    });
}

TEST_CASE("find: filter, projection, sort, skip, limit, batches, hint", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("find", opts);
        auto docs = numbered(25);
        insert_options io;
        co_await c.insert_many(docs, io);

        auto f_even = J(R"({"parity": "even"})");
        find_options fo;
        fo.projection = J(R"({"n": 1, "_id": 0})");
        fo.sort = J(R"({"n": -1})");
        fo.skip = 1;
        fo.limit = 4;
        auto cur = co_await c.find(f_even, fo);
        auto v = co_await cur.to_vector();
        REQUIRE(v.size() == 4);
        CHECK(int_at(v[0], "n") == 22);
        CHECK(int_at(v[3], "n") == 16);
        CHECK_FALSE(has(v[0], "_id"));
        CHECK_FALSE(has(v[0], "parity"));

        // Small batches: several getMores, every document exactly once, in order.
        events->clear();
        document all;
        find_options fb;
        fb.sort = J(R"({"_id": 1})");
        fb.batch_size = 4;
        auto cur2 = co_await c.find(all, fb);
        std::vector<std::int64_t> seen;
        while (auto d = co_await cur2.next()) seen.push_back(int_at(*d, "_id"));
        std::string trace;
        for (auto& e : *events) trace += fmt::format("{} {} {}\n", int(e.kind), e.name, e.doc.to_json());
        INFO(trace);
        REQUIRE(seen.size() == 25);
        for (int i = 0; i < 25; ++i) CHECK(seen[i] == i);
        CHECK(cur2.exhausted());
        auto getmores = std::count_if(events->begin(), events->end(), [](auto& e) {
            return e.kind == net::command_event::started && e.name == "getMore";
        });
        CHECK(getmores >= 6);  // 4 in the first batch, 21 more in batches of 4
        for (auto& e : *events)
            if (e.kind == net::command_event::started && e.name == "getMore") CHECK(int_at(e.doc, "batchSize") == 4);

        // limit + batch size: the cursor stops at the limit even mid-batch.
        find_options fl;
        fl.sort = J(R"({"_id": 1})");
        fl.batch_size = 3;
        fl.limit = 7;
        auto cur3 = co_await c.find(all, fl);
        auto v3 = co_await cur3.to_vector();
        CHECK(ids_of(v3) == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});

        // hint by name and by key pattern
        auto keys = J(R"({"n": 1})");
        index_options ix;
        auto name = co_await c.create_index(keys, ix);
        CHECK(name == "n_1");
        auto f_gt = J(R"({"n": {"$gt": 20}})");
        find_options fh;
        fh.hint_name = "n_1";
        fh.sort = J(R"({"n": 1})");
        auto cur4 = co_await c.find(f_gt, fh);
        auto v4 = co_await cur4.to_vector();
        CHECK(ids_of(v4) == std::vector<std::int64_t>{21, 22, 23, 24});
        find_options fh2;
        fh2.hint = J(R"({"n": 1})");
        auto cur5 = co_await c.find(f_gt, fh2);
        auto v4b = co_await cur5.to_vector();
        CHECK(v4b.size() == 4);

        // find_one
        auto f7 = J(R"({"n": 7})");
        find_options f1;
        auto one = co_await c.find_one(f7, f1);
        REQUIRE(one);
        CHECK(int_at(*one, "_id") == 7);
        auto f_missing = J(R"({"n": 700})");
        auto v5 = co_await c.find_one(f_missing, f1);
        CHECK_FALSE(v5);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("find with a collation", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("coll");
        std::vector<document> docs{J(R"({"_id": 1, "s": "abc"})"), J(R"({"_id": 2, "s": "ABC"})"),
                                   J(R"({"_id": 3, "s": "xyz"})")};
        insert_options io;
        co_await c.insert_many(docs, io);
        auto f = J(R"({"s": "abc"})");
        find_options fo;
        fo.collation = J(R"({"locale": "en", "strength": 2})");
        try {
            auto cur = co_await c.find(f, fo);
            auto v = co_await cur.to_vector();
            CHECK(v.size() == 2);  // case-insensitive
        } catch (const morm::error& e) {
            if (!is_ferretdb()) throw;
            WARN("skipped on FerretDB: collation (" << e.what() << ")");
        }
        co_await drop_db(cl, c);
    });
}

TEST_CASE("a cursor dropped early sends killCursors", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("kill", opts);
        auto docs = numbered(20);
        insert_options io;
        co_await c.insert_many(docs, io);
        std::int64_t cursor_id = 0;
        {
            document all;
            find_options fo;
            fo.batch_size = 2;
            auto cur = co_await c.find(all, fo);
            auto d = co_await cur.next();
            REQUIRE(d);
            cursor_id = cur.id();
            REQUIRE(cursor_id != 0);
        }  // dropped with 18 documents left on the server
        const recorded_event* kill = nullptr;
        for (int i = 0; i < 100 && !kill; ++i) {
            co_await sleep_ms(20);
            for (auto& e : *events)
                if (e.kind == net::command_event::succeeded && e.name == "killCursors") kill = &e;
        }
        REQUIRE(kill);
        // The started event named our cursor.
        bool named = false;
        for (auto& e : *events)
            if (e.kind == net::command_event::started && e.name == "killCursors")
                named = int_at(e.doc, "cursors.0") == cursor_id;
        CHECK(named);
        // The server no longer knows it.
        auto cmd = J(R"({"getMore": 0, "collection": "kill"})");
        document gm;
        BSON_APPEND_INT64(gm.get(), "getMore", cursor_id);
        BSON_APPEND_UTF8(gm.get(), "collection", "kill");
        auto db = cl.database(c.database_name());
        bool failed = false;
        try {
            co_await db.run_command(gm);
        } catch (const morm::error& e) {
            failed = true;
            CHECK(e.server_code() == 43);  // CursorNotFound
        }
        CHECK(failed);
        // A cursor read to the end sends no killCursors.
        events->clear();
        {
            document all;
            find_options fo;
            fo.batch_size = 5;
            auto cur = co_await c.find(all, fo);
            co_await cur.to_vector();
        }
        co_await sleep_ms(100);
        for (auto& e : *events) CHECK(e.name != "killCursors");
        co_await drop_db(cl, c);
    });
}

TEST_CASE("aggregate, count_documents, estimated_document_count, distinct", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("agg");
        auto docs = numbered(10);
        insert_options io;
        co_await c.insert_many(docs, io);

        std::vector<document> pipeline{J(R"({"$match": {"n": {"$lt": 8}}})"),
                                       J(R"({"$group": {"_id": "$parity", "total": {"$sum": "$n"}, "k": {"$sum": 1}}})"),
                                       J(R"({"$sort": {"_id": 1}})")};
        aggregate_options ao;
        auto cur = co_await c.aggregate(pipeline, ao);
        auto v = co_await cur.to_vector();
        REQUIRE(v.size() == 2);
        CHECK(str_at(v[0], "_id") == "even");
        CHECK(int_at(v[0], "total") == 0 + 2 + 4 + 6);
        if (is_ferretdb() && int_at(v[0], "k") == 0)
            WARN("skipped on FerretDB: {$sum: 1} next to another accumulator in $group yields 0");
        else
            CHECK(int_at(v[0], "k") == 4);
        CHECK(str_at(v[1], "_id") == "odd");
        CHECK(int_at(v[1], "total") == 1 + 3 + 5 + 7);

        // aggregate with small batches
        std::vector<document> p2{J(R"({"$sort": {"_id": 1}})")};
        aggregate_options ab;
        ab.batch_size = 3;
        auto cur2 = co_await c.aggregate(p2, ab);
        auto v6 = co_await cur2.to_vector();
        CHECK(ids_of(v6) == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

        auto f_odd = J(R"({"parity": "odd"})");
        count_options co;
        auto v7 = co_await c.count_documents(f_odd, co);
        CHECK(v7 == 5);
        count_options cs;
        cs.skip = 1;
        cs.limit = 3;
        auto v8 = co_await c.count_documents(f_odd, cs);
        CHECK(v8 == 3);
        auto v9 = co_await c.estimated_document_count();
        CHECK(v9 == 10);

        document all;
        auto dv = co_await c.distinct("parity", all);
        std::set<std::string> got;
        for (auto& x : dv) got.insert(x.to_json());
        CHECK(got == std::set<std::string>{R"("even")", R"("odd")"});
        auto f_small = J(R"({"n": {"$lt": 3}})");
        auto dn = co_await c.distinct("n", f_small);
        CHECK(dn.size() == 3);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("find_one_and_update/replace/delete", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("fam");
        auto docs = numbered(3);
        insert_options io;
        co_await c.insert_many(docs, io);

        auto f0 = J(R"({"_id": 0})");
        auto inc = J(R"({"$inc": {"n": 10}})");
        find_one_and_modify_options before;
        auto b = co_await c.find_one_and_update(f0, inc, before);
        REQUIRE(b);
        CHECK(int_at(*b, "n") == 0);
        find_one_and_modify_options after;
        after.returned = return_document::after;
        auto a = co_await c.find_one_and_update(f0, inc, after);
        REQUIRE(a);
        CHECK(int_at(*a, "n") == 20);
        CHECK(str_at(*a, "parity") == "even");
        find_one_and_modify_options projected;
        projected.returned = return_document::after;
        projected.projection = J(R"({"n": 1})");
        auto dec = J(R"({"$inc": {"n": -10}})");
        std::optional<document> p;
        std::string p_error;
        try {
            p = co_await c.find_one_and_update(f0, dec, projected);
        } catch (const morm::error& e) {
            if (!is_ferretdb()) throw;
            p_error = e.what();
        }
        if (!p_error.empty()) {
            WARN("skipped on FerretDB: findAndModify with a projection (" << p_error << ")");
            auto undo = co_await c.find_one_and_update(f0, dec, after);
            REQUIRE(undo);
        } else {
            REQUIRE(p);
            CHECK(int_at(*p, "n") == 10);
            CHECK_FALSE(has(*p, "parity"));
        }

        // No match: nullopt; with upsert + after: the new document.
        auto fx = J(R"({"_id": "x"})");
        auto none = co_await c.find_one_and_update(fx, inc, before);
        CHECK_FALSE(none);
        find_one_and_modify_options ups;
        ups.upsert = true;
        ups.returned = return_document::after;
        auto u = co_await c.find_one_and_update(fx, inc, ups);
        REQUIRE(u);
        CHECK(int_at(*u, "n") == 10);
        CHECK(str_at(*u, "_id") == "x");

        // sort picks which one
        auto all = J("{}");
        auto set_pick = J(R"({"$set": {"picked": true}})");
        find_one_and_modify_options sorted;
        sorted.sort = J(R"({"n": 1})");
        sorted.returned = return_document::after;
        auto s = co_await c.find_one_and_update(all, set_pick, sorted);
        REQUIRE(s);
        CHECK(int_at(*s, "_id") == 1);  // n == 1, the smallest

        auto f1 = J(R"({"_id": 1})");
        auto repl = J(R"({"replaced": 1})");
        auto rb = co_await c.find_one_and_replace(f1, repl, before);
        REQUIRE(rb);
        CHECK(int_at(*rb, "n") == 1);
        auto ra = co_await c.find_one_and_replace(f1, repl, after);
        REQUIRE(ra);
        CHECK(int_at(*ra, "replaced") == 1);
        CHECK_FALSE(has(*ra, "n"));
        auto fy = J(R"({"_id": "y"})");
        auto ru = co_await c.find_one_and_replace(fy, repl, ups);
        REQUIRE(ru);
        CHECK(str_at(*ru, "_id") == "y");

        auto f2 = J(R"({"_id": 2})");
        auto d = co_await c.find_one_and_delete(f2, before);
        REQUIRE(d);
        CHECK(int_at(*d, "n") == 2);
        auto d2 = co_await c.find_one_and_delete(f2, before);
        CHECK_FALSE(d2);
        count_options co;
        auto v10 = co_await c.count_documents(all, co);
        CHECK(v10 == 4);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("indexes: create, list, drop; a unique index rejects duplicates with 11000", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("idx");
        auto seed = J(R"({"email": "a@x", "a": 1, "b": 2})");
        insert_options io;
        co_await c.insert_one(seed, io);

        auto keys = J(R"({"email": 1})");
        index_options uniq;
        uniq.unique = true;
        auto n = co_await c.create_index(keys, uniq);
        CHECK(n == "email_1");

        std::vector<index_model> models{index_model{J(R"({"a": 1, "b": -1})"), {}}, index_model{J(R"({"b": 1})"), {}}};
        models[1].options.name = "by_b";
        auto names = co_await c.create_indexes(models);
        CHECK(names == std::vector<std::string>{"a_1_b_-1", "by_b"});

        auto list = co_await c.list_indexes();
        std::set<std::string> listed;
        bool email_unique = false;
        for (auto& ix : list) {
            listed.insert(str_at(ix, "name"));
            if (str_at(ix, "name") == "email_1") {
                auto it = ix.find("unique");
                email_unique = it && bson_iter_as_bool(&*it);
            }
        }
        CHECK(listed == std::set<std::string>{"_id_", "email_1", "a_1_b_-1", "by_b"});
        CHECK(email_unique);

        auto dup = J(R"({"email": "a@x"})");
        bool rejected = false;
        try {
            co_await c.insert_one(dup, io);
        } catch (const morm::error& e) {
            rejected = true;
            CHECK(e.server_code() == 11000);
            CHECK(e.code() == errc::write_error);
        }
        CHECK(rejected);

        co_await c.drop_index("by_b");
        auto list2 = co_await c.list_indexes();
        CHECK(list2.size() == 3);
        bool missing = false;
        try {
            co_await c.drop_index("no_such_index");
        } catch (const morm::error& e) {
            missing = true;
            CHECK(e.code() == errc::server_error);
            CHECK(e.server_code() == 27);  // IndexNotFound
        }
        CHECK(missing);
        co_await c.drop_indexes();
        auto list3 = co_await c.list_indexes();
        REQUIRE(list3.size() == 1);
        CHECK(str_at(list3[0], "name") == "_id_");
        // Duplicates are accepted again.
        co_await c.insert_one(dup, io);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("collections and databases: create, list, drop", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        client_options o;
        auto cl = co_await connect_test(o);
        auto db = cl.database(morm_test::unique_db("client_dbs"));
        create_collection_options cco;
        auto a = co_await db.create_collection("alpha", cco);
        CHECK(a.name() == "alpha");
        auto b = db.collection("beta");
        auto d = J(R"({"x": 1})");
        insert_options io;
        co_await b.insert_one(d, io);  // implicit creation
        document nofilter;
        auto names = co_await db.list_collection_names(nofilter);
        std::sort(names.begin(), names.end());
        CHECK(names == std::vector<std::string>{"alpha", "beta"});
        auto only_beta = J(R"({"name": "beta"})");
        auto v11 = co_await db.list_collection_names(only_beta);
        CHECK(v11 == std::vector<std::string>{"beta"});

        // creating an existing collection is a server error (NamespaceExists, 48)
        bool exists = false;
        try {
            co_await db.create_collection("alpha", cco);
        } catch (const morm::error& e) {
            exists = true;
            CHECK(e.server_code() == 48);
        }
        CHECK(exists);

        auto dbs = co_await cl.list_database_names();
        CHECK(std::find(dbs.begin(), dbs.end(), db.name()) != dbs.end());

        co_await a.drop();
        co_await a.drop();  // no error when missing
        auto v12 = co_await db.list_collection_names(nofilter);
        CHECK(v12 == std::vector<std::string>{"beta"});

        co_await db.drop();
        auto dbs2 = co_await cl.list_database_names();
        CHECK(std::find(dbs2.begin(), dbs2.end(), db.name()) == dbs2.end());
        auto v13 = co_await db.list_collection_names(nofilter);
        CHECK(v13.empty());
    });
}

TEST_CASE("run_command returns the reply; server errors keep code and codeName", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto [cl, c] = co_await fresh("cmd");
        auto ping = J(R"({"ping": 1})");
        auto r = co_await cl.run_command("admin", ping);
        auto ok_it = r.find("ok");
        REQUIRE(ok_it);
        CHECK(bson_iter_as_double(&*ok_it) == 1.0);

        auto docs = numbered(3);
        insert_options io;
        co_await c.insert_many(docs, io);
        document count;
        BSON_APPEND_UTF8(count.get(), "count", c.name().c_str());
        auto db = cl.database(c.database_name());
        auto rc = co_await db.run_command(count);
        CHECK(int_at(rc, "n") == 3);

        auto bad = J(R"({"noSuchCommandXyz": 1})");
        bool thrown = false;
        try {
            co_await db.run_command(bad);
        } catch (const morm::error& e) {
            thrown = true;
            CHECK(e.code() == errc::server_error);
            CHECK(e.server_code() == 59);
            CHECK(e.code_name() == "CommandNotFound");
            CHECK_FALSE(e.diag().message.empty());
        }
        CHECK(thrown);
        // The client is still usable after a server error.
        auto r2 = co_await cl.run_command("admin", ping);
        CHECK(r2.find("ok"));
        co_await drop_db(cl, c);
    });
}

TEST_CASE("write concern options are sent", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("wc", opts);
        insert_options io;
        write_concern wc;
        wc.w = std::int32_t{1};
        wc.journal = true;
        io.wc = wc;
        auto d = J(R"({"x": 1})");
        events->clear();
        co_await c.insert_one(d, io);
        const recorded_event* ins = nullptr;
        for (auto& e : *events)
            if (e.kind == net::command_event::started && e.name == "insert") ins = &e;
        REQUIRE(ins);
        CHECK(int_at(ins->doc, "writeConcern.w") == 1);
        auto j = ins->doc.find("writeConcern.j");
        REQUIRE(j);
        CHECK(bson_iter_as_bool(&*j));

        // Defaults from the URI apply to every write.
        auto uri = morm_test::server_uri();
        uri += (uri.find('?') == std::string::npos ? "?" : "&");
        uri += "w=1&journal=true";
        auto events2 = std::make_shared<std::vector<recorded_event>>();
        auto opts2 = recording(events2);
        auto cl2 = co_await client::connect(uri, opts2);
        auto c2 = cl2.database(c.database_name()).collection(c.name());
        delete_options dopt;
        co_await c2.delete_many(d, dopt);
        const recorded_event* del = nullptr;
        for (auto& e : *events2)
            if (e.kind == net::command_event::started && e.name == "delete") del = &e;
        REQUIRE(del);
        CHECK(int_at(del->doc, "writeConcern.w") == 1);
        // No write concern → none sent.
        events->clear();
        insert_options plain;
        co_await c.insert_one(d, plain);
        for (auto& e : *events)
            if (e.kind == net::command_event::started && e.name == "insert") CHECK_FALSE(has(e.doc, "writeConcern"));
        co_await drop_db(cl, c);
    });
}

TEST_CASE("command monitoring: started/succeeded/failed events", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("mon", opts);
        events->clear();
        auto d = J(R"({"x": 1})");
        insert_options io;
        co_await c.insert_one(d, io);
        REQUIRE(events->size() == 2);
        auto& s = (*events)[0];
        auto& ok = (*events)[1];
        CHECK(s.kind == net::command_event::started);
        CHECK(s.name == "insert");
        CHECK(s.database == c.database_name());
        CHECK(str_at(s.doc, "insert") == c.name());
        CHECK(ok.kind == net::command_event::succeeded);
        CHECK(ok.name == "insert");
        CHECK(ok.request_id == s.request_id);
        CHECK(s.request_id != 0);
        CHECK(ok.duration.count() > 0);
        CHECK(int_at(ok.doc, "n") == 1);

        events->clear();
        auto bad = J(R"({"noSuchCommandXyz": 1})");
        try {
            co_await cl.run_command("admin", bad);
        } catch (const morm::error&) {
        }
        REQUIRE(events->size() == 2);
        CHECK((*events)[0].kind == net::command_event::started);
        CHECK((*events)[1].kind == net::command_event::failed);
        CHECK((*events)[1].name == "noSuchCommandXyz");
        CHECK((*events)[1].request_id == (*events)[0].request_id);
        CHECK((*events)[1].failure_code == 59);
        CHECK((*events)[1].duration.count() > 0);
        // Request ids are unique per command.
        events->clear();
        auto ping = J(R"({"ping": 1})");
        co_await cl.run_command("admin", ping);
        co_await cl.run_command("admin", ping);
        REQUIRE(events->size() == 4);
        CHECK((*events)[0].request_id != (*events)[2].request_id);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("a document over maxBsonObjectSize fails client-side, alone", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("big", opts);
        const auto max = cl.server().max_bson_object_size;
        REQUIRE(max > 0);
        document huge;
        BSON_APPEND_INT32(huge.get(), "_id", 1);
        std::string filler(static_cast<std::size_t>(max) + 16, 'x');
        bson_append_utf8(huge.get(), "s", 1, filler.data(), static_cast<int>(filler.size()));
        REQUIRE(huge.size() > static_cast<std::size_t>(max));

        std::vector<document> docs;
        docs.push_back(J(R"({"_id": 0})"));
        docs.push_back(std::move(huge));
        docs.push_back(J(R"({"_id": 2})"));
        insert_options io;
        io.ordered = false;
        events->clear();
        bool thrown = false;
        try {
            co_await c.insert_many(docs, io);
        } catch (const bulk_write_exception& e) {
            thrown = true;
            auto& r = e.result();
            CHECK(r.inserted_count == 2);
            REQUIRE(r.errors.size() == 1);
            CHECK(r.errors[0].index == 1);
            CHECK(r.errors[0].kind == errc::document_too_large);
            CHECK(r.errors[0].code == 0);  // never reached the server
        }
        CHECK(thrown);
        // Nothing larger than the limit went on the wire (started events carry the body;
        // the huge document would have had to be in it or in a sequence next to it).
        for (auto& e : *events)
            if (e.kind == net::command_event::started) CHECK(e.doc.size() < static_cast<std::size_t>(max));
        document all;
        find_options fo;
        fo.sort = J(R"({"_id": 1})");
        auto cur = co_await c.find(all, fo);
        auto v14 = co_await cur.to_vector();
        CHECK(ids_of(v14) == std::vector<std::int64_t>{0, 2});

        // insert_one of it alone
        bool one_thrown = false;
        try {
            co_await c.insert_one(docs[1], io);
        } catch (const morm::error& e) {
            one_thrown = true;
            auto* bw = dynamic_cast<const bulk_write_exception*>(&e);
            REQUIRE(bw);
            REQUIRE(bw->result().errors.size() == 1);
            CHECK(bw->result().errors[0].kind == errc::document_too_large);
        }
        CHECK(one_thrown);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("bad URIs give errc::bad_uri", "[client][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        for (std::string uri : {"mongodb://127.0.0.1:notaport/", "http://127.0.0.1/", "mongodb://", "mongodb://h:0/",
                                "mongodb://user:pa:ss@host/"}) {
            INFO(uri);
            bool thrown = false;
            try {
                client_options o;
                co_await client::connect(uri, o);
            } catch (const morm::error& e) {
                thrown = true;
                CHECK(e.code() == errc::bad_uri);
            }
            CHECK(thrown);
        }
    });
}

namespace {

/// The last started event of command `name`, or null.
const recorded_event* last_started(const std::vector<recorded_event>& events, std::string_view name) {
    const recorded_event* found = nullptr;
    for (auto& e : events)
        if (e.kind == net::command_event::started && e.name == name) found = &e;
    return found;
}

/// Runs `op`; a server error is only tolerated on FerretDB, where it is reported as a
/// WARN naming the option it does not support. Returns whether the server accepted it.
/// `op` is a lambda capturing by reference only: a temporary with a trivial destructor is
/// safe in a co_await expression on g++ 12, a std::function would not be.
template <class Op>
asio::awaitable<bool> server_accepts(std::string_view option, const Op& op) {
    try {
        co_await op();
        co_return true;
    } catch (const morm::error& e) {
        if (!is_ferretdb()) throw;
        WARN("server result not checked on FerretDB: it refuses " << option << " (" << e.what() << ")");
    }
    co_return false;
}

/// Runs `op`, which must throw errc::invalid_argument naming `needle` and send nothing.
template <class Op>
asio::awaitable<void> expect_refused(const std::vector<recorded_event>& events, std::string_view needle, const Op& op) {
    const std::size_t before = events.size();
    std::string msg;
    try {
        co_await op();
    } catch (const morm::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        msg = e.what();
    }
    INFO("expected a refusal naming " << needle << ", got: " << msg);
    CHECK(msg.find(needle) != std::string::npos);
    CHECK(events.size() == before);  // no command was started
}

}  // namespace

TEST_CASE("update options: collation, hint and arrayFilters are sent in the statement", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("updopts", opts);
        std::vector<document> docs{J(R"({"_id": 1, "s": "abc", "a": [1, 5, 9]})"), J(R"({"_id": 2, "s": "ABC"})"),
                                   J(R"({"_id": 3, "s": "xyz"})")};
        insert_options io;
        co_await c.insert_many(docs, io);
        auto keys = J(R"({"s": 1})");
        index_options ixo;
        co_await c.create_index(keys, ixo);

        // collation: case-insensitive match of both "abc" and "ABC".
        update_options uc;
        uc.collation = J(R"({"locale": "en", "strength": 2})");
        auto f_abc = J(R"({"s": "abc"})");
        auto set_t = J(R"({"$set": {"t": 1}})");
        update_result r{};
        bool ok = co_await server_accepts("collation", [&]() -> asio::awaitable<void> {
            r = co_await c.update_many(f_abc, set_t, uc);
        });
        auto* e = last_started(*events, "update");
        REQUIRE(e);
        CHECK(str_at(e->doc, "updates.0.collation.locale") == "en");
        CHECK(int_at(e->doc, "updates.0.collation.strength") == 2);
        if (ok) CHECK(r.matched_count == 2);

        // hint by name, then by key pattern.
        update_options hn;
        hn.hint_name = "s_1";
        ok = co_await server_accepts("hint", [&]() -> asio::awaitable<void> { r = co_await c.update_one(f_abc, set_t, hn); });
        e = last_started(*events, "update");
        REQUIRE(e);
        CHECK(str_at(e->doc, "updates.0.hint") == "s_1");
        if (ok) CHECK(r.matched_count == 1);
        update_options hd;
        hd.hint = keys;
        ok = co_await server_accepts("hint", [&]() -> asio::awaitable<void> { r = co_await c.update_one(f_abc, set_t, hd); });
        e = last_started(*events, "update");
        REQUIRE(e);
        CHECK(int_at(e->doc, "updates.0.hint.s") == 1);
        if (ok) CHECK(r.matched_count == 1);

        // arrayFilters: only the elements over 4 are zeroed.
        update_options af;
        af.array_filters.push_back(J(R"({"x": {"$gt": 4}})"));
        auto f1 = J(R"({"_id": 1})");
        auto zero = J(R"({"$set": {"a.$[x]": 0}})");
        ok = co_await server_accepts("arrayFilters", [&]() -> asio::awaitable<void> {
            co_await c.update_one(f1, zero, af);
        });
        e = last_started(*events, "update");
        REQUIRE(e);
        CHECK(int_at(e->doc, "updates.0.arrayFilters.0.x.$gt") == 4);
        if (ok) {
            find_options fo;
            auto got = co_await c.find_one(f1, fo);
            REQUIRE(got);
            CHECK(int_at(*got, "a.0") == 1);
            CHECK(int_at(*got, "a.1") == 0);
            CHECK(int_at(*got, "a.2") == 0);
        }

        // replace_one carries collation and hint too.
        update_options rc;
        rc.collation = J(R"({"locale": "en", "strength": 2})");
        rc.hint_name = "s_1";
        auto f_xyz = J(R"({"s": "XYZ"})");
        auto repl = J(R"({"s": "xyz", "replaced": true})");
        ok = co_await server_accepts("collation/hint", [&]() -> asio::awaitable<void> {
            r = co_await c.replace_one(f_xyz, repl, rc);
        });
        e = last_started(*events, "update");
        REQUIRE(e);
        CHECK(str_at(e->doc, "updates.0.collation.locale") == "en");
        CHECK(str_at(e->doc, "updates.0.hint") == "s_1");
        if (ok) CHECK(r.matched_count == 1);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("delete options and bulk_write models: collation and hint are sent in the statement", "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("delopts", opts);
        std::vector<document> docs{J(R"({"_id": 1, "s": "abc"})"), J(R"({"_id": 2, "s": "ABC"})"),
                                   J(R"({"_id": 3, "s": "xyz"})"), J(R"({"_id": 4, "s": "XYZ"})")};
        insert_options io;
        co_await c.insert_many(docs, io);
        auto keys = J(R"({"s": 1})");
        index_options ixo;
        co_await c.create_index(keys, ixo);

        delete_options dc;
        dc.collation = J(R"({"locale": "en", "strength": 2})");
        dc.hint = keys;
        auto f_abc = J(R"({"s": "abc"})");
        delete_result r{};
        bool ok = co_await server_accepts("collation/hint", [&]() -> asio::awaitable<void> {
            r = co_await c.delete_many(f_abc, dc);
        });
        auto* e = last_started(*events, "delete");
        REQUIRE(e);
        CHECK(str_at(e->doc, "deletes.0.collation.locale") == "en");
        CHECK(int_at(e->doc, "deletes.0.hint.s") == 1);
        CHECK(int_at(e->doc, "deletes.0.limit") == 0);
        if (ok) CHECK(r.deleted_count == 2);

        delete_options dn;
        dn.hint_name = "s_1";
        auto f_xyz = J(R"({"s": "xyz"})");
        ok = co_await server_accepts("hint", [&]() -> asio::awaitable<void> { r = co_await c.delete_one(f_xyz, dn); });
        e = last_started(*events, "delete");
        REQUIRE(e);
        CHECK(str_at(e->doc, "deletes.0.hint") == "s_1");
        if (ok) CHECK(r.deleted_count == 1);

        // bulk_write: the models carry the same options into their statements.
        std::vector<write_model> models;
        update_one_model um{J(R"({"_id": 4})"), J(R"({"$set": {"t": 1}})"), {}, false, {}, {}, {}, {}};
        um.hint_name = "_id_";
        um.collation = J(R"({"locale": "fr"})");
        models.emplace_back(std::move(um));
        delete_many_model dm{J(R"({"s": "nothing"})"), {}, {}, {}};
        dm.hint = J(R"({"_id": 1})");
        models.emplace_back(std::move(dm));
        // Unordered, so that the delete is sent even if FerretDB refuses the update's collation.
        bulk_write_options bo;
        bo.ordered = false;
        events->clear();
        co_await server_accepts("collation/hint", [&]() -> asio::awaitable<void> { co_await c.bulk_write(models, bo); });
        auto* ue = last_started(*events, "update");
        auto* de = last_started(*events, "delete");
        REQUIRE(ue);
        REQUIRE(de);
        CHECK(str_at(ue->doc, "updates.0.hint") == "_id_");
        CHECK(str_at(ue->doc, "updates.0.collation.locale") == "fr");
        CHECK(int_at(de->doc, "deletes.0.hint._id") == 1);
        co_await drop_db(cl, c);
    });
}

TEST_CASE("options that cannot be sent are refused with invalid_argument, before anything is sent",
          "[client][integration]") {
    auto events = std::make_shared<std::vector<recorded_event>>();
    morm_test::run([events]() -> asio::awaitable<void> {
        auto opts = recording(events);
        auto [cl, c] = co_await fresh("refused", opts);
        auto& ev = *events;
        auto f = J(R"({"_id": 1})");
        auto set = J(R"({"$set": {"t": 1}})");
        auto repl = J(R"({"t": 1})");
        std::vector<document> pipeline{J(R"({"$set": {"t": 1}})")};

        update_options both;
        both.hint = J(R"({"s": 1})");
        both.hint_name = "s_1";
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.update_one(f, set, both); });
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.update_many(f, set, both); });
        delete_options dboth;
        dboth.hint = both.hint;
        dboth.hint_name = "s_1";
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.delete_one(f, dboth); });
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.delete_many(f, dboth); });
        update_options bad_name;
        bad_name.hint_name = std::string("s_1\0x", 5);
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.update_one(f, set, bad_name); });

        update_options af;
        af.array_filters.push_back(J(R"({"x": 1})"));
        co_await expect_refused(ev, "array_filters", [&]() -> asio::awaitable<void> { co_await c.replace_one(f, repl, af); });
        co_await expect_refused(ev, "array_filters", [&]() -> asio::awaitable<void> { co_await c.update_one(f, pipeline, af); });

        // bulk_write refuses the whole call, naming the write: the valid first write is not sent either.
        std::vector<write_model> models;
        models.emplace_back(insert_one_model{J(R"({"_id": 9})")});
        delete_one_model dm{f, {}, J(R"({"_id": 1})"), "_id_"};
        models.emplace_back(std::move(dm));
        bulk_write_options bo;
        co_await expect_refused(ev, "write 1", [&]() -> asio::awaitable<void> { co_await c.bulk_write(models, bo); });

        find_options fh;
        fh.hint = both.hint;
        fh.hint_name = "s_1";
        co_await expect_refused(ev, "hint_name", [&]() -> asio::awaitable<void> { co_await c.find(f, fh); });
        find_options fs;
        fs.skip = -1;
        co_await expect_refused(ev, "skip", [&]() -> asio::awaitable<void> { co_await c.find(f, fs); });
        find_options fl;
        fl.limit = -2;
        co_await expect_refused(ev, "limit", [&]() -> asio::awaitable<void> { co_await c.find(f, fl); });
        find_options frp;
        read_preference rp;
        rp.max_staleness_seconds = 90;
        frp.read_pref = rp;
        co_await expect_refused(ev, "read_pref", [&]() -> asio::awaitable<void> { co_await c.find(f, frp); });
        count_options cl_neg;
        cl_neg.limit = -1;
        co_await expect_refused(ev, "limit", [&]() -> asio::awaitable<void> { co_await c.count_documents(f, cl_neg); });
        aggregate_options ab;
        ab.batch_size = -1;
        co_await expect_refused(ev, "batch_size", [&]() -> asio::awaitable<void> { co_await c.aggregate(pipeline, ab); });

        find_one_and_modify_options fu;
        fu.upsert = true;
        co_await expect_refused(ev, "upsert", [&]() -> asio::awaitable<void> { co_await c.find_one_and_delete(f, fu); });
        find_one_and_modify_options fa;
        fa.returned = return_document::after;
        co_await expect_refused(ev, "returned", [&]() -> asio::awaitable<void> { co_await c.find_one_and_delete(f, fa); });
        find_one_and_modify_options ff;
        ff.array_filters.push_back(J(R"({"x": 1})"));
        co_await expect_refused(ev, "array_filters", [&]() -> asio::awaitable<void> { co_await c.find_one_and_delete(f, ff); });
        co_await expect_refused(ev, "array_filters",
                                [&]() -> asio::awaitable<void> { co_await c.find_one_and_replace(f, repl, ff); });

        auto db = cl.database(c.database_name());
        create_collection_options cc;
        cc.size = 4096;
        co_await expect_refused(ev, "capped", [&]() -> asio::awaitable<void> { co_await db.create_collection("capped", cc); });
        co_await drop_db(cl, c);
    });
}
