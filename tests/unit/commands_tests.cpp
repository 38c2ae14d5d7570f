// wire/commands: each command's exact bytes (against a fixture built from canonical
// extended JSON), its refusals before sending, and the parsing of good, ok:0 and malformed
// replies. No server.
#include <morm/bson/document.hpp>
#include <morm/error.hpp>
#include <morm/wire/commands/aggregate.hpp>
#include <morm/wire/commands/collections.hpp>
#include <morm/wire/commands/count.hpp>
#include <morm/wire/commands/databases.hpp>
#include <morm/wire/commands/distinct.hpp>
#include <morm/wire/commands/end_sessions.hpp>
#include <morm/wire/commands/find.hpp>
#include <morm/wire/commands/find_and_modify.hpp>
#include <morm/wire/commands/indexes.hpp>
#include <morm/wire/commands/run_command.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace morm;
namespace cmd = morm::wire::commands;
using bson::document;

namespace {

document J(std::string_view json) { return document::from_json(json); }

/// The command serializes to exactly the bytes of `expected_json`.
template <class C>
void check_bytes(const C& c, std::string_view expected_json) {
    document got;
    diagnostics diag;
    auto ec = cmd::to_document(c, got, diag);
    INFO(diag.message);
    REQUIRE_FALSE(ec);
    const document want = J(expected_json);
    INFO("got:  " << got.to_json(bson::json_mode::canonical));
    INFO("want: " << want.to_json(bson::json_mode::canonical));
    CHECK(got.view() == want.view());
}

/// The command is refused before anything is written, with a message naming `what`.
template <class C>
void check_refused(const C& c, std::string_view what) {
    document got;
    diagnostics diag;
    auto ec = cmd::to_document(c, got, diag);
    INFO(diag.message);
    CHECK(ec == errc::invalid_argument);
    CHECK(diag.message.find(what) != std::string::npos);
    CHECK(diag.message.find("nothing was sent") != std::string::npos);
}

const char* server_error_reply =
    R"({"ok": 0, "errmsg": "boom", "code": 11000, "codeName": "DuplicateKey", "errorLabels": ["RetryableWriteError"]})";

/// An ok:0 reply: errc::server_error with code, codeName, errmsg and labels.
template <class Parse>
void check_server_error(Parse parse) {
    diagnostics diag;
    const document r = J(server_error_reply);
    auto ec = parse(r.view(), diag);
    CHECK(ec == errc::server_error);
    CHECK(diag.server_code == 11000);
    CHECK(diag.code_name == "DuplicateKey");
    CHECK(diag.message == "boom");
    CHECK(diag.has_label("RetryableWriteError"));
}

/// A malformed reply: errc::protocol naming `field`.
template <class Parse>
void check_malformed(Parse parse, std::string_view reply_json, std::string_view field) {
    diagnostics diag;
    const document r = J(reply_json);
    auto ec = parse(r.view(), diag);
    INFO(reply_json << " -> " << diag.message);
    CHECK(ec == errc::protocol);
    CHECK(diag.message.find(field) != std::string::npos);
}

const char* cursor_reply = R"({"cursor": {"id": {"$numberLong": "42"}, "ns": "db.c",
    "firstBatch": [{"_id": 1}, {"_id": 2}]}, "ok": 1})";

