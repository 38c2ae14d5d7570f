#include <morm/bson/object_id.hpp>
#include <morm/error.hpp>

#include <pthread.h>

#include <atomic>
#include <ctime>
#include <random>

namespace morm::bson {

namespace {

// Per-process state. The random value and the counter seed are (re)drawn at first use and in
// a forked child, so parent and child never produce the same ids.
struct oid_state {
    std::atomic<std::uint64_t> random5{0};  // low 40 bits used
    std::atomic<std::uint32_t> counter{0};

    void reseed() noexcept {
        std::random_device rd;
        std::uint64_t r = (std::uint64_t(rd()) << 32) ^ rd();
        random5.store(r & 0xFFFFFFFFFFull, std::memory_order_relaxed);
        counter.store(rd(), std::memory_order_relaxed);
    }
};

oid_state& state() noexcept {
    static oid_state s;
    static const bool init = [] {
        s.reseed();
        pthread_atfork(nullptr, nullptr, [] { state().reseed(); });
        return true;
    }();
    (void)init;
    return s;
}

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

object_id object_id::generate() noexcept {
    auto& s = state();
    std::uint32_t secs = static_cast<std::uint32_t>(std::time(nullptr));
    std::uint64_t rnd = s.random5.load(std::memory_order_relaxed);
    std::uint32_t cnt = s.counter.fetch_add(1, std::memory_order_relaxed);
    std::array<std::uint8_t, size> b;
    b[0] = std::uint8_t(secs >> 24);
    b[1] = std::uint8_t(secs >> 16);
    b[2] = std::uint8_t(secs >> 8);
    b[3] = std::uint8_t(secs);
    b[4] = std::uint8_t(rnd >> 32);
    b[5] = std::uint8_t(rnd >> 24);
    b[6] = std::uint8_t(rnd >> 16);
    b[7] = std::uint8_t(rnd >> 8);
    b[8] = std::uint8_t(rnd);
    b[9] = std::uint8_t(cnt >> 16);
    b[10] = std::uint8_t(cnt >> 8);
    b[11] = std::uint8_t(cnt);
    return object_id(b);
}

std::optional<object_id> object_id::parse_hex(std::string_view hex) noexcept {
    if (hex.size() != 2 * size) return std::nullopt;
    std::array<std::uint8_t, size> b;
    for (std::size_t i = 0; i < size; ++i) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        b[i] = std::uint8_t(hi << 4 | lo);
    }
    return object_id(b);
}

object_id object_id::from_hex(std::string_view hex) {
    if (auto r = parse_hex(hex)) return *r;
    throw morm::error(errc::invalid_argument, "invalid ObjectId hex string: '" + std::string(hex) + "'");
}

void object_id::to_hex(char* out) const noexcept {
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = digits[bytes_[i] >> 4];
        out[2 * i + 1] = digits[bytes_[i] & 0xF];
    }
}

std::string object_id::to_hex() const {
    std::string s(2 * size, '\0');
    to_hex(s.data());
    return s;
}

}  // namespace morm::bson
