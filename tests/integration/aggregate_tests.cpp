// The typed aggregation builder and query<T>::select<R>() against the real server (FerretDB
// by default): every stage runs and its results are checked. Where FerretDB 1.24 lacks a
// stage MongoDB has, the part WARNs with the server's reason and the rest still runs.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 destroys aggregate
// temporaries in a co_await expression twice).
#include "common/test_server.hpp"

#include <morm/morm.hpp>
#include <morm/orm/aggregate.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace agg_it {

struct Customer {
    std::string id;
    std::string name;
    std::string city;
};
MORM_MODEL(Customer, "customers", (id, "_id"), name, city);

struct Order {
    std::string id;
    morm::ref<Customer> customer;
    std::string status;
    double amount = 0;
    std::int32_t qty = 0;
    std::vector<std::string> tags;
};
MORM_MODEL(Order, "orders", (id, "_id"), customer, status, amount, qty, tags);

struct CustomerTotal {
    std::string id;
    double total = 0;
    std::int64_t orders = 0;
    std::vector<double> amounts;
};
MORM_STRUCT(CustomerTotal, (id, "_id"), total, orders, amounts);

struct Stats {
    std::string id;
    double mean = 0;
    double low = 0;
    double high = 0;
    std::string first_order;
    std::string last_order;
    std::int64_t items = 0;
};
MORM_STRUCT(Stats, (id, "_id"), mean, low, high, first_order, last_order, items);

struct Brief {
    std::string status;
    double amount = 0;
};
MORM_STRUCT(Brief, status, amount);

struct Tagged {
    std::string id;
    std::string tags;  // one element of Order::tags per document after $unwind
    double amount = 0;
};
MORM_STRUCT(Tagged, (id, "_id"), tags, amount);

struct CustomerName {
    std::string name;
};
MORM_STRUCT(CustomerName, name);

struct WithCustomer {
    std::string id;
    double amount = 0;
    std::vector<CustomerName> who;
};
MORM_STRUCT(WithCustomer, (id, "_id"), amount, who);

struct Named {
    std::string name;
};
MORM_STRUCT(Named, name);

struct ByCustomer {
    std::string id;
    std::string customer;  // the ref's stored id
};
MORM_STRUCT(ByCustomer, (id, "_id"), customer);

}  // namespace agg_it

using namespace agg_it;
using morm::field;
using morm::bson::document;

namespace {

struct finds {
    std::vector<document> commands;  // the find commands sent, in order
};

asio::awaitable<morm::engine> make_engine(std::shared_ptr<finds> rec) {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("agg");
    opts.client.command_listener = [rec](const morm::net::command_event& e) {
        if (e.kind == morm::net::command_event::started && e.command_name == "find" && e.document)
            rec->commands.push_back(document::from_bytes(bson_get_data(e.document), e.document->len));
    };
    auto uri = morm_test::server_uri();
    auto e = co_await morm::create_engine(uri, opts);
    co_return e;
}

Order order(std::string id, std::string customer, std::string status, double amount, std::int32_t qty,
            std::vector<std::string> tags) {
    Order o;
    o.id = std::move(id);
    o.customer = std::move(customer);
    o.status = std::move(status);
    o.amount = amount;
    o.qty = qty;
    o.tags = std::move(tags);
    return o;
}

asio::awaitable<void> seed(const morm::engine& eng) {
    morm::session s{eng};
    s.add(Customer{"c1", "Ann", "Paris"});
    s.add(Customer{"c2", "Bob", "Rome"});
    s.add(Customer{"c3", "Cid", "Oslo"});
    s.add(order("o1", "c1", "paid", 10.0, 1, {"a", "b"}));
    s.add(order("o2", "c1", "paid", 30.0, 2, {"b"}));
    s.add(order("o3", "c2", "paid", 5.5, 3, {}));
    s.add(order("o4", "c2", "open", 100.0, 4, {"c"}));
    s.add(order("o5", "c3", "paid", 7.0, 5, {"a"}));
    co_await s.commit();
}

/// The server refused a stage as not implemented (FerretDB): its message, else empty.
std::string not_implemented(const morm::error& e) {
    std::string m = e.what();
    std::string low = m;
    std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return low.find("not implemented") != std::string::npos || low.find("notimplemented") != std::string::npos ? m
                                                                                                               : "";
}

}  // namespace