/// The malformed cursor replies every cursor-answering command rejects.
template <class Parse>
void check_cursor_parsing(Parse parse) {
    diagnostics diag;
    cmd::cursor_batch c;
    const document good = J(cursor_reply);
    REQUIRE_FALSE(parse(good.view(), c, diag));
    CHECK(c.id == 42);
    CHECK(c.ns == "db.c");
    CHECK(c.batch.to_json() == R"({ "0" : { "_id" : 1 }, "1" : { "_id" : 2 } })");
    auto p = [&](bson::document_view v, diagnostics& d) { return parse(v, c, d); };
    check_server_error(p);
    check_malformed(p, R"({"ok": 1})", "'cursor' is missing");
    check_malformed(p, R"({"cursor": 1, "ok": 1})", "'cursor' is not a document");
    check_malformed(p, R"({"cursor": {"id": "x", "firstBatch": []}, "ok": 1})", "'cursor.id'");
    check_malformed(p, R"({"cursor": {"firstBatch": []}, "ok": 1})", "'cursor.id' is missing");
    check_malformed(p, R"({"cursor": {"id": 0}, "ok": 1})", "'cursor.firstBatch' is missing");
    check_malformed(p, R"({"cursor": {"id": 0, "firstBatch": {}}, "ok": 1})", "'cursor.firstBatch' is not an array");
    check_malformed(p, R"({"cursor": {"id": 0, "ns": 3, "firstBatch": []}, "ok": 1})", "'cursor.ns'");
    check_malformed(p, R"({"cursor": {"id": 0, "firstBatch": []}})", "'ok' is missing");
}

}  // namespace

TEST_CASE("commands: find sends every option", "[unit][commands]") {
    const document filter = J(R"({"a": 1})");
    find_options o;
    o.projection = J(R"({"a": 1})");
    o.sort = J(R"({"b": -1})");
    o.hint_name = "b_-1";
    o.collation = J(R"({"locale": "fr"})");
    o.skip = 5;
    o.limit = 3;
    o.batch_size = 10;
    o.max_time = std::chrono::milliseconds(250);
    o.single_batch = true;
    read_preference rp;
    rp.mode = read_mode::secondary;
    rp.max_staleness_seconds = 90;
    o.read_pref = rp;
    check_bytes(cmd::find{"db", "c", filter, o},
                R"({"find": "c", "filter": {"a": 1}, "sort": {"b": -1}, "projection": {"a": 1}, "hint": "b_-1",
                    "collation": {"locale": "fr"}, "skip": {"$numberLong": "5"}, "limit": {"$numberLong": "3"},
                    "batchSize": 3, "singleBatch": true, "maxTimeMS": {"$numberLong": "250"},
                    "$readPreference": {"mode": "secondary", "maxStalenessSeconds": 90}, "$db": "db"})");

    const find_options none;
    check_bytes(cmd::find{"db", "c", filter, none}, R"({"find": "c", "filter": {"a": 1}, "$db": "db"})");
    // The client's default read preference, unless the options set one.
    check_bytes(cmd::find{"db", "c", filter, none, &rp},
                R"({"find": "c", "filter": {"a": 1},
                    "$readPreference": {"mode": "secondary", "maxStalenessSeconds": 90}, "$db": "db"})");
    find_options hint_doc;
    hint_doc.hint = J(R"({"b": -1})");
    check_bytes(cmd::find{"db", "c", filter, hint_doc}, R"({"find": "c", "filter": {"a": 1}, "hint": {"b": -1}, "$db": "db"})");
}

TEST_CASE("commands: find refuses what it cannot send", "[unit][commands]") {
    const document filter;
    find_options both;
    both.hint = J(R"({"b": 1})");
    both.hint_name = "b_1";
    check_refused(cmd::find{"db", "c", filter, both}, "hint_name");
    find_options neg;
    neg.skip = -1;
    check_refused(cmd::find{"db", "c", filter, neg}, "skip");
    neg = {};
    neg.limit = -1;
    check_refused(cmd::find{"db", "c", filter, neg}, "limit");
    neg = {};
    neg.batch_size = -1;
    check_refused(cmd::find{"db", "c", filter, neg}, "batch_size");
    neg = {};
    neg.max_time = std::chrono::milliseconds(-1);
    check_refused(cmd::find{"db", "c", filter, neg}, "max_time");
    find_options prim;
    prim.read_pref = read_preference{};
    prim.read_pref->max_staleness_seconds = 90;
    check_refused(cmd::find{"db", "c", filter, prim}, "read_pref");
    const find_options none;
    check_refused(cmd::find{"db", std::string_view("c\0d", 3), filter, none}, "'find'");
    find_options bad_hint;
    bad_hint.hint_name = "\xff";
    check_refused(cmd::find{"db", "c", filter, bad_hint}, "'hint'");
    check_refused(cmd::find{std::string_view("d\0b", 3), "c", filter, none}, "'$db'");
}

