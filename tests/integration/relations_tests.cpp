// References between models against the real server: eager batched loading (load), the
// reverse side (load_children + session::children), lazy resolve, and the $lookup join,
// counting the commands sent through the engine's command listener.
//
// Every argument of a co_await'ed call is a named variable (g++ 12, see orm_tests.cpp).
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace rel_it {

struct Company {
    std::string id;
    std::string name;
};
MORM_MODEL(Company, "companies", (id, "_id"), name);

struct Customer {
    std::string id;
    std::string name;
    morm::ref<Company> company;
};
MORM_MODEL(Customer, "customers", (id, "_id"), name, company);

struct Order {
    std::string id;
    std::int32_t total = 0;
    morm::ref<Customer> customer;
    std::vector<morm::ref<Customer>> watchers;
    std::optional<morm::ref<Customer>> referrer;
};
MORM_MODEL(Order, "orders", (id, "_id"), total, customer, watchers, referrer);

}  // namespace rel_it

using namespace rel_it;
using morm::field;
using morm::bson::document;

namespace {

struct recorder {
    std::vector<std::pair<std::string, document>> started;  // command name, command
    void clear() { started.clear(); }
    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (auto& s : started) n += s.first == name;
        return n;
    }
    std::string names() const {
        std::string out;
        for (auto& s : started) out += s.first + " ";
        return out;
    }
    std::vector<const document*> of(std::string_view name) const {
        std::vector<const document*> out;
        for (auto& s : started)
            if (s.first == name) out.push_back(&s.second);
        return out;
    }
};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<recorder> rec) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("relations");
    opts.client.command_listener = [rec](const morm::net::command_event& e) {
        if (e.kind != morm::net::command_event::started) return;
        document d;
        if (e.document) d = document::from_bytes(bson_get_data(e.document), e.document->len);
        rec->started.emplace_back(std::string(e.command_name), std::move(d));
    };
    auto uri = morm_test::server_uri();
    auto e = co_await morm::create_engine(uri, opts);
    co_return e;
}

std::string cid(int i) { return fmt::format("c{:03}", i); }

/// `companies` companies, `customers` customers (customer i in company i % companies),
/// `orders` orders (order i of customer i % customers, watched by the next two customers;
/// every other order has a referrer).
asio::awaitable<void> seed(const morm::engine& eng, int companies, int customers, int orders) {
    morm::session s{eng};
    for (int i = 0; i < companies; ++i) s.add(Company{fmt::format("k{}", i), fmt::format("Company {}", i)});
    for (int i = 0; i < customers; ++i) {
        Customer c;
        c.id = cid(i);
        c.name = fmt::format("Customer {}", i);
        if (companies > 0) c.company = fmt::format("k{}", i % companies);
        s.add(std::move(c));
    }
    for (int i = 0; i < orders; ++i) {
        Order o;
        o.id = fmt::format("o{:04}", i);
        o.total = i;
        o.customer = cid(i % customers);
        o.watchers = {cid((i + 1) % customers), cid((i + 2) % customers)};
        if (i % 2 == 0) o.referrer = morm::ref<Customer>(cid((i + 3) % customers));
        s.add(std::move(o));
    }
    auto r = co_await s.commit();
    REQUIRE(r.ok());
}

/// Number of ids in the `$in` of the find's filter at `path`.
std::size_t in_size(const document& find, std::string_view path) {
    auto it = find.find(fmt::format("filter.{}.$in", path));
    if (!it) return 0;
    bson_iter_t a;
    bson_iter_recurse(&*it, &a);
    std::size_t n = 0;
    while (bson_iter_next(&a)) ++n;
    return n;
}

std::string collection_of(const document& cmd, std::string_view name) {
    auto it = cmd.find(name);
    REQUIRE(it);
    return bson_iter_utf8(&*it, nullptr);
}

}  // namespace

