// Typed aggregation pipelines: `session.aggregate<Order>()` starts one on Order's collection.
//
//   struct CustomerTotal { std::string id; double total = 0; std::int64_t orders = 0; std::vector<double> amounts; };
//   MORM_STRUCT(CustomerTotal, (id, "_id"), total, orders, amounts);
//   auto rows = co_await s.aggregate<Order>()
//       .match(field(&Order::status) == "paid")
//       .group<CustomerTotal>(field(&Order::customer),
//                             morm::sum(&CustomerTotal::total, field(&Order::amount)),
//                             morm::count(&CustomerTotal::orders),
//                             morm::push(&CustomerTotal::amounts, field(&Order::amount)))
//       .sort(&CustomerTotal::total, morm::order::desc).limit(10)
//       .all();   // std::vector<CustomerTotal>, not tracked
//
// Why the builder's type carries the current stage's output type `Out`: each stage is
// checked against what the previous one produces, like query<T> checks its expressions
// against T. match() and sort() take expressions over Out; project<R>(), group<R>(),
// unwind<R>(), lookup<R>() and raw<R>() say what the next stages see, and all() decodes R.
// The rules, each a static_assert whose message starts with `morm:`:
//  - project<R>(): every field of R is a field of Out with the same stored name and kind of
//    value (fit.hpp; the same rule as query<T>::select<R>()).
//  - group<R>(key, accumulators...): R has an _id field that holds the key's type; each
//    accumulator fills a declared member of R other than _id from a field of Out; every
//    field of R besides _id is filled. sum: numbers into a number field (a floating-point
//    one if the input is floating-point); avg: numbers into a floating-point field; count:
//    into an integer field; push: into a std::vector of the input's type; min, max, first,
//    last: into a field of the input's type. Accumulators are matched to R's fields by type
//    at compile time; which member each one names is known at run time only, so two
//    accumulators filling the same member throw errc::invalid_argument when group() runs.
//  - unwind<R>(&Out::vec): R is Out with `vec` holding one element: every field of R is a
//    field of Out; the one stored under vec's name holds vec's element type, the others
//    their Out type (the name is checked when unwind() runs: errc::invalid_argument).
//  - lookup<R>(&Out::customer, &R::customer_docs): `customer` is a morm::ref<T>; `from` is
//    T's collection, localField the ref's stored name, foreignField `_id`, `as` the stored
//    name of a std::vector<U> member of R, U being T or a struct fitting T. The other fields
//    of R are fields of Out.
//  - raw<R>(stage): any stage, unchecked; R (default: Out) names what it outputs.
//
// Results are decoded as Out and never tracked (they are not objects of the collection).
// all() and stream() have the two forms of query.hpp (`co_await` throws morm::error; the
// token form takes any Asio completion token), with the same executor, lifetime and
// cancellation sections: see the top of query.hpp. pipeline() gives the stages as sent.
#pragma once

#include <morm/orm/fit.hpp>
#include <morm/orm/query.hpp>
#include <morm/orm/ref.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace morm {