TEST_CASE("commands: cursor replies of find, aggregate, listIndexes, listCollections", "[unit][commands]") {
    check_cursor_parsing([](auto v, auto& c, auto& d) { return cmd::find::parse(v, c, d); });
    check_cursor_parsing([](auto v, auto& c, auto& d) { return cmd::aggregate::parse(v, c, d); });
    check_cursor_parsing([](auto v, auto& c, auto& d) { return cmd::list_indexes::parse(v, c, d); });
    check_cursor_parsing([](auto v, auto& c, auto& d) { return cmd::list_collections::parse(v, c, d); });

    cmd::cursor_batch c;
    diagnostics d;
    const document good = J(cursor_reply);
    REQUIRE_FALSE(cmd::find::parse(good.view(), c, d));
    std::optional<document> first;
    REQUIRE_FALSE(cmd::first_document(c, "find", first, d));
    REQUIRE(first);
    CHECK(first->to_json() == R"({ "_id" : 1 })");
    const document empty = J(R"({"cursor": {"id": 0, "firstBatch": []}, "ok": 1})");
    REQUIRE_FALSE(cmd::find::parse(empty.view(), c, d));
    REQUIRE_FALSE(cmd::first_document(c, "find", first, d));
    CHECK_FALSE(first);
    const document scalar = J(R"({"cursor": {"id": 0, "firstBatch": [3]}, "ok": 1})");
    REQUIRE_FALSE(cmd::find::parse(scalar.view(), c, d));
    CHECK(cmd::first_document(c, "find", first, d) == errc::protocol);
}

TEST_CASE("commands: aggregate sends every option", "[unit][commands]") {
    std::vector<document> pipeline{J(R"({"$match": {"a": 1}})"), J(R"({"$project": {"a": 1}})")};
    aggregate_options o;
    o.batch_size = 7;
    o.allow_disk_use = true;
    o.collation = J(R"({"locale": "fr"})");
    o.hint = J(R"({"a": 1})");
    o.max_time = std::chrono::milliseconds(9);
    check_bytes(cmd::aggregate{"db", "c", pipeline, o},
                R"({"aggregate": "c", "pipeline": [{"$match": {"a": 1}}, {"$project": {"a": 1}}],
                    "cursor": {"batchSize": 7}, "allowDiskUse": true, "collation": {"locale": "fr"},
                    "hint": {"a": 1}, "maxTimeMS": {"$numberLong": "9"}, "$db": "db"})");
    const aggregate_options none;
    check_bytes(cmd::aggregate{"db", "c", pipeline, none},
                R"({"aggregate": "c", "pipeline": [{"$match": {"a": 1}}, {"$project": {"a": 1}}],
                    "cursor": {}, "$db": "db"})");
    aggregate_options neg;
    neg.batch_size = -1;
    check_refused(cmd::aggregate{"db", "c", pipeline, neg}, "batch_size");
    neg = {};
    neg.max_time = std::chrono::milliseconds(-5);
    check_refused(cmd::aggregate{"db", "c", pipeline, neg}, "max_time");
}

