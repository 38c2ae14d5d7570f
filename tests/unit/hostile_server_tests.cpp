// The hostile-server suite (issue 13): a scriptable server (tests/common/mock_server.hpp)
// answers one command of the client's with broken framing, corrupt BSON, replies of the
// wrong shape for every command family, cursors that never end, and write errors that
// would hide a failure. Each scenario is a row of a table: which command is sabotaged, the
// bytes or reply sent instead, the client operation, and what it must end with (an error
// code and a fragment of its message, or the right result). Every row also checks that
//   - it ends within a bounded time (a watchdog fails a hang instead of waiting on it),
//   - no exception but morm::error leaves the public API,
//   - the next operation on the same client works (a new connection when the old one was
//     out of step).
// Handshake, SCRAM and server limits live in hostile_handshake_tests.cpp.
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/mock_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

namespace asio = boost::asio;
using morm_test::member_role;
using morm_test::mock_action;
using morm_test::recorded_command;
using doc = morm::bson::document;
using bytes = std::vector<std::uint8_t>;
using morm::errc;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace hostile {
struct Item {
    std::string id;
    std::int32_t n = 0;
};
MORM_MODEL(Item, "items", (id, "_id"), n);
}  // namespace hostile

namespace {

constexpr auto watchdog = 20s;  // far above any row's worst case; a hang ends here and fails

// ------------------------------------------------------------------ frames and bodies

doc json(std::string_view j) { return doc::from_json(j); }

/// A reply frame to `c` whose body is `body_json` (as is: no $clusterTime), flagBits `flags`.
bytes reply_to(const recorded_command& c, std::string_view body_json, std::uint32_t flags = 0) {
    return morm_test::mock_detail::op_msg_bytes(7000, c.request_id, json(body_json), flags);
}

void put_i32(bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t get_u32(const bytes& b, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b[at + static_cast<std::size_t>(i)]) << (8 * i);
    return v;
}

constexpr std::size_t flags_at = 16;  // after the 16-byte header
constexpr std::size_t kind_at = 20;   // the first section's kind byte
constexpr std::size_t body_at = 21;   // the body document

/// A find/aggregate first batch holding the seeded document s1 (what find_one expects).
constexpr std::string_view find_s1 =
    R"({"cursor": {"id": 0, "ns": "h.items", "firstBatch": [{"_id": "s1", "n": 1}]}, "ok": 1})";

/// Edits of a good reply frame.
using edit = std::function<void(bytes&)>;

mock_action edited(const recorded_command& c, std::string_view body, const edit& e, bool close_after = false) {
    bytes b = reply_to(c, body);
    e(b);
    return mock_action::raw(std::move(b), close_after);
}

/// Appends a kind-1 section `ident` holding `docs` (raw document bytes) and fixes the length.
void append_sequence(bytes& b, std::string_view ident, const bytes& docs) {
    const std::size_t start = b.size();
    b.push_back(1);
    b.resize(b.size() + 4);
    b.insert(b.end(), ident.begin(), ident.end());
    b.push_back(0);
    b.insert(b.end(), docs.begin(), docs.end());
    put_i32(b, start + 1, static_cast<std::uint32_t>(b.size() - start - 1));
    put_i32(b, 0, static_cast<std::uint32_t>(b.size()));
}

/// {"d": {"d": ... {} ...}}: `depth` nested documents, built flat (no recursion here either).
bytes nested_document(std::size_t depth) {
    bytes inner{5, 0, 0, 0, 0};
    for (std::size_t i = 0; i < depth; ++i) {
        // length (patched below), then element 0x03 "d"
        bytes outer{0, 0, 0, 0, 0x03, 'd', 0};
        outer.insert(outer.end(), inner.begin(), inner.end());
        outer.push_back(0);
        put_i32(outer, 0, static_cast<std::uint32_t>(outer.size()));
        inner.swap(outer);
    }
    return inner;
}

/// A find reply whose first batch holds {_id: "deep", d: <nested_document(depth)>}.
bytes deep_find_reply(const recorded_command& c, std::size_t depth) {
    bytes nested = nested_document(depth);
    bson_t deep;
    REQUIRE(bson_init_static(&deep, nested.data(), nested.size()));
    doc body, cursor, batch, first;
    bson_append_utf8(first.get(), "_id", 3, "deep", 4);
    bson_append_document(first.get(), "d", 1, &deep);
    bson_append_document(batch.get(), "0", 1, first.get());
    bson_append_int64(cursor.get(), "id", 2, 0);
    bson_append_utf8(cursor.get(), "ns", 2, "h.items", 7);
    bson_append_array(cursor.get(), "firstBatch", 10, batch.get());
    bson_append_document(body.get(), "cursor", 6, cursor.get());
    bson_append_double(body.get(), "ok", 2, 1.0);
    return morm_test::mock_detail::op_msg_bytes(7000, c.request_id, body);
}

/// The cursor id a getMore asks for (the hook answers with the same id: a live cursor).
std::string cursor_id_of(const recorded_command& c) {
    return std::to_string(morm_test::mock_detail::get_int(c.body, "getMore").value_or(0));
}

/// A getMore reply for the cursor `c` asks about, with `cursor_fields` after the id.
mock_action next_batch(const recorded_command& c, std::string_view cursor_fields) {
    return mock_action::reply(json(R"({"cursor": {"id": {"$numberLong": ")" + cursor_id_of(c) + R"("}, )" +
                                   std::string(cursor_fields) + R"(}, "ok": 1})"));
}

mock_action body(std::string_view j) { return mock_action::reply(json(j)); }

/// An empty batch of the live cursor `c` asks about, 20 ms late.
mock_action slow_empty_batch(const recorded_command& c) {
    bytes b = reply_to(c, R"({"cursor": {"id": {"$numberLong": ")" + cursor_id_of(c) +
                              R"("}, "ns": "h.items", "nextBatch": []}, "ok": 1})");
    return mock_action::raw_then({}, 20ms, std::move(b));
}

