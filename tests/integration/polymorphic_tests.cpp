// Polymorphic models against the real server (orm/polymorphic.hpp): a base and its kinds in
// one collection, queried through the base and per kind, committed together, one object
// per _id across the family.
//
// Every test has its own database (unique_db). Every argument of a co_await'ed call is a
// named variable (g++ 12).
#include "common/test_server.hpp"

#include <morm/morm.hpp>
#include <morm/orm/polymorphic.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace poly_it {

struct Payment {
    std::string id;
    std::string order_id;
    double amount = 0;
    virtual ~Payment() = default;
};
struct CardPayment : Payment {
    std::string last4;
};
struct BankTransfer : Payment {
    std::string iban;
    std::int64_t version = 0;
};
MORM_MODEL(Payment, "payments", (id, "_id"), order_id, amount);
MORM_MODEL(CardPayment, "payments", (id, "_id"), order_id, amount, last4);
MORM_MODEL(BankTransfer, "payments", (id, "_id"), order_id, amount, iban,
           (version, "version", morm::codec::field_flags::version));
MORM_POLYMORPHIC(Payment, "kind", (Payment, "payment"), (CardPayment, "card"), (BankTransfer, "bank"));

}  // namespace poly_it

using namespace poly_it;
using morm::field;
using morm::bson::document;

namespace {

struct started_cmd {
    std::string name;
    document doc;
};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<std::vector<started_cmd>> rec) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("poly");
    if (rec) {
        opts.client.command_listener = [rec](const morm::net::command_event& e) {
            if (e.kind != morm::net::command_event::started || !e.document) return;
            rec->push_back({std::string(e.command_name), document::from_bytes(bson_get_data(e.document), e.document->len)});
        };
    }
    auto uri = morm_test::server_uri();
    auto e = co_await morm::create_engine(uri, opts);
    co_return e;
}

std::shared_ptr<CardPayment> card(std::string id, std::string order, double amount, std::string last4) {
    auto c = std::make_shared<CardPayment>();
    c->id = std::move(id);
    c->order_id = std::move(order);
    c->amount = amount;
    c->last4 = std::move(last4);
    return c;
}
std::shared_ptr<BankTransfer> bank(std::string id, std::string order, double amount, std::string iban) {
    auto b = std::make_shared<BankTransfer>();
    b->id = std::move(id);
    b->order_id = std::move(order);
    b->amount = amount;
    b->iban = std::move(iban);
    return b;
}
std::shared_ptr<Payment> plain(std::string id, std::string order, double amount) {
    auto p = std::make_shared<Payment>();
    p->id = std::move(id);
    p->order_id = std::move(order);
    p->amount = amount;
    return p;
}

/// The stored document with this _id, read with the plain collection API.
asio::awaitable<std::optional<document>> raw_doc(const morm::engine& e, std::string id) {
    document filter;
    bson_append_utf8(filter.get(), "_id", 3, id.data(), static_cast<int>(id.size()));
    auto c = e.database().collection("payments");
    co_return co_await c.find_one(filter);
}

std::string str_at(const document& d, std::string_view path) {
    auto it = d.find(path);
    REQUIRE(it);
    REQUIRE(BSON_ITER_HOLDS_UTF8(&*it));
    return bson_iter_utf8(&*it, nullptr);
}

/// The top-level keys of a document, in stored order.
std::vector<std::string> keys_of(const document& d) {
    std::vector<std::string> out;
    bson_iter_t it;
    if (d.view().init_iter(it))
        while (bson_iter_next(&it)) out.emplace_back(bson_iter_key(&it));
    return out;
}

/// Three payments of three kinds, committed in one commit.
asio::awaitable<void> seed(const morm::engine& eng) {
    morm::session s{eng};
    s.add(card("c1", "o1", 10.0, "4242"));
    s.add(bank("b1", "o1", 20.0, "FR76"));
    s.add(plain("p1", "o2", 30.0));
    auto r = co_await s.commit();
    REQUIRE(r.inserted == 3);
}

// Ids as named variables: a co_await'ed call must not take a temporary (g++ 12).
const std::string id_b1 = "b1", id_c1 = "c1", id_l1 = "l1", id_x1 = "x1";

std::string kind_name(const Payment& p) {
    if (dynamic_cast<const CardPayment*>(&p)) return "card";
    if (dynamic_cast<const BankTransfer*>(&p)) return "bank";
    return "payment";
}

}  // namespace

TEST_CASE("polymorphic: mixed kinds commit in one insert, discriminator stored after _id", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<std::vector<started_cmd>>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        // One insert command carried all three kinds.
        const auto inserts = std::count_if(rec->begin(), rec->end(), [](auto& c) { return c.name == "insert"; });
        CHECK(inserts == 1);

        auto c1 = co_await raw_doc(eng, "c1");
        REQUIRE(c1);
        CHECK(str_at(*c1, "kind") == "card");
        CHECK(str_at(*c1, "last4") == "4242");
        CHECK(keys_of(*c1) == std::vector<std::string>{"_id", "kind", "order_id", "amount", "last4"});
        auto b1 = co_await raw_doc(eng, "b1");
        REQUIRE(b1);
        CHECK(str_at(*b1, "kind") == "bank");
        CHECK(str_at(*b1, "iban") == "FR76");
        auto p1 = co_await raw_doc(eng, "p1");
        REQUIRE(p1);
        CHECK(str_at(*p1, "kind") == "payment");
        co_await eng.drop_all();
    });
}