TEST_CASE("references: 1,000 orders over 100 customers load in 2 round trips", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 1000);
        {
            morm::session s{eng};
            rec->clear();
            auto orders = co_await s.query<Order>().load(&Order::customer).batch_size(5000).all();
            // Exactly two commands: the orders, then the customers with one $in.
            INFO(rec->names());
            REQUIRE(rec->started.size() == 2);
            CHECK(rec->started[0].first == "find");
            CHECK(collection_of(rec->started[0].second, "find") == "orders");
            CHECK(rec->started[1].first == "find");
            CHECK(collection_of(rec->started[1].second, "find") == "customers");
            CHECK(in_size(rec->started[1].second, "_id") == 100);
            REQUIRE(orders.size() == 1000);
            std::set<const Customer*> distinct;
            std::size_t loaded = 0;
            for (auto& o : orders) {
                if (!o->customer.loaded()) continue;
                ++loaded;
                distinct.insert(o->customer.get());
                CHECK(o->customer->id == o->customer.id());
            }
            CHECK(loaded == 1000);
            CHECK(distinct.size() == 100);  // one object per _id (identity map)
            CHECK(s.size() == 1100);
            // The targets are the session's objects: get() answers them without I/O.
            rec->clear();
            std::string id = cid(7);
            auto c7 = co_await s.get<Customer>(id);
            CHECK(rec->started.empty());
            CHECK(distinct.count(c7.get()) == 1);
        }
        {
            // The naive way: one find per distinct customer.
            morm::session s{eng};
            auto orders = co_await s.query<Order>().batch_size(5000).all();
            REQUIRE(orders.size() == 1000);
            rec->clear();
            for (auto& o : orders) co_await s.resolve(o->customer);
            CHECK(rec->count("find") == 100);
            CHECK(rec->started.size() == 100);
            for (auto& o : orders) CHECK(o->customer.loaded());
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("references: load() over several batches sends one $in per batch", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 300);
        morm::session s{eng};
        rec->clear();
        auto orders = co_await s.query<Order>().sort(&Order::total).load(&Order::customer).batch_size(100).all();
        REQUIRE(orders.size() == 300);
        // Batch 1 (orders 0..99) needs all 100 customers; batches 2 and 3 need none (already
        // in the session): no $in for them.
        CHECK(rec->count("getMore") >= 2);
        auto finds = rec->of("find");
        REQUIRE(finds.size() == 2);
        CHECK(in_size(*finds[1], "_id") == 100);
        for (auto& o : orders) CHECK(o->customer.loaded());
        co_await eng.database().drop();
    });
}

TEST_CASE("references: vector and optional refs, several load() calls, nested paths", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 10, 100, 200);
        {
            morm::session s{eng};
            rec->clear();
            const std::int32_t below = 50;
            auto orders = co_await s.query<Order>()
                              .filter(field(&Order::total) < below)
                              .load(&Order::watchers)
                              .load(&Order::referrer)
                              .all();
            REQUIRE(orders.size() == 50);
            // Orders, then watchers (customers 1..51); the referrers of the even orders
            // (customers 3, 5, ..., 51) were all loaded by the first load(): no third find.
            auto finds = rec->of("find");
            REQUIRE(finds.size() == 2);
            CHECK(in_size(*finds[1], "_id") == 51);
            for (auto& o : orders) {
                REQUIRE(o->watchers.size() == 2);
                CHECK(o->watchers[0].loaded());
                CHECK(o->watchers[1].loaded());
                CHECK(o->watchers[0]->id == o->watchers[0].id());
                if (o->total % 2 == 0) {
                    REQUIRE(o->referrer);
                    CHECK(o->referrer->loaded());
                } else {
                    CHECK_FALSE(o->referrer);
                }
                CHECK_FALSE(o->customer.loaded());  // not asked for
            }
        }
        {
            morm::session s{eng};
            rec->clear();
            auto orders = co_await s.query<Order>().load(&Order::customer, &Customer::company).batch_size(1000).all();
            REQUIRE(orders.size() == 200);
            // Orders, customers, companies: one level per round trip.
            REQUIRE(rec->started.size() == 3);
            CHECK(collection_of(rec->started[2].second, "find") == "companies");
            CHECK(in_size(rec->started[2].second, "_id") == 10);
            std::set<const Company*> companies;
            for (auto& o : orders) {
                REQUIRE(o->customer.loaded());
                REQUIRE(o->customer->company.loaded());
                companies.insert(o->customer->company.get());
            }
            CHECK(companies.size() == 10);
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("references: targets the session holds are not fetched again", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 1000);
        morm::session s{eng};
        const std::string upto = cid(10);
        auto first10 = co_await s.query<Customer>().filter(field(&Customer::id) < upto).all();
        REQUIRE(first10.size() == 10);
        first10[0]->name = "changed locally";
        rec->clear();
        auto orders = co_await s.query<Order>().load(&Order::customer).batch_size(5000).all();
        auto finds = rec->of("find");
        REQUIRE(finds.size() == 2);
        CHECK(in_size(*finds[1], "_id") == 90);
        // The first order's customer is c000, loaded before: the same object, local change kept.
        REQUIRE(orders.size() == 1000);
        std::shared_ptr<Order> o0;
        for (auto& o : orders)
            if (o->id == "o0000") o0 = o;
        REQUIRE(o0);
        CHECK(o0->customer.get() == first10[0].get());
        CHECK(o0->customer->name == "changed locally");
        // Running the load again: everything is in the session, only the orders query.
        rec->clear();
        auto again = co_await s.query<Order>().load(&Order::customer).batch_size(5000).all();
        CHECK(rec->started.size() == 1);
        CHECK(again.size() == 1000);
        co_await eng.database().drop();
    });
}