namespace detail::agg {

/// The stored name of a member; a member missing from its MORM_STRUCT is an
/// errc::invalid_argument (codec::field_name throws std::invalid_argument).
template <class C, class V>
std::string stored_name(V C::*member) {
    try {
        return std::string(codec::field_name(member));
    } catch (const std::invalid_argument&) {
        throw error(errc::invalid_argument, "aggregation: a member pointer names no declared field of its struct");
    }
}

/// The value type of a group key or accumulator input: `&T::m` or a field_ref.
template <class K>
struct key_value {
    using type = void;
};
template <class C, class V>
struct key_value<V C::*> {
    using type = V;
};
template <class R, class V>
struct key_value<field_ref<R, V>> {
    using type = V;
};
template <class K>
using key_value_t = typename key_value<std::remove_cvref_t<K>>::type;

/// How many of S's fields other than _id have C++ type V.
template <class S, class V, std::size_t... I>
constexpr std::size_t count_typed(std::index_sequence<I...>) {
    return ((std::is_same_v<fit::member_t<S, I>, V> && codec::struct_traits<S>::names[I] != "_id" ? 1 : 0) + ... + 0);
}
template <class S, class V>
inline constexpr std::size_t fields_typed = count_typed<S, V>(std::make_index_sequence<fit::nfields<S>>{});

/// How many of the accumulators A... fill a member of type V.
template <class V, class... A>
inline constexpr std::size_t accs_typed = ((std::is_same_v<typename A::member_type, V> ? 1 : 0) + ... + 0);

/// Every field of S besides _id is the target type of an accumulator of A... (as many
/// accumulators of each type as fields of that type).
template <class S, class... A, std::size_t... I>
constexpr bool all_filled(std::index_sequence<I...>) {
    return ((codec::struct_traits<S>::names[I] == "_id" ||
             accs_typed<fit::member_t<S, I>, A...> >= fields_typed<S, fit::member_t<S, I>>) &&
            ...);
}

/// unwind<R>(&In::vec): each field of R that In has holds In's type, or vec's element
/// type where In's field has vec's type.
template <class R, class In, class Vec, std::size_t I>
constexpr bool fits_unwound_at() {
    constexpr std::size_t j = fit::match_of<R, In, I>;
    if constexpr (j >= fit::nfields<In>)
        return true;
    else
        return fit::same_value<fit::member_t<R, I>, fit::member_t<In, j>> ||
               (std::is_same_v<fit::member_t<In, j>, Vec> && fit::same_value<fit::member_t<R, I>, element_t<Vec>>);
}
template <class R, class In, class Vec, std::size_t... I>
constexpr bool all_fit_unwound(std::index_sequence<I...>) {
    return (fits_unwound_at<R, In, Vec, I>() && ...);
}

/// lookup<R>(..., &R::as): each field of R is a field of In that fits, or of As's type.
template <class R, class In, class As, std::size_t I>
constexpr bool fits_looked_up_at() {
    constexpr std::size_t j = fit::match_of<R, In, I>;
    if constexpr (std::is_same_v<fit::member_t<R, I>, As>)
        return true;
    else if constexpr (j >= fit::nfields<In>)
        return false;
    else
        return fit::same_value<fit::member_t<R, I>, fit::member_t<In, j>>;
}
template <class R, class In, class As, std::size_t... I>
constexpr bool all_fit_looked_up(std::index_sequence<I...>) {
    return (fits_looked_up_at<R, In, As, I>() && ...);
}

inline void append_stage(std::vector<bson::document>& stages, std::string_view op, const bson::document& body) {
    bson::document st;
    must(bson_append_document(st.get(), op.data(), static_cast<int>(op.size()), body.get()), op);
    stages.push_back(std::move(st));
}
inline void append_int_stage(std::vector<bson::document>& stages, std::string_view op, std::int64_t n) {
    bson::document st;
    must(bson_append_int64(st.get(), op.data(), static_cast<int>(op.size()), n), op);
    stages.push_back(std::move(st));
}
inline void append_utf8(bson_t* d, std::string_view key, std::string_view value) {
    must(bson_append_utf8(d, key.data(), static_cast<int>(key.size()), value.data(), static_cast<int>(value.size())),
         key);
}

}  // namespace detail::agg

// ------------------------------------------------------------------- accumulators

/// One accumulator of group<R>(): fills member `M R::*` from a field of `In` of type `V`
/// (`In` and `V` are void for count()). Made by sum(), avg(), min(), max(), count(), push(),
/// first(), last(), which check the value types.
template <class R, class M, class In, class V>
class accumulator {
public:
    using result_type = R;
    using member_type = M;
    using input_root = In;
    using input_type = V;

    /// `input` is the input field's stored path; empty for count().
    accumulator(M R::*target, const char* op, std::string input)
        : target_(target), op_(op), input_(std::move(input)) {}

    std::string target_name() const { return detail::agg::stored_name(target_); }
    /// Appends `<target>: {<op>: "$<input>"}` (count: `{$sum: 1}`) to a $group document.
    void append_to(bson_t* group, const std::string& target) const {
        bson_t sub;
        detail::must(bson_append_document_begin(group, target.data(), static_cast<int>(target.size()), &sub), target);
        if (input_.empty())
            detail::must(bson_append_int32(&sub, op_, -1, 1), target);
        else
            detail::agg::append_utf8(&sub, op_, "$" + input_);
        detail::must(bson_append_document_end(group, &sub), target);
    }

private:
    M R::*target_;
    const char* op_;
    std::string input_;
};

