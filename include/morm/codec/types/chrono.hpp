// Dates: system_clock time points (any duration; millisecond precision on the wire) and
// std::chrono::year_month_day (midnight UTC of that day) <-> BSON date.
//
// Range. A BSON date is an int64 count of milliseconds since 1970-01-01T00:00:00Z, about
// ±292 million years. Which C++ types hold all of it:
// - std::chrono::sys_time<std::chrono::milliseconds> holds every BSON date exactly: use it
//   for dates that may be far from today (e.g. 9999-12-31 as "no end date").
// - Coarser int64 durations (sys_time<seconds>, sys_days, ...) hold every BSON date too,
//   floored to their unit on decode; on encode a value beyond ±2^63 ms fails.
// - std::chrono::system_clock::time_point counts nanoseconds in libstdc++ and libc++, so it
//   only holds 1677-09-21 to 2262-04-11. Decoding a date outside what the duration holds
//   fails with a decode error naming the field ("when: date ... is out of range ..."),
//   never a silently wrapped value.
// - year_month_day holds years -32767 to 32767; a date outside fails the same way.
#pragma once

#include <morm/codec/traits.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <type_traits>

namespace morm {

namespace codec::detail {

__extension__ typedef __int128 date_i128;  // int64 × int64 products without overflow

/// `ticks` of `From` expressed in `To`, floored; false if it does not fit To's rep.
template <class To, class From>
bool floor_duration(From from, To& to) noexcept {
    using rep = typename To::rep;
    using r = std::ratio_divide<typename From::period, typename To::period>;
    if constexpr (std::is_floating_point_v<rep> || std::is_floating_point_v<typename From::rep>) {
        const long double x = std::floor(static_cast<long double>(from.count()) * r::num / r::den);
        if (!std::isfinite(x)) return false;
        if constexpr (!std::is_floating_point_v<rep>)
            if (x < static_cast<long double>(std::numeric_limits<rep>::min()) ||
                x >= -static_cast<long double>(std::numeric_limits<rep>::min()))
                return false;
        to = To(static_cast<rep>(x));
        return true;
    } else {
        date_i128 n = 0;
        if (__builtin_mul_overflow(static_cast<date_i128>(from.count()), static_cast<date_i128>(r::num), &n))
            return false;
        date_i128 q = n / r::den;
        if (n % r::den != 0 && n < 0) --q;
        if (q < static_cast<date_i128>(std::numeric_limits<rep>::min()) ||
            q > static_cast<date_i128>(std::numeric_limits<rep>::max()))
            return false;
        to = To(static_cast<rep>(q));
        return true;
    }
}

/// Decode error for a BSON date that `what` cannot hold; the codec prefixes the field path.
inline bool date_out_of_range(const codec::element& e, std::int64_t ms, const char* what) {
    std::string why = "date " + std::to_string(ms) + " ms since 1970";
    using namespace std::chrono;
    const auto day = floor<days>(sys_time<milliseconds>(milliseconds(ms)));
    if (day >= sys_days(year::min() / January / 1) && day <= sys_days(year::max() / December / 31))
        why += " (year " + std::to_string(static_cast<int>(year_month_day(day).year())) + ")";
    why += " is out of range for ";
    why += what;
    why += "; std::chrono::sys_time<std::chrono::milliseconds> holds every BSON date";
    return e.fail(std::move(why));
}

}  // namespace codec::detail

template <class D>
struct bson_traits<std::chrono::time_point<std::chrono::system_clock, D>> {
    using time_point = std::chrono::time_point<std::chrono::system_clock, D>;
    static constexpr bson_type_t type = BSON_TYPE_DATE_TIME;

    /// Floors to milliseconds; fails if the value is beyond BSON's int64 milliseconds (only
    /// possible for durations coarser than a millisecond).
    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const time_point& v) {
        std::chrono::duration<std::int64_t, std::milli> ms;
        if (!codec::detail::floor_duration(v.time_since_epoch(), ms))
            return w.fail("time_point is beyond the BSON date range (int64 milliseconds since 1970)");
        return w.date(ms.count());
    }
    /// Floors to D; a date D cannot hold is a decode error naming the field.
    static bool read(const codec::element& e, time_point& v) {
        if (e.type() != BSON_TYPE_DATE_TIME) return e.mismatch("date");
        const std::int64_t raw = e.as_date();
        D d{};
        if (!codec::detail::floor_duration(std::chrono::duration<std::int64_t, std::milli>(raw), d))
            return codec::detail::date_out_of_range(
                e, raw,
                std::is_same_v<typename D::period, std::nano>
                    ? "a nanosecond time_point (such as system_clock::time_point: 1677-09-21 to 2262-04-11)"
                    : "this time_point's duration");
        v = time_point(d);
        return true;
    }
};

/// A calendar day, stored as the date of its midnight UTC. Reading a date that is not at
/// midnight UTC fails (it was not written as a day; truncating would hide that), and so does
/// one outside year_month_day's years (-32767 to 32767).
template <>
struct bson_traits<std::chrono::year_month_day> {
    static constexpr bson_type_t type = BSON_TYPE_DATE_TIME;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const std::chrono::year_month_day& d) {
        if (!d.ok()) return w.fail("invalid calendar date");
        const std::chrono::sys_days days(d);
        return w.date(std::chrono::duration_cast<std::chrono::milliseconds>(days.time_since_epoch()).count());
    }
    static bool read(const codec::element& e, std::chrono::year_month_day& d) {
        using namespace std::chrono;
        if (e.type() != BSON_TYPE_DATE_TIME) return e.mismatch("date");
        const sys_time<milliseconds> t{milliseconds(e.as_date())};
        const auto day = floor<days>(t);
        if (day < sys_days(year::min() / January / 1) || day > sys_days(year::max() / December / 31))
            return codec::detail::date_out_of_range(e, e.as_date(), "year_month_day (years -32767 to 32767)");
        if (day != t) return e.fail("date is not at midnight UTC, cannot be read as a calendar day");
        d = year_month_day(day);
        return true;
    }
};

}  // namespace morm