TEST_CASE("commands: count_documents is an aggregation; count reads n", "[unit][commands]") {
    const document filter = J(R"({"a": {"$gt": 1}})");
    count_options o;
    o.skip = 2;
    o.limit = 4;
    o.hint = J(R"({"a": 1})");
    o.collation = J(R"({"locale": "fr"})");
    check_bytes(cmd::count_documents{"db", "c", filter, o},
                R"({"aggregate": "c", "pipeline": [{"$match": {"a": {"$gt": 1}}}, {"$skip": {"$numberLong": "2"}},
                    {"$limit": {"$numberLong": "4"}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
                    "cursor": {}, "collation": {"locale": "fr"}, "hint": {"a": 1}, "$db": "db"})");
    count_options neg;
    neg.skip = -1;
    check_refused(cmd::count_documents{"db", "c", filter, neg}, "skip");
    neg = {};
    neg.limit = -1;
    check_refused(cmd::count_documents{"db", "c", filter, neg}, "limit");

    std::int64_t n = -1;
    diagnostics d;
    const document r = J(R"({"cursor": {"id": 0, "firstBatch": [{"_id": 1, "n": 12}]}, "ok": 1})");
    REQUIRE_FALSE(cmd::count_documents::parse(r.view(), n, d));
    CHECK(n == 12);
    const document none = J(R"({"cursor": {"id": 0, "firstBatch": []}, "ok": 1})");
    REQUIRE_FALSE(cmd::count_documents::parse(none.view(), n, d));
    CHECK(n == 0);
    auto p = [&](bson::document_view v, diagnostics& dd) { return cmd::count_documents::parse(v, n, dd); };
    check_server_error(p);
    check_malformed(p, R"({"cursor": {"id": 0, "firstBatch": [{"_id": 1}]}, "ok": 1})", "'cursor.firstBatch.0.n'");
    check_malformed(p, R"({"cursor": {"id": 0, "firstBatch": [{"n": "3"}]}, "ok": 1})", "not a number");
    check_malformed(p, R"({"ok": 1})", "'cursor'");

    check_bytes(cmd::count{"db", "c"}, R"({"count": "c", "$db": "db"})");
    const document cr = J(R"({"n": 7, "ok": 1})");
    REQUIRE_FALSE(cmd::count::parse(cr.view(), n, d));
    CHECK(n == 7);
    auto pc = [&](bson::document_view v, diagnostics& dd) { return cmd::count::parse(v, n, dd); };
    check_server_error(pc);
    check_malformed(pc, R"({"ok": 1})", "'n' is missing");
    check_malformed(pc, R"({"n": "7", "ok": 1})", "'n' is not a number");
}

TEST_CASE("commands: distinct; a reply without values is a protocol error", "[unit][commands]") {
    const document filter = J(R"({"x": 1})");
    check_bytes(cmd::distinct{"db", "c", "k.j", filter}, R"({"distinct": "c", "key": "k.j", "query": {"x": 1}, "$db": "db"})");
    check_refused(cmd::distinct{"db", "c", "\xc3", filter}, "'key'");

    diagnostics d;
    std::vector<bson::value> out;
    const document ok = J(R"({"values": [1, "a"], "ok": 1})");
    REQUIRE_FALSE(cmd::distinct::parse(ok.view(), out, d));
    REQUIRE(out.size() == 2);
    CHECK(out[1].to_json() == R"("a")");
    const document empty = J(R"({"values": [], "ok": 1})");
    REQUIRE_FALSE(cmd::distinct::parse(empty.view(), out, d));
    CHECK(out.empty());
    auto p = [&](bson::document_view v, diagnostics& dd) { return cmd::distinct::parse(v, out, dd); };
    check_server_error(p);
    check_malformed(p, R"({"ok": 1})", "'values' is missing");
    check_malformed(p, R"({"values": 3, "ok": 1})", "'values' is not an array");
}

