// Lifecycle hooks (orm/hooks.hpp) in the commit's planning, without a server: which hook
// runs for which staged or tracked object, rejections, changes a hook makes. Also the
// keyset filter of query::after() (orm/keyset.hpp) and its compile-time model check.
#include "orm/unit_of_work.hpp"

#include <morm/orm/keyset.hpp>
#include <morm/orm/model_ops.hpp>
#include <morm/orm/session.hpp>

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hooks_unit {

struct Order {
    std::string id;
    double total = 0;
    std::int64_t touched = 0;
    std::string note;
    // Not stored: how often each hook ran.
    int inserts = 0, updates = 0, deletes = 0, loads = 0;

    morm::hook_result before_insert() {
        ++inserts;
        if (total <= 0) return morm::reject("total must be positive");
        note = "inserted by hook";
        return {};
    }
    void before_update() {
        ++updates;
        ++touched;
    }
    morm::hook_result before_delete() {
        ++deletes;
        if (note == "keep") return morm::reject("this order is kept");
        return {};
    }
    void after_load() { ++loads; }
};
MORM_MODEL(Order, "orders", (id, "_id"), total, touched, note);

struct Plain {
    std::string id;
    std::string text;
};
MORM_MODEL(Plain, "plain", (id, "_id"), text);

struct Thrower {
    std::string id;
    void before_insert() { throw std::runtime_error("boom"); }
};
MORM_MODEL(Thrower, "throwers", (id, "_id"));

struct IdChanger {
    std::string id;
    void before_insert() { id = "changed"; }
};
MORM_MODEL(IdChanger, "id_changers", (id, "_id"));

struct Address {
    std::string city;
};
MORM_STRUCT(Address, city);
struct Shop {
    std::string id;
    std::int32_t rank = 0;
    Address address;
};
MORM_MODEL(Shop, "shops", (id, "_id"), rank, address);

}  // namespace hooks_unit

using namespace hooks_unit;
using state = morm::session_entry::state;
using morm::session_entry;
using morm::uow::work_kind;

namespace {

struct entries {
    std::deque<session_entry> store;

    template <class T>
    session_entry* add(T obj, state st) {
        auto& e = store.emplace_back();
        e.obj = std::make_shared<T>(std::move(obj));
        e.ops = &morm::detail::ops_for<T>();
        e.st = st;
        REQUIRE_FALSE(e.ops->id_key(e.obj.get(), e.key, nullptr));
        if (st == state::persistent || st == state::pending_delete) {
            bson_t b;
            bson_init(&b);
            REQUIRE_FALSE(e.ops->encode(e.obj.get(), &b, nullptr));
            e.snapshot.assign(reinterpret_cast<const char*>(bson_get_data(&b)), b.len);
            bson_destroy(&b);
            e.has_snapshot = true;
        }
        return &e;
    }
    std::vector<session_entry*> all() {
        std::vector<session_entry*> out;
        for (auto& e : store) out.push_back(&e);
        return out;
    }
};

template <class T>
T& obj(session_entry* e) {
    return *static_cast<T*>(e->obj.get());
}

Order order(std::string id, double total, std::string note = {}) {
    Order o;
    o.id = std::move(id);
    o.total = total;
    o.note = std::move(note);
    return o;
}

std::string canon(const morm::bson::document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view json) { return canon(morm::bson::document::from_json(json)); }

}  // namespace

TEST_CASE("hooks: detected at compile time, null for a model without hooks", "[hooks]") {
    const auto& plain = morm::detail::ops_for<Plain>();
    CHECK(plain.before_insert == nullptr);
    CHECK(plain.before_update == nullptr);
    CHECK(plain.before_delete == nullptr);
    CHECK(plain.after_load == nullptr);
    const auto& o = morm::detail::ops_for<Order>();
    CHECK(o.before_insert != nullptr);
    CHECK(o.before_update != nullptr);
    CHECK(o.before_delete != nullptr);
    CHECK(o.after_load != nullptr);
    CHECK(morm::detail::ops_for<Thrower>().before_update == nullptr);
    // A bound collection (session::add_to) keeps the hooks.
    CHECK(morm::detail::ops_for_collection<Order>("orders_archive").before_insert == o.before_insert);

    morm::hook_result ok;
    CHECK(ok.ok());
    CHECK(ok.reason().empty());
    auto no = morm::reject("why");
    CHECK_FALSE(no.ok());
    CHECK_FALSE(static_cast<bool>(no));
    CHECK(no.reason() == "why");
}

