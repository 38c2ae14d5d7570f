// ORM building blocks without a server: change detection (build_update_diff), the typed
// filter DSL (exact documents, and which comparisons must not compile), update operators,
// model_ops, index declarations and the derived JSON schema.
#include <morm/orm/expr.hpp>
#include <morm/orm/model_ops.hpp>
#include <morm/orm/update_diff.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace orm_unit {

enum class Role { admin, member };
MORM_ENUM_STRINGS(Role, admin, member);
enum class Level : std::int32_t { low = 1, high = 5 };  // no strings: stored as its integer

struct Address {
    std::string street;
    std::string city;
    std::optional<std::string> zip;
};
MORM_STRUCT(Address, street, city, zip);

struct Label {
    std::string name;
    std::int32_t weight = 0;
};
MORM_STRUCT(Label, name, weight);

struct User {
    std::string id;
    std::string name;
    std::int32_t age = 0;
    double score = 0;
    std::optional<std::string> nickname;  // omit_empty: nullopt is not stored at all
    std::optional<std::string> email;     // plain optional: nullopt is stored as null
    Address address;
    std::vector<std::string> tags;
    std::vector<Label> labels;
    Role role = Role::member;
    Level level = Level::low;
    bool active = false;
    std::int64_t version = 0;
};
MORM_MODEL(User, "users", (id, "_id"), name, (age, "age"), score,
           (nickname, "nick", morm::codec::field_flags::omit_empty), email, address, tags, labels, role, level,
           active, (version, "version", morm::codec::field_flags::version));
MORM_INDEXES(User, morm::index(&User::name).unique(), morm::index(&User::name, morm::desc(&User::age)),
             morm::index(morm::field(&User::address, &Address::city)).name("by_city").sparse());

struct Plain {
    morm::bson::object_id id;
    std::string text;
};
MORM_MODEL(Plain, "plain", (id, "_id"), text);

}  // namespace orm_unit

using namespace orm_unit;
using morm::field;
using morm::bson::document;

namespace {

std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }

/// Identity key of a value that must encode.
template <class V>
std::string key_of(const V& v) {
    std::string k;
    morm::diagnostics d;
    auto ec = morm::detail::value_key(v, k, &d);
    INFO(d.message);
    REQUIRE_FALSE(ec);
    return k;
}
/// Identity key of a model object through its erased ops.
template <class T>
std::string ops_key(const T& obj) {
    std::string k;
    REQUIRE_FALSE(morm::detail::ops_for<T>().id_key(&obj, k, nullptr));
    return k;
}
std::string canon_json(std::string_view json) { return canon(document::from_json(json)); }

/// The update document build_update_diff makes from two models, and its change count.
template <class T>
std::pair<std::size_t, document> diff_of(const T& before, const T& after) {
    auto a = morm::codec::encode(before);
    auto b = morm::codec::encode(after);
    document u;
    auto n = morm::build_update_diff(a.get(), b.get(), u.get());
    return {n, std::move(u)};
}

User sample() {
    User u;
    u.id = "u1";
    u.name = "Ann";
    u.age = 30;
    u.score = 1.5;
    u.nickname = "annie";
    u.email = "ann@example.com";
    u.address = {"1 Main St", "Paris", std::string("75001")};
    u.tags = {"a", "b"};
    u.labels = {{"x", 1}, {"y", 2}};
    u.role = Role::admin;
    u.level = Level::high;
    u.active = true;
    u.version = 3;
    return u;
}

}  // namespace

// ------------------------------------------------------------------ update diff

TEST_CASE("build_update_diff: unchanged object gives 0 and appends nothing", "[orm-unit]") {
    auto u = sample();
    auto [n, doc] = diff_of(u, u);
    CHECK(n == 0);
    CHECK(doc.empty());
}

TEST_CASE("build_update_diff: a changed top-level field is $set alone", "[orm-unit]") {
    auto a = sample();
    auto b = a;
    b.name = "Bob";
    auto [n, doc] = diff_of(a, b);
    CHECK(n == 1);
    CHECK(canon(doc) == canon_json(R"({"$set": {"name": "Bob"}})"));

    b.age = 31;
    auto [n2, doc2] = diff_of(a, b);
    CHECK(n2 == 2);
    CHECK(canon(doc2) == canon_json(R"({"$set": {"name": "Bob", "age": {"$numberInt": "31"}}})"));
}

