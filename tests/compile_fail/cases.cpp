// Compile-fail cases of the typed query API. Each CTest "compile_fail: N" compiles this file
// with -fsyntax-only -DCASE=N and passes only if the compiler REJECTS it with the expected
// reason in its message (tests/CMakeLists.txt lists them). CASE 0 must compile: it proves
// that the include paths and flags work, so the others fail for their own reason.
// The requires-expression twins of these cases are in tests/unit/typed_query_tests.cpp.
#include "compile_fail/models.hpp"

#if CASE == 0 || CASE == 1 || CASE == 2 || CASE == 3 || CASE == 4 || CASE == 20
#include <morm/orm/query.hpp>
#define MORM_CF_QUERY 1
#endif

#include <chrono>
#include <string>
#include <vector>

using namespace tq;
using morm::field;

#ifdef MORM_CF_QUERY
void with_query(morm::query<User>& q) {
#if CASE == 0
    q.filter(field(&User::age) > 1 && field(&User::address, &Address::city) == "Paris")
        .filter(morm::raw_filter(R"({"x": 1})"))
        .sort(&User::name)
        .sort(field(&User::address, &Address::city), morm::order::desc)
        .only(&User::name, field(&User::address, &Address::city));
    auto n = q.update(morm::set(field(&User::name), "x"), morm::push(field(&User::tags), morm::each("a"), morm::slice(-5)));
    (void)n;
#elif CASE == 1  // a filter over Order on a query of User
    q.filter(field(&Order::total) > 5.0);
#elif CASE == 2  // sort by a member of another model
    q.sort(&Order::total);
#elif CASE == 3  // only() with a member of another model
    q.only(&User::name, &Order::total);
#elif CASE == 4  // an update operator on a field of another model
    auto n = q.update(morm::set(field(&Order::total), 1.0));
#elif CASE == 20  // sort by a nested path of another model
    q.sort(field(&Order::lines, &Line::sku));
#endif
}
#endif

void without_query() {
#if CASE == 0
    auto ok = field(&User::labels).elem_match(field(&Label::name) == "x") || !(field(&User::score) < 2.5);
    auto ops = {morm::inc(field(&User::age), 1), morm::mul(field(&User::score), 1.5),
                morm::min(field(&User::name), "a"), morm::current_date(field(&User::seen)),
                morm::rename(field(&User::name), field(&User::legacy_name)),
                morm::pull(field(&User::labels), field(&Label::weight) < 3)};
    (void)ok;
    (void)ops;
#elif CASE == 5  // && across models
    auto f = field(&User::age) > 1 && field(&Order::total) > 5.0;
#elif CASE == 6  // a double field compared with text
    auto f = field(&Order::total) == "x";
#elif CASE == 7  // a string field compared with an int
    auto f = field(&User::name) == 5;
#elif CASE == 8  // inc on a string
    auto u = morm::inc(field(&User::name), 1);
#elif CASE == 9  // push on a non-array
    auto u = morm::push(field(&User::name), "x");
#elif CASE == 10  // current_date on a string
    auto u = morm::current_date(field(&User::name));
#elif CASE == 11  // rename across models
    auto u = morm::rename(field(&User::name), field(&Order::name));
#elif CASE == 12  // elem_match with a filter over another element type
    auto f = field(&User::labels).elem_match(field(&Line::sku) == "x");
#elif CASE == 13  // mul on bool
    auto u = morm::mul(field(&User::active), true);
#elif CASE == 14  // || across models
    auto f = field(&Order::name) == "a" || field(&User::name) == "a";
#elif CASE == 15  // set with a value of the wrong type
    auto u = morm::set(field(&User::age), "x");
#elif CASE == 16  // push of an element of the wrong type
    auto u = morm::push(field(&User::tags), 5);
#elif CASE == 17  // a raw filter does not become a typed one implicitly
    morm::filter_of<User> f = morm::raw_filter("{}");
#elif CASE == 18  // pull with a condition over another element type
    auto u = morm::pull(field(&User::labels), field(&Line::price) > 1.0);
#elif CASE == 19  // min on bool
    auto u = morm::min(field(&User::active), false);
#elif CASE == 21  // rename onto a field of another type
    auto u = morm::rename(field(&User::name), field(&User::age));
#elif CASE == 22  // push each(...) with a value of the wrong type
    auto u = morm::push(field(&User::scores), morm::each(1, "two"));
#endif
}

int main() {}