TEST_CASE("hooks: each before-hook runs for its kind of write only", "[hooks]") {
    entries es;
    auto* ins = es.add(order("o1", 10), state::pending_insert);
    auto* changed = es.add(order("o2", 20), state::persistent);
    auto* same = es.add(order("o3", 30), state::persistent);
    auto* del = es.add(order("o4", 40), state::pending_delete);
    auto* merged = es.add(order("o5", 50), state::pending_merge);
    obj<Order>(changed).total = 21;

    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    CHECK(p.refused.empty());
    REQUIRE(p.work.size() == 4);
    CHECK(p.unchanged == 1);

    CHECK(obj<Order>(ins).inserts == 1);
    CHECK(obj<Order>(ins).updates + obj<Order>(ins).deletes == 0);
    CHECK(obj<Order>(changed).updates == 1);
    CHECK(obj<Order>(changed).inserts + obj<Order>(changed).deletes == 0);
    // An unchanged object is not written: no hook (else every commit would write it).
    CHECK(obj<Order>(same).inserts + obj<Order>(same).updates + obj<Order>(same).deletes == 0);
    CHECK(obj<Order>(del).deletes == 1);
    CHECK(obj<Order>(del).inserts + obj<Order>(del).updates == 0);
    // merge() (an upsert) runs before_update.
    CHECK(obj<Order>(merged).updates == 1);
    CHECK(obj<Order>(merged).inserts == 0);
    // Planning never loads anything.
    for (auto* e : all) CHECK(obj<Order>(e).loads == 0);
}

TEST_CASE("hooks: what a before-hook changes is part of the same write", "[hooks]") {
    entries es;
    auto* changed = es.add(order("o1", 20), state::persistent);
    auto* ins = es.add(order("o2", 5), state::pending_insert);
    obj<Order>(changed).total = 25;
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.work.size() == 2);
    REQUIRE(p.refused.empty());
    const auto& upd = p.work[0].kind == work_kind::update ? p.work[0] : p.work[1];
    REQUIRE(upd.kind == work_kind::update);
    // The hook's `touched` is in the update document and in the new snapshot.
    CHECK(canon(p.updates[upd.update]) ==
          canon_json(R"({"$set": {"total": {"$numberDouble": "25.0"}, "touched": {"$numberLong": "1"}}})"));
    CHECK(obj<Order>(changed).touched == 1);
    // An insert is encoded as it is sent, after the plan: the object holds the hook's change.
    CHECK(obj<Order>(ins).note == "inserted by hook");
}

TEST_CASE("hooks: a rejected object is refused with the hook's reason, the others are planned", "[hooks]") {
    entries es;
    auto* bad = es.add(order("bad", -1), state::pending_insert);
    auto* good = es.add(order("good", 3), state::pending_insert);
    auto* kept = es.add(order("kept", 3, "keep"), state::pending_delete);
    auto* gone = es.add(order("gone", 3), state::pending_delete);
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.work.size() == 2);
    CHECK(p.work[0].e == good);
    CHECK(p.work[1].e == gone);
    REQUIRE(p.refused.size() == 2);
    CHECK(p.refused[0].error == morm::errc::rejected_by_hook);
    CHECK(p.refused[0].op == morm::object_outcome::operation::insert);
    CHECK(p.refused[0].id == "\"bad\"");
    CHECK(p.refused[0].message == "rejected by before_insert(): total must be positive");
    CHECK(p.refused[0].object == bad->obj);
    CHECK(p.refused[1].error == morm::errc::rejected_by_hook);
    CHECK(p.refused[1].op == morm::object_outcome::operation::remove);
    CHECK(p.refused[1].message == "rejected by before_delete(): this order is kept");
    CHECK(kept->st == state::pending_delete);
    // Fixed, planned again: the hook runs again and accepts it.
    obj<Order>(bad).total = 1;
    std::vector<session_entry*> again{bad};
    auto p2 = morm::uow::make_plan(again);
    CHECK(p2.refused.empty());
    REQUIRE(p2.work.size() == 1);
    CHECK(obj<Order>(bad).inserts == 2);
}

TEST_CASE("hooks: a hook that throws rejects with the message, one that changes the _id is refused", "[hooks]") {
    entries es;
    es.add(Thrower{"t1"}, state::pending_insert);
    es.add(IdChanger{"i1"}, state::pending_insert);
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    CHECK(p.work.empty());
    REQUIRE(p.refused.size() == 2);
    CHECK(p.refused[0].error == morm::errc::rejected_by_hook);
    CHECK(p.refused[0].message == "rejected by before_insert(): boom");
    CHECK(p.refused[1].error == morm::errc::invalid_argument);
    CHECK(p.refused[1].message.find("before_insert() changed the object's _id") != std::string::npos);
}

