// Dates: system_clock time points (any duration; millisecond precision on the wire) and
// std::chrono::year_month_day (midnight UTC of that day) <-> BSON date.
#pragma once

#include <morm/codec/traits.hpp>

#include <chrono>

namespace morm {

template <class D>
struct bson_traits<std::chrono::time_point<std::chrono::system_clock, D>> {
    using time_point = std::chrono::time_point<std::chrono::system_clock, D>;
    static constexpr bson_type_t type = BSON_TYPE_DATE_TIME;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const time_point& v) {
        return w.date(std::chrono::floor<std::chrono::milliseconds>(v.time_since_epoch()).count());
    }
    static bool read(const codec::element& e, time_point& v) {
        if (e.type() != BSON_TYPE_DATE_TIME) return e.mismatch("date");
        const std::chrono::milliseconds ms(e.as_date());
        v = time_point(std::chrono::duration_cast<D>(ms));
        return true;
    }
};

/// A calendar day, stored as the date of its midnight UTC. Reading a date that is not at
/// midnight UTC fails (it was not written as a day; truncating would hide that).
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
        if (e.type() != BSON_TYPE_DATE_TIME) return e.mismatch("date");
        const std::chrono::sys_time<std::chrono::milliseconds> t{std::chrono::milliseconds(e.as_date())};
        const auto day = std::chrono::floor<std::chrono::days>(t);
        if (day != t) return e.fail("date is not at midnight UTC, cannot be read as a calendar day");
        d = std::chrono::year_month_day(day);
        return true;
    }
};

}  // namespace morm
