// Compile-fail cases of the typed aggregation builder (orm/aggregate.hpp) and of
// query<T>::select<R>(). Each CTest "compile_fail: aggregate N" compiles this file with
// -fsyntax-only -DCASE=N and passes only if the compiler REJECTS it with the expected
// `morm: ...` reason (tests/CMakeLists.txt lists them). CASE 0 must compile.
#include <morm/orm/query.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cfa {

struct Customer {
    std::string id;
    std::string name;
};
MORM_MODEL(Customer, "customers", (id, "_id"), name);

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

struct Other {
    std::string id;
    double total = 0;
};
MORM_STRUCT(Other, (id, "_id"), total);

struct ByQty {
    std::int32_t id = 0;
    double total = 0;
};
MORM_STRUCT(ByQty, (id, "_id"), total);

struct Brief {
    std::string status;
    double amount = 0;
};
MORM_STRUCT(Brief, status, amount);

struct WithEmail {  // Order has no "email"
    std::string status;
    std::string email;
};
MORM_STRUCT(WithEmail, status, email);

struct AmountAsText {  // Order's amount is a double
    std::string amount;
};
MORM_STRUCT(AmountAsText, amount);

struct Tagged {
    std::string id;
    std::string tags;
};
MORM_STRUCT(Tagged, (id, "_id"), tags);

struct Names {
    std::vector<Customer> who;
    std::string id;
};
MORM_STRUCT(Names, who, (id, "_id"));

}  // namespace cfa

using namespace cfa;
using morm::field;

[[maybe_unused]] void builder(morm::session& s) {
    auto a = s.aggregate<Order>();
#if CASE == 0
    auto g = a.match(field(&Order::status) == "paid")
                 .group<CustomerTotal>(field(&Order::customer), morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                       morm::count(&CustomerTotal::orders),
                                       morm::push(&CustomerTotal::amounts, field(&Order::amount)))
                 .sort(&CustomerTotal::total, morm::order::desc)
                 .match(field(&CustomerTotal::orders) > 1)
                 .limit(10);
    auto p = a.project<Brief>().skip(1);
    auto u = a.unwind<Tagged>(&Order::tags);
    auto l = a.lookup<Names>(&Order::customer, &Names::who);
    auto r = a.raw<Brief>(morm::bson::document{});
    auto q = s.query<Order>().filter(field(&Order::qty) > 1).select<Brief>();
    (void)g, (void)p, (void)u, (void)l, (void)r, (void)q;
#elif CASE == 1  // an accumulator filling a member of another struct than the group's result
    auto g = a.group<CustomerTotal>(field(&Order::customer), morm::sum(&Other::total, field(&Order::amount)),
                                    morm::count(&CustomerTotal::orders),
                                    morm::push(&CustomerTotal::amounts, field(&Order::amount)));
#elif CASE == 2  // sum of a string
    auto acc = morm::sum(&CustomerTotal::total, field(&Order::status));
#elif CASE == 3  // push into a field that is no std::vector
    auto acc = morm::push(&CustomerTotal::total, field(&Order::amount));
#elif CASE == 4  // CustomerTotal::amounts is filled by no accumulator
    auto g = a.group<CustomerTotal>(field(&Order::customer), morm::sum(&CustomerTotal::total, field(&Order::amount)),
                                    morm::count(&CustomerTotal::orders));
#elif CASE == 5  // select<R> of a field the model lacks
    auto q = s.query<Order>().select<WithEmail>();
#elif CASE == 6  // select<R> with a field of another type than the model's
    auto q = s.query<Order>().select<AmountAsText>();
#elif CASE == 7  // project<R> with a field the current type lacks
    auto p = a.project<WithEmail>();
#elif CASE == 8  // a group key whose type does not fit the result's _id (qty is an int)
    auto g = a.group<Other>(field(&Order::qty), morm::sum(&Other::total, field(&Order::amount)));
#elif CASE == 9  // after group<R>() the stages are over R: a filter over Order is refused
    auto g = a.group<ByQty>(field(&Order::qty), morm::sum(&ByQty::total, field(&Order::amount)))
                 .match(field(&Order::status) == "paid");
#elif CASE == 10  // count into a floating-point field
    auto acc = morm::count(&CustomerTotal::total);
#elif CASE == 11  // the sum of doubles into an integer field
    auto acc = morm::sum(&CustomerTotal::orders, field(&Order::amount));
#elif CASE == 12  // an accumulator whose input is a field of another model
    auto g = a.group<Other>(field(&Order::customer), morm::sum(&Other::total, field(&CustomerTotal::total)));
#endif
}

int main() {}