TEST_CASE("commands: findAndModify sends every option or refuses it", "[unit][commands]") {
    using k = cmd::find_and_modify::kind;
    const document filter = J(R"({"_id": 1})");
    const document update = J(R"({"$set": {"a.$[e]": 2}})");
    find_one_and_modify_options o;
    o.projection = J(R"({"a": 1})");
    o.sort = J(R"({"a": -1})");
    o.upsert = true;
    o.returned = return_document::after;
    o.array_filters.push_back(J(R"({"e": {"$gt": 1}})"));
    o.wc = write_concern::majority();
    check_bytes(cmd::find_and_modify{"db", "c", k::update, filter, &update, o},
                R"({"findAndModify": "c", "query": {"_id": 1}, "sort": {"a": -1}, "fields": {"a": 1},
                    "update": {"$set": {"a.$[e]": 2}}, "new": true, "upsert": true,
                    "arrayFilters": [{"e": {"$gt": 1}}], "writeConcern": {"w": "majority"}, "$db": "db"})");

    const find_one_and_modify_options none;
    write_concern w1;
    w1.w = std::int32_t{1};
    w1.journal = true;
    w1.wtimeout = std::chrono::milliseconds(100);
    check_bytes(cmd::find_and_modify{"db", "c", k::remove, filter, nullptr, none, &w1},
                R"({"findAndModify": "c", "query": {"_id": 1}, "remove": true,
                    "writeConcern": {"w": 1, "j": true, "wtimeout": {"$numberLong": "100"}}, "$db": "db"})");
    const document repl = J(R"({"a": 3})");
    check_bytes(cmd::find_and_modify{"db", "c", k::replace, filter, &repl, none},
                R"({"findAndModify": "c", "query": {"_id": 1}, "update": {"a": 3}, "$db": "db"})");

    check_refused(cmd::find_and_modify{"db", "c", k::update, filter, &repl, none}, "$-operators");
    check_refused(cmd::find_and_modify{"db", "c", k::replace, filter, &update, none}, "$-operators");
    find_one_and_modify_options af;
    af.array_filters.push_back(J(R"({"e": 1})"));
    check_refused(cmd::find_and_modify{"db", "c", k::replace, filter, &repl, af}, "array_filters");
    check_refused(cmd::find_and_modify{"db", "c", k::remove, filter, nullptr, af}, "array_filters");
    find_one_and_modify_options up;
    up.upsert = true;
    check_refused(cmd::find_and_modify{"db", "c", k::remove, filter, nullptr, up}, "upsert");
    find_one_and_modify_options after;
    after.returned = return_document::after;
    check_refused(cmd::find_and_modify{"db", "c", k::remove, filter, nullptr, after}, "returned");

    diagnostics d;
    std::optional<document> out;
    const document r = J(R"({"lastErrorObject": {"n": 1}, "value": {"_id": 1, "a": 2}, "ok": 1})");
    REQUIRE_FALSE(cmd::find_and_modify::parse(r.view(), out, d));
    REQUIRE(out);
    CHECK(out->to_json() == R"({ "_id" : 1, "a" : 2 })");
    const document null_value = J(R"({"lastErrorObject": {"n": 0}, "value": null, "ok": 1})");
    REQUIRE_FALSE(cmd::find_and_modify::parse(null_value.view(), out, d));
    CHECK_FALSE(out);
    auto p = [&](bson::document_view v, diagnostics& dd) { return cmd::find_and_modify::parse(v, out, dd); };
    check_server_error(p);
    check_malformed(p, R"({"ok": 1})", "'value' is missing");
    check_malformed(p, R"({"value": 3, "ok": 1})", "'value' is neither");
}

