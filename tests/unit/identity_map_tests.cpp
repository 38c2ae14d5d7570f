// The session's flat identity map and block-allocated entry list (src/orm/identity_map.hpp),
// against std::unordered_map under random inserts and erases: backward-shift deletion must
// never cut a probe run short, whatever the collisions.
#include "orm/identity_map.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <unordered_map>

using morm::detail::entry_list;
using morm::detail::id_table;

TEST_CASE("identity map: entries keep their address and index as the list grows", "[orm-unit][session]") {
    entry_list es;
    std::vector<const morm::session_entry*> addr;
    for (std::uint32_t i = 0; i < 20'000; ++i) {
        auto& e = es.emplace_back();
        CHECK(e.index == i);
        e.key = std::to_string(i);
        addr.push_back(&e);
    }
    REQUIRE(es.size() == 20'000);
    std::size_t seen = 0;
    es.for_each([&](morm::session_entry& e) {
        CHECK(&e == addr[seen]);
        CHECK(&es[seen] == addr[seen]);
        CHECK(e.key == std::to_string(seen));
        ++seen;
    });
    CHECK(seen == 20'000);
    es.clear();
    CHECK(es.size() == 0);
}

TEST_CASE("identity map: finds what was inserted and not erased, under collisions", "[orm-unit][session]") {
    entry_list es;
    id_table t;
    std::unordered_map<std::string, std::uint32_t> ref;
    std::mt19937 rng(14);
    // Eight hash values on purpose, homed in the last slots of any table: long probe runs
    // that wrap around its end.
    auto hash = [](const std::string& k) { return 0xFFFFFFF8u | (id_table::hash_of(k) & 0x7u); };
    for (int round = 0; round < 20'000; ++round) {
        const std::string key = "k" + std::to_string(rng() % 3'000);
        if (auto it = ref.find(key); it != ref.end()) {
            if (rng() % 2) {
                t.erase(hash(key), it->second);
                ref.erase(it);
            }
        } else {
            auto& e = es.emplace_back();
            e.key = key;
            t.insert(hash(key), e.index);
            ref.emplace(key, e.index);
        }
        if (round % 997 == 0) {
            for (int k = 0; k < 3'000; ++k) {
                const std::string probe = "k" + std::to_string(k);
                auto it = ref.find(probe);
                const auto got = t.find(probe, hash(probe), es);
                CHECK(got == (it == ref.end() ? id_table::npos : it->second));
            }
        }
    }
    CHECK(t.size() == ref.size());
    for (auto& [key, index] : ref) CHECK(t.find(key, hash(key), es) == index);
    t.clear();
    CHECK(t.size() == 0);
    CHECK(t.find("k1", hash("k1"), es) == id_table::npos);
}