// ------------------------------------------------------------------ client operations

enum class op {
    ping,                 // runCommand {ping: 1}
    insert_one,           // {_id: "h1"}
    insert_many,          // three documents, ordered
    update_one,           // $set on s1
    delete_one,           // s2
    find_one,             // s1
    find_all,             // batchSize 2 over the five seeded documents: getMore
    cursor_close,         // one batch of 2, then close(): killCursors
    aggregate,            // $match all, batchSize 2
    count_documents,
    estimated_count,
    distinct,
    find_one_and_update,
    list_indexes,
    txn_commit,           // ORM session, transactional: insert + commitTransaction
    cancelled_next,       // batchSize 2, then next() until it is cancelled after 300 ms
};

/// What an operation ended with. `result` summarises a success ("s1", "5", "inserted"...).
struct outcome {
    bool ok = false;
    morm::error_code ec;
    std::string message;
    std::int32_t server_code = 0;
    std::string result;
    std::vector<errc> item_kinds;  ///< per-item outcomes of a failed write (bulk or commit)
    std::string foreign;           ///< an exception other than morm::error escaped: its type and what()
};

std::string ids_of(const std::vector<doc>& docs) {
    std::string s;
    for (auto& d : docs) s += (s.empty() ? "" : ",") + morm_test::mock_detail::get_string(d, "_id");
    return s;
}

asio::awaitable<std::string> run_op(morm::engine& eng, op what) {
    auto coll = eng.client().database("h")["items"];
    doc all;
    doc s1 = json(R"({"_id": "s1"})");
    switch (what) {
        case op::ping: {
            doc cmd = json(R"({"ping": 1})");
            auto db = eng.client().database("h");
            co_await db.run_command(cmd);
            co_return "ok";
        }
        case op::insert_one: {
            doc d = json(R"({"_id": "h1", "n": 1})");
            morm::insert_options io;
            co_await coll.insert_one(d, io);
            co_return "inserted";
        }
        case op::insert_many: {
            std::vector<doc> docs{json(R"({"_id": "m1"})"), json(R"({"_id": "m2"})"), json(R"({"_id": "m3"})")};
            morm::insert_options io;
            auto r = co_await coll.insert_many(docs, io);
            co_return std::to_string(r.inserted_count);
        }
        case op::update_one: {
            doc u = json(R"({"$set": {"n": 10}})");
            morm::update_options uo;
            auto r = co_await coll.update_one(s1, u, uo);
            co_return std::to_string(r.matched_count) + "/" + std::to_string(r.modified_count);
        }
        case op::delete_one: {
            doc f = json(R"({"_id": "s2"})");
            morm::delete_options dopt;
            auto r = co_await coll.delete_one(f, dopt);
            co_return std::to_string(r.deleted_count);
        }
        case op::find_one: {
            morm::find_options fo;
            auto d = co_await coll.find_one(s1, fo);
            co_return d ? morm_test::mock_detail::get_string(*d, "_id") : "none";
        }
        case op::find_all: {
            morm::find_options fo;
            fo.batch_size = 2;
            auto cur = co_await coll.find(all, fo);
            auto docs = co_await cur.to_vector();
            co_return ids_of(docs);
        }
        case op::cursor_close: {
            morm::find_options fo;
            fo.batch_size = 2;
            auto cur = co_await coll.find(all, fo);
            co_await cur.close();
            co_return "closed";
        }
        case op::aggregate: {
            std::vector<doc> pipeline{json(R"({"$match": {}})")};
            morm::aggregate_options ao;
            ao.batch_size = 2;
            auto cur = co_await coll.aggregate(pipeline, ao);
            auto docs = co_await cur.to_vector();
            co_return ids_of(docs);
        }
        case op::count_documents: {
            morm::count_options co;
            co_return std::to_string(co_await coll.count_documents(all, co));
        }
        case op::estimated_count: co_return std::to_string(co_await coll.estimated_document_count());
        case op::distinct: {
            auto v = co_await coll.distinct("n", all);
            co_return std::to_string(v.size());
        }
        case op::find_one_and_update: {
            doc u = json(R"({"$set": {"n": 11}})");
            morm::find_one_and_modify_options fo;
            auto d = co_await coll.find_one_and_update(s1, u, fo);
            co_return d ? morm_test::mock_detail::get_string(*d, "_id") : "none";
        }
        case op::list_indexes: {
            auto v = co_await coll.list_indexes();
            co_return std::to_string(v.size());
        }
        case op::cancelled_next: {
            morm::find_options fo;
            fo.batch_size = 2;
            auto cur = co_await coll.find(all, fo);
            for (;;) {
                asio::steady_timer t(co_await asio::this_coro::executor);
                t.expires_after(300ms);
                auto r = co_await (cur.next(asio::use_awaitable) || t.async_wait(asio::use_awaitable));
                if (r.index() == 1) co_return "cancelled";
                if (!std::get<0>(r)) co_return "ended";
            }
        }
        case op::txn_commit: {
            morm::session_options so;
            so.transactional = true;
            morm::session s{eng, so};
            s.add(hostile::Item{"t1", 1});
            auto r = co_await s.commit();
            co_return std::to_string(r.inserted);
        }
    }
    co_return "?";
}