TEST_CASE("build_update_diff: nested change sets only the dotted path", "[orm-unit]") {
    auto a = sample();
    auto b = a;
    b.address.city = "Rome";
    auto [n, doc] = diff_of(a, b);
    CHECK(n == 1);
    CHECK(canon(doc) == canon_json(R"({"$set": {"address.city": "Rome"}})"));
}

TEST_CASE("build_update_diff: an array change sets the whole array", "[orm-unit]") {
    auto a = sample();
    auto b = a;
    b.tags.push_back("c");
    auto [n, doc] = diff_of(a, b);
    CHECK(n == 1);
    CHECK(canon(doc) == canon_json(R"({"$set": {"tags": ["a", "b", "c"]}})"));

    // A changed sub-document inside an array still sets the whole array.
    auto c = a;
    c.labels[1].weight = 9;
    auto [n2, doc2] = diff_of(a, c);
    CHECK(n2 == 1);
    CHECK(canon(doc2) == canon_json(
                             R"({"$set": {"labels": [{"name": "x", "weight": {"$numberInt": "1"}},
                                                     {"name": "y", "weight": {"$numberInt": "9"}}]}})"));
}

TEST_CASE("build_update_diff: a removed field is $unset, a nulled optional is $set null", "[orm-unit]") {
    auto a = sample();
    auto b = a;
    b.nickname.reset();  // omit_empty: the field disappears
    auto [n, doc] = diff_of(a, b);
    CHECK(n == 1);
    CHECK(canon(doc) == canon_json(R"({"$unset": {"nick": ""}})"));

    auto c = a;
    c.email.reset();  // stored as null
    auto [n2, doc2] = diff_of(a, c);
    CHECK(n2 == 1);
    CHECK(canon(doc2) == canon_json(R"({"$set": {"email": null}})"));

    // $set and $unset together.
    auto d = a;
    d.nickname.reset();
    d.name = "Z";
    auto [n3, doc3] = diff_of(a, d);
    CHECK(n3 == 2);
    CHECK(canon(doc3) == canon_json(R"({"$set": {"name": "Z"}, "$unset": {"nick": ""}})"));
}

TEST_CASE("build_update_diff: raw documents (type change, added, removed, reordered, nested removed)",
          "[orm-unit]") {
    auto run = [](std::string_view old_json, std::string_view cur_json) {
        auto o = document::from_json(old_json);
        auto c = document::from_json(cur_json);
        document u;
        auto n = morm::build_update_diff(o.get(), c.get(), u.get());
        return std::pair{n, canon(u)};
    };
    // int -> string: a type change is a $set.
    auto [n1, u1] = run(R"({"a": 1, "b": 2})", R"({"a": "1", "b": 2})");
    CHECK(n1 == 1);
    CHECK(u1 == canon_json(R"({"$set": {"a": "1"}})"));
    // int32 -> int64 with the same numeric value is a type change too.
    auto [n1b, u1b] = run(R"({"a": {"$numberInt": "1"}})", R"({"a": {"$numberLong": "1"}})");
    CHECK(n1b == 1);
    CHECK(u1b == canon_json(R"({"$set": {"a": {"$numberLong": "1"}}})"));
    // document -> scalar and scalar -> document are set whole.
    auto [n2, u2] = run(R"({"a": {"x": 1}})", R"({"a": 5})");
    CHECK(n2 == 1);
    CHECK(u2 == canon_json(R"({"$set": {"a": {"$numberInt": "5"}}})"));
    auto [n3, u3] = run(R"({"a": 5})", R"({"a": {"x": 1}})");
    CHECK(n3 == 1);
    CHECK(u3 == canon_json(R"({"$set": {"a": {"x": {"$numberInt": "1"}}}})"));
    // Added field, removed nested field, same fields in another order (no change).
    auto [n4, u4] = run(R"({"a": 1, "s": {"x": 1, "y": 2}})", R"({"s": {"x": 1}, "a": 1, "n": true})");
    CHECK(n4 == 2);
    CHECK(u4 == canon_json(R"({"$set": {"n": true}, "$unset": {"s.y": ""}})"));
    // Deep nesting keeps the full path.
    auto [n5, u5] = run(R"({"a": {"b": {"c": 1, "d": 1}}})", R"({"a": {"b": {"c": 2, "d": 1}}})");
    CHECK(n5 == 1);
    CHECK(u5 == canon_json(R"({"$set": {"a.b.c": {"$numberInt": "2"}}})"));
}

