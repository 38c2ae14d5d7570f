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
#include <optional>
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

// One result struct per accumulator, so that each runs (or is skipped) on its own.
struct CustomerSum {
    std::string id;
    double total = 0;
    std::int64_t orders = 0;
};
MORM_STRUCT(CustomerSum, (id, "_id"), total, orders);
struct Total {
    std::string id;
    double total = 0;
};
MORM_STRUCT(Total, (id, "_id"), total);
struct OrderCount {
    std::string id;
    std::int64_t orders = 0;
};
MORM_STRUCT(OrderCount, (id, "_id"), orders);
struct Pushed {
    std::string id;
    std::vector<double> amounts;
};
MORM_STRUCT(Pushed, (id, "_id"), amounts);
struct Mean {
    std::string id;
    double mean = 0;
};
MORM_STRUCT(Mean, (id, "_id"), mean);
struct Range {
    std::string id;
    double low = 0;
    double high = 0;
};
MORM_STRUCT(Range, (id, "_id"), low, high);
struct Ends {
    std::string id;
    std::string first_order;
    std::string last_order;
};
MORM_STRUCT(Ends, (id, "_id"), first_order, last_order);
struct Items {
    std::string id;
    std::int64_t items = 0;
};
MORM_STRUCT(Items, (id, "_id"), items);

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

struct TagOnly {
    std::string id;
    std::string tags;
};
MORM_STRUCT(TagOnly, (id, "_id"), tags);

struct Counted {
    std::int64_t n = 0;
};
MORM_STRUCT(Counted, n);

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

asio::awaitable<bool> is_ferretdb(const morm::engine& e) {
    auto cmd = document::from_json(R"({"buildInfo": 1})");
    auto bi = co_await e.client().run_command("admin", cmd);
    co_return bi.find("ferretdbVersion").has_value();
}

/// The server refused a stage as not implemented (FerretDB): its message, else empty.
std::string not_implemented(const morm::error& e) {
    std::string m = e.what();
    std::string low = m;
    std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return low.find("not implemented") != std::string::npos || low.find("notimplemented") != std::string::npos ? m
                                                                                                               : "";
}

/// Runs `b`; nullopt (with a WARN naming the server's reason) if the server answers that a
/// stage or accumulator is not implemented. Any other error fails the test.
template <class B>
asio::awaitable<std::optional<std::vector<typename B::output_type>>> run_or_skip(B& b, const char* what) {
    std::string refused;
    try {
        auto rows = co_await b.all();
        co_return rows;
    } catch (const morm::error& e) {
        refused = not_implemented(e);
        if (refused.empty()) throw;
    }
    WARN("skipped on this server: " << what << " (" << refused << ")");
    co_return std::nullopt;
}

}  // namespace