namespace detail::agg {
template <class A>
struct is_accumulator : std::false_type {};
template <class R, class M, class In, class V>
struct is_accumulator<accumulator<R, M, In, V>> : std::true_type {};
}  // namespace detail::agg

/// `sum(&R::total, field(&Order::amount))`: $sum of a number field into a number member
/// (floating-point if the input is).
template <class R, class M, class In, class V>
accumulator<R, M, In, V> sum(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::is_number<detail::fit::value_t<V>>, "morm: sum and avg need a number input field");
    static_assert(detail::is_number<detail::stored_t<M>>, "morm: sum fills a number field");
    static_assert(!(std::is_integral_v<detail::stored_t<M>> && std::is_floating_point_v<detail::fit::value_t<V>>),
                  "morm: the sum of floating-point values needs a floating-point field");
    return {target, "$sum", input.path()};
}
/// `avg(&R::mean, field(&Order::amount))`: $avg of a number field into a floating-point member.
template <class R, class M, class In, class V>
accumulator<R, M, In, V> avg(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::is_number<detail::fit::value_t<V>>, "morm: sum and avg need a number input field");
    static_assert(std::is_floating_point_v<detail::stored_t<M>>, "morm: avg fills a floating-point field");
    return {target, "$avg", input.path()};
}
/// `min(&R::smallest, field(&Order::amount))`: $min into a member of the input's type.
template <class R, class M, class In, class V>
accumulator<R, M, In, V> min(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::fit::same_value<M, V>, "morm: min, max, first and last fill a field of the input's type");
    return {target, "$min", input.path()};
}
/// `max(&R::largest, field(&Order::amount))`: $max into a member of the input's type.
template <class R, class M, class In, class V>
accumulator<R, M, In, V> max(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::fit::same_value<M, V>, "morm: min, max, first and last fill a field of the input's type");
    return {target, "$max", input.path()};
}
/// `first(&R::status, field(&Order::status))`: $first (in the input's order: sort first).
template <class R, class M, class In, class V>
accumulator<R, M, In, V> first(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::fit::same_value<M, V>, "morm: min, max, first and last fill a field of the input's type");
    return {target, "$first", input.path()};
}
/// `last(&R::status, field(&Order::status))`: $last.
template <class R, class M, class In, class V>
accumulator<R, M, In, V> last(M R::*target, const field_ref<In, V>& input) {
    static_assert(detail::fit::same_value<M, V>, "morm: min, max, first and last fill a field of the input's type");
    return {target, "$last", input.path()};
}
/// `push(&R::amounts, field(&Order::amount))`: $push into a std::vector of the input's type.
template <class R, class M, class In, class V>
accumulator<R, M, In, V> push(M R::*target, const field_ref<In, V>& input) {
    static_assert(!std::is_void_v<detail::element_t<M>>, "morm: push fills a std::vector field");
    static_assert(detail::fit::same_value<detail::element_t<M>, V>,
                  "morm: push fills a std::vector of the input field's type");
    return {target, "$push", input.path()};
}
/// `count(&R::orders)`: the number of documents in the group, into an integer member
/// (sent as `{$sum: 1}`, which every server version has).
template <class R, class M>
accumulator<R, M, void, void> count(M R::*target) {
    static_assert(std::is_integral_v<detail::stored_t<M>> && !std::is_same_v<detail::stored_t<M>, bool>,
                  "morm: count fills an integer field");
    return {target, "$sum", std::string()};
}

// ------------------------------------------------------------------- the builder

/// A pipeline on model M's collection whose current stage outputs Out (see the top of this
/// file). Stages are appended in call order; the stage methods that keep Out return
/// `*this`, the ones that change it a new builder (a copy: the original stays usable).
/// Needs the session only to run (all(), stream()); a default-constructed one builds and
/// inspects pipelines (unit tests).
template <codec::model M, codec::structure Out>
class aggregation {
public:
    using model_type = M;
    using output_type = Out;

    explicit aggregation(session* s = nullptr) : s_(s) {}

