// The typed aggregation builder (orm/aggregate.hpp) and query<T>::select<R>() without a
// server: the exact BSON of every stage, what the type rules accept and refuse (the refusals
// that are compile errors are in tests/compile_fail/aggregate_cases.cpp), and the run-time
// checks of what the types cannot tell (two accumulators on one member, unwind's name).
#include <morm/orm/query.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace aggu {

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
    std::vector<std::string> notes;
};
MORM_MODEL(Order, "orders", (id, "_id"), customer, status, amount, qty, tags, notes);

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
    std::string first_status;
    std::string last_status;
    std::int64_t items = 0;
};
MORM_STRUCT(Stats, (id, "_id"), mean, low, high, first_status, last_status, items);

struct Brief {
    std::string status;
    double amount = 0;
};
MORM_STRUCT(Brief, status, amount);

struct Tagged {
    std::string id;
    std::string tags;  // one tag per document after $unwind
    double amount = 0;
};
MORM_STRUCT(Tagged, (id, "_id"), tags, amount);

struct WrongTagged {
    std::string id;
    std::string notes;  // the element type, but of another array than the one unwound
};
MORM_STRUCT(WrongTagged, (id, "_id"), notes);

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
    std::string customer;  // Order stores a ref<Customer>: its id, a string
};
MORM_STRUCT(ByCustomer, customer);

struct Named {
    std::string name;
};
MORM_STRUCT(Named, name);

}  // namespace aggu

using namespace aggu;
using morm::field;
using morm::bson::document;

namespace {

std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view json) { return canon(document::from_json(json)); }
std::string stages(const std::vector<document>& p) {
    std::string s = "[";
    for (const auto& d : p) s += (s.size() > 1 ? "," : "") + canon(d);
    return s + "]";
}
std::string stages_json(std::string_view json) {
    // `[a, b]` as a document {"p": [...]}, back into the same canonical form.
    auto d = document::from_json(std::string(R"({"p": )") + std::string(json) + "}");
    std::vector<document> v;
    bson_iter_t it, arr;
    REQUIRE(bson_iter_init_find(&it, d.get(), "p"));
    REQUIRE(bson_iter_recurse(&it, &arr));
    while (bson_iter_next(&arr)) {
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(&arr, &len, &data);
        v.push_back(document::from_bytes(data, len));
    }
    return stages(v);
}

template <class A>
concept can_sort_by_total = requires(A a) { a.sort(&CustomerTotal::total); };
template <class A>
concept can_match_status = requires(A a) { a.match(field(&Order::status) == "x"); };

}  // namespace

TEST_CASE("aggregation builder: match, group with every accumulator, sort, skip, limit", "[aggregate]") {
    morm::aggregation<Order> a;
    auto g = a.match(field(&Order::status) == "paid")
                 .group<CustomerTotal>(field(&Order::customer), morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                       morm::count(&CustomerTotal::orders),
                                       morm::push(&CustomerTotal::amounts, field(&Order::amount)))
                 .sort(&CustomerTotal::total, morm::order::desc)
                 .sort(&CustomerTotal::id)
                 .skip(1)
                 .limit(10);
    static_assert(std::is_same_v<decltype(g)::output_type, CustomerTotal>);
    CHECK(stages(g.pipeline()) == stages_json(R"([
        {"$match": {"status": {"$eq": "paid"}}},
        {"$group": {"_id": "$customer", "total": {"$sum": "$amount"}, "orders": {"$sum": {"$numberInt": "1"}},
                    "amounts": {"$push": "$amount"}}},
        {"$sort": {"total": {"$numberInt": "-1"}, "_id": {"$numberInt": "1"}}},
        {"$skip": {"$numberLong": "1"}},
        {"$limit": {"$numberLong": "10"}}])"));
    // the builder `a` was extended in place by match() (same type); group() copied it
    CHECK(a.pipeline().size() == 1);

    auto s = morm::aggregation<Order>().group<Stats>(
        &Order::status, morm::avg(&Stats::mean, field(&Order::amount)), morm::min(&Stats::low, field(&Order::amount)),
        morm::max(&Stats::high, field(&Order::amount)), morm::first(&Stats::first_status, field(&Order::status)),
        morm::last(&Stats::last_status, field(&Order::status)), morm::sum(&Stats::items, field(&Order::qty)));
    CHECK(stages(s.pipeline()) == stages_json(R"([{"$group": {"_id": "$status", "mean": {"$avg": "$amount"},
        "low": {"$min": "$amount"}, "high": {"$max": "$amount"}, "first_status": {"$first": "$status"},
        "last_status": {"$last": "$status"}, "items": {"$sum": "$qty"}}}])"));

    // a sort() after another stage starts a new $sort
    auto t = morm::aggregation<Order>().sort(&Order::amount).limit(2).sort(&Order::qty, morm::order::desc);
    CHECK(stages(t.pipeline()) == stages_json(R"([{"$sort": {"amount": {"$numberInt": "1"}}},
        {"$limit": {"$numberLong": "2"}}, {"$sort": {"qty": {"$numberInt": "-1"}}}])"));

    // stages take expressions over the current type only
    STATIC_REQUIRE(can_match_status<morm::aggregation<Order>>);
    STATIC_REQUIRE_FALSE(can_match_status<morm::aggregation<Order, CustomerTotal>>);
    STATIC_REQUIRE(can_sort_by_total<morm::aggregation<Order, CustomerTotal>>);
    STATIC_REQUIRE_FALSE(can_sort_by_total<morm::aggregation<Order>>);
}