/// Runs `what`, turning every way it can end into an outcome (a foreign exception too).
asio::awaitable<outcome> attempt(morm::engine& eng, op what) {
    outcome o;
    try {
        o.result = co_await run_op(eng, what);
        o.ok = true;
    } catch (const morm::bulk_write_exception& e) {
        o.ec = e.code();
        o.message = e.diag().message;
        o.server_code = e.server_code();
        for (auto& we : e.result().errors) o.item_kinds.push_back(we.kind);
    } catch (const morm::commit_error& e) {
        o.ec = e.code();
        o.message = e.diag().message;
        o.server_code = e.server_code();
        for (auto& f : e.result().failures) o.item_kinds.push_back(f.error);
    } catch (const morm::error& e) {
        o.ec = e.code();
        o.message = e.diag().message;
        o.server_code = e.server_code();
    } catch (const std::exception& e) {
        o.foreign = std::string(typeid(e).name()) + ": " + e.what();
    } catch (...) {
        o.foreign = "a non-std exception";
    }
    co_return o;
}

/// The operation that must work after each row, on the same client: a write and a read.
asio::awaitable<outcome> follow_up(morm::engine& eng) {
    outcome o;
    try {
        auto coll = eng.client().database("h")["items"];
        doc d = json(R"({"_id": "after", "n": 42})");
        morm::insert_options io;
        co_await coll.insert_one(d, io);
        doc f = json(R"({"_id": "after"})");
        morm::find_options fo;
        auto got = co_await coll.find_one(f, fo);
        o.result = got ? std::to_string(morm_test::mock_detail::get_int(*got, "n").value_or(-1)) : "none";
        o.ok = true;
    } catch (const morm::error& e) {
        o.ec = e.code();
        o.message = e.diag().message;
    } catch (const std::exception& e) {
        o.foreign = e.what();
    }
    co_return o;
}

