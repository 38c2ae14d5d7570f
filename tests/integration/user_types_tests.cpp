// User-defined field types against the real server (tests/common/user_types.hpp: one
// bson_traits specialization each): a strong id type as _id (identity map, get, typed
// filters, updates), a UUID as binary subtype 4, std::chrono::year_month_day as a date, a
// money type as decimal128, and field aliases migrating stored documents.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 destroys braced
// temporaries inside a co_await expression twice).
#include "common/test_server.hpp"
#include "common/user_types.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

namespace asio = boost::asio;
using namespace user_types;
using namespace std::chrono;
using morm::field;
using morm::bson::document;

namespace {

struct counter {
    std::size_t finds = 0, updates = 0;
};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<counter> n, bool validators = false) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("usertypes");
    opts.create_validators = validators;
    opts.client.command_listener = [n](const morm::net::command_event& e) {
        if (e.kind != morm::net::command_event::started) return;
        if (e.command_name == "find") ++n->finds;
        if (e.command_name == "update") ++n->updates;
    };
    auto uri = morm_test::server_uri();
    co_return co_await morm::create_engine(uri, opts);
}

asio::awaitable<bool> is_ferretdb(const morm::engine& e) {
    auto cmd = document::from_json(R"({"buildInfo": 1})");
    auto bi = co_await e.client().run_command("admin", cmd);
    co_return bi.find("ferretdbVersion").has_value();
}

asio::awaitable<document> stored(const morm::engine& e, std::string_view coll, std::string_view id) {
    auto filter = document::from_json(fmt::format(R"({{"_id": "{}"}})", id));
    auto c = e.database().collection(coll);
    auto d = co_await c.find_one(filter);
    REQUIRE(d);
    co_return std::move(*d);
}

std::int64_t date_at(const document& d, std::string_view key) {
    auto it = d.find(key);
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_DATE_TIME(&*it));
    return bson_iter_date_time(&*it);
}

Account account(std::string id, std::uint8_t seed, year_month_day birthday) {
    Account a;
    a.id = UserId{std::move(id)};
    a.name = "name " + a.id.v;
    for (std::uint8_t i = 0; i < 16; ++i) a.token.bytes[i] = static_cast<std::uint8_t>(seed + i);
    a.birthday = birthday;
    return a;
}

std::int64_t ms_of(year_month_day d) { return duration_cast<milliseconds>(sys_days(d).time_since_epoch()).count(); }

}  // namespace

TEST_CASE("user types: a strong id, a UUID and year_month_day end to end", "[user_types][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto n = std::make_shared<counter>();
        auto eng = co_await make_engine(n);
        const Account a1 = account("u1", 1, 1990y / May / 17);
        Account a2 = account("u2", 50, 2001y / December / 31);
        a2.referrer = UserId{"u1"};
        a2.devices = {a1.token, a2.token};
        {
            morm::session s{eng};
            auto p1 = s.add(a1);
            s.add(a2);
            auto r = co_await s.commit();
            CHECK(r.inserted == 2);
            // The identity map is keyed by the strong id: no I/O.
            const UserId id{"u1"};
            n->finds = 0;
            auto again = co_await s.get<Account>(id);
            CHECK(again.get() == p1.get());
            CHECK(n->finds == 0);
        }
        // As stored: _id a string, the UUID binary subtype 4, the day a date at midnight UTC.
        auto doc = co_await stored(eng, "accounts", "u1");
        auto idel = doc.find("_id");
    REQUIRE(idel);
    CHECK(BSON_ITER_HOLDS_UTF8(&*idel));
        auto tok = doc.find("token");
        REQUIRE(tok);
        bson_subtype_t sub;
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_binary(&*tok, &sub, &len, &data);
        CHECK(sub == BSON_SUBTYPE_UUID);
        CHECK(len == 16);
        CHECK(date_at(doc, "birthday") == ms_of(1990y / May / 17));

        morm::session s{eng};
        const UserId id1{"u1"}, id2{"u2"};
        auto l1 = co_await s.get<Account>(id1);
        REQUIRE(l1);
        CHECK(l1->token == a1.token);
        CHECK(l1->birthday == 1990y / May / 17);
        auto l2 = co_await s.get<Account>(id2);
        REQUIRE(l2);
        CHECK(l2->referrer == UserId{"u1"});
        CHECK(l2->devices == a2.devices);

        // Typed filters on user types, answered through the identity map.
        const auto f_token = field(&Account::token) == a1.token;
        auto by_token = co_await s.query<Account>().filter(f_token).all();
        REQUIRE(by_token.size() == 1);
        CHECK(by_token[0].get() == l1.get());
        const auto f_ref = field(&Account::referrer) == id1;
        auto by_ref = co_await s.query<Account>().filter(f_ref).all();
        REQUIRE(by_ref.size() == 1);
        CHECK(by_ref[0]->id == UserId{"u2"});
        const year_month_day y2k = 2000y / January / 1;
        const auto f_young = field(&Account::birthday) > y2k;
        auto young = co_await s.query<Account>().filter(f_young).count();
        CHECK(young == 1);
        const std::vector<UserId> ids{id1, id2};
        const auto f_both = field(&Account::id).in(ids);
        auto both = co_await s.query<Account>().filter(f_both).count();
        CHECK(both == 2);

        // Change tracking: only the changed paths go out.
        l1->birthday = 1991y / June / 1;
        l1->devices.push_back(a2.token);
        n->updates = 0;
        auto r = co_await s.commit();
        CHECK(r.updated == 1);
        CHECK(n->updates == 1);
        auto after = co_await stored(eng, "accounts", "u1");
        CHECK(date_at(after, "birthday") == ms_of(1991y / June / 1));

        // A bulk update with a typed operator.
        const auto f_u2 = field(&Account::id) == id2;
        const year_month_day feb2 = 2002y / February / 2;
        const auto set_day = morm::set(field(&Account::birthday), feb2);
        auto modified = co_await s.query<Account>().filter(f_u2).update(set_day);
        CHECK(modified == 1);
        auto after2 = co_await stored(eng, "accounts", "u2");
        CHECK(date_at(after2, "birthday") == ms_of(2002y / February / 2));

        // Delete by the strong id.
        s.remove(l2);
        auto rr = co_await s.commit();
        CHECK(rr.deleted == 1);
        auto left = co_await s.query<Account>().count();
        CHECK(left == 1);
        co_await eng.database().drop();
    });
}