// ------------------------------------------------------------------ filters

TEST_CASE("expr: comparison operators give the exact filter documents", "[orm-unit]") {
    CHECK(canon((field(&User::name) == "John").document()) == canon_json(R"({"name": {"$eq": "John"}})"));
    CHECK(canon((field(&User::name) != std::string("John")).document()) ==
          canon_json(R"({"name": {"$ne": "John"}})"));
    CHECK(canon((field(&User::age) < 18).document()) == canon_json(R"({"age": {"$lt": {"$numberInt": "18"}}})"));
    CHECK(canon((field(&User::age) <= 18).document()) == canon_json(R"({"age": {"$lte": {"$numberInt": "18"}}})"));
    CHECK(canon((field(&User::age) > 18).document()) == canon_json(R"({"age": {"$gt": {"$numberInt": "18"}}})"));
    CHECK(canon((field(&User::age) >= 18).document()) == canon_json(R"({"age": {"$gte": {"$numberInt": "18"}}})"));
    // The operand takes the field's type: an int literal against a double field is a double.
    CHECK(canon((field(&User::score) > 2).document()) ==
          canon_json(R"({"score": {"$gt": {"$numberDouble": "2.0"}}})"));
    // 64-bit version field: an int literal is encoded as int64.
    CHECK(canon((field(&User::version) == 7).document()) ==
          canon_json(R"({"version": {"$eq": {"$numberLong": "7"}}})"));
    CHECK(canon((field(&User::active) == true).document()) == canon_json(R"({"active": {"$eq": true}})"));
    // Renamed fields use the stored name.
    CHECK(canon((field(&User::id) == "k").document()) == canon_json(R"({"_id": {"$eq": "k"}})"));
    CHECK(canon((field(&User::nickname) == "n").document()) == canon_json(R"({"nick": {"$eq": "n"}})"));
    // Optional fields compare with their value type, and with nullopt (null).
    CHECK(canon((field(&User::email) == std::nullopt).document()) == canon_json(R"({"email": {"$eq": null}})"));
    CHECK(canon((field(&User::email) != std::nullopt).document()) == canon_json(R"({"email": {"$ne": null}})"));
}

TEST_CASE("expr: in / not_in, exists, regex", "[orm-unit]") {
    CHECK(canon(field(&User::age).in({1, 2, 3}).document()) ==
          canon_json(R"({"age": {"$in": [{"$numberInt": "1"}, {"$numberInt": "2"}, {"$numberInt": "3"}]}})"));
    std::vector<std::string> names{"a", "b"};
    CHECK(canon(field(&User::name).not_in(names).document()) == canon_json(R"({"name": {"$nin": ["a", "b"]}})"));
    CHECK(canon(field(&User::name).in({"x"}).document()) == canon_json(R"({"name": {"$in": ["x"]}})"));
    CHECK(canon(field(&User::email).exists().document()) == canon_json(R"({"email": {"$exists": true}})"));
    CHECK(canon(field(&User::email).exists(false).document()) == canon_json(R"({"email": {"$exists": false}})"));
    // Built by hand: extended JSON would read {"$regex", "$options"} as a legacy regex value.
    auto regex_doc = [](const char* pattern, const char* options) {
        document d;
        bson_t sub;
        bson_append_document_begin(d.get(), "name", -1, &sub);
        bson_append_utf8(&sub, "$regex", -1, pattern, -1);
        if (options) bson_append_utf8(&sub, "$options", -1, options, -1);
        bson_append_document_end(d.get(), &sub);
        return canon(d);
    };
    CHECK(canon(field(&User::name).regex("^J.*n$", "i").document()) == regex_doc("^J.*n$", "i"));
    CHECK(canon(field(&User::name).regex("^J").document()) == regex_doc("^J", nullptr));
}

