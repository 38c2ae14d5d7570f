// The unit of work without a server: what a commit plans for each staged or tracked
// object (src/orm/unit_of_work.hpp, make_plan), and what it decides from each write's
// outcome (reconcile).
#include "orm/unit_of_work.hpp"

#include <morm/orm/model_ops.hpp>

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace uow_unit {
struct Note {
    std::string id;
    std::string text;
    std::int32_t stars = 0;
};
MORM_MODEL(Note, "notes", (id, "_id"), text, stars);

struct Doc {
    std::string id;
    std::string title;
    std::int64_t version = 0;
};
MORM_MODEL(Doc, "docs", (id, "_id"), title, (version, "version", morm::codec::field_flags::version));
}  // namespace uow_unit

using namespace uow_unit;
using morm::item_outcome;
using morm::session_entry;
using morm::uow::verdict;
using morm::uow::work_kind;
using state = morm::session_entry::state;

namespace {

/// Entries as a session holds them (stable addresses).
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
            // Loaded: the snapshot is the object's encoding.
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

std::string canon(const morm::bson::document& d) { return d.to_json(morm::bson::json_mode::canonical); }

item_outcome outcome(item_outcome::state st, std::int32_t code = 0, std::string message = {}, std::int64_t n = -1) {
    item_outcome o;
    o.st = st;
    o.error = st == item_outcome::state::failed ? morm::errc::write_error : morm::errc::ok;
    o.code = code;
    o.message = std::move(message);
    o.n = n;
    return o;
}

}  // namespace

TEST_CASE("uow: the plan groups per collection in first-touched order: inserts, updates, deletes",
          "[uow][orm-unit]") {
    entries es;
    auto* d1 = es.add(Doc{"d1", "one", 1}, state::persistent);
    es.add(Note{"n1", "new", 0}, state::pending_insert);
    auto* n2 = es.add(Note{"n2", "old", 1}, state::persistent);
    es.add(Note{"n3", "gone", 0}, state::pending_delete);
    es.add(Doc{"d2", "gone", 7}, state::pending_delete);
    es.add(Note{"n4", "merged", 0}, state::pending_merge);
    obj<Doc>(d1).title = "changed";
    obj<Note>(n2).stars = 5;

    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.collections.size() == 2);
    CHECK(p.collections[0].name == "docs");  // d1 was touched first
    CHECK(p.collections[1].name == "notes");
    const auto& docs = p.collections[0];
    const auto& notes = p.collections[1];
    CHECK(docs.inserts.empty());
    CHECK(docs.updates.empty());
    REQUIRE(docs.vupdates.size() == 1);  // a version field: checked, one per command
    REQUIRE(docs.vdeletes.size() == 1);
    REQUIRE(notes.inserts.size() == 1);
    REQUIRE(notes.updates.size() == 2);  // the update of n2, and the merge (upsert) of n4
    REQUIRE(notes.deletes.size() == 1);
    CHECK(p.work[notes.inserts[0]].kind == work_kind::insert);
    CHECK(p.work[notes.updates[0]].kind == work_kind::update);
    CHECK(p.work[notes.updates[1]].kind == work_kind::merge);
    CHECK(p.work[notes.deletes[0]].kind == work_kind::remove);
    CHECK(p.work[docs.vdeletes[0]].old_version == 7);
    CHECK(p.refused.empty());
    CHECK(p.unchanged == 0);
    CHECK(p.work.size() == 6);
}

TEST_CASE("uow: an unchanged object needs no write; a changed one sends only its changed paths",
          "[uow][orm-unit]") {
    entries es;
    auto* n1 = es.add(Note{"n1", "same", 1}, state::persistent);
    auto* n2 = es.add(Note{"n2", "text", 1}, state::persistent);
    obj<Note>(n2).stars = 4;
    (void)n1;
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    CHECK(p.unchanged == 1);
    REQUIRE(p.work.size() == 1);
    CHECK(p.work[0].e == n2);
    REQUIRE(p.updates.size() == 1);
    CHECK(canon(p.updates[0]) == R"({ "$set" : { "stars" : { "$numberInt" : "4" } } })");
}

