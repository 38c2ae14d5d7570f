// Queries typed by their model (expr.hpp, query.hpp), without a server:
//  - what must not compile (a filter, sort key, projection key or update operator over
//    another model; a value of the wrong type; an operator on the wrong kind of field),
//    asserted with requires-expressions, next to the good forms that must compile. The same
//    rules are checked once more, through real compiler errors and their messages, by the
//    compile_fail CTest cases (tests/compile_fail/cases.cpp);
//  - the exact BSON of every update operator and of combined filters (chains flatten,
//    clauses are shared, not copied; the document is built once).
#include "compile_fail/models.hpp"

#include <morm/orm/query.hpp>

#include <boost/asio/deferred.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace tq;
using morm::field;
using morm::bson::document;

namespace {

std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view json) { return canon(document::from_json(json)); }

/// The update document query::update would send for `ops`.
template <class... Ops>
std::string update_json(const Ops&... ops) {
    document u;
    REQUIRE(morm::detail::build_update(u, {static_cast<const morm::update_op*>(&ops)...}));
    return canon(u);
}

// ------------------------------------------------------------ what compiles, what does not

using user_q = morm::query<User>;
using user_filter = morm::filter_of<User>;
using order_filter = morm::filter_of<Order>;
using label_filter = morm::filter_of<Label>;
using line_filter = morm::filter_of<Line>;

template <class Q, class F>
concept filter_ok = requires(Q& q, F f) { q.filter(f); };
template <class Q, class K>
concept sort_ok = requires(Q& q, K k) { q.sort(k); };
template <class Q, class... K>
concept only_ok = requires(Q& q, K... k) { q.only(k...); };
template <class Q, class... Ops>
concept update_ok = requires(Q& q, Ops... ops) { q.update(ops...); };
template <class A, class B>
concept and_ok = requires(A a, B b) { a && b; };
template <class A, class B>
concept or_ok = requires(A a, B b) { a || b; };
template <class F, class V>
concept eq_ok = requires(F f, V v) { f == v; };
template <class F, class V>
concept set_ok = requires(F f, V v) { morm::set(f, v); };
template <class F, class V>
concept inc_ok = requires(F f, V v) { morm::inc(f, v); };
template <class F, class V>
concept mul_ok = requires(F f, V v) { morm::mul(f, v); };
template <class F, class V>
concept min_ok = requires(F f, V v) { morm::min(f, v); };
template <class F, class V>
concept push_ok = requires(F f, V v) { morm::push(f, v); };
template <class F, class V>
concept add_to_set_ok = requires(F f, V v) { morm::add_to_set(f, v); };
template <class F, class V>
concept pull_ok = requires(F f, V v) { morm::pull(f, v); };
template <class F, class G>
concept rename_ok = requires(F f, G g) { morm::rename(f, g); };
template <class F>
concept current_date_ok = requires(F f) { morm::current_date(f); };
template <class F, class E>
concept elem_match_ok = requires(F f, E e) { f.elem_match(e); };

using name_f = decltype(field(&User::name));
using age_f = decltype(field(&User::age));
using score_f = decltype(field(&User::score));
using active_f = decltype(field(&User::active));
using nick_f = decltype(field(&User::nick));
using legacy_f = decltype(field(&User::legacy_name));
using tags_f = decltype(field(&User::tags));
using scores_f = decltype(field(&User::scores));
using labels_f = decltype(field(&User::labels));
using seen_f = decltype(field(&User::seen));
using deleted_f = decltype(field(&User::deleted_at));
using city_f = decltype(field(&User::address, &Address::city));
using total_f = decltype(field(&Order::total));
using order_name_f = decltype(field(&Order::name));
using lines_f = decltype(field(&Order::lines));
using user_op = morm::update_op_of<User>;
using order_op = morm::update_op_of<Order>;
using each_str = decltype(morm::each(std::declval<const char (&)[2]>(), std::declval<std::string>()));
using each_int = decltype(morm::each(1, 2));
using each_vec = decltype(morm::each(std::declval<std::vector<std::string>&>()));

// Filters carry their model, nested paths included.
static_assert(std::is_same_v<decltype(field(&User::age) > 1), user_filter>);
static_assert(std::is_same_v<city_f::root_type, User>, "a nested path is a field of the outer model");
static_assert(std::is_same_v<decltype(field(&User::labels, &Label::name) == "x"), user_filter>);
static_assert(std::is_same_v<decltype(field(&Label::name) == "x"), label_filter>);