TEST_CASE("expr: && || ! combine and flatten", "[orm-unit]") {
    auto a = field(&User::name) == "A";
    auto b = field(&User::age) > 1;
    auto c = field(&User::active) == true;
    CHECK(canon((a && b).document()) ==
          canon_json(R"({"$and": [{"name": {"$eq": "A"}}, {"age": {"$gt": {"$numberInt": "1"}}}]})"));
    CHECK(canon((a || b).document()) ==
          canon_json(R"({"$or": [{"name": {"$eq": "A"}}, {"age": {"$gt": {"$numberInt": "1"}}}]})"));
    CHECK(canon((!a).document()) == canon_json(R"({"$nor": [{"name": {"$eq": "A"}}]})"));
    // Chains of one operator flatten; mixed ones nest.
    CHECK(canon((a && b && c).document()) ==
          canon_json(R"({"$and": [{"name": {"$eq": "A"}}, {"age": {"$gt": {"$numberInt": "1"}}},
                                  {"active": {"$eq": true}}]})"));
    CHECK(canon((a && b || c).document()) ==
          canon_json(R"({"$or": [{"$and": [{"name": {"$eq": "A"}}, {"age": {"$gt": {"$numberInt": "1"}}}]},
                                 {"active": {"$eq": true}}]})"));
    // An empty filter is the identity of && and ||.
    morm::filter none;
    CHECK(canon((none && a).document()) == canon(a.document()));
    CHECK(canon((a || none).document()) == canon(a.document()));
}

TEST_CASE("expr: nested paths, arrays and enums", "[orm-unit]") {
    auto city = field(&User::address, &Address::city);
    CHECK(city.path() == "address.city");
    CHECK(canon((city == "Paris").document()) == canon_json(R"({"address.city": {"$eq": "Paris"}})"));
    CHECK(canon(city.in({"Paris", "Rome"}).document()) ==
          canon_json(R"({"address.city": {"$in": ["Paris", "Rome"]}})"));
    CHECK(canon((field(&User::address, &Address::zip) == "75001").document()) ==
          canon_json(R"({"address.zip": {"$eq": "75001"}})"));

    CHECK(canon(field(&User::tags).contains("a").document()) == canon_json(R"({"tags": "a"})"));
    CHECK(canon(field(&User::tags).size(2).document()) ==
          canon_json(R"({"tags": {"$size": {"$numberInt": "2"}}})"));
    auto em = field(&User::labels).elem_match(field(&Label::name) == "x" && field(&Label::weight) >= 2);
    CHECK(canon(em.document()) ==
          canon_json(R"({"labels": {"$elemMatch": {"$and": [{"name": {"$eq": "x"}},
                                                             {"weight": {"$gte": {"$numberInt": "2"}}}]}}})"));
    CHECK(canon((field(&User::labels, &Label::name) == "y").document()) ==
          canon_json(R"({"labels.name": {"$eq": "y"}})"));

    // Enums are encoded as declared: names with MORM_ENUM_STRINGS, else the integer.
    CHECK(canon((field(&User::role) == Role::admin).document()) == canon_json(R"({"role": {"$eq": "admin"}})"));
    CHECK(canon(field(&User::role).in({Role::admin, Role::member}).document()) ==
          canon_json(R"({"role": {"$in": ["admin", "member"]}})"));
    CHECK(canon((field(&User::level) == Level::high).document()) ==
          canon_json(R"({"level": {"$eq": {"$numberInt": "5"}}})"));
}

TEST_CASE("expr: raw_filter, update operators", "[orm-unit]") {
    auto r = morm::raw_filter(R"({"age": {"$mod": [2, 0]}})");
    CHECK(canon(r.document()) == canon_json(R"({"age": {"$mod": [2, 0]}})"));
    CHECK_THROWS_AS(morm::raw_filter("{not json"), morm::error);

    auto s = morm::set(field(&User::age), 5);
    CHECK(s.op() == "$set");
    CHECK(s.path() == "age");
    CHECK(s.value().value_type == BSON_TYPE_INT32);
    CHECK(s.value().value.v_int32 == 5);
    auto i = morm::inc(field(&User::version), 1);
    CHECK(i.op() == "$inc");
    CHECK(i.value().value_type == BSON_TYPE_INT64);
    auto e = morm::set(field(&User::role), Role::member);
    REQUIRE(e.value().value_type == BSON_TYPE_UTF8);
    CHECK(std::string(e.value().value.v_utf8.str) == "member");
    auto u = morm::unset(field(&User::address, &Address::zip));
    CHECK(u.op() == "$unset");
    CHECK(u.path() == "address.zip");
}

