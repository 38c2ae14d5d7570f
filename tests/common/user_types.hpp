// User-defined field types, each mapped by one morm::bson_traits specialization and nothing
// else (the README's how-to shows the same): a money type stored as decimal128, a UUID
// stored as binary subtype 4, a strong id type stored as a string, and models using them
// with std::chrono::year_month_day (a built-in mapping) and a renamed field.
#pragma once

#include <morm/morm.hpp>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace user_types {

/// An amount in cents; stored as a decimal128 with two decimals ("12.34").
struct Money {
    std::int64_t cents = 0;
    friend auto operator<=>(const Money&, const Money&) = default;
};

/// Cents from a decimal string as libbson prints it ("12.34", "-0.50", "1.2E+3", "5"); false
/// if it is not a whole number of cents or does not fit.
inline bool parse_cents(std::string_view s, std::int64_t& out) {
    bool neg = !s.empty() && s.front() == '-';
    if (neg) s.remove_prefix(1);
    std::int64_t coef = 0;
    int exp = 0;
    std::size_t i = 0;
    bool dot = false, digits = false;
    for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'); ++i) {
        if (s[i] == '.') {
            if (dot) return false;
            dot = true;
            continue;
        }
        if (coef > (INT64_MAX - 9) / 10) return false;
        coef = coef * 10 + (s[i] - '0');
        digits = true;
        if (dot) --exp;
    }
    if (!digits) return false;
    if (i < s.size()) {
        if (s[i] != 'E' && s[i] != 'e') return false;
        int e = 0;
        std::string_view rest = s.substr(i + 1);
        if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
        if (std::from_chars(rest.data(), rest.data() + rest.size(), e).ec != std::errc{}) return false;
        exp += e;
    }
    for (exp += 2; exp > 0; --exp) {
        if (coef > INT64_MAX / 10) return false;
        coef *= 10;
    }
    for (; exp < 0; ++exp) {
        if (coef % 10) return false;
        coef /= 10;
    }
    out = neg ? -coef : coef;
    return true;
}

/// A UUID (RFC 4122 bytes); stored as binary subtype 4.
struct Uuid {
    std::array<std::uint8_t, 16> bytes{};
    friend bool operator==(const Uuid&, const Uuid&) = default;
};

/// A strong id type: a user id is not any string.
struct UserId {
    std::string v;
    friend bool operator==(const UserId&, const UserId&) = default;
};

struct Account {
    UserId id;
    std::string name;
    Uuid token;
    std::chrono::year_month_day birthday{};
    std::vector<Uuid> devices;
    std::optional<UserId> referrer;
};
MORM_MODEL(Account, "accounts", (id, "_id"), name, token, birthday, devices, referrer);

struct Wallet {
    UserId id;
    Money balance;
    std::optional<Money> limit;
};
MORM_MODEL(Wallet, "wallets", (id, "_id"), balance, limit);

/// Version 2 of a contact: "mail" was renamed "email" and "phone" became "mobile".
struct Contact {
    std::string id;
    std::string email;
    std::optional<std::string> mobile;
    std::int32_t visits = 0;
};
MORM_MODEL(Contact, "contacts", (id, "_id"), (email, "email", morm::codec::alias("mail")),
           (mobile, "mobile", morm::codec::alias("phone")), visits);

}  // namespace user_types

template <>
struct morm::bson_traits<user_types::Money> {
    static constexpr bson_type_t type = BSON_TYPE_DECIMAL128;
    template <class W>
    static bool write(W& w, const user_types::Money& m) {
        const std::int64_t c = m.cents;
        const std::uint64_t a = c < 0 ? 0 - static_cast<std::uint64_t>(c) : static_cast<std::uint64_t>(c);
        const std::string s = (c < 0 ? "-" : "") + std::to_string(a / 100) + "." + (a % 100 < 10 ? "0" : "") +
                              std::to_string(a % 100);
        bson_decimal128_t d;
        if (!bson_decimal128_from_string(s.c_str(), &d)) return w.fail("cannot encode " + s + " as decimal128");
        return w.decimal128(d);
    }
    static bool read(const morm::codec::element& e, user_types::Money& m) {
        if (e.type() != BSON_TYPE_DECIMAL128) return e.mismatch("decimal128");
        const bson_decimal128_t d = e.as_decimal128();
        char buf[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&d, buf);
        if (!user_types::parse_cents(buf, m.cents)) return e.fail(std::string("not a whole number of cents: ") + buf);
        return true;
    }
};

template <>
struct morm::bson_traits<user_types::Uuid> {
    static constexpr bson_type_t type = BSON_TYPE_BINARY;
    static constexpr std::string_view expected = "UUID (binary subtype 4)";
    static constexpr std::size_t size_estimate = 4 + 1 + 16;
    template <class W>
    static bool write(W& w, const user_types::Uuid& u) {
        return w.binary(BSON_SUBTYPE_UUID, u.bytes.data(), u.bytes.size());
    }
    static bool read(const morm::codec::element& e, user_types::Uuid& u) {
        if (e.type() != BSON_TYPE_BINARY) return e.mismatch(expected);
        std::uint8_t subtype = 0;
        const auto b = e.as_binary(subtype);
        if (subtype != BSON_SUBTYPE_UUID || b.size() != 16) return e.mismatch(expected);
        std::copy(b.begin(), b.end(), u.bytes.begin());
        return true;
    }
};

template <>
struct morm::bson_traits<user_types::UserId> {
    static constexpr bson_type_t type = BSON_TYPE_UTF8;
    template <class W>
    static bool write(W& w, const user_types::UserId& id) {
        return w.value(id.v);
    }
    static bool read(const morm::codec::element& e, user_types::UserId& id) { return e.read(id.v); }
};
