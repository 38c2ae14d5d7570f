// The session's per-object storage, built for 100k-object sessions:
//   entry_list  the entries, in blocks (16, 32, ... up to 4,096 entries each), so that an
//               entry never moves while it lives and adding one is no allocation of its own;
//   id_table    one model's identity map: id key bytes -> entry index, open addressing with
//               linear probing and backward-shift deletion (no tombstones), one 8-byte slot
//               per entry and no node per entry. The key bytes live in the entry.
#pragma once

#include "session_entry.hpp"

#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace morm::detail {

class entry_list {
public:
    using entry = session_entry;

    std::size_t size() const noexcept { return n_; }
    entry& operator[](std::size_t i) noexcept {
        auto [c, off] = locate(i);
        return blocks_[c][off];
    }
    const entry& operator[](std::size_t i) const noexcept {
        auto [c, off] = locate(i);
        return blocks_[c][off];
    }
    /// A fresh (default) entry at the end; its `index` is set.
    entry& emplace_back() {
        auto [c, off] = locate(n_);
        if (c == blocks_.size()) blocks_.push_back(std::make_unique<entry[]>(block_size(c)));
        entry& e = blocks_[c][off];
        e.index = static_cast<std::uint32_t>(n_++);
        return e;
    }
    void clear() noexcept {
        blocks_.clear();
        n_ = 0;
    }
    template <class F>
    void for_each(F&& f) {
        std::size_t left = n_;
        for (std::size_t c = 0; c < blocks_.size() && left; ++c) {
            const std::size_t k = std::min(left, block_size(c));
            for (std::size_t i = 0; i < k; ++i) f(blocks_[c][i]);
            left -= k;
        }
    }

private:
    static constexpr std::size_t first = 16;                  // a small session stays small
    static constexpr std::size_t doublings = 8;               // blocks 16 .. 4,096 entries
    static constexpr std::size_t cap = first << doublings;    // then fixed 4,096-entry blocks
    static constexpr std::size_t geometric = first * ((std::size_t{1} << (doublings + 1)) - 1);

    static std::size_t block_size(std::size_t c) noexcept { return c <= doublings ? first << c : cap; }
    static std::pair<std::size_t, std::size_t> locate(std::size_t i) noexcept {
        if (i < geometric) {
            const std::size_t c = static_cast<std::size_t>(std::bit_width(i / first + 1)) - 1;
            return {c, i - first * ((std::size_t{1} << c) - 1)};
        }
        const std::size_t j = i - geometric;
        return {doublings + 1 + j / cap, j % cap};
    }

    std::vector<std::unique_ptr<entry[]>> blocks_;
    std::size_t n_ = 0;
};

class id_table {
public:
    static constexpr std::uint32_t npos = UINT32_MAX;

    static std::uint32_t hash_of(std::string_view key) noexcept {
        const auto h = std::hash<std::string_view>{}(key);
        return static_cast<std::uint32_t>(h ^ (h >> 32));
    }
    std::size_t size() const noexcept { return size_; }

    /// The index of the entry whose key is `key` (hash `h`), or npos.
    std::uint32_t find(std::string_view key, std::uint32_t h, const entry_list& es) const noexcept {
        if (slots_.empty()) return npos;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            const slot s = slots_[i];
            if (s.ref == 0) return npos;
            if (s.hash == h && es[s.ref - 1].key == key) return s.ref - 1;
        }
    }
    /// Adds entry `index` (hash `h`); its key must not be in the table.
    void insert(std::uint32_t h, std::uint32_t index) {
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();
        place(h, index);
        ++size_;
    }
    /// Removes entry `index` (hash `h`) if it is in the table.
    void erase(std::uint32_t h, std::uint32_t index) noexcept {
        if (slots_.empty()) return;
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = h & mask;
        for (;; i = (i + 1) & mask) {
            if (slots_[i].ref == 0) return;
            if (slots_[i].ref == index + 1) break;
        }
        // Backward shift: pull later members of the probe run into the hole, so that a
        // lookup never stops early at it.
        for (std::size_t j = (i + 1) & mask; slots_[j].ref != 0; j = (j + 1) & mask) {
            const std::size_t home = slots_[j].hash & mask;
            const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (stays) continue;
            slots_[i] = slots_[j];
            i = j;
        }
        slots_[i] = slot{};
        --size_;
    }
    /// Empties the table; keeps its capacity when it is small, so that a session that
    /// commits in a loop does not reallocate it each time.
    void clear() noexcept {
        if (slots_.size() > 4096) std::vector<slot>().swap(slots_);
        else std::fill(slots_.begin(), slots_.end(), slot{});
        size_ = 0;
    }

private:
    struct slot {
        std::uint32_t hash = 0;
        std::uint32_t ref = 0;  // entry index + 1; 0 = empty
    };
    void place(std::uint32_t h, std::uint32_t index) noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = h & mask;
        while (slots_[i].ref != 0) i = (i + 1) & mask;
        slots_[i] = slot{h, index + 1};
    }
    void grow() {
        std::vector<slot> old(slots_.empty() ? 16 : slots_.size() * 2);
        old.swap(slots_);
        for (const slot& s : old)
            if (s.ref != 0) place(s.hash, s.ref - 1);
    }

    std::vector<slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace morm::detail