// query<T>::filter: only filters over T, and the explicit raw forms.
static_assert(filter_ok<user_q, user_filter>);
static_assert(filter_ok<user_q, morm::filter>, "raw_filter() is the explicit escape hatch");
static_assert(filter_ok<user_q, document>, "a raw BSON document too");
static_assert(!filter_ok<user_q, order_filter>, "a filter over Order on a query of User");
static_assert(!filter_ok<user_q, label_filter>, "a filter over an element structure is not over the model");
static_assert(!std::is_convertible_v<morm::filter, user_filter>, "raw -> typed only explicitly");
static_assert(std::is_constructible_v<user_filter, morm::filter>, "filter_of<User>(raw) vouches for a raw filter");
static_assert(std::is_convertible_v<user_filter, morm::filter>, "typed -> untyped (index partial filters)");
static_assert(!std::is_convertible_v<order_filter, user_filter>);
static_assert(!std::is_constructible_v<user_filter, order_filter>);

// && || ! stay within one model.
static_assert(and_ok<user_filter, user_filter> && or_ok<user_filter, user_filter>);
static_assert(!and_ok<user_filter, order_filter>, "&& across models");
static_assert(!or_ok<order_filter, user_filter>, "|| across models");
static_assert(and_ok<user_filter, morm::filter> && and_ok<morm::filter, user_filter>, "raw joins either side");
static_assert(std::is_same_v<decltype(std::declval<morm::filter>() && std::declval<user_filter>()), user_filter>);
static_assert(std::is_same_v<decltype(!std::declval<user_filter>()), user_filter>);

// sort / only: members or paths of T.
static_assert(sort_ok<user_q, std::string User::*> && sort_ok<user_q, city_f>);
static_assert(!sort_ok<user_q, double Order::*>, "sort by a member of another model");
static_assert(!sort_ok<user_q, total_f>, "sort by a field_ref of another model");
static_assert(!sort_ok<user_q, std::string Address::*>, "a member of a nested structure is not a key of the model");
static_assert(only_ok<user_q, std::string User::*, city_f, std::int32_t User::*>);
static_assert(!only_ok<user_q, std::string User::*, double Order::*>, "only() with a member of another model");
static_assert(!only_ok<user_q, total_f>);

// update: operators on fields of T (or the raw update_op), then optionally a token.
static_assert(update_ok<user_q, user_op> && update_ok<user_q, user_op, user_op>);
static_assert(update_ok<user_q, morm::update_op>, "the untyped update_op is the raw escape hatch");
static_assert(update_ok<user_q, user_op, decltype(boost::asio::deferred)>, "token form");
static_assert(!update_ok<user_q, order_op>, "an update operator on a field of Order");
static_assert(!update_ok<user_q, user_op, order_op>, "one stray operator is enough");
static_assert(!update_ok<user_q, order_op, decltype(boost::asio::deferred)>, "token form too");
static_assert(!update_ok<user_q, user_filter>, "a filter is not an update");

// Values checked against the field's C++ type.
static_assert(eq_ok<age_f, int> && !eq_ok<age_f, const char*> && !eq_ok<age_f, double>);
static_assert(eq_ok<name_f, const char*> && !eq_ok<name_f, int>, "string vs int");
static_assert(eq_ok<total_f, int> && eq_ok<total_f, double>);
static_assert(set_ok<age_f, int> && !set_ok<age_f, const char*> && !set_ok<name_f, int>);
static_assert(set_ok<nick_f, std::nullopt_t> && !set_ok<name_f, std::nullopt_t>, "null only into optionals");