TEST_CASE("hooks: after_load reports a rejection as rejected_by_hook", "[hooks]") {
    Order o = order("o1", 1);
    const auto& ops = morm::detail::ops_for<Order>();
    morm::diagnostics diag;
    CHECK_FALSE(morm::detail::run_after_load(ops.after_load, &o, ops.collection, [] { return std::string("x"); }, diag));
    CHECK(o.loads == 1);
    auto rejecting = [](void*) { return morm::reject("stale"); };
    auto ec = morm::detail::run_after_load(+rejecting, &o, "orders", [] { return std::string("\"o1\""); }, diag);
    CHECK(ec == morm::errc::rejected_by_hook);
    CHECK(diag.message == "after_load() rejected orders with _id \"o1\": stale");
    CHECK_FALSE(morm::detail::run_after_load(nullptr, &o, "orders", [] { return std::string(); }, diag));
}

// ------------------------------------------------------------------------ keyset

TEST_CASE("keyset: the filter continues after the last object, ties broken by _id", "[keyset]") {
    using morm::bson::document;
    const auto last = document::from_json(R"({"_id": "s7", "rank": 3, "address": {"city": "Oslo"}})");
    SECTION("one ascending key: _id appended to the sort") {
        auto sort = document::from_json(R"({"rank": 1})");
        auto f = morm::detail::keyset_after(sort, last.view());
        CHECK(canon(sort) == canon_json(R"({"rank": 1, "_id": 1})"));
        CHECK(canon(f) == canon_json(R"({"$or": [{"rank": {"$gt": 3}}, {"rank": 3, "_id": {"$gt": "s7"}}]})"));
    }
    SECTION("a descending nested key and an ascending one") {
        auto sort = document::from_json(R"({"address.city": -1, "rank": 1})");
        auto f = morm::detail::keyset_after(sort, last.view());
        CHECK(canon(f) == canon_json(R"({"$or": [{"address.city": {"$lt": "Oslo"}},
                                                 {"address.city": "Oslo", "rank": {"$gt": 3}},
                                                 {"address.city": "Oslo", "rank": 3, "_id": {"$gt": "s7"}}]})"));
    }
    SECTION("_id already sorted (descending): not appended again") {
        auto sort = document::from_json(R"({"_id": -1})");
        auto f = morm::detail::keyset_after(sort, last.view());
        CHECK(canon(sort) == canon_json(R"({"_id": -1})"));
        CHECK(canon(f) == canon_json(R"({"$or": [{"_id": {"$lt": "s7"}}]})"));
    }
    SECTION("no sort: by _id") {
        document sort;
        auto f = morm::detail::keyset_after(sort, last.view());
        CHECK(canon(sort) == canon_json(R"({"_id": 1})"));
        CHECK(canon(f) == canon_json(R"({"$or": [{"_id": {"$gt": "s7"}}]})"));
    }
}

namespace {
template <class Q, class L>
concept after_accepts = requires(Q& q, const L& last) { q.after(last); };
}  // namespace

TEST_CASE("keyset: after() takes only an object of the query's model", "[keyset]") {
    STATIC_REQUIRE(after_accepts<morm::query<Shop>, Shop>);
    STATIC_REQUIRE(after_accepts<morm::query<Shop>, std::shared_ptr<Shop>>);
    STATIC_REQUIRE_FALSE(after_accepts<morm::query<Shop>, Order>);
    STATIC_REQUIRE_FALSE(after_accepts<morm::query<Shop>, std::shared_ptr<Order>>);
    STATIC_REQUIRE_FALSE(after_accepts<morm::query<Shop>, int>);
}

TEST_CASE("keyset: the first page (no last object) is sorted in the same total order", "[keyset]") {
    auto sort = morm::bson::document::from_json(R"({"score": -1})");
    const auto keys = morm::detail::keyset_sort(sort);
    CHECK(canon(sort) == canon_json(R"({"score": -1, "_id": 1})"));
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].path == "score");
    CHECK(keys[0].desc);
    CHECK(keys[1].path == "_id");
    CHECK_FALSE(keys[1].desc);
    // Idempotent: a later after(last) on the same query does not add _id again.
    morm::detail::keyset_sort(sort);
    CHECK(canon(sort) == canon_json(R"({"score": -1, "_id": 1})"));
}