/// Runs `body` on a fresh io_context; fails (instead of hanging) past `limit`.
template <class F>
void run_bounded(F&& body, std::chrono::steady_clock::duration limit) {
    asio::io_context ioc;
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc, std::forward<F>(body)(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(50ms);
    REQUIRE(done);  // a hang fails here, bounded
    ioc.run_for(2s);  // background work (killCursors, endSessions) finishes or is dropped
    if (failure) std::rethrow_exception(failure);
}

// ------------------------------------------------------------------ the table

/// What the row must end with: success (with `result`), or the error `code` whose message
/// contains one of the '|'-separated `fragment`s.
struct expectation {
    std::optional<errc> code;  ///< nullopt: success
    std::string fragment;      ///< or the expected result on success ("" = any)
    bool outcome_unknown = false;  ///< every failed item is errc::outcome_unknown (never "written")
    std::int32_t server_code = 0;
};

expectation fails(errc c, std::string fragment) { return {c, std::move(fragment), false, 0}; }
expectation unknown(errc c, std::string fragment) { return {c, std::move(fragment), true, 0}; }
expectation server(std::int32_t code, std::string fragment) {
    return {errc::server_error, std::move(fragment), false, code};
}
expectation succeeds(std::string result = {}) { return {std::nullopt, std::move(result), false, 0}; }

using answer = std::function<mock_action(const recorded_command&)>;

struct scenario {
    const char* name;
    const char* command;  ///< the command the server answers badly
    answer bad;
    op what;
    expectation want;
    int times = 1;  ///< how many of those commands get the bad answer; 0: all of them
    /// A second command answered badly (every time), e.g. abortTransaction.
    const char* command2 = nullptr;
    answer bad2 = nullptr;
    /// The client's wait before the follow-up (e.g. for a frame arriving while idle).
    std::chrono::milliseconds idle{0};
    const char* uri_extra = "";
};

bool contains_any(const std::string& text, const std::string& alternatives) {
    std::size_t from = 0;
    for (;;) {
        const std::size_t bar = alternatives.find('|', from);
        if (text.find(alternatives.substr(from, bar - from)) != std::string::npos) return true;
        if (bar == std::string::npos) return false;
        from = bar + 1;
    }
}

void check(const scenario& s, const outcome& got) {
    INFO("scenario: " << s.name << " -> " << (got.ok ? "ok " + got.result : got.ec.message() + ": " + got.message));
    CHECK(got.foreign.empty());
    if (!s.want.code) {
        CHECK(got.ok);
        if (!s.want.fragment.empty()) CHECK(got.result == s.want.fragment);
        return;
    }
    REQUIRE_FALSE(got.ok);
    CHECK(got.ec == *s.want.code);
    CHECK(contains_any(got.message, s.want.fragment));
    if (s.want.server_code) CHECK(got.server_code == s.want.server_code);
    if (s.want.outcome_unknown) {
        // Per-item outcomes (insert, bulk, commit) are unknown; a single update or delete
        // has none to give and says so in its message.
        if (got.item_kinds.empty()) CHECK(got.message.find("outcome is unknown") != std::string::npos);
        for (auto k : got.item_kinds) CHECK(k == errc::outcome_unknown);
    }
}

void play(const scenario& s) {
    morm_test::mock_cluster c({member_role::primary});
    for (int i = 1; i <= 5; ++i)
        c.insert_document("h.items", json(R"({"_id": "s)" + std::to_string(i) + R"(", "n": )" + std::to_string(i) + "}"));
    std::atomic<bool> armed{false};
    std::atomic<int> hits{0};
    c.on_command([&](std::size_t, const recorded_command& rc) -> mock_action {
        if (!armed) return mock_action::proceed();
        if (rc.name == s.command && (s.times == 0 || hits < s.times)) {
            ++hits;
            return s.bad(rc);
        }
        if (s.command2 && rc.name == s.command2) return s.bad2(rc);
        return mock_action::proceed();
    });
    outcome got, after;
    const auto t0 = std::chrono::steady_clock::now();
    run_bounded(
        [&]() -> asio::awaitable<void> {
            const std::string uri = "mongodb://" + c.address(0) +
                                    "/h?directConnection=true&retryReads=false&retryWrites=false"
                                    "&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000" +
                                    s.uri_extra;
            morm::engine_options eo;
            auto eng = co_await morm::engine::create(uri, eo);
            // A pooled connection exists (and answered) before the server turns hostile.
            (void)co_await attempt(eng, op::ping);
            armed = true;
            got = co_await attempt(eng, s.what);
            armed = false;
            if (s.idle.count() > 0) {
                asio::steady_timer t(co_await asio::this_coro::executor);
                t.expires_after(s.idle);
                co_await t.async_wait(asio::use_awaitable);
            }
            after = co_await follow_up(eng);
            eng.client().close();
        },
        watchdog);
    const auto took = std::chrono::steady_clock::now() - t0;
    check(s, got);
    INFO("scenario: " << s.name << " follow-up -> " << (after.ok ? after.result : after.message));
    CHECK(hits >= 1);  // the sabotage did happen
    CHECK(after.ok);
    CHECK(after.result == "42");
    CHECK(after.foreign.empty());
    CHECK(took < 10s);
}

void play_all(const std::vector<scenario>& rows) {
    for (const auto& s : rows) {
        DYNAMIC_SECTION(s.name) { play(s); }
    }
}

// ------------------------------------------------------------------ rows

std::vector<scenario> framing_rows() {
    const std::string find = std::string(find_s1);
    return {
        {"a truncated header then close", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { b.resize(8); }, true); }, op::find_one,
         fails(errc::connection_closed, "closed by the server")},
        {"messageLength below 16", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 0, 8); }); }, op::find_one,
         fails(errc::protocol, "smaller than a message header")},
        {"messageLength of a header alone", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 0, 16); }); }, op::find_one,
         fails(errc::protocol, "too small for an OP_MSG")},
        {"messageLength above maxMessageSizeBytes", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 0, 0x7fffffff); }); }, op::find_one,
         fails(errc::protocol, "exceeds maxMessageSizeBytes")},
        {"a negative messageLength", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 0, 0x80000010u); }); }, op::find_one,
         fails(errc::protocol, "smaller than a message header")},
        {"the wrong opCode (OP_REPLY)", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 12, 1); }); }, op::find_one,
         fails(errc::protocol, "unexpected opCode 1")},
        {"OP_COMPRESSED never negotiated", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, 12, 2012); }); }, op::find_one,
         fails(errc::protocol, "OP_COMPRESSED")},
        {"responseTo naming another request", "find",
         [=](auto& c) { return edited(c, find, [&c](bytes& b) { put_i32(b, 8, static_cast<std::uint32_t>(c.request_id + 1000)); }); },
         op::find_one, fails(errc::protocol, "responseTo")},
        {"half a frame then close", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { b.resize(b.size() / 2); }, true); }, op::find_one,
         fails(errc::connection_closed, "closed by the server")},
        {"half a frame then silence (timeoutMS)", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { b.resize(b.size() / 2); }); }, op::find_one,
         fails(errc::timeout, "timed out"), 1, nullptr, nullptr, 0ms, "&timeoutMS=500"},
        {"no reply at all (timeoutMS)", "find", [](auto&) { return mock_action::delay(3s); }, op::find_one,
         fails(errc::timeout, "timed out"), 1, nullptr, nullptr, 0ms, "&timeoutMS=500"},
        {"checksumPresent with a wrong CRC-32C", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 put_i32(b, flags_at, 1);
                 for (std::uint8_t x : {0xde, 0xad, 0xbe, 0xef}) b.push_back(x);
                 put_i32(b, 0, static_cast<std::uint32_t>(b.size()));
             });
         },
         op::find_one, fails(errc::protocol, "checksum")},
        {"an unknown section kind", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { b[kind_at] = 2; }); }, op::find_one,
         fails(errc::protocol, "section kind 2")},
        {"an unknown required flag bit", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, flags_at, 1u << 3); }); }, op::find_one,
         fails(errc::protocol, "unknown required flag bits")},
        {"moreToCome on a reply", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, flags_at, morm::wire::flags::more_to_come); }); },
         op::find_one, fails(errc::protocol, "moreToCome")},
        {"a reply without a body section", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 bytes seq(b.begin() + static_cast<std::ptrdiff_t>(body_at), b.end());
                 b.resize(kind_at);
                 append_sequence(b, "documents", seq);
             });
         },
         op::find_one, fails(errc::protocol, "no body section")},
        {"two body sections", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 bytes again(b.begin() + static_cast<std::ptrdiff_t>(kind_at), b.end());
                 b.insert(b.end(), again.begin(), again.end());
                 put_i32(b, 0, static_cast<std::uint32_t>(b.size()));
             });
         },
         op::find_one, fails(errc::protocol, "more than one body")},
        // Correct behaviour: a reply cut into pieces that arrive apart is put back together.
        {"a reply in two pieces 50 ms apart", "find",
         [=](auto& c) {
             bytes b = reply_to(c, find);
             bytes rest(b.begin() + 10, b.end());
             b.resize(10);
             return mock_action::raw_then(std::move(b), 50ms, std::move(rest));
         },
         op::find_one, succeeds("s1")},
        // Desync: the second reply names the connection's next request and would answer it.
        {"two replies to one request (the second forged for the next request)", "ping",
         [](auto& c) {
             bytes b = reply_to(c, R"({"ok": 1})");
             bytes forged = morm_test::mock_detail::op_msg_bytes(
                 7001, c.request_id + 1, json(R"({"ok": 0, "errmsg": "forged reply", "code": 2})"));
             b.insert(b.end(), forged.begin(), forged.end());
             return mock_action::raw(std::move(b));
         },
         op::ping, succeeds("ok")},
        {"a forged reply arriving while the connection sits in the pool", "ping",
         [](auto& c) {
             bytes forged = morm_test::mock_detail::op_msg_bytes(
                 7001, c.request_id + 1, json(R"({"ok": 0, "errmsg": "forged reply", "code": 2})"));
             return mock_action::raw_then(reply_to(c, R"({"ok": 1})"), 100ms, std::move(forged));
         },
         op::ping, succeeds("ok"), 1, nullptr, nullptr, 400ms},
        {"a stale duplicate of the reply after it (responseTo of the old request)", "ping",
         [](auto& c) {
             bytes b = reply_to(c, R"({"ok": 1})");
             bytes dup = b;
             b.insert(b.end(), dup.begin(), dup.end());
             return mock_action::raw(std::move(b));
         },
         op::ping, succeeds("ok")},
    };
}