TEST_CASE("aggregation builder: project, unwind, lookup, raw", "[aggregate]") {
    auto p = morm::aggregation<Order>().project<Brief>();
    CHECK(stages(p.pipeline()) ==
          stages_json(R"([{"$project": {"status": {"$numberInt": "1"}, "amount": {"$numberInt": "1"}, "_id": {"$numberInt": "0"}}}])"));

    auto u = morm::aggregation<Order>().unwind<Tagged>(&Order::tags);
    static_assert(std::is_same_v<decltype(u)::output_type, Tagged>);
    CHECK(stages(u.pipeline()) == stages_json(R"([{"$unwind": "$tags"}])"));
    // WrongTagged fits by types (notes is a vector of strings too) but holds the element of
    // `notes` while `tags` is unwound: refused when the stage is built.
    CHECK_THROWS_AS(morm::aggregation<Order>().unwind<WrongTagged>(&Order::tags), morm::error);
    CHECK_NOTHROW(morm::aggregation<Order>().unwind<WrongTagged>(&Order::notes));

    auto l = morm::aggregation<Order>().lookup<WithCustomer>(&Order::customer, &WithCustomer::who);
    CHECK(stages(l.pipeline()) == stages_json(R"([{"$lookup": {"from": "customers", "localField": "customer",
        "foreignField": "_id", "as": "who"}}])"));

    auto r = morm::aggregation<Order>()
                 .raw(document::from_json(R"({"$addFields": {"qty": 1}})"))
                 .raw<Named>(document::from_json(R"({"$project": {"name": "$status"}})"))
                 .match(field(&Named::name) == "x");
    CHECK(stages(r.pipeline()) == stages_json(R"([{"$addFields": {"qty": {"$numberInt": "1"}}},
        {"$project": {"name": "$status"}}, {"$match": {"name": {"$eq": "x"}}}])"));
}

TEST_CASE("aggregation builder: two accumulators on one member are refused", "[aggregate]") {
    // Both target a double member of Stats: the types say every field is filled only if
    // they name different ones, which is known when group() runs.
    try {
        (void)morm::aggregation<Order>().group<Stats>(
            &Order::status, morm::avg(&Stats::mean, field(&Order::amount)), morm::min(&Stats::mean, field(&Order::amount)),
            morm::max(&Stats::high, field(&Order::amount)), morm::first(&Stats::first_status, field(&Order::status)),
            morm::last(&Stats::last_status, field(&Order::status)), morm::sum(&Stats::items, field(&Order::qty)));
        FAIL("group() must refuse two accumulators on Stats::mean");
    } catch (const morm::error& e) {
        CHECK(e.code() == morm::errc::invalid_argument);
        CHECK_THAT(e.what(), Catch::Contains("'mean'"));
    }
}

TEST_CASE("aggregation builder: running without a session is an error, not a crash", "[aggregate]") {
    morm::aggregation<Order> a;
    boost::asio::io_context ioc;
    morm::error_code got;
    boost::asio::co_spawn(ioc, [&]() -> boost::asio::awaitable<void> {
        try {
            co_await a.all();
        } catch (const morm::error& e) {
            got = e.code();
        }
    }, boost::asio::detached);
    ioc.run();
    CHECK(got == morm::errc::invalid_argument);
}

TEST_CASE("select<R>: projection of R's fields", "[aggregate]") {
    CHECK(canon(morm::detail::fit::projection_of<Brief>()) ==
          canon_json(R"({"status": 1, "amount": 1, "_id": 0})"));
    CHECK(canon(morm::detail::fit::projection_of<CustomerName>()) == canon_json(R"({"name": 1, "_id": 0})"));
    CHECK(canon(morm::detail::fit::projection_of<Tagged>()) == canon_json(R"({"_id": 1, "tags": 1, "amount": 1})"));
    STATIC_REQUIRE(morm::detail::fit::fields_exist<Brief, Order>);
    STATIC_REQUIRE(morm::detail::fit::fields_fit<Brief, Order>);
    STATIC_REQUIRE_FALSE(morm::detail::fit::fields_exist<CustomerName, Order>);
    STATIC_REQUIRE(morm::detail::fit::fields_exist<Tagged, Order>);
    STATIC_REQUIRE_FALSE(morm::detail::fit::fields_fit<Tagged, Order>);  // tags: string vs vector
    STATIC_REQUIRE(morm::detail::fit::fields_fit<ByCustomer, Order>);     // a ref is taken as its id
}