    /// `$match` with a filter over Out (or an untyped raw_filter()).
    template <class E>
        requires expression_of<E, Out>
    aggregation& match(const E& f) {
        detail::agg::append_stage(stages_, "$match", f.document());
        sort_open_ = false;
        return *this;
    }
    /// `$sort` by a field of Out; consecutive calls add keys to one $sort stage (the first
    /// is the primary key).
    template <class K>
        requires field_of<K, Out>
    aggregation& sort(const K& key, order o = order::asc) {
        if (!sort_open_) {
            sort_keys_ = bson::document();
            stages_.emplace_back();
            sort_open_ = true;
        }
        const std::string path = detail::path_of(key);
        detail::must(bson_append_int32(sort_keys_.get(), path.data(), static_cast<int>(path.size()), static_cast<int>(o)),
                     path);
        bson::document st;
        detail::must(bson_append_document(st.get(), "$sort", 5, sort_keys_.get()), path);
        stages_.back() = std::move(st);
        return *this;
    }
    aggregation& skip(std::int64_t n) { return int_stage("$skip", n); }
    aggregation& limit(std::int64_t n) { return int_stage("$limit", n); }
    /// The cursor's batch size (0: the server's default); bounds stream()'s memory.
    aggregation& batch_size(std::int32_t n) {
        batch_size_ = n;
        return *this;
    }

    /// `$project` into R: every field of R is a field of Out (same stored name, same kind of
    /// value); R without _id projects `_id: 0`.
    template <codec::structure R>
    aggregation<M, R> project() const {
        static_assert(detail::fit::fields_exist<R, Out>,
                      "morm: project<R>(): every field of R must be a field of the pipeline's current type (by stored name)");
        static_assert(detail::fit::fields_fit<R, Out>,
                      "morm: project<R>(): a field of R has another type than the current type's field of that name");
        return next<R>("$project", detail::fit::projection_of<R>());
    }

    /// `$group` into R by `key` (a field of Out: `&Out::m` or `field(...)`), R's fields
    /// besides _id filled by the accumulators (rules at the top of this file).
    template <codec::structure R, class K, class... A>
    aggregation<M, R> group(const K& key, const A&... accs) const {
        check_group<R, K, A...>();
        bson::document g;
        detail::agg::append_utf8(g.get(), "_id", "$" + detail::path_of(key));
        std::vector<std::string> filled;
        (add_accumulator(g.get(), accs, filled), ...);
        return next<R>("$group", g);
    }

    /// `$unwind` of an array member of Out; R is Out with that member holding one element
    /// (documents with an empty or missing array are dropped, as MongoDB does).
    template <codec::structure R, class V>
    aggregation<M, R> unwind(V Out::*array) const {
        using E = detail::element_t<V>;
        static_assert(!std::is_void_v<E>, "morm: unwind needs a std::vector field");
        static_assert(detail::fit::fields_exist<R, Out>,
                      "morm: unwind<R>(): every field of R must be a field of the pipeline's current type (by stored name)");
        static_assert(detail::agg::all_fit_unwound<R, Out, V>(std::make_index_sequence<detail::fit::nfields<R>>{}),
                      "morm: unwind<R>(): a field of R has another type than the current type's field (or the unwound element)");
        const std::string name = detail::agg::stored_name(array);
        check_unwound<R, V>(name);
        bson::document body;
        detail::agg::append_utf8(body.get(), "$unwind", "$" + name);
        aggregation<M, R> out(s_, stages_, batch_size_);
        out.stages_.push_back(std::move(body));
        return out;
    }

    /// `$lookup` of the targets of a morm::ref<T> member of Out into a std::vector<U> member
    /// of R (U: T or a struct whose fields fit T). from: T's collection; localField: the
    /// ref's stored name; foreignField: _id. The other fields of R are fields of Out.
    template <codec::structure R, class T, class Id, class U>
    aggregation<M, R> lookup(ref<T, Id> Out::*local, std::vector<U> R::*as) const {
        static_assert(codec::model<T>, "morm: lookup needs a morm::ref to a model");
        static_assert(detail::fit::fields_exist<U, T> && detail::fit::fields_fit<U, T>,
                      "morm: lookup<R>(): the looked-up element type must be the ref's model or fit it");
        static_assert(
            detail::agg::all_fit_looked_up<R, Out, std::vector<U>>(std::make_index_sequence<detail::fit::nfields<R>>{}),
            "morm: lookup<R>(): every other field of R must be a field of the pipeline's current type with its type");
        bson::document body;
        detail::agg::append_utf8(body.get(), "from", codec::model_traits<T>::collection);
        detail::agg::append_utf8(body.get(), "localField", detail::agg::stored_name(local));
        detail::agg::append_utf8(body.get(), "foreignField", "_id");
        detail::agg::append_utf8(body.get(), "as", detail::agg::stored_name(as));
        return next<R>("$lookup", body);
    }