TEST_CASE("user types: a money type stored as decimal128", "[user_types][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto n = std::make_shared<counter>();
        auto eng = co_await make_engine(n);
        if (co_await is_ferretdb(eng)) {
            // Probed with pymongo too: FerretDB v1.24.2 closes the connection on any
            // Decimal128 value. MongoDB stores it; this test runs there (MORM_TEST_URI).
            WARN("skipped: FerretDB v1.24 does not support Decimal128 (it closes the connection)");
            co_return;
        }
        morm::session s{eng};
        s.add(Wallet{UserId{"w1"}, Money{12345}, std::nullopt});
        s.add(Wallet{UserId{"w2"}, Money{-50}, Money{100000}});
        auto r = co_await s.commit();
        CHECK(r.inserted == 2);
        auto doc = co_await stored(eng, "wallets", "w1");
        auto bal = doc.find("balance");
        REQUIRE(bal);
        CHECK(BSON_ITER_HOLDS_DECIMAL128(&*bal));
        morm::session s2{eng};
        const Money hundred{100};
        const auto f_rich = field(&Wallet::balance) > hundred;
        auto rich = co_await s2.query<Wallet>().filter(f_rich).all();
        REQUIRE(rich.size() == 1);
        CHECK(rich[0]->balance == Money{12345});
        rich[0]->balance = Money{1};
        auto r2 = co_await s2.commit();
        CHECK(r2.updated == 1);
        morm::session s3{eng};
        const UserId w1{"w1"};
        auto back = co_await s3.get<Wallet>(w1);
        REQUIRE(back);
        CHECK(back->balance == Money{1});
        co_await eng.database().drop();
    });
}

TEST_CASE("field aliases: documents stored under former names are committed under the new ones",
          "[user_types][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto n = std::make_shared<counter>();
        auto eng = co_await make_engine(n);
        auto coll = eng.database().collection("contacts");
        auto old_doc = document::from_json(R"({"_id": "c1", "mail": "a@x", "phone": "555", "visits": 1})");
        auto new_doc = document::from_json(R"({"_id": "c2", "email": "b@x", "mobile": null, "visits": 2})");
        co_await coll.insert_one(old_doc);
        co_await coll.insert_one(new_doc);
        {
            morm::session s{eng};
            auto all = co_await s.query<Contact>().sort(&Contact::id).all();
            REQUIRE(all.size() == 2);
            CHECK(all[0]->email == "a@x");
            CHECK(all[0]->mobile == "555");
            CHECK(all[1]->email == "b@x");
            // Nothing changed in C++, but c1 is stored under the former names: only it is
            // rewritten, under the current names.
            n->updates = 0;
            auto r = co_await s.commit();
            CHECK(r.updated == 1);
            CHECK(n->updates == 1);
        }
        auto c1 = co_await stored(eng, "contacts", "c1");
        CHECK(c1.find("email"));
        CHECK(c1.find("mobile"));
        CHECK_FALSE(c1.find("mail"));
        CHECK_FALSE(c1.find("phone"));
        CHECK(c1.to_json().find("\"a@x\"") != std::string::npos);
        // A second commit finds nothing to do, and the current name now matches everywhere.
        morm::session s{eng};
        const auto f_email = field(&Contact::email).exists();
        auto count = co_await s.query<Contact>().filter(f_email).count();
        CHECK(count == 2);
        n->updates = 0;
        auto all = co_await s.query<Contact>().all();
        auto r = co_await s.commit();
        CHECK(r.updated == 0);
        CHECK(n->updates == 0);
        co_await eng.database().drop();
    });
}