std::vector<scenario> bson_rows() {
    const std::string find = std::string(find_s1);
    return {
        {"a body length overrunning the frame", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, body_at, get_u32(b, body_at) + 100); }); },
         op::find_one, fails(errc::protocol, "overruns")},
        {"a body length below 5", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { put_i32(b, body_at, 3); }); }, op::find_one,
         fails(errc::protocol, "overruns")},
        {"a body without its trailing NUL", "find",
         [=](auto& c) { return edited(c, find, [](bytes& b) { b.back() = 1; }); }, op::find_one,
         fails(errc::protocol, "BSON")},
        {"a sequence length overrunning the frame", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 append_sequence(b, "documents", bytes{5, 0, 0, 0, 0});
                 put_i32(b, b.size() - 5 - 10 - 4, 0x7fff);
             });
         },
         op::find_one, fails(errc::protocol, "overruns")},
        {"a corrupt document nested in firstBatch", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 // The {"_id": "s1", "n": 1} document's length, one too large: its last byte
                 // is then not where it says.
                 for (std::size_t i = body_at; i + 4 < b.size(); ++i)
                     if (b[i] == 0x03 && b[i + 1] == '0' && b[i + 2] == 0) {
                         put_i32(b, i + 3, get_u32(b, i + 3) + 1);
                         break;
                     }
             });
         },
         op::find_one, fails(errc::protocol, "corrupt|BSON|valid")},
        {"an element of unknown BSON type 0x7f in firstBatch", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 for (std::size_t i = body_at; i + 4 < b.size(); ++i)
                     if (b[i] == 0x03 && b[i + 1] == '0' && b[i + 2] == 0) {
                         b[i] = 0x7f;
                         break;
                     }
             });
         },
         op::find_one, fails(errc::protocol, "corrupt|BSON|valid")},
        {"'ok' of unknown BSON type 0x7f", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) {
                 for (std::size_t i = body_at; i + 3 < b.size(); ++i)
                     if (b[i] == 0x10 && b[i + 1] == 'o' && b[i + 2] == 'k' && b[i + 3] == 0) b[i] = 0x7f;
             });
         },
         op::find_one, fails(errc::protocol, "'ok'|BSON|valid")},
    };
}