TEST_CASE("commands: createIndexes sends every index option; list and drop", "[unit][commands]") {
    std::vector<index_model> models(2);
    models[0].keys = J(R"({"a": 1, "b": -1})");
    models[0].options.unique = true;
    models[0].options.sparse = true;
    models[0].options.expire_after = std::chrono::seconds(60);
    models[0].options.partial_filter = J(R"({"a": {"$gt": 0}})");
    models[0].options.collation = J(R"({"locale": "fr"})");
    models[1].keys = J(R"({"t": "text"})");
    models[1].options.name = "words";
    const cmd::create_indexes ci{"db", "c", models};
    CHECK(ci.names() == std::vector<std::string>{"a_1_b_-1", "words"});
    check_bytes(ci, R"({"createIndexes": "c", "indexes": [
                    {"key": {"a": 1, "b": -1}, "name": "a_1_b_-1", "unique": true, "sparse": true,
                     "expireAfterSeconds": {"$numberLong": "60"}, "partialFilterExpression": {"a": {"$gt": 0}},
                     "collation": {"locale": "fr"}},
                    {"key": {"t": "text"}, "name": "words"}], "$db": "db"})");
    const std::vector<index_model> none;
    check_refused(cmd::create_indexes{"db", "c", none}, "no index");
    std::vector<index_model> bad(1);
    check_refused(cmd::create_indexes{"db", "c", bad}, "no keys");
    bad[0].keys = J(R"({"a": 1})");
    bad[0].options.expire_after = std::chrono::seconds(-1);
    check_refused(cmd::create_indexes{"db", "c", bad}, "expire_after");
    bad[0].options.expire_after.reset();
    bad[0].options.name = std::string("a\0b", 3);
    check_refused(cmd::create_indexes{"db", "c", bad}, "name");

    diagnostics d;
    const document ok = J(R"({"numIndexesBefore": 1, "numIndexesAfter": 3, "ok": 1})");
    CHECK_FALSE(cmd::create_indexes::parse(ok.view(), d));
    check_server_error([](auto v, auto& dd) { return cmd::create_indexes::parse(v, dd); });
    check_malformed([](auto v, auto& dd) { return cmd::create_indexes::parse(v, dd); }, "{}", "'ok' is missing");

    check_bytes(cmd::list_indexes{"db", "c"}, R"({"listIndexes": "c", "$db": "db"})");
    check_bytes(cmd::drop_indexes{"db", "c", "a_1"}, R"({"dropIndexes": "c", "index": "a_1", "$db": "db"})");
    check_bytes(cmd::drop_indexes{"db", "c"}, R"({"dropIndexes": "c", "index": "*", "$db": "db"})");
    check_refused(cmd::drop_indexes{"db", "c", ""}, "empty");
    check_server_error([](auto v, auto& dd) { return cmd::drop_indexes::parse(v, dd); });
}

TEST_CASE("commands: create, listCollections, drop", "[unit][commands]") {
    create_collection_options o;
    o.validator = J(R"({"$jsonSchema": {"required": ["a"]}})");
    o.validation_level = "moderate";
    o.validation_action = "warn";
    o.capped = true;
    o.size = 4096;
    o.max = 10;
    check_bytes(cmd::create_collection{"db", "c", o},
                R"({"create": "c", "validator": {"$jsonSchema": {"required": ["a"]}}, "validationLevel": "moderate",
                    "validationAction": "warn", "capped": true, "size": {"$numberLong": "4096"},
                    "max": {"$numberLong": "10"}, "$db": "db"})");
    const create_collection_options none;
    check_bytes(cmd::create_collection{"db", "c", none}, R"({"create": "c", "$db": "db"})");
    create_collection_options size_only;
    size_only.size = 10;
    check_refused(cmd::create_collection{"db", "c", size_only}, "capped");
    create_collection_options no_size;
    no_size.capped = true;
    check_refused(cmd::create_collection{"db", "c", no_size}, "size");
    create_collection_options neg;
    neg.capped = true;
    neg.size = 10;
    neg.max = -1;
    check_refused(cmd::create_collection{"db", "c", neg}, "max");
    create_collection_options bad_level;
    bad_level.validation_level = "\xff";
    check_refused(cmd::create_collection{"db", "c", bad_level}, "validationLevel");
    check_server_error([](auto v, auto& dd) { return cmd::create_collection::parse(v, dd); });

    const document filter = J(R"({"name": "x"})");
    check_bytes(cmd::list_collections{"db", filter},
                R"({"listCollections": 1, "filter": {"name": "x"}, "nameOnly": true, "$db": "db"})");
    const document all;
    check_bytes(cmd::list_collections{"db", all, false}, R"({"listCollections": 1, "$db": "db"})");
    std::vector<std::string> names;
    diagnostics d;
    const document batch = J(R"({"0": {"name": "a", "type": "collection"}, "1": {"name": "b"}})");
    REQUIRE_FALSE(cmd::list_collections::names(batch.view(), names, d));
    CHECK(names == std::vector<std::string>{"a", "b"});
    const document nameless = J(R"({"0": {"type": "collection"}})");
    CHECK(cmd::list_collections::names(nameless.view(), names, d) == errc::protocol);
    CHECK(d.message.find("'name'") != std::string::npos);

    check_bytes(cmd::drop_collection{"db", "c"}, R"({"drop": "c", "$db": "db"})");
    const document missing = J(R"({"ok": 0, "errmsg": "ns not found", "code": 26, "codeName": "NamespaceNotFound"})");
    CHECK_FALSE(cmd::drop_collection::parse(missing.view(), d));
    check_server_error([](auto v, auto& dd) { return cmd::drop_collection::parse(v, dd); });
}

