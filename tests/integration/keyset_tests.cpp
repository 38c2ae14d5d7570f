// Keyset pagination (query<T>::after, orm/keyset.hpp) against the real server: paging
// through documents with many equal sort values sees each once, in order, and documents
// inserted between pages are seen only if they sort after the current position.
//
// Every argument of a co_await'ed call is a named variable (g++ 12 temporaries bug).
#include "common/test_server.hpp"

#include <morm/morm.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;

namespace keyset_it {

struct Meta {
    std::int32_t group = 0;
};
MORM_STRUCT(Meta, group);

struct Entry {
    std::int32_t id = 0;
    std::int32_t score = 0;
    Meta meta;
};
MORM_MODEL(Entry, "entries", (id, "_id"), score, meta);

}  // namespace keyset_it

using namespace keyset_it;

namespace {

asio::awaitable<morm::engine> make_engine() {
    morm::engine_options opts;
    opts.database = morm_test::unique_db("keyset");
    auto uri = morm_test::server_uri();
    co_return co_await morm::create_engine(uri, opts);
}

Entry entry(std::int32_t id, std::int32_t score, std::int32_t group) {
    Entry e;
    e.id = id;
    e.score = score;
    e.meta.group = group;
    return e;
}

/// Stores `n` entries with ids 1..n (inserted in a shuffled id order), score = id % 7
/// and group = id % 3: many equal sort values.
asio::awaitable<void> seed(const morm::engine& eng, std::int32_t n) {
    morm::session s{eng};
    for (std::int32_t k = 0; k < n; ++k) {
        const std::int32_t id = 1 + (k * 389) % n;  // 389 is prime to 1000: a permutation
        s.add(entry(id, id % 7, id % 3));
    }
    co_await s.commit();
}

}  // namespace

TEST_CASE("keyset: paging through 1,000 documents with equal sort values sees each once, in order",
          "[keyset][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        co_await seed(eng, 1000);
        // Each page in its own session: nothing comes from an identity map.
        {  // ascending score
            std::vector<std::pair<std::int32_t, std::int32_t>> seen;  // (score, id)
            std::shared_ptr<Entry> last;
            std::size_t pages = 0;
            const auto t0 = std::chrono::steady_clock::now();
            for (;;) {
                morm::session s{eng};
                auto q = s.query<Entry>();
                q.sort(&Entry::score).limit(37).after(last);  // null: the first page
                auto page = co_await q.all();
                if (page.empty()) break;
                ++pages;
                CHECK(page.size() <= 37);
                for (auto& e : page) seen.emplace_back(e->score, e->id);
                last = page.back();
            }
            const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            WARN("keyset: " << pages << " pages of 37 over 1000 documents in " << ms << " ms");
            CHECK(pages == 28);  // 27 full pages and one of 1
            REQUIRE(seen.size() == 1000);
            CHECK(std::is_sorted(seen.begin(), seen.end()));
            std::set<std::int32_t> ids;
            for (auto& [score, id] : seen) ids.insert(id);
            CHECK(ids.size() == 1000);
        }
        {  // descending nested group, then ascending score
            std::vector<std::tuple<std::int32_t, std::int32_t, std::int32_t>> seen;  // (-group, score, id)
            Entry last;
            bool have_last = false;
            for (;;) {
                morm::session s{eng};
                auto q = s.query<Entry>();
                // _id sorted explicitly: the first page is in the same total order.
                q.sort(morm::field(&Entry::meta, &Meta::group), morm::order::desc)
                    .sort(&Entry::score)
                    .sort(&Entry::id)
                    .limit(50);
                if (have_last) q.after(last);  // a plain T works too
                auto page = co_await q.all();
                if (page.empty()) break;
                for (auto& e : page) seen.emplace_back(-e->meta.group, e->score, e->id);
                last = *page.back();
                have_last = true;
            }
            REQUIRE(seen.size() == 1000);
            CHECK(std::is_sorted(seen.begin(), seen.end()));
            std::set<std::int32_t> ids;
            for (auto& t : seen) ids.insert(std::get<2>(t));
            CHECK(ids.size() == 1000);
        }
        co_await eng.database().drop();
    });
}

TEST_CASE("keyset: documents inserted between pages are seen only after the cursor position",
          "[keyset][integration]") {
    morm_test::run([]() -> asio::awaitable<void> {
        auto eng = co_await make_engine();
        co_await seed(eng, 100);  // scores 0..6
        std::vector<std::pair<std::int32_t, std::int32_t>> seen;
        std::shared_ptr<Entry> last;
        std::set<std::int32_t> before, after;  // the ids inserted behind / ahead of the cursor
        int page_no = 0;
        for (;;) {
            morm::session s{eng};
            auto q = s.query<Entry>();
            q.sort(&Entry::score).limit(10).after(last);
            auto page = co_await q.all();
            if (page.empty()) break;
            for (auto& e : page) seen.emplace_back(e->score, e->id);
            last = page.back();
            if (++page_no <= 3) {
                // Another writer: one document before the position (equal score, smaller
                // id; and a smaller score), one at equal score but a larger id, and one
                // with a larger score.
                morm::session w{eng};
                const std::int32_t base = 1000 + page_no * 10;
                w.add(entry(base + 1, last->score - 1, 0));
                before.insert(base + 1);
                w.add(entry(-page_no, last->score, 0));  // smaller id than any seeded one
                before.insert(-page_no);
                w.add(entry(base + 2, last->score, 0));
                after.insert(base + 2);
                w.add(entry(base + 3, last->score + 1, 0));
                after.insert(base + 3);
                co_await w.commit();
            }
        }
        std::set<std::int32_t> ids;
        for (auto& [score, id] : seen) ids.insert(id);
        CHECK(ids.size() == seen.size());  // nothing repeated
        CHECK(std::is_sorted(seen.begin(), seen.end()));
        CHECK(seen.size() == 100 + after.size());  // nothing skipped
        for (auto id : after) CHECK(ids.count(id) == 1);
        for (auto id : before) CHECK(ids.count(id) == 0);
        for (std::int32_t id = 1; id <= 100; ++id) CHECK(ids.count(id) == 1);
        co_await eng.database().drop();
    });
}