TEST_CASE("aggregation builder on the server: match, group (sum count push), sort, limit", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};

        auto rows = co_await s.aggregate<Order>()
                        .match(field(&Order::status) == "paid")
                        .group<CustomerTotal>(field(&Order::customer),
                                              morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                              morm::count(&CustomerTotal::orders),
                                              morm::push(&CustomerTotal::amounts, field(&Order::amount)))
                        .sort(&CustomerTotal::total, morm::order::desc)
                        .limit(2)
                        .all();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].id == "c1");
        CHECK(rows[0].total == 40.0);
        CHECK(rows[0].orders == 2);
        auto amounts = rows[0].amounts;
        std::sort(amounts.begin(), amounts.end());
        CHECK(amounts == std::vector<double>{10.0, 30.0});
        CHECK(rows[1].id == "c3");
        CHECK(rows[1].total == 7.0);
        CHECK(rows[1].orders == 1);
        CHECK(rows[1].amounts == std::vector<double>{7.0});
        CHECK(s.size() == 0);  // not tracked

        // skip, then the same through the token form
        auto b = s.aggregate<Order>()
                     .match(field(&Order::status) == "paid")
                     .group<CustomerTotal>(field(&Order::customer),
                                           morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                           morm::count(&CustomerTotal::orders),
                                           morm::push(&CustomerTotal::amounts, field(&Order::amount)))
                     .sort(&CustomerTotal::total)
                     .skip(1);
        auto [ec, skipped] = co_await b.all(asio::as_tuple(asio::use_awaitable));
        CHECK(!ec);
        REQUIRE(skipped.size() == 2);
        CHECK(skipped[0].id == "c3");  // c2 (5.5) skipped
        CHECK(skipped[1].id == "c1");
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: avg min max first last, sum of integers", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        // sorted by _id first, so first/last are the lowest/highest order id of each status
        auto rows = co_await s.aggregate<Order>()
                        .sort(&Order::id)
                        .group<Stats>(&Order::status, morm::avg(&Stats::mean, field(&Order::amount)),
                                      morm::min(&Stats::low, field(&Order::amount)),
                                      morm::max(&Stats::high, field(&Order::amount)),
                                      morm::first(&Stats::first_order, field(&Order::id)),
                                      morm::last(&Stats::last_order, field(&Order::id)),
                                      morm::sum(&Stats::items, field(&Order::qty)))
                        .sort(&Stats::id)
                        .all();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].id == "open");
        CHECK(rows[0].mean == 100.0);
        CHECK(rows[0].low == 100.0);
        CHECK(rows[0].high == 100.0);
        CHECK(rows[0].first_order == "o4");
        CHECK(rows[0].last_order == "o4");
        CHECK(rows[0].items == 4);
        CHECK(rows[1].id == "paid");
        CHECK(rows[1].mean == Approx((10.0 + 30.0 + 5.5 + 7.0) / 4));
        CHECK(rows[1].low == 5.5);
        CHECK(rows[1].high == 30.0);
        CHECK(rows[1].first_order == "o1");
        CHECK(rows[1].last_order == "o5");
        CHECK(rows[1].items == 1 + 2 + 3 + 5);
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: project, unwind, raw, stream", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};

        auto brief = co_await s.aggregate<Order>()
                         .match(field(&Order::status) == "paid")
                         .sort(&Order::amount)
                         .skip(1)
                         .limit(2)
                         .project<Brief>()
                         .all();
        REQUIRE(brief.size() == 2);
        CHECK(brief[0].amount == 7.0);
        CHECK(brief[1].amount == 10.0);
        CHECK(brief[0].status == "paid");

        // a match on the projected type
        auto big = co_await s.aggregate<Order>().project<Brief>().match(field(&Brief::amount) > 50.0).all();
        REQUIRE(big.size() == 1);
        CHECK(big[0].status == "open");

        auto tagged = co_await s.aggregate<Order>()
                          .unwind<Tagged>(&Order::tags)
                          .sort(&Tagged::tags)
                          .sort(&Tagged::id)
                          .all();
        REQUIRE(tagged.size() == 5);  // o3 has no tag: dropped
        std::vector<std::string> got;
        for (const auto& t : tagged) got.push_back(t.id + ":" + t.tags);
        CHECK(got == std::vector<std::string>{"o1:a", "o5:a", "o1:b", "o2:b", "o4:c"});
        CHECK(tagged[0].amount == 10.0);

        auto stage = document::from_json(R"({"$project": {"name": "$status"}})");
        auto named = co_await s.aggregate<Order>()
                         .raw<Named>(stage)
                         .match(field(&Named::name) == "open")
                         .all();
        REQUIRE(named.size() == 1);
        CHECK(named[0].name == "open");

        // stream(): batches of 2, every row once
        auto st = co_await s.aggregate<Order>().sort(&Order::id).project<Brief>().batch_size(2).stream();
        std::vector<double> streamed;
        while (auto row = co_await st.next()) streamed.push_back(row->amount);
        CHECK(streamed == std::vector<double>{10.0, 30.0, 5.5, 100.0, 7.0});
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: lookup of a ref", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        auto b = s.aggregate<Order>()
                     .match(field(&Order::amount) >= 10.0)
                     .lookup<WithCustomer>(&Order::customer, &WithCustomer::who)
                     .sort(&WithCustomer::id);
        std::vector<WithCustomer> rows;
        std::string refused;
        try {
            rows = co_await b.all();
        } catch (const morm::error& e) {
            refused = not_implemented(e);
            if (refused.empty()) throw;
        }
        if (!refused.empty()) {
            WARN("skipped on this server: $lookup (" << refused << ")");
            co_await eng.database().drop();
            co_return;
        }
        REQUIRE(rows.size() == 3);  // o1, o2, o4
        CHECK(rows[0].id == "o1");
        REQUIRE(rows[0].who.size() == 1);
        CHECK(rows[0].who[0].name == "Ann");
        CHECK(rows[1].who.at(0).name == "Ann");
        CHECK(rows[2].id == "o4");
        CHECK(rows[2].who.at(0).name == "Bob");
        co_await eng.database().drop();
    });
}