// Operator / field kind.
static_assert(inc_ok<age_f, int> && inc_ok<score_f, double> && !inc_ok<age_f, double>, "no 1.5 into an int");
static_assert(!inc_ok<name_f, int>, "inc on a string");
static_assert(!inc_ok<active_f, bool> && !mul_ok<active_f, bool>, "mul/inc on bool");
static_assert(mul_ok<score_f, double> && !mul_ok<name_f, int>);
static_assert(min_ok<age_f, int> && min_ok<name_f, const char*> && min_ok<seen_f, std::chrono::system_clock::time_point>);
static_assert(!min_ok<active_f, bool> && !min_ok<tags_f, std::vector<std::string>>, "min on an unordered field");
static_assert(push_ok<tags_f, const char*> && push_ok<scores_f, int> && push_ok<labels_f, Label>);
static_assert(!push_ok<name_f, const char*>, "push on a non-array");
static_assert(!push_ok<tags_f, int> && !push_ok<scores_f, const char*>, "push checks the element type");
static_assert(push_ok<tags_f, each_str> && push_ok<tags_f, each_vec> && !push_ok<tags_f, each_int>);
static_assert(push_ok<scores_f, each_int> && !push_ok<scores_f, each_str>);
static_assert(add_to_set_ok<tags_f, const char*> && add_to_set_ok<tags_f, each_vec>);
static_assert(!add_to_set_ok<age_f, int>, "add_to_set on a non-array");
static_assert(pull_ok<tags_f, const char*> && pull_ok<labels_f, label_filter>);
static_assert(!pull_ok<labels_f, line_filter>, "pull with a filter over another element type");
static_assert(!pull_ok<tags_f, label_filter>, "pull with a filter on an array of strings");
static_assert(!pull_ok<name_f, const char*>, "pull on a non-array");
static_assert(rename_ok<name_f, legacy_f> && rename_ok<name_f, const char*> && rename_ok<nick_f, legacy_f>);
static_assert(!rename_ok<name_f, order_name_f>, "rename across models");
static_assert(!rename_ok<name_f, age_f>, "rename onto a field of another type");
static_assert(current_date_ok<seen_f> && current_date_ok<deleted_f>);
static_assert(!current_date_ok<name_f> && !current_date_ok<age_f>, "current_date on a non-date");
static_assert(elem_match_ok<labels_f, label_filter> && elem_match_ok<labels_f, morm::filter>);
static_assert(!elem_match_ok<labels_f, line_filter>, "elem_match with the wrong element type");
static_assert(!elem_match_ok<labels_f, user_filter>, "elem_match with a filter over the model, not the element");
static_assert(!elem_match_ok<tags_f, label_filter>, "elem_match needs an array of structures");
static_assert(!elem_match_ok<lines_f, label_filter>);

// Index helpers still take field_refs (model_ops.hpp).
static_assert(std::is_same_v<decltype(city_f(std::string("address.city")).path()), const std::string&>);

}  // namespace

// ------------------------------------------------------------------ update operators' BSON

TEST_CASE("typed update: set, unset, inc, mul, min, max, each group by operator", "[typed_query]") {
    CHECK(update_json(morm::set(field(&User::name), "x"), morm::set(field(&User::address, &Address::city), "P"),
                      morm::inc(field(&User::age), 2), morm::unset(field(&User::nick))) ==
          canon_json(R"({"$set": {"name": "x", "address.city": "P"}, "$inc": {"age": {"$numberInt": "2"}},
                         "$unset": {"nick": ""}})"));
    CHECK(update_json(morm::set(field(&User::nick), std::nullopt)) == canon_json(R"({"$set": {"nick": null}})"));
    // The operand takes the field's type: an int literal into a double is a double.
    CHECK(update_json(morm::mul(field(&User::score), 2)) ==
          canon_json(R"({"$mul": {"score": {"$numberDouble": "2.0"}}})"));
    CHECK(update_json(morm::min(field(&User::age), 18), morm::max(field(&User::score), 9.5)) ==
          canon_json(R"({"$min": {"age": {"$numberInt": "18"}}, "$max": {"score": {"$numberDouble": "9.5"}}})"));
    const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
    CHECK(update_json(morm::max(field(&User::seen), t)) ==
          canon_json(R"({"$max": {"seen": {"$date": {"$numberLong": "1700000000123"}}}})"));
    CHECK(update_json(morm::min(field(&User::name), std::string("a"))) == canon_json(R"({"$min": {"name": "a"}})"));
}