TEST_CASE("aggregation builder on the server: match, group (sum count), sort, skip, limit", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};

        // one accumulator per group: what FerretDB 1.24 computes right
        auto totals = co_await s.aggregate<Order>()
                          .match(field(&Order::status) == "paid")
                          .group<Total>(field(&Order::customer), morm::sum(&Total::total, field(&Order::amount)))
                          .sort(&Total::total, morm::order::desc)
                          .limit(2)
                          .all();
        REQUIRE(totals.size() == 2);
        CHECK(totals[0].id == "c1");
        CHECK(totals[0].total == 40.0);
        CHECK(totals[1].id == "c3");
        CHECK(totals[1].total == 7.0);
        CHECK(s.size() == 0);  // not tracked
        auto counts = co_await s.aggregate<Order>()
                          .group<OrderCount>(field(&Order::customer), morm::count(&OrderCount::orders))
                          .sort(&OrderCount::id)
                          .all();
        REQUIRE(counts.size() == 3);
        CHECK(counts[0].orders == 2);
        CHECK(counts[1].orders == 2);
        CHECK(counts[2].orders == 1);

        // two accumulators in one group
        const bool ferret = co_await is_ferretdb(eng);
        auto rows = co_await s.aggregate<Order>()
                        .match(field(&Order::status) == "paid")
                        .group<CustomerSum>(field(&Order::customer), morm::sum(&CustomerSum::total, field(&Order::amount)),
                                            morm::count(&CustomerSum::orders))
                        .sort(&CustomerSum::total, morm::order::desc)
                        .all();
        REQUIRE(rows.size() == 3);
        CHECK(rows[0].id == "c1");
        CHECK(rows[0].total == 40.0);
        if (ferret && rows[0].orders == 0)
            WARN("skipped on FerretDB: in a $group of several accumulators, it computes only the first (the others are 0)");
        else
            CHECK(rows[0].orders == 2);

        // skip, through the token form
        auto b = s.aggregate<Order>()
                     .match(field(&Order::status) == "paid")
                     .group<CustomerSum>(field(&Order::customer), morm::sum(&CustomerSum::total, field(&Order::amount)),
                                         morm::count(&CustomerSum::orders))
                     .sort(&CustomerSum::total)
                     .skip(1);
        auto [ec, skipped] = co_await b.all(asio::as_tuple(asio::use_awaitable));
        CHECK(!ec);
        REQUIRE(skipped.size() == 2);
        CHECK(skipped[0].id == "c3");  // c2 (5.5) skipped
        CHECK(skipped[1].id == "c1");

        // the example of the documentation: sum, count and push into one struct
        auto full = s.aggregate<Order>()
                        .match(field(&Order::status) == "paid")
                        .group<CustomerTotal>(field(&Order::customer),
                                              morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                              morm::count(&CustomerTotal::orders),
                                              morm::push(&CustomerTotal::amounts, field(&Order::amount)))
                        .sort(&CustomerTotal::total, morm::order::desc)
                        .limit(10);
        if (auto totals = co_await run_or_skip(full, "$push")) {
            REQUIRE(totals->size() == 3);
            auto amounts = (*totals)[0].amounts;
            std::sort(amounts.begin(), amounts.end());
            CHECK((*totals)[0].id == "c1");
            CHECK((*totals)[0].orders == 2);
            CHECK(amounts == std::vector<double>{10.0, 30.0});
            CHECK((*totals)[2].amounts == std::vector<double>{5.5});
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: push avg min max first last, sum of integers", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        // Sorted by _id first, so $first/$last are the lowest/highest order id of a status
        // and $push keeps the _id order. Results sorted by _id: "open", then "paid".
        auto base = s.aggregate<Order>().sort(&Order::id);

        auto items = co_await base.group<Items>(&Order::status, morm::sum(&Items::items, field(&Order::qty)))
                         .sort(&Items::id)
                         .all();
        REQUIRE(items.size() == 2);
        CHECK(items[0].id == "open");
        CHECK(items[0].items == 4);
        CHECK(items[1].items == 1 + 2 + 3 + 5);

        auto pushed = base.group<Pushed>(&Order::status, morm::push(&Pushed::amounts, field(&Order::amount))).sort(&Pushed::id);
        if (auto rows = co_await run_or_skip(pushed, "$push")) {
            REQUIRE(rows->size() == 2);
            CHECK((*rows)[0].amounts == std::vector<double>{100.0});
            CHECK((*rows)[1].amounts == std::vector<double>{10.0, 30.0, 5.5, 7.0});
        }
        auto mean = base.group<Mean>(&Order::status, morm::avg(&Mean::mean, field(&Order::amount))).sort(&Mean::id);
        if (auto rows = co_await run_or_skip(mean, "$avg")) {
            REQUIRE(rows->size() == 2);
            CHECK((*rows)[0].mean == 100.0);
            CHECK((*rows)[1].mean == Approx((10.0 + 30.0 + 5.5 + 7.0) / 4));
        }
        auto range = base.group<Range>(&Order::status, morm::min(&Range::low, field(&Order::amount)),
                                       morm::max(&Range::high, field(&Order::amount)))
                         .sort(&Range::id);
        if (auto rows = co_await run_or_skip(range, "$min/$max")) {
            REQUIRE(rows->size() == 2);
            CHECK((*rows)[0].low == 100.0);
            CHECK((*rows)[1].low == 5.5);
            CHECK((*rows)[1].high == 30.0);
        }
        auto ends = base.group<Ends>(&Order::status, morm::first(&Ends::first_order, field(&Order::id)),
                                     morm::last(&Ends::last_order, field(&Order::id)))
                        .sort(&Ends::id);
        if (auto rows = co_await run_or_skip(ends, "$first/$last")) {
            REQUIRE(rows->size() == 2);
            CHECK((*rows)[0].first_order == "o4");
            CHECK((*rows)[0].last_order == "o4");
            CHECK((*rows)[1].first_order == "o1");
            CHECK((*rows)[1].last_order == "o5");
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: project", "[aggregate][integration]") {
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
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: unwind", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        auto tagged = co_await s.aggregate<Order>()
                          .unwind<TagOnly>(&Order::tags)
                          .sort(&TagOnly::tags)
                          .sort(&TagOnly::id)
                          .all();
        std::vector<std::string> got;
        for (const auto& t : tagged) got.push_back(t.id + ":" + t.tags);
        CHECK(got == std::vector<std::string>{"o1:a", "o5:a", "o1:b", "o2:b", "o4:c"});  // o3: no tag, dropped

        // MongoDB keeps the documents' other fields next to the unwound element.
        auto b = s.aggregate<Order>().unwind<Tagged>(&Order::tags).match(field(&Tagged::id) == "o1").sort(&Tagged::tags);
        std::vector<Tagged> rows;
        std::string refused;
        const bool ferret = co_await is_ferretdb(eng);
        try {
            rows = co_await b.all();
        } catch (const morm::error& e) {
            if (!ferret || e.code() != morm::errc::decode_error) throw;
            refused = e.what();
        }
        if (!refused.empty()) {
            WARN("skipped on FerretDB: its $unwind drops the documents' other fields (" << refused << ")");
        } else {
            REQUIRE(rows.size() == 2);
            CHECK(rows[0].tags == "a");
            CHECK(rows[1].tags == "b");
            CHECK(rows[1].amount == 10.0);
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("aggregation builder on the server: raw stages, stream", "[aggregate][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto rec = std::make_shared<finds>();
        auto eng = co_await make_engine(rec);
        co_await seed(eng);
        morm::session s{eng};
        // raw() keeps the type, raw<R>() names the new one
        auto paid = document::from_json(R"({"$match": {"status": "paid"}})");
        auto count = document::from_json(R"({"$count": "n"})");
        auto counted = co_await s.aggregate<Order>().raw(paid).match(field(&Order::amount) > 6.0).raw<Counted>(count).all();
        REQUIRE(counted.size() == 1);
        CHECK(counted[0].n == 3);  // o1, o2, o5

        // stream(): batches of 2, every row once, in order
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