// Mismatched operand types must not compile.
namespace {
template <class F, class V>
concept eq_ok = requires(F f, V v) { f == v; };
template <class F, class V>
concept lt_ok = requires(F f, V v) { f < v; };
template <class F, class V>
concept contains_ok = requires(F f, V v) { f.contains(v); };
template <class F>
concept regex_ok = requires(F f) { f.regex("x"); };
template <class F>
concept size_ok = requires(F f) { f.size(1); };
template <class F, class V>
concept set_ok = requires(F f, V v) { morm::set(f, v); };
template <class F, class V>
concept inc_ok = requires(F f, V v) { morm::inc(f, v); };
using age_f = morm::field_ref<User, std::int32_t>;
using name_f = morm::field_ref<User, std::string>;
using score_f = morm::field_ref<User, double>;
using active_f = morm::field_ref<User, bool>;
using role_f = morm::field_ref<User, Role>;
using tags_f = morm::field_ref<User, std::vector<std::string>>;
using email_f = morm::field_ref<User, std::optional<std::string>>;
}  // namespace

static_assert(std::is_same_v<decltype(field(&User::age)), age_f>);
static_assert(std::is_same_v<decltype(field(&User::address, &Address::city)), morm::field_ref<User, std::string>>);
static_assert(eq_ok<age_f, int> && eq_ok<age_f, std::int64_t> && eq_ok<age_f, short>);
static_assert(!eq_ok<age_f, const char*>, "int field vs string must not compile");
static_assert(!eq_ok<age_f, std::string>);
static_assert(!eq_ok<age_f, double>, "int field vs 3.5 must not compile");
static_assert(!lt_ok<age_f, double>);
static_assert(!eq_ok<decltype(field(&User::age)), decltype("x")>, "field(&User::age) == \"x\" must not compile");
static_assert(eq_ok<name_f, const char*> && eq_ok<name_f, std::string> && eq_ok<name_f, std::string_view>);
static_assert(!eq_ok<name_f, int>, "string field vs int must not compile");
static_assert(eq_ok<score_f, double> && eq_ok<score_f, int>);
static_assert(!eq_ok<score_f, const char*>);
static_assert(eq_ok<active_f, bool> && !eq_ok<active_f, int>, "a number is not a bool");
static_assert(eq_ok<role_f, Role> && !eq_ok<role_f, int> && !eq_ok<role_f, const char*> && !eq_ok<role_f, Level>);
static_assert(eq_ok<email_f, const char*> && eq_ok<email_f, std::nullopt_t> && !eq_ok<email_f, int>);
static_assert(contains_ok<tags_f, const char*> && !contains_ok<tags_f, int>);
static_assert(!contains_ok<name_f, const char*>, "contains() is for array fields only");
static_assert(regex_ok<name_f> && regex_ok<email_f> && !regex_ok<age_f>, "regex() is for string fields only");
static_assert(size_ok<tags_f> && !size_ok<age_f>, "size() is for array fields only");
static_assert(set_ok<age_f, int> && !set_ok<age_f, const char*> && !set_ok<age_f, double>);
static_assert(inc_ok<age_f, int> && !inc_ok<name_f, int>);

// ------------------------------------------------------------------ model_ops

TEST_CASE("model_ops: identity, ids, version, encode/decode", "[orm-unit]") {
    const auto& ops = morm::detail::ops_for<User>();
    CHECK(&ops == &morm::detail::ops_for<User>());  // one per type
    CHECK(ops.collection == "users");
    CHECK(*ops.type == typeid(User));
    CHECK(ops.version_field == "version");

    auto u = sample();
    CHECK(ops.id_json(&u) == "\"u1\"");
    CHECK(ops_key(u) == key_of(std::string("u1")));
    CHECK(ops_key(u) != key_of(std::string("u2")));
    // Same text, different BSON type: different identities.
    CHECK(key_of(std::int32_t{1}) != key_of(std::int64_t{1}));

    REQUIRE(ops.version(&u) != nullptr);
    CHECK(*ops.version(&u) == 3);
    *ops.version(&u) = 4;
    CHECK(u.version == 4);

    document d;
    REQUIRE_FALSE(ops.append_id(&u, d.get(), "_id", nullptr));
    CHECK(canon(d) == canon_json(R"({"_id": "u1"})"));

    document enc;
    REQUIRE_FALSE(ops.encode(&u, enc.get(), nullptr));
    auto obj = ops.make();
    REQUIRE_FALSE(ops.decode(enc.data(), enc.size(), obj.get(), nullptr));
    auto* back = static_cast<User*>(obj.get());
    CHECK(back->name == "Ann");
    CHECK(back->address.city == "Paris");
    CHECK(back->labels.size() == 2);
    CHECK(back->role == Role::admin);

    // Empty string ids are generated client-side (ObjectId hex); existing ones are kept.
    User fresh;
    ops.ensure_id(&fresh);
    CHECK(fresh.id.size() == 24);
    auto before = fresh.id;
    ops.ensure_id(&fresh);
    CHECK(fresh.id == before);

    const auto& pops = morm::detail::ops_for<Plain>();
    CHECK(pops.version_field.empty());
    Plain p;
    CHECK(pops.version(&p) == nullptr);
    CHECK(p.id.is_zero());
    pops.ensure_id(&p);
    CHECK_FALSE(p.id.is_zero());
    CHECK(pops.id_json(&p).find(p.id.to_hex()) != std::string::npos);
    CHECK(pops.indexes().empty());
}