TEST_CASE("typed update: push with each and slice, add_to_set, pull", "[typed_query]") {
    CHECK(update_json(morm::push(field(&User::tags), "a")) == canon_json(R"({"$push": {"tags": "a"}})"));
    std::vector<std::string> more{"c", "d"};
    CHECK(update_json(morm::push(field(&User::tags), morm::each("a", std::string("b"), more), morm::slice(-3))) ==
          canon_json(R"({"$push": {"tags": {"$each": ["a", "b", "c", "d"], "$slice": {"$numberInt": "-3"}}}})"));
    CHECK(update_json(morm::push(field(&User::scores), morm::each(1, 2))) ==
          canon_json(R"({"$push": {"scores": {"$each": [{"$numberInt": "1"}, {"$numberInt": "2"}]}}})"));
    CHECK(update_json(morm::push(field(&User::labels), Label{"n", 3})) ==
          canon_json(R"({"$push": {"labels": {"name": "n", "weight": {"$numberInt": "3"}}}})"));
    CHECK(update_json(morm::add_to_set(field(&User::tags), "a")) == canon_json(R"({"$addToSet": {"tags": "a"}})"));
    CHECK(update_json(morm::add_to_set(field(&User::tags), morm::each(more))) ==
          canon_json(R"({"$addToSet": {"tags": {"$each": ["c", "d"]}}})"));
    CHECK(update_json(morm::add_to_set(field(&User::scores), morm::each())) ==
          canon_json(R"({"$addToSet": {"scores": {"$each": []}}})"));
    CHECK(update_json(morm::pull(field(&User::tags), "a")) == canon_json(R"({"$pull": {"tags": "a"}})"));
    // A condition on the elements: paths relative to the element, as MongoDB applies it.
    CHECK(update_json(morm::pull(field(&User::labels), field(&Label::weight) < 3 || field(&Label::name) == "x")) ==
          canon_json(R"({"$pull": {"labels": {"$or": [{"weight": {"$lt": {"$numberInt": "3"}}},
                                                      {"name": {"$eq": "x"}}]}}})"));
    // Two operators on one path stay two entries of one operator document (the server then
    // refuses the conflict, as it would for any driver).
    CHECK(update_json(morm::push(field(&User::tags), "a"), morm::pull(field(&User::scores), 1)) ==
          canon_json(R"({"$push": {"tags": "a"}, "$pull": {"scores": {"$numberInt": "1"}}})"));
}

TEST_CASE("typed update: rename, current_date, errors", "[typed_query]") {
    CHECK(update_json(morm::rename(field(&User::name), field(&User::legacy_name))) ==
          canon_json(R"({"$rename": {"name": "legacy_name"}})"));
    CHECK(update_json(morm::rename(field(&User::nick), "old_nick")) == canon_json(R"({"$rename": {"nick": "old_nick"}})"));
    CHECK(update_json(morm::current_date(field(&User::seen)), morm::current_date(field(&User::deleted_at))) ==
          canon_json(R"({"$currentDate": {"seen": true, "deleted_at": true}})"));
    CHECK_THROWS_AS(morm::rename(field(&User::nick), ""), morm::error);
    CHECK_THROWS_AS(morm::rename(field(&User::nick), std::string("a\0b", 3)), morm::error);
    CHECK_THROWS_AS(morm::push(field(&User::tags), morm::each("ok", std::string("bad\xff"))), morm::error);

    // Typed operators are update_ops: op/path/value as before; copies and moves keep the value.
    auto s = morm::set(field(&User::age), 5);
    static_assert(std::is_base_of_v<morm::update_op, decltype(s)>);
    CHECK(s.op() == "$set");
    CHECK(s.path() == "age");
    auto moved = std::move(s);
    auto copy = moved;
    CHECK(copy.value().value_type == BSON_TYPE_INT32);
    CHECK(copy.value().value.v_int32 == 5);
    auto p = morm::push(field(&User::tags), morm::each("a"));
    morm::update_op raw = p;
    raw = morm::update_op(p);
    REQUIRE(raw.value().value_type == BSON_TYPE_DOCUMENT);
    CHECK(update_json(raw) == canon_json(R"({"$push": {"tags": {"$each": ["a"]}}})"));
}

// ------------------------------------------------------------------ filters: trees, once