TEST_CASE("polymorphic: a base query yields each document's kind", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine(nullptr);
        co_await seed(eng);
        morm::session s{eng};
        auto all = co_await s.query<Payment>().sort(&Payment::amount).all();
        REQUIRE(all.size() == 3);
        CHECK(kind_name(*all[0]) == "card");
        CHECK(kind_name(*all[1]) == "bank");
        CHECK(kind_name(*all[2]) == "payment");
        auto* c = dynamic_cast<CardPayment*>(all[0].get());
        REQUIRE(c);
        CHECK(c->last4 == "4242");
        CHECK(c->amount == 10.0);
        CHECK(dynamic_cast<BankTransfer*>(all[1].get())->iban == "FR76");

        // Through the base's filters, one() and get().
        auto big = co_await s.query<Payment>().filter(field(&Payment::amount) > 15.0).sort(&Payment::amount).all();
        REQUIRE(big.size() == 2);
        CHECK(big[0] == all[1]);  // identity map: the same objects
        morm::session s2{eng};
        auto got = co_await s2.get<Payment>(id_b1);
        REQUIRE(got);
        CHECK(kind_name(*got) == "bank");
        auto one = co_await s2.query<Payment>().filter(field(&Payment::order_id) == "o2").one();
        CHECK(kind_name(*one) == "payment");
        co_await eng.drop_all();
    });
}

TEST_CASE("polymorphic: a kind's query filters by its discriminator", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<std::vector<started_cmd>>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        rec->clear();
        auto cards = co_await s.query<CardPayment>().all();
        REQUIRE(cards.size() == 1);
        CHECK(cards[0]->last4 == "4242");
        // The find carried {kind: "card"}.
        auto find = std::find_if(rec->begin(), rec->end(), [](auto& c) { return c.name == "find"; });
        REQUIRE(find != rec->end());
        auto f = find->doc.find("filter");
        REQUIRE(f);
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(&*f, &len, &data);
        CHECK(document::from_bytes(data, len).to_json().find(R"("kind" : "card")") != std::string::npos);

        // count(), a base field filter and sort on a kind's query; another kind's.
        auto n = co_await s.query<BankTransfer>().count();
        CHECK(n == 1);
        auto none = co_await s.query<CardPayment>().filter(field(&Payment::amount) > 15.0).sort(&Payment::amount).all();
        CHECK(none.empty());
        auto banks = co_await s.query<BankTransfer>().filter(field(&BankTransfer::iban) == "FR76").all();
        REQUIRE(banks.size() == 1);
        CHECK(banks[0]->amount == 20.0);
        // A kind's bulk remove() touches only that kind.
        auto removed = co_await s.query<CardPayment>().remove();
        CHECK(removed == 1);
        const document everything;
        auto payments = eng.database().collection("payments");
        auto left = co_await payments.count_documents(everything);
        CHECK(left == 2);
        co_await eng.drop_all();
    });
}

TEST_CASE("polymorphic: one object per _id across the family", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<std::vector<started_cmd>>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        auto all = co_await s.query<Payment>().all();
        REQUIRE(all.size() == 3);
        auto base_c1 = *std::find_if(all.begin(), all.end(), [](auto& p) { return p->id == "c1"; });
        rec->clear();
        auto c1 = co_await s.get<CardPayment>(id_c1);
        auto as_bank = co_await s.get<BankTransfer>(id_c1);
        auto as_base = co_await s.get<Payment>(id_c1);
        CHECK(rec->empty());  // all three from the identity map
        REQUIRE(c1);
        CHECK(static_cast<Payment*>(c1.get()) == base_c1.get());
        CHECK(as_bank == nullptr);
        CHECK(as_base == base_c1);
        CHECK(s.size() == 3);

        // Loaded first as its kind, then through the base: the same object.
        morm::session s2{eng};
        auto b1 = co_await s2.get<BankTransfer>(id_b1);
        REQUIRE(b1);
        auto b1_base = co_await s2.query<Payment>().filter(field(&Payment::id) == "b1").one();
        CHECK(b1_base.get() == static_cast<Payment*>(b1.get()));
        // get() of another kind, not in the session: the kind filter makes it a miss.
        auto wrong = co_await s2.get<CardPayment>(id_b1);
        CHECK(wrong == nullptr);
        morm::session s3{eng};
        auto miss = co_await s3.get<CardPayment>(id_b1);
        CHECK(miss == nullptr);
        CHECK(s3.size() == 0);

        // merge() of another kind under a held _id is refused.
        auto other = CardPayment{};
        other.id = "b1";
        CHECK_THROWS_AS(s2.merge(other), morm::error);
        co_await eng.drop_all();
    });
}