TEST_CASE("select<R>: the find sends R's projection, filter sort limit apply, nothing tracked", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        rec->commands.clear();

        auto rows = co_await s.query<Order>()
                        .filter(field(&Order::status) == "paid")
                        .sort(&Order::amount, morm::order::desc)
                        .limit(3)
                        .select<Brief>();
        REQUIRE(rows.size() == 3);
        CHECK(rows[0].amount == 30.0);
        CHECK(rows[1].amount == 10.0);
        CHECK(rows[2].amount == 7.0);
        CHECK(rows[2].status == "paid");
        CHECK(s.size() == 0);
        REQUIRE(rec->commands.size() == 1);
        auto proj = rec->commands[0].find("projection");
        REQUIRE(proj);
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(&*proj, &len, &data);
        CHECK(document::from_bytes(data, len).to_json(morm::bson::json_mode::canonical) ==
              document::from_json(R"({"status": 1, "amount": 1, "_id": 0})").to_json(morm::bson::json_mode::canonical));

        // a ref is selected as its id; the token form
        auto q = s.query<Order>().filter(field(&Order::amount) > 20.0).sort(&Order::id);
        auto [ec, ids] = co_await q.select<ByCustomer>(asio::as_tuple(asio::use_awaitable));
        CHECK(!ec);
        REQUIRE(ids.size() == 2);
        CHECK(ids[0].id == "o2");
        CHECK(ids[0].customer == "c1");
        CHECK(ids[1].id == "o4");
        CHECK(ids[1].customer == "c2");
        co_await eng.database().drop();
    });
}