TEST_CASE("typed filter: && || chains flatten, mixed ones nest, ! wraps", "[typed_query]") {
    auto a = field(&User::name) == "A";
    auto b = field(&User::age) > 1;
    auto c = field(&User::active) == true;
    auto d = field(&User::score) < 2.5;
    const std::string A = R"({"name": {"$eq": "A"}})", B = R"({"age": {"$gt": {"$numberInt": "1"}}})",
                      C = R"({"active": {"$eq": true}})", D = R"({"score": {"$lt": {"$numberDouble": "2.5"}}})";
    CHECK(canon((a && b && c && d).document()) == canon_json("{\"$and\": [" + A + "," + B + "," + C + "," + D + "]}"));
    CHECK(canon((a || (b || c) || d).document()) == canon_json("{\"$or\": [" + A + "," + B + "," + C + "," + D + "]}"));
    CHECK(canon(((a && b) || (c && d)).document()) ==
          canon_json("{\"$or\": [{\"$and\": [" + A + "," + B + "]}, {\"$and\": [" + C + "," + D + "]}]}"));
    CHECK(canon((a && (b || c) && d).document()) ==
          canon_json("{\"$and\": [" + A + ", {\"$or\": [" + B + "," + C + "]}, " + D + "]}"));
    CHECK(canon((!(a && b)).document()) == canon_json("{\"$nor\": [{\"$and\": [" + A + "," + B + "]}]}"));
    CHECK(canon((!!a).document()) == canon_json("{\"$nor\": [{\"$nor\": [" + A + "]}]}"));
    CHECK(canon((!a && b).document()) == canon_json("{\"$and\": [{\"$nor\": [" + A + "]}, " + B + "]}"));
    // A raw clause that is itself an $and chain is spliced into an enclosing $and, as before.
    auto raw = morm::raw_filter(R"({"$and": [{"x": 1}, {"y": 2}]})");
    CHECK(canon((a && raw).document()) ==
          canon_json("{\"$and\": [" + A + R"(, {"x": {"$numberInt": "1"}}, {"y": {"$numberInt": "2"}}]})"));
    CHECK(canon((a || raw).document()) ==
          canon_json("{\"$or\": [" + A + R"(, {"$and": [{"x": {"$numberInt": "1"}}, {"y": {"$numberInt": "2"}}]}]})"));
    // The empty filter is the identity of && and ||; its negation matches nothing.
    morm::filter none;
    user_filter none_typed;
    CHECK(canon((none && a).document()) == canon(a.document()));
    CHECK(canon((a || none_typed).document()) == canon(a.document()));
    CHECK((none_typed && none).empty());
    CHECK(canon((!none_typed).document()) == canon_json(R"({"$nor": [{}]})"));
    // elem_match over the element type.
    auto em = field(&User::labels).elem_match(field(&Label::name) == "x" && field(&Label::weight) >= 2);
    CHECK(canon(em.document()) ==
          canon_json(R"({"labels": {"$elemMatch": {"$and": [{"name": {"$eq": "x"}},
                                                             {"weight": {"$gte": {"$numberInt": "2"}}}]}}})"));
}

TEST_CASE("typed filter: operands are shared or moved, the document is built once", "[typed_query]") {
    auto a = field(&User::name) == "A";
    auto b = field(&User::age) > 1;
    const std::string a_json = canon(a.document());
    // Combining lvalues leaves them intact (their clauses are shared, not copied or consumed).
    auto ab = a && b;
    CHECK(canon(a.document()) == a_json);
    // The combined document is serialized once and cached: same object on every call.
    const document* first = &ab.document();
    CHECK(&ab.document() == first);
    // A copy shares the tree (and so the cache).
    auto ab2 = ab;
    CHECK(&ab2.document() == first);
    // An rvalue operand gives its node up: a chain grown with std::move stays one $and.
    auto abc = std::move(ab) && (field(&User::active) == true);
    CHECK(ab.empty());  // NOLINT(bugprone-use-after-move): moved-from filters are empty
    CHECK(ab2.document().get() == first->get());  // the shared copy was not disturbed
    CHECK(canon(abc.document()) ==
          canon_json(R"({"$and": [{"name": {"$eq": "A"}}, {"age": {"$gt": {"$numberInt": "1"}}},
                                  {"active": {"$eq": true}}]})"));
    // A long chain, as query::filter builds it call after call, is linear: one $and of n.
    user_filter chain;
    constexpr int n = 2000;
    for (int i = 0; i < n; ++i) chain = std::move(chain) && (field(&User::age) != i);
    const auto& doc = chain.document();
    bson_iter_t it, arr;
    REQUIRE(bson_iter_init_find(&it, doc.get(), "$and"));
    REQUIRE(bson_iter_recurse(&it, &arr));
    int count = 0;
    while (bson_iter_next(&arr)) ++count;
    CHECK(count == n);
    // Typed -> untyped keeps the same clauses.
    morm::filter untyped = abc;
    CHECK(canon(untyped.document()) == canon(abc.document()));
    CHECK(canon(user_filter(untyped).document()) == canon(abc.document()));
}
