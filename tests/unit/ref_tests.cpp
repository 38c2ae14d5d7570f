// morm::ref<T> without a server: its codec mapping (stored as the id), the typed filter on a
// ref field, the reference-path concepts and the pipeline that query<T>::join() sends.
#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ref_ut {

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

/// Stands in for morm::session in join_pipeline (the attach function is never called).
struct no_session {
    std::shared_ptr<void> track_loaded(const morm::detail::model_ops&, morm::bson::document_view, morm::error_code&,
                                       morm::diagnostics&) {
        return nullptr;
    }
};

}  // namespace ref_ut

using namespace ref_ut;
using morm::bson::document;

namespace {
std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view j) { return canon(document::from_json(j)); }
}  // namespace

// Paths: each member is a ref member of the previous target; the first one of the model.
static_assert(morm::ref_path_of<Order, decltype(&Order::customer)>);
static_assert(morm::ref_path_of<Order, decltype(&Order::watchers)>);
static_assert(morm::ref_path_of<Order, decltype(&Order::referrer)>);
static_assert(morm::ref_path_of<Order, decltype(&Order::customer), decltype(&Customer::company)>);
static_assert(!morm::ref_path_of<Order, decltype(&Order::total)>);
static_assert(!morm::ref_path_of<Order, decltype(&Customer::company)>);
static_assert(!morm::ref_path_of<Order, decltype(&Order::customer), decltype(&Order::customer)>);
static_assert(morm::ref_to<decltype(&Order::customer), Customer>);
static_assert(morm::ref_to<decltype(&Order::watchers), Customer>);
static_assert(!morm::ref_to<decltype(&Order::customer), Company>);

TEST_CASE("references: a ref is stored as the target's id and decodes unloaded", "[relations][unit]") {
    auto cust = std::make_shared<Customer>(Customer{"c1", "Ann", {}});
    Order o;
    o.id = "o1";
    o.total = 5;
    o.customer = cust;  // loaded
    o.watchers = {std::string("c2"), std::string("c3")};
    o.referrer = morm::ref<Customer>(std::string("c4"));
    CHECK(o.customer.loaded());
    CHECK(o.customer->name == "Ann");
    auto d = morm::codec::encode(o);
    CHECK(canon(d) == canon_json(R"({"_id": "o1", "total": {"$numberInt": "5"}, "customer": "c1",
                                     "watchers": ["c2", "c3"], "referrer": "c4"})"));
    Order back;
    back.customer = cust;  // decoding a new id forgets the loaded target
    REQUIRE_FALSE(morm::codec::decode(d.view(), back, nullptr));
    CHECK(back.customer.id() == "c1");
    CHECK_FALSE(back.customer.loaded());
    CHECK(back.customer.get() == nullptr);
    REQUIRE(back.watchers.size() == 2);
    CHECK(back.watchers[1] == std::string("c3"));
    REQUIRE(back.referrer);
    CHECK(back.referrer->id() == "c4");
    // Equality is by id: loading does not change it.
    CHECK(back.customer == o.customer);
}

TEST_CASE("references: a typed filter on a ref field compares the stored id", "[relations][unit]") {
    const std::string cid = "c7";
    auto f = morm::field(&Order::customer) == cid;
    CHECK(canon(f.document()) == canon_json(R"({"customer": {"$eq": "c7"}})"));
    const std::vector<std::string> ids{"a", "b"};
    auto g = morm::field(&Order::customer).in(ids);
    CHECK(canon(g.document()) == canon_json(R"({"customer": {"$in": ["a", "b"]}})"));
}

TEST_CASE("references: the $in filter of load() carries the ids as the session keys them", "[relations][unit]") {
    std::vector<std::string> keys;
    for (auto id : {"c1", "c2"}) {
        std::string k;
        REQUIRE_FALSE(morm::detail::value_key(std::string(id), k, nullptr));
        keys.push_back(k);
    }
    document f;
    REQUIRE(morm::detail::in_filter(f, "_id", keys));
    CHECK(canon(f) == canon_json(R"({"_id": {"$in": ["c1", "c2"]}})"));
}

TEST_CASE("references: join() pipeline is $match $sort $skip $limit then $lookup and $unwind", "[relations][unit]") {
    std::vector<morm::detail::join_spec<no_session, Order>> joins;
    joins.push_back(morm::detail::make_join<no_session>(&Order::customer, 0));
    joins.push_back(morm::detail::make_join<no_session>(&Order::watchers, 1));
    morm::find_options o;
    o.skip = 10;
    o.limit = 5;
    o.sort = document::from_json(R"({"total": -1})");
    const std::int32_t min_total = 3;
    auto f = morm::field(&Order::total) >= min_total;
    auto p = morm::detail::join_pipeline(f.document(), o, joins);
    REQUIRE(p.size() == 7);
    CHECK(canon(p[0]) == canon_json(R"({"$match": {"total": {"$gte": {"$numberInt": "3"}}}})"));
    CHECK(canon(p[1]) == canon_json(R"({"$sort": {"total": {"$numberInt": "-1"}}})"));
    CHECK(canon(p[2]) == canon_json(R"({"$skip": {"$numberLong": "10"}})"));
    CHECK(canon(p[3]) == canon_json(R"({"$limit": {"$numberLong": "5"}})"));
    CHECK(canon(p[4]) == canon_json(R"({"$lookup": {"from": "customers", "localField": "customer",
                                        "foreignField": "_id", "as": "__morm_join0"}})"));
    CHECK(canon(p[5]) == canon_json(R"({"$unwind": {"path": "$__morm_join0", "preserveNullAndEmptyArrays": true}})"));
    // A vector of refs: the joined documents stay an array (no $unwind).
    CHECK(canon(p[6]) == canon_json(R"({"$lookup": {"from": "customers", "localField": "watchers",
                                        "foreignField": "_id", "as": "__morm_join1"}})"));
}