    /// Any stage as BSON (`{"$addFields": {...}}`), not checked; R names its output type.
    template <codec::structure R = Out>
    aggregation<M, R> raw(bson::document stage) const {
        aggregation<M, R> out(s_, stages_, batch_size_);
        out.stages_.push_back(std::move(stage));
        return out;
    }

    /// The stages, as they are sent.
    const std::vector<bson::document>& pipeline() const noexcept { return stages_; }

    /// \brief Runs the pipeline; every result decoded as Out (not tracked).
    /// \par Errors
    ///   The server's (e.g. an unsupported stage), errc::decode_error naming the field,
    ///   errc::invalid_argument without a session.
    /// \par Completion signature
    ///   `void(morm::error_code, std::vector<Out>)`.
    /// \par Executor, object lifetimes, cancellation
    ///   As query::all() (the token form copies the builder).
    asio::awaitable<std::vector<Out>> all() { return throwing(&aggregation::all_body); }
    template <token_for<std::vector<Out>> Token>
    auto all(Token&& token) const {
        return start<std::vector<Out>>(token, &aggregation::all_body);
    }
    /// \brief Streams the results batch by batch (batch_size(), 1000 unless set).
    /// \par Completion signature
    ///   `void(morm::error_code, morm::result_stream<Out>)`.
    asio::awaitable<result_stream<Out>> stream() { return throwing(&aggregation::stream_body); }
    template <token_for<result_stream<Out>> Token>
    auto stream(Token&& token) const {
        return start<result_stream<Out>>(token, &aggregation::stream_body);
    }

private:
    template <codec::model, codec::structure>
    friend class aggregation;

    aggregation(session* s, std::vector<bson::document> stages, std::int32_t batch)
        : s_(s), stages_(std::move(stages)), batch_size_(batch) {}

    aggregation& int_stage(std::string_view op, std::int64_t n) {
        detail::agg::append_int_stage(stages_, op, n);
        sort_open_ = false;
        return *this;
    }
    template <class R>
    aggregation<M, R> next(std::string_view op, const bson::document& body) const {
        aggregation<M, R> out(s_, stages_, batch_size_);
        detail::agg::append_stage(out.stages_, op, body);
        return out;
    }