TEST_CASE("polymorphic: changes diffed per kind, removes, adds through the base pointer", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<std::vector<started_cmd>>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        {
            morm::session s{eng};
            auto all = co_await s.query<Payment>().all();
            REQUIRE(all.size() == 3);
            for (auto& p : all) {
                if (auto* c = dynamic_cast<CardPayment*>(p.get())) c->last4 = "0000";
                if (auto* b = dynamic_cast<BankTransfer*>(p.get())) b->amount = 21.0;
                if (p->id == "p1") s.remove(p);  // removed through the base pointer
            }
            std::shared_ptr<Payment> added = card("c2", "o3", 5.0, "1234");
            s.add(added);  // a CardPayment held as a Payment: stored as a card
            rec->clear();
            auto r = co_await s.commit();
            CHECK(r.updated == 2);
            CHECK(r.deleted == 1);
            CHECK(r.inserted == 1);
            CHECK(r.ok());
            // Each update sets only its kind's changed field (plus the bank's version).
            std::vector<std::string> updates;
            for (auto& c : *rec) {
                if (c.name != "update") continue;
                auto u = c.doc.find("updates");
                REQUIRE(u);
                bson_iter_t arr;
                bson_iter_recurse(&*u, &arr);
                while (bson_iter_next(&arr)) {
                    bson_iter_t st;
                    bson_iter_recurse(&arr, &st);
                    REQUIRE(bson_iter_find(&st, "u"));
                    std::uint32_t len;
                    const std::uint8_t* data;
                    bson_iter_document(&st, &len, &data);
                    updates.push_back(document::from_bytes(data, len).to_json());
                }
            }
            REQUIRE(updates.size() == 2);
            if (updates[0].find("last4") == std::string::npos) std::swap(updates[0], updates[1]);
            CHECK(updates[0].find(R"("last4" : "0000")") != std::string::npos);
            CHECK(updates[0].find("kind") == std::string::npos);
            CHECK(updates[0].find("amount") == std::string::npos);
            CHECK(updates[1].find(R"("amount")") != std::string::npos);
            CHECK(updates[1].find(R"("version")") != std::string::npos);
            CHECK(updates[1].find("iban") == std::string::npos);
            CHECK(updates[1].find("last4") == std::string::npos);
            CHECK(!s.dirty());
        }
        auto c1 = co_await raw_doc(eng, "c1");
        REQUIRE(c1);
        CHECK(str_at(*c1, "last4") == "0000");
        CHECK(str_at(*c1, "kind") == "card");
        auto c2 = co_await raw_doc(eng, "c2");
        REQUIRE(c2);
        CHECK(str_at(*c2, "kind") == "card");
        CHECK(str_at(*c2, "last4") == "1234");
        auto p1 = co_await raw_doc(eng, "p1");
        CHECK(!p1);
        morm::session s{eng};
        auto b1 = co_await s.get<BankTransfer>(id_b1);
        REQUIRE(b1);
        CHECK(b1->amount == 21.0);
        CHECK(b1->version == 1);
        // refresh() and expunge() through the base pointer use the object's kind.
        std::shared_ptr<Payment> as_base = b1;
        b1->iban = "local";
        co_await s.refresh(as_base);
        CHECK(b1->iban == "FR76");
        s.expunge(as_base);
        CHECK(s.size() == 0);
        co_await eng.drop_all();
    });
}

TEST_CASE("polymorphic: an unknown discriminator value is an error naming it", "[polymorphic][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine(nullptr);
        co_await seed(eng);
        auto coll = eng.database().collection("payments");
        auto stray = document::from_json(R"({"_id": "x1", "kind": "crypto", "order_id": "o9", "amount": 1.0})");
        co_await coll.insert_one(stray);
        // A legacy document without the discriminator is the base kind.
        auto legacy = document::from_json(R"({"_id": "l1", "order_id": "o9", "amount": 2.0})");
        co_await coll.insert_one(legacy);

        morm::session s{eng};
        morm::diagnostics diag;
        auto [ec, all] = co_await s.query<Payment>().all(morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == morm::errc::decode_error);
        CHECK_THAT(diag.message, Catch::Contains("'crypto'") && Catch::Contains("\"x1\"") && Catch::Contains("'kind'"));
        bool threw = false;
        try {
            co_await s.get<Payment>(id_x1);
        } catch (const morm::error& e) {
            threw = true;
            CHECK(e.code() == morm::errc::decode_error);
        }
        CHECK(threw);
        auto l1 = co_await s.get<Payment>(id_l1);
        REQUIRE(l1);
        CHECK(kind_name(*l1) == "payment");
        CHECK(l1->amount == 2.0);
        // Kind queries never see it.
        auto cards = co_await s.query<CardPayment>().all();
        CHECK(cards.size() == 1);
        co_await eng.drop_all();
    });
}