std::vector<scenario> write_rows() {
    const char* dup_outside = R"({"ok": 1, "n": 0, "writeErrors": [{"index": 5, "code": 11000, "errmsg": "E11000 duplicate key"}]})";
    return {
        {"insert: 'ok' missing", "insert", [](auto&) { return body(R"({"n": 1})"); }, op::insert_one,
         unknown(errc::protocol, "'ok'")},
        {"insert: 'ok' a string", "insert", [](auto&) { return body(R"({"ok": "1", "n": 1})"); }, op::insert_one,
         unknown(errc::protocol, "'ok'")},
        {"insert: ok 0 without errmsg", "insert", [](auto&) { return body(R"({"ok": 0, "code": 2})"); },
         op::insert_one, {errc::write_error, "command failed", false, 2}},
        {"update: ok 0 with a 1 MiB errmsg", "update",
         [](auto&) {
             doc d;
             const std::string big(1 << 20, 'x');
             bson_append_double(d.get(), "ok", 2, 0);
             bson_append_utf8(d.get(), "errmsg", 6, big.data(), static_cast<int>(big.size()));
             bson_append_int32(d.get(), "code", 4, 14);
             return mock_action::reply(std::move(d));
         },
         op::update_one, server(14, "xxxxxxxx")},
        {"insert: writeErrors not an array", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": {"index": 0, "code": 11000}})"); },
         op::insert_one, unknown(errc::protocol, "writeErrors is not an array")},
        {"insert: a writeErrors element not a document", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [11000]})"); }, op::insert_one,
         unknown(errc::protocol, "not a document")},
        {"insert: a writeErrors element without code", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": 0, "errmsg": "E11000"}]})"); },
         op::insert_one, unknown(errc::protocol, "without code")},
        {"insert: a writeErrors element without index", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"code": 11000}]})"); }, op::insert_one,
         unknown(errc::protocol, "without index")},
        {"insert: writeErrors.index a string", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": "0", "code": 11000}]})"); },
         op::insert_one, unknown(errc::protocol, "writeErrors.index")},
        {"insert: writeErrors.code a string", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": "11000"}]})"); },
         op::insert_one, unknown(errc::protocol, "writeErrors.code")},
        {"insert: a duplicate key at an index outside the batch", "insert", [=](auto&) { return body(dup_outside); },
         op::insert_one, unknown(errc::protocol, "outside the command")},
        {"insert: a negative writeErrors index", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": -1, "code": 11000}]})"); },
         op::insert_one, unknown(errc::protocol, "writeErrors.index")},
        {"insert_many: the same index twice in writeErrors", "insert",
         [](auto&) {
             return body(R"({"ok": 1, "n": 1, "writeErrors": [{"index": 1, "code": 11000}, {"index": 1, "code": 11000}]})");
         },
         op::insert_many, unknown(errc::protocol, "twice")},
        {"insert: 'n' a string", "insert", [](auto&) { return body(R"({"ok": 1, "n": "1"})"); }, op::insert_one,
         unknown(errc::protocol, "'n'")},
        {"insert: more documents inserted than sent", "insert", [](auto&) { return body(R"({"ok": 1, "n": 7})"); },
         op::insert_one, unknown(errc::protocol, "inserted of the 1 sent")},
        {"update: 'nModified' a string", "update",
         [](auto&) { return body(R"({"ok": 1, "n": 1, "nModified": "1"})"); }, op::update_one,
         unknown(errc::protocol, "'nModified'")},
        {"update: 'upserted' not an array", "update",
         [](auto&) { return body(R"({"ok": 1, "n": 1, "nModified": 0, "upserted": {"index": 0, "_id": 1}})"); },
         op::update_one, unknown(errc::protocol, "upserted is not an array")},
        {"delete: 'n' the double 1e300", "delete", [](auto&) { return body(R"({"ok": 1, "n": 1e300})"); },
         op::delete_one, unknown(errc::protocol, "'n'")},
        {"insert: writeConcernError not a document", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 1, "writeConcernError": "timeout"})"); }, op::insert_one,
         unknown(errc::protocol, "writeConcernError is not a document")},
        {"insert: writeConcernError without code", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 1, "writeConcernError": {"errmsg": "waiting"}})"); },
         op::insert_one, unknown(errc::protocol, "writeConcernError has no code")},
        // Correct behaviour: a well-formed write concern error is reported as one.
        {"insert: a well-formed writeConcernError", "insert",
         [](auto&) {
             return body(R"({"ok": 1, "n": 1, "writeConcernError": {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out"}})");
         },
         op::insert_one, fails(errc::write_concern_error, "waiting for replication")},
        // Correct behaviour: a well-formed duplicate key is a write error, not a success.
        {"insert: a well-formed duplicate key", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}]})"); },
         op::insert_one, {errc::write_error, "E11000", false, 0}},
    };
}