TEST_CASE("references: load_children loads the orders of the customers with one query", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 1000);
        morm::session s{eng};
        const std::string upto = cid(20);
        rec->clear();
        auto customers =
            co_await s.query<Customer>().filter(field(&Customer::id) < upto).load_children(&Order::customer).all();
        REQUIRE(customers.size() == 20);
        auto finds = rec->of("find");
        REQUIRE(finds.size() == 2);
        CHECK(collection_of(*finds[1], "find") == "orders");
        CHECK(in_size(*finds[1], "customer") == 20);
        CHECK(rec->started.size() <= 3);  // the orders may need one getMore (200 documents)
        rec->clear();
        std::size_t total = 0;
        for (auto& c : customers) {
            auto orders = s.children(&Order::customer, c);
            CHECK(orders.size() == 10);
            for (auto& o : orders) {
                CHECK(o->customer.id() == c->id);
                CHECK(o->customer.get() == c.get());  // the child's ref points at the parent
            }
            total += orders.size();
        }
        CHECK(total == 200);
        // children() over a vector of refs, from what the session holds: c005 watches the
        // orders whose number ends in 03 or 04 (customers c003, c004: loaded above).
        std::shared_ptr<Customer> c005;
        for (auto& c : customers)
            if (c->id == "c005") c005 = c;
        REQUIRE(c005);
        CHECK(s.children(&Order::watchers, c005).size() == 20);
        CHECK(rec->started.empty());  // children() answers from the session
        // A customer without loaded children: nothing in the session refers to it.
        const std::string other = cid(50);
        auto c50 = co_await s.get<Customer>(other);
        REQUIRE(c50);
        CHECK(s.children(&Order::customer, c50).empty());
        co_await eng.database().drop();
    });
}