    template <class R, class K, class... A>
    static constexpr void check_group() {
        constexpr std::size_t id = codec::struct_traits<R>::index_of("_id");
        static_assert(id < detail::fit::nfields<R>,
                      "morm: the result struct of group<R>() needs a field stored as \"_id\" (the group key)");
        static_assert(field_of<K, Out>, "morm: the group key is not a field of the pipeline's current type");
        if constexpr (id < detail::fit::nfields<R>)
            static_assert(detail::fit::same_value<detail::fit::member_t<R, id>, detail::agg::key_value_t<K>>,
                          "morm: the group key's type does not fit the _id field of the result struct");
        static_assert((detail::agg::is_accumulator<A>::value && ...),
                      "morm: group<R>() takes accumulators after the key: sum, avg, min, max, count, push, first, last");
        static_assert((std::is_same_v<typename A::result_type, R> && ...),
                      "morm: an accumulator's target is not a member of the group's result struct");
        static_assert(((std::is_void_v<typename A::input_root> || std::is_same_v<typename A::input_root, Out>) && ...),
                      "morm: an accumulator's input is not a field of the pipeline's current type");
        static_assert(((detail::agg::fields_typed<R, typename A::member_type> > 0) && ...),
                      "morm: an accumulator's target is not a declared field (other than _id) of the result struct");
        static_assert(detail::agg::all_filled<R, A...>(std::make_index_sequence<detail::fit::nfields<R>>{}),
                      "morm: a field of the group's result struct is filled by no accumulator (each field besides _id needs one)");
    }
    template <class A>
    static void add_accumulator(bson_t* g, const A& acc, std::vector<std::string>& filled) {
        std::string name = acc.target_name();
        for (const auto& f : filled)
            if (f == name)
                throw error(errc::invalid_argument,
                            fmt::format("aggregation group(): two accumulators fill '{}' (each field needs its own)", name));
        acc.append_to(g, name);
        filled.push_back(std::move(name));
    }
    /// Which field of R stored under the unwound name (the name is a run-time value).
    template <class R, class V>
    static void check_unwound(const std::string& name) {
        bool ok = true;
        codec::for_each_field<R>([&](const auto& d) {
            using F = typename std::remove_cvref_t<decltype(d)>::member_type;
            const bool is_elem = detail::fit::same_value<F, detail::element_t<V>>;
            const bool is_array = detail::fit::same_value<F, V>;
            if (d.name == name && !is_elem) ok = false;
            // a field typed as the element where Out has the array: only the unwound one
            const std::size_t j = codec::struct_traits<Out>::index_of(d.name);
            if (d.name != name && !is_array && is_elem && j < detail::fit::nfields<Out> && out_field_is<V>(j)) ok = false;
        });
        if (!ok)
            throw error(errc::invalid_argument,
                        fmt::format("aggregation unwind<R>(): R must hold the element of '{}' under that name, and "
                                    "the other fields as the current type has them",
                                    name));
    }
    template <class V>
    static bool out_field_is(std::size_t j) {
        bool is = false;
        std::size_t i = 0;
        codec::for_each_field<Out>([&](const auto& d) {
            using F = typename std::remove_cvref_t<decltype(d)>::member_type;
            if (i++ == j) is = std::is_same_v<F, V>;
        });
        return is;
    }

    template <class R>
    using body_fn = asio::awaitable<R> (aggregation::*)(error_code&, diagnostics&);
    template <class R>
    asio::awaitable<R> throwing(body_fn<R> body) {
        error_code ec;
        diagnostics diag;
        R r = co_await (this->*body)(ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return r;
    }
    template <class R, class Token>
    auto start(Token& token, body_fn<R> body) const {
        if (!s_) throw error(errc::invalid_argument, "aggregation: built without a session, it cannot run");
        return detail::initiate<R>(s_->get_engine().executor(), token,
                                   [a = *this, body](error_code& ec, diagnostics& diag) mutable {
                                       return (a.*body)(ec, diag);
                                   });
    }

    asio::awaitable<cursor> open(std::int32_t batch, error_code& ec, diagnostics& diag) {
        if (!s_) {
            ec = make_error_code(errc::invalid_argument);
            diag.message = "aggregation: built without a session, it cannot run";
            co_return cursor{};
        }
        aggregate_options ao;
        ao.batch_size = batch;
        co_return co_await s_->get_engine().template collection<M>().aggregate(stages_, ao, ec, diag);
    }
    asio::awaitable<std::vector<Out>> all_body(error_code& ec, diagnostics& diag) {
        std::vector<Out> out;
        auto c = co_await open(batch_size_, ec, diag);
        if (ec) co_return out;
        co_await detail::for_each_doc(c, ec, diag, [&out](bson::document_view d, error_code& e, diagnostics& dg) {
            Out obj{};
            if ((e = codec::decode(d, obj, &dg))) return;
            out.push_back(std::move(obj));
        });
        co_return out;
    }
    asio::awaitable<result_stream<Out>> stream_body(error_code& ec, diagnostics& diag) {
        auto c = co_await open(batch_size_ == 0 ? 1000 : batch_size_, ec, diag);
        co_return result_stream<Out>(std::move(c), s_ ? s_->get_engine().executor() : asio::any_io_executor{});
    }

    session* s_ = nullptr;
    std::vector<bson::document> stages_;
    std::int32_t batch_size_ = 0;
    bson::document sort_keys_;  // the keys of the $sort stage being built (last stage)
    bool sort_open_ = false;    // the last stage is that $sort: sort() adds to it
};

template <codec::model T>
aggregation<T> session::aggregate() {
    engine_.register_model<T>();
    return aggregation<T>(this);
}

}  // namespace morm