TEST_CASE("uow: a version-checked update carries the new version; the object keeps its own until written",
          "[uow][orm-unit]") {
    entries es;
    auto* d = es.add(Doc{"d1", "t", 3}, state::persistent);
    obj<Doc>(d).title = "t2";
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.work.size() == 1);
    CHECK(p.work[0].versioned);
    CHECK(p.work[0].old_version == 3);
    CHECK(obj<Doc>(d).version == 3);
    CHECK(canon(p.updates[0]) ==
          R"({ "$set" : { "title" : "t2", "version" : { "$numberLong" : "4" } } })");
    // The snapshot it will have once written holds version 4.
    auto snap = morm::bson::document_view(reinterpret_cast<const std::uint8_t*>(p.work[0].new_snapshot.data()),
                                          p.work[0].new_snapshot.size());
    auto v = snap.find("version");
    REQUIRE(v);
    CHECK(bson_iter_as_int64(&*v) == 4);
}

TEST_CASE("uow: a loaded object whose id was changed, or no longer encodes, is refused and not planned",
          "[uow][orm-unit][security]") {
    entries es;
    auto* a = es.add(Note{"alice", "a", 0}, state::persistent);
    auto* b = es.add(Note{"bob", "b", 0}, state::persistent);
    auto* c = es.add(Note{"carol", "c", 0}, state::persistent);
    obj<Note>(a).id = "bob";  // would otherwise update bob's document
    obj<Note>(a).text = "pwned";
    obj<Note>(b).id = "\xff";
    obj<Note>(c).text = "fine";
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.refused.size() == 2);
    CHECK(p.refused[0].error == morm::errc::invalid_argument);
    CHECK(p.refused[0].message.find("cannot be changed") != std::string::npos);
    CHECK(p.refused[1].error == morm::errc::invalid_argument);
    CHECK(p.refused[1].message.find("_id") != std::string::npos);
    REQUIRE(p.work.size() == 1);
    CHECK(p.work[0].e == c);
}