std::vector<scenario> read_rows() {
    return {
        {"find: 'cursor' missing", "find", [](auto&) { return body(R"({"ok": 1})"); }, op::find_one,
         fails(errc::protocol, "'cursor' is missing")},
        {"find: 'cursor' not a document", "find", [](auto&) { return body(R"({"ok": 1, "cursor": [1]})"); },
         op::find_one, fails(errc::protocol, "'cursor' is not a document")},
        {"find: 'ok' a string", "find",
         [](auto&) { return body(R"({"ok": "yes", "cursor": {"id": 0, "firstBatch": []}})"); }, op::find_one,
         fails(errc::protocol, "'ok'")},
        {"find: cursor.id a string", "find",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": "42", "ns": "h.items", "firstBatch": [{"_id": "s1"}]}})"); },
         op::find_all, fails(errc::protocol, "cursor.id")},
        {"find: a number among the firstBatch documents", "find",
         [](auto&) {
             return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "firstBatch": [{"_id": "s1"}, 5, {"_id": "s2"}]}})");
         },
         op::find_all, fails(errc::protocol, "firstBatch.1 is not a document")},
        {"find_one: a string as the only firstBatch entry", "find",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "firstBatch": ["s1"]}})"); },
         op::find_one, fails(errc::protocol, "firstBatch.0 is not a document")},
        {"aggregate: cursor.id a double", "aggregate",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 1.5, "ns": "h.items", "firstBatch": []}})"); },
         op::aggregate, fails(errc::protocol, "cursor.id")},
        {"aggregate: 'ok' missing", "aggregate",
         [](auto&) { return body(R"({"cursor": {"id": 0, "ns": "h.items", "firstBatch": []}})"); }, op::aggregate,
         fails(errc::protocol, "'ok'")},
        {"countDocuments: n a string", "aggregate",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "firstBatch": [{"_id": 1, "n": "5"}]}})"); },
         op::count_documents, fails(errc::protocol, "firstBatch.0.n")},
        {"count: 'n' missing", "count", [](auto&) { return body(R"({"ok": 1})"); }, op::estimated_count,
         fails(errc::protocol, "'n' is missing")},
        {"count: 'n' the double 1e300", "count", [](auto&) { return body(R"({"ok": 1, "n": 1e300})"); },
         op::estimated_count, fails(errc::protocol, "'n'")},
        {"count: 'n' negative", "count", [](auto&) { return body(R"({"ok": 1, "n": -3})"); }, op::estimated_count,
         fails(errc::protocol, "'n'")},
        {"distinct: 'values' not an array", "distinct", [](auto&) { return body(R"({"ok": 1, "values": 3})"); },
         op::distinct, fails(errc::protocol, "'values' is not an array")},
        {"distinct: 'ok' a document", "distinct",
         [](auto&) { return body(R"({"ok": {"really": 1}, "values": []})"); }, op::distinct,
         fails(errc::protocol, "'ok'")},
        {"findAndModify: 'value' a number", "findAndModify", [](auto&) { return body(R"({"ok": 1, "value": 3})"); },
         op::find_one_and_update, fails(errc::protocol, "'value'")},
        {"findAndModify: ok 0 without errmsg", "findAndModify", [](auto&) { return body(R"({"ok": 0})"); },
         op::find_one_and_update, fails(errc::server_error, "command failed")},
        {"listIndexes: a number among the indexes", "listIndexes",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "firstBatch": [{"name": "_id_"}, 7]}})"); },
         op::list_indexes, fails(errc::protocol, "is not a document")},
    };
}

std::vector<scenario> cursor_rows() {
    return {
        {"getMore: empty batches forever from a live cursor", "getMore",
         [](auto& c) { return next_batch(c, R"("ns": "h.items", "nextBatch": [])"); }, op::find_all,
         fails(errc::protocol, "consecutive empty batches"), 0},
        {"getMore: slow empty batches end at timeoutMS for the whole next()", "getMore",
         [](auto& c) { return slow_empty_batch(c); }, op::find_all, fails(errc::timeout, "timed out"), 0, nullptr,
         nullptr, 0ms, "&timeoutMS=600"},
        {"getMore: slow empty batches and next() cancelled", "getMore", [](auto& c) { return slow_empty_batch(c); },
         op::cancelled_next, succeeds("cancelled"), 0},
        {"getMore: a few empty batches then the rest", "getMore",
         [](auto& c) { return next_batch(c, R"("ns": "h.items", "nextBatch": [])"); }, op::find_all,
         succeeds("s1,s2,s3,s4,s5"), 5},
        {"getMore: cursor.id a string", "getMore",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": "0", "ns": "h.items", "nextBatch": [{"_id": "x"}]}})"); },
         op::find_all, fails(errc::protocol, "cursor.id")},
        {"getMore: cursor.id a double", "getMore",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0.0, "ns": "h.items", "nextBatch": []}})"); },
         op::find_all, fails(errc::protocol, "cursor.id")},
        {"getMore: cursor.id missing", "getMore",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"ns": "h.items", "nextBatch": []}})"); }, op::find_all,
         fails(errc::protocol, "cursor.id' is missing")},
        {"getMore: strings in nextBatch", "getMore",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "nextBatch": ["s3", "s4"]}})"); },
         op::find_all, fails(errc::protocol, "nextBatch.0 is not a document")},
        {"getMore: nextBatch not an array", "getMore",
         [](auto&) { return body(R"({"ok": 1, "cursor": {"id": 0, "ns": "h.items", "nextBatch": {"_id": "s3"}}})"); },
         op::find_all, fails(errc::protocol, "not an array")},
        {"getMore: the reply names another namespace", "getMore",
         [](auto& c) { return next_batch(c, R"("ns": "other.things", "nextBatch": [{"_id": "z"}])"); },
         op::find_all, fails(errc::protocol, "namespace 'other.things'")},
        {"getMore: 'cursor' missing", "getMore", [](auto&) { return body(R"({"ok": 1})"); }, op::find_all,
         fails(errc::protocol, "no 'cursor'")},
        {"getMore: the server closes the connection", "getMore", [](auto&) { return mock_action::close(); },
         op::find_all, fails(errc::connection_closed, "closed")},
        {"getMore: a corrupt frame", "getMore",
         [](auto& c) { return edited(c, R"({"ok": 1})", [](bytes& b) { put_i32(b, 0, 3); }); }, op::find_all,
         fails(errc::protocol, "smaller than a message header")},
        // Correct behaviour: CursorNotFound is the server's error, with its code.
        {"getMore: CursorNotFound", "getMore",
         [](auto&) { return body(R"({"ok": 0, "code": 43, "codeName": "CursorNotFound", "errmsg": "cursor id 1 not found"})"); },
         op::find_all, server(43, "not found")},
        // killCursors is best effort: a broken reply never fails close().
        {"killCursors: 'ok' missing", "killCursors", [](auto&) { return body(R"({"cursorsKilled": "all"})"); },
         op::cursor_close, succeeds("closed")},
        {"killCursors: a corrupt frame then close", "killCursors",
         [](auto& c) { return edited(c, R"({"ok": 1})", [](bytes& b) { b[kind_at] = 9; }, true); }, op::cursor_close,
         succeeds("closed")},
    };
}