TEST_CASE("commands: dropDatabase, listDatabases, endSessions", "[unit][commands]") {
    check_bytes(cmd::drop_database{"db"}, R"({"dropDatabase": 1, "$db": "db"})");
    check_server_error([](auto v, auto& dd) { return cmd::drop_database::parse(v, dd); });

    check_bytes(cmd::list_databases{}, R"({"listDatabases": 1, "nameOnly": true, "$db": "admin"})");
    std::vector<std::string> names;
    diagnostics d;
    const document r = J(R"({"databases": [{"name": "a"}, {"name": "b", "sizeOnDisk": 1}], "ok": 1})");
    REQUIRE_FALSE(cmd::list_databases::parse(r.view(), names, d));
    CHECK(names == std::vector<std::string>{"a", "b"});
    auto p = [&](bson::document_view v, diagnostics& dd) { return cmd::list_databases::parse(v, names, dd); };
    check_server_error(p);
    check_malformed(p, R"({"ok": 1})", "'databases' is missing");
    check_malformed(p, R"({"databases": {}, "ok": 1})", "'databases' is not an array");
    check_malformed(p, R"({"databases": [{"name": 1}], "ok": 1})", "'databases.name'");

    const std::vector<document> ids{J(R"({"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}})")};
    check_bytes(cmd::end_sessions{ids},
                R"({"endSessions": [{"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}],
                    "$db": "admin"})");
    const std::vector<document> no_ids;
    check_refused(cmd::end_sessions{no_ids}, "no session");
    const std::vector<document> too_many(cmd::end_sessions::max_per_command + 1);
    check_refused(cmd::end_sessions{too_many}, "10000");
    check_server_error([](auto v, auto& dd) { return cmd::end_sessions::parse(v, dd); });
}

TEST_CASE("commands: run_command sends the caller's document and returns the reply", "[unit][commands]") {
    const document ping = J(R"({"ping": 1, "comment": "x"})");
    check_bytes(cmd::run_command{"db", ping}, R"({"ping": 1, "comment": "x", "$db": "db"})");
    const document same_db = J(R"({"ping": 1, "$db": "db"})");
    check_bytes(cmd::run_command{"db", same_db}, R"({"ping": 1, "$db": "db"})");
    const document other_db = J(R"({"ping": 1, "$db": "other"})");
    check_refused(cmd::run_command{"db", other_db}, "$db");
    const document empty;
    check_refused(cmd::run_command{"db", empty}, "empty");

    document out;
    diagnostics d;
    const document r = J(R"({"ok": 1, "x": [1]})");
    REQUIRE_FALSE(cmd::run_command::parse(r.view(), out, d));
    CHECK(out.view() == r.view());
    check_server_error([&](auto v, auto& dd) { return cmd::run_command::parse(v, out, dd); });
}