TEST_CASE("MORM_INDEXES: declared index models", "[orm-unit]") {
    auto idx = morm::detail::ops_for<User>().indexes();
    REQUIRE(idx.size() == 3);
    CHECK(canon(idx[0].keys) == canon_json(R"({"name": {"$numberInt": "1"}})"));
    CHECK(idx[0].options.unique);
    CHECK_FALSE(idx[0].options.sparse);
    CHECK(canon(idx[1].keys) == canon_json(R"({"name": {"$numberInt": "1"}, "age": {"$numberInt": "-1"}})"));
    CHECK_FALSE(idx[1].options.unique);
    CHECK(canon(idx[2].keys) == canon_json(R"({"address.city": {"$numberInt": "1"}})"));
    CHECK(idx[2].options.name == "by_city");
    CHECK(idx[2].options.sparse);

    auto ttl = morm::index(&User::name).ttl(std::chrono::seconds(60)).partial(field(&User::age) > 1).model();
    REQUIRE(ttl.options.expire_after);
    CHECK(ttl.options.expire_after->count() == 60);
    CHECK(canon(ttl.options.partial_filter) == canon_json(R"({"age": {"$gt": {"$numberInt": "1"}}})"));
}

TEST_CASE("json_schema_validator: types, nesting, enums, required", "[orm-unit]") {
    auto v = morm::json_schema_validator<User>();
    auto s = v.find("$jsonSchema");
    REQUIRE(s);
    auto str = [&](std::string_view path) {
        auto it = v.find(path);
        REQUIRE(it);
        REQUIRE(BSON_ITER_HOLDS_UTF8(&*it));
        return std::string(bson_iter_utf8(&*it, nullptr));
    };
    CHECK(str("$jsonSchema.bsonType") == "object");
    CHECK(str("$jsonSchema.properties._id.bsonType") == "string");
    CHECK(str("$jsonSchema.properties.age.bsonType") == "int");
    CHECK(str("$jsonSchema.properties.score.bsonType") == "double");
    CHECK(str("$jsonSchema.properties.version.bsonType") == "long");
    CHECK(str("$jsonSchema.properties.active.bsonType") == "bool");
    CHECK(str("$jsonSchema.properties.level.bsonType") == "int");
    CHECK(str("$jsonSchema.properties.role.bsonType") == "string");
    CHECK(str("$jsonSchema.properties.role.enum.0") == "admin");
    CHECK(str("$jsonSchema.properties.role.enum.1") == "member");
    CHECK(str("$jsonSchema.properties.address.bsonType") == "object");
    CHECK(str("$jsonSchema.properties.address.properties.city.bsonType") == "string");
    CHECK(str("$jsonSchema.properties.tags.bsonType") == "array");
    CHECK(str("$jsonSchema.properties.tags.items.bsonType") == "string");
    CHECK(str("$jsonSchema.properties.labels.items.properties.weight.bsonType") == "int");
    // Optionals accept null too.
    CHECK(str("$jsonSchema.properties.email.bsonType.0") == "string");
    CHECK(str("$jsonSchema.properties.email.bsonType.1") == "null");

    // required: every non-optional field, in declaration order; optionals are not.
    std::vector<std::string> required;
    auto req = v.find("$jsonSchema.required");
    REQUIRE(req);
    bson_iter_t sub;
    REQUIRE(bson_iter_recurse(&*req, &sub));
    while (bson_iter_next(&sub)) required.emplace_back(bson_iter_utf8(&sub, nullptr));
    CHECK(required == std::vector<std::string>{"_id", "name", "age", "score", "address", "tags", "labels", "role",
                                               "level", "active", "version"});
    std::vector<std::string> addr_required;
    auto areq = v.find("$jsonSchema.properties.address.required");
    REQUIRE(areq);
    REQUIRE(bson_iter_recurse(&*areq, &sub));
    while (bson_iter_next(&sub)) addr_required.emplace_back(bson_iter_utf8(&sub, nullptr));
    CHECK(addr_required == std::vector<std::string>{"street", "city"});
}