TEST_CASE("references: resolve is an identity-map hit or one find, dangling refs stay unloaded",
          "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 10, 20);
        {
            morm::session s{eng};
            Order dangling;
            dangling.id = "dangling";
            dangling.customer = std::string("nobody");
            s.add(std::move(dangling));
            co_await s.commit();
        }
        morm::session s{eng};
        std::string id0 = "o0000", id10 = "o0010";
        auto a = co_await s.get<Order>(id0);
        auto b = co_await s.get<Order>(id10);  // same customer (c000)
        REQUIRE(a);
        REQUIRE(b);
        rec->clear();
        auto ca = co_await s.resolve(a->customer);  // miss: one find
        CHECK(rec->started.size() == 1);
        REQUIRE(ca);
        CHECK(a->customer.get() == ca.get());
        CHECK(ca->id == "c000");
        rec->clear();
        auto cb = co_await s.resolve(b->customer);  // hit: no I/O
        CHECK(rec->started.empty());
        CHECK(cb.get() == ca.get());
        CHECK(b->customer.get() == ca.get());
        // Token form.
        std::string id1 = "o0001";
        auto o1 = co_await s.get<Order>(id1);
        REQUIRE(o1);
        auto c1 = co_await s.resolve(o1->customer, asio::use_awaitable);
        REQUIRE(c1);
        CHECK(c1->id == "c001");

        // A ref to a document that does not exist: resolve and load leave it unloaded.
        std::string dangling_id = "dangling";
        auto d = co_await s.get<Order>(dangling_id);
        REQUIRE(d);
        auto none = co_await s.resolve(d->customer);
        CHECK_FALSE(none);
        CHECK_FALSE(d->customer.loaded());
        morm::session s2{eng};
        auto all = co_await s2.query<Order>().load(&Order::customer).all();
        CHECK(all.size() == 21);
        for (auto& o : all) CHECK(o->customer.loaded() == (o->id != "dangling"));
        co_await eng.database().drop();
    });
}

TEST_CASE("references: a typed filter on a ref field, first() and one() with load()", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 1000);
        morm::session s{eng};
        const std::string c5 = cid(5);
        auto n = co_await s.query<Order>().filter(field(&Order::customer) == c5).count();
        CHECK(n == 10);
        rec->clear();
        auto first = co_await s.query<Order>().filter(field(&Order::customer) == c5).sort(&Order::total).load(&Order::customer).first();
        REQUIRE(first);
        CHECK(first->id == "o0005");
        CHECK(first->customer.loaded());
        CHECK(rec->started.size() == 2);
        const std::string oid = "o0015";
        auto one = co_await s.query<Order>().filter(field(&Order::id) == oid).load(&Order::watchers).one();
        REQUIRE(one);
        CHECK(one->watchers[0].loaded());
        CHECK(one->watchers[1].loaded());
        CHECK_THROWS_AS(co_await s.query<Order>().filter(field(&Order::customer) == c5).load(&Order::customer).one(),
                        morm::error);
        co_await eng.database().drop();
    });
}

TEST_CASE("references: join() runs one aggregate with $lookup", "[relations][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<recorder>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng, 0, 100, 1000);
        morm::session s{eng};
        const std::int32_t from = 100;
        auto q = s.query<Order>().filter(field(&Order::total) >= from).sort(&Order::total).limit(20).join(&Order::customer);
        rec->clear();
        std::vector<std::shared_ptr<Order>> orders;
        std::string refused;
        try {
            orders = co_await q.all();
        } catch (const morm::error& e) {
            refused = e.what();
        }
        // The command is the pipeline join_pipeline() shows, in one aggregate.
        auto aggs = rec->of("aggregate");
        REQUIRE(aggs.size() == 1);
        auto it = aggs[0]->find("pipeline");
        REQUIRE(it);
        bson_iter_t st;
        bson_iter_recurse(&*it, &st);
        std::vector<std::string> stages;
        while (bson_iter_next(&st)) {
            bson_iter_t s1;
            bson_iter_recurse(&st, &s1);
            if (bson_iter_next(&s1)) stages.push_back(bson_iter_key(&s1));
        }
        CHECK(stages == std::vector<std::string>{"$match", "$sort", "$limit", "$lookup", "$unwind"});
        CHECK(rec->count("find") == 0);
        if (!refused.empty()) {
            // FerretDB 1.24 has no $lookup; anything else is a failure.
            REQUIRE(refused.find("not implemented") != std::string::npos);
            WARN("skipped on this server: $lookup (" << refused << ")");
            co_await eng.database().drop();
            co_return;
        }
        REQUIRE(orders.size() == 20);
        for (std::size_t i = 0; i < orders.size(); ++i) {
            CHECK(orders[i]->total == static_cast<std::int32_t>(100 + i));
            REQUIRE(orders[i]->customer.loaded());
            CHECK(orders[i]->customer->id == orders[i]->customer.id());
        }
        CHECK(rec->started.size() == 1);
        co_await eng.database().drop();
    });
}