TEST_CASE("uow: reconcile decides each write from its outcome", "[uow][orm-unit]") {
    entries es;
    auto* ok = es.add(Note{"ok", "", 0}, state::pending_insert);
    auto* dup = es.add(Note{"dup", "", 0}, state::pending_insert);
    auto* retried_id = es.add(Note{"r1", "", 0}, state::pending_insert);
    auto* retried_unnamed = es.add(Note{"r2", "", 0}, state::pending_insert);
    auto* retried_other = es.add(Note{"r3", "", 0}, state::pending_insert);
    auto* stale = es.add(Doc{"d1", "t", 2}, state::persistent);
    auto* cut = es.add(Note{"cut", "", 0}, state::pending_insert);
    auto* unsent = es.add(Note{"unsent", "", 0}, state::pending_insert);
    for (auto* e : {retried_id, retried_unnamed, retried_other}) e->maybe_written = true;
    obj<Doc>(stale).title = "t2";
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.work.size() == 8);
    auto index_of = [&](session_entry* e) {
        for (std::size_t i = 0; i < p.work.size(); ++i)
            if (p.work[i].e == e) return i;
        FAIL("not planned");
        return std::size_t{0};
    };
    std::vector<item_outcome> out(p.work.size());
    using S = item_outcome::state;
    out[index_of(ok)] = outcome(S::ok);
    out[index_of(dup)] = outcome(S::failed, 11000, "E11000 duplicate key error index: email_1");
    out[index_of(retried_id)] = outcome(S::failed, 11000, "E11000 duplicate key error dup key: { _id: \"r1\" }");
    out[index_of(retried_unnamed)] = outcome(S::failed, 11000, "duplicate key");
    out[index_of(retried_other)] = outcome(S::failed, 11000, "E11000 duplicate key error index: email_1");
    out[index_of(stale)] = outcome(S::ok, 0, {}, 0);  // matched nothing: another writer won
    out[index_of(cut)] = outcome(S::unacknowledged, 0, "connection reset");
    out[index_of(unsent)] = outcome(S::pending);

    auto r = morm::uow::reconcile(p, out);
    CHECK(r.verdicts[index_of(ok)] == verdict::written);
    CHECK(r.verdicts[index_of(dup)] == verdict::failed);
    CHECK(r.verdicts[index_of(retried_id)] == verdict::written);  // our own earlier attempt landed
    CHECK(r.verdicts[index_of(retried_unnamed)] == verdict::confirm);
    CHECK(r.verdicts[index_of(retried_other)] == verdict::failed);
    CHECK(r.verdicts[index_of(stale)] == verdict::failed);
    CHECK(r.verdicts[index_of(cut)] == verdict::failed);
    CHECK(r.verdicts[index_of(unsent)] == verdict::failed);
    CHECK(r.to_confirm == std::vector<std::size_t>{index_of(retried_unnamed)});

    REQUIRE(r.failures.size() == 5);
    auto failure = [&](std::string_view id) -> const morm::object_outcome& {
        for (auto& f : r.failures)
            if (f.id == "\"" + std::string(id) + "\"") return f;
        FAIL("no failure for " << id);
        return r.failures.front();
    };
    CHECK(failure("dup").code == 11000);
    CHECK(failure("dup").error == morm::errc::write_error);
    CHECK(failure("dup").state == S::failed);
    CHECK(failure("d1").error == morm::errc::conflict);
    CHECK(failure("d1").message.find("version 2") != std::string::npos);
    CHECK(failure("cut").state == S::unacknowledged);
    CHECK(failure("unsent").state == S::pending);
    CHECK(failure("unsent").error == morm::errc::outcome_unknown);
    CHECK(failure("unsent").message == "not sent: the commit stopped first");
    CHECK(obj<Doc>(stale).version == 2);  // reconcile decides; the session applies
}

TEST_CASE("uow: an oversized or unencodable document fails only its own object", "[uow][orm-unit]") {
    entries es;
    auto* big = es.add(Note{"big", std::string(100, 'x'), 0}, state::pending_insert);
    auto* fine = es.add(Note{"fine", "", 0}, state::pending_insert);
    auto* doc = es.add(Doc{"d1", "t", 4}, state::persistent);
    obj<Doc>(doc).title = "t2";
    auto all = es.all();
    auto p = morm::uow::make_plan(all);
    REQUIRE(p.work.size() == 3);
    std::vector<item_outcome> out(p.work.size());
    using S = item_outcome::state;
    for (std::size_t i = 0; i < p.work.size(); ++i) {
        if (p.work[i].e == big) {
            // What the batch writer reports for a document over maxBsonObjectSize: never sent.
            out[i].st = S::failed;
            out[i].error = morm::errc::document_too_large;
            out[i].message = "document of 16777300 bytes exceeds maxBsonObjectSize 16777216";
        } else if (p.work[i].e == doc) {
            out[i] = outcome(S::ok, 0, {}, 1);  // matched: the version check passed
        } else {
            out[i] = outcome(S::ok);
        }
    }
    auto r = morm::uow::reconcile(p, out);
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].id == "\"big\"");
    CHECK(r.failures[0].error == morm::errc::document_too_large);
    CHECK(r.failures[0].state == S::failed);
    CHECK(r.failures[0].op == morm::object_outcome::operation::insert);
    CHECK(r.failures[0].message.find("maxBsonObjectSize") != std::string::npos);
    for (std::size_t i = 0; i < p.work.size(); ++i)
        CHECK(r.verdicts[i] == (p.work[i].e == big ? verdict::failed : verdict::written));
    (void)fine;
}