std::vector<scenario> transaction_rows() {
    return {
        {"commitTransaction: 'ok' missing", "commitTransaction", [](auto&) { return body(R"({"done": true})"); },
         op::txn_commit, unknown(errc::protocol, "'ok'")},
        {"commitTransaction: 'ok' a string", "commitTransaction", [](auto&) { return body(R"({"ok": "1"})"); },
         op::txn_commit, unknown(errc::protocol, "'ok'")},
        {"commitTransaction: a corrupt frame", "commitTransaction",
         [](auto& c) { return edited(c, R"({"ok": 1})", [](bytes& b) { put_i32(b, flags_at, 1u << 5); }); },
         op::txn_commit, unknown(errc::protocol, "unknown required flag bits")},
        // A write of the transaction fails; the abort that follows gets garbage: the
        // transaction's failure is still the write's, and nothing is left half-known.
        {"abortTransaction: garbage after a failed write", "insert",
         [](auto&) { return body(R"({"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 dup"}]})"); },
         op::txn_commit, {errc::write_error, "E11000", false, 0}, 1, "abortTransaction",
         [](auto&) { return body(R"({"ok": [], "errmsg": 5})"); }},
    };
}

}  // namespace

TEST_CASE("hostile server: framing", "[hostile]") { play_all(framing_rows()); }

TEST_CASE("hostile server: corrupt BSON in replies", "[hostile]") { play_all(bson_rows()); }

TEST_CASE("hostile server: replies to insert update and delete", "[hostile]") { play_all(write_rows()); }

TEST_CASE("hostile server: replies to find aggregate count distinct findAndModify and listIndexes", "[hostile]") {
    play_all(read_rows());
}

TEST_CASE("hostile server: cursors", "[hostile]") { play_all(cursor_rows()); }

TEST_CASE("hostile server: transactions", "[hostile]") { play_all(transaction_rows()); }

TEST_CASE("hostile server: BSON only the ingress validator catches", "[hostile]") {
    const std::string find = std::string(find_s1);
    const std::vector<scenario> rows{
        {"10000 levels of nesting in a find batch", "find", [](auto& c) { return mock_action::raw(deep_find_reply(c, 10000)); },
         op::find_one, fails(errc::protocol, "depth|nest|BSON|valid")},
        {"a corrupt document in a kind-1 sequence", "find",
         [=](auto& c) {
             return edited(c, find, [](bytes& b) { append_sequence(b, "documents", bytes{9, 0, 0, 0, 0x10, 'a', 0, 0, 0}); });
         },
         op::find_one, fails(errc::protocol, "BSON|valid|corrupt|sequence")},
    };
    play_all(rows);
}

TEST_CASE("hostile server: a broken endSessions reply never stalls close()", "[hostile]") {
    morm_test::mock_cluster c({member_role::primary});
    std::atomic<int> ends{0};
    c.on_command([&](std::size_t, const recorded_command& rc) -> mock_action {
        if (rc.name != "endSessions") return mock_action::proceed();
        ++ends;
        return edited(rc, R"({"ok": "closing"})", [](bytes& b) { b.resize(b.size() - 3); }, false);
    });
    const std::string uri = "mongodb://" + c.address(0) + "/h?directConnection=true&serverSelectionTimeoutMS=5000";
    run_bounded(
        [&]() -> asio::awaitable<void> {
            morm::engine_options eo;
            auto eng = co_await morm::engine::create(uri, eo);
            auto r = co_await attempt(eng, op::find_one);  // uses an implicit session
            CHECK(r.ok);
            eng.client().close();
        },
        watchdog);
    CHECK(c.wait_for_commands("endSessions", 1, 2s));
    // The same server still serves a new client.
    run_bounded(
        [&]() -> asio::awaitable<void> {
            c.clear_command_hook();
            morm::engine_options eo;
            auto eng = co_await morm::engine::create(uri, eo);
            auto r = co_await follow_up(eng);
            CHECK(r.ok);
            CHECK(r.result == "42");
            eng.client().close();
        },
        watchdog);
}