TEST_CASE("identity keys built directly equal the BSON element bytes", "[orm-unit]") {
    auto generic = [](auto v) {
        bson_t tmp;
        bson_init(&tmp);
        REQUIRE_FALSE(morm::codec::encode_value(&tmp, "", v));
        std::string k(reinterpret_cast<const char*>(bson_get_data(&tmp)) + 4, tmp.len - 5);
        bson_destroy(&tmp);
        return k;
    };
    auto oid = morm::bson::object_id::generate();
    CHECK(key_of(oid) == generic(oid));
    CHECK(key_of(std::string("user-42")) == generic(std::string("user-42")));
    CHECK(key_of(std::string()) == generic(std::string()));
    CHECK(key_of(std::int32_t{-7}) == generic(std::int32_t{-7}));
    CHECK(key_of(std::int64_t{1} << 40) == generic(std::int64_t{1} << 40));
    CHECK(key_of(2.5) == generic(2.5));

    // Keys of loaded documents, read from their stored _id element, match too.
    auto element = [](const auto& v) {
        bson_t doc;
        bson_init(&doc);
        REQUIRE_FALSE(morm::codec::encode_value(&doc, "_id", v));
        bson_iter_t it;
        bson_iter_init_find(&it, &doc, "_id");
        auto k = morm::detail::element_key(it);
        bson_destroy(&doc);
        return k;
    };
    CHECK(element(oid) == key_of(oid));
    CHECK(element(std::string("user-42")) == key_of(std::string("user-42")));
    CHECK(element(std::int64_t{1} << 40) == key_of(std::int64_t{1} << 40));
}

TEST_CASE("an id that cannot be encoded has no identity key and no filter", "[orm-unit][security]") {
    const auto& ops = morm::detail::ops_for<User>();
    for (std::string bad : {std::string("\xff"), std::string("a1\0", 3), std::string("ok\xc3")}) {
        INFO(morm::detail::id_json_of(bad));
        std::string k;
        morm::diagnostics d;
        auto ec = morm::detail::value_key(bad, k, &d);
        CHECK(ec == morm::errc::encode_error);
        CHECK(d.message.find("_id") != std::string::npos);

        User u;
        u.id = bad;
        d.clear();
        ec = ops.id_key(&u, k, &d);
        CHECK(ec == morm::errc::invalid_argument);
        CHECK(d.message.find("'users'") != std::string::npos);
        CHECK(d.message.find("_id") != std::string::npos);

        document f;
        d.clear();
        CHECK(ops.append_id(&u, f.get(), "_id", &d) == morm::errc::invalid_argument);
        CHECK(d.message.find("_id") != std::string::npos);
        CHECK(ops.id_json(&u).starts_with("<invalid: "));
    }
    User nul;
    nul.id = std::string("a1\0", 3);
    CHECK(ops.id_json(&nul) == "<invalid: \"a1\\x00\">");
}

TEST_CASE("append_id_from_key writes back the id an identity key was made of", "[orm-unit]") {
    auto round_trip = [](const auto& v) {
        document d;
        REQUIRE(morm::detail::append_id_from_key(d.get(), "_id", key_of(v)));
        document want;
        REQUIRE_FALSE(morm::codec::encode_value(want.get(), "_id", v));
        CHECK(canon(d) == canon(want));
    };
    round_trip(std::string("alice"));
    round_trip(std::string());
    round_trip(morm::bson::object_id::generate());
    round_trip(std::int32_t{-7});
    round_trip(std::int64_t{1} << 40);
    round_trip(2.5);
    document d;
    CHECK_FALSE(morm::detail::append_id_from_key(d.get(), "_id", ""));
    CHECK(d.empty());
}
