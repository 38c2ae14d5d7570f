// When a result struct may receive the fields of another structure: the one rule behind
// query<T>::select<R>() and the project / unwind / lookup stages of aggregation<M, Out>.
//
// Every field of the result struct R must be a field of the input S with the same stored
// name (R may have fewer fields, never other ones: the server would send nothing for them
// and decoding would fail on every document), and hold the same kind of value: the same C++
// type once std::optional is unwrapped and a morm::ref<T, Id> is taken as its stored Id.
// Checked at compile time; the projection sent is built from R's stored names.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/codec/model.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/ref.hpp>

#include <bson/bson.h>

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

namespace morm::detail::fit {

template <class V>
struct ref_id {
    using type = V;
};
template <class T, class Id>
struct ref_id<ref<T, Id>> {
    using type = Id;
};
/// What a field holds once stored: std::optional unwrapped, a ref as its id.
template <class V>
using value_t = typename ref_id<stored_t<V>>::type;

/// Fields of types A and B hold the same kind of value.
template <class A, class B>
inline constexpr bool same_value = std::is_same_v<value_t<A>, value_t<B>>;

template <class S>
inline constexpr std::size_t nfields = codec::struct_traits<S>::size;

/// The C++ type of the I-th declared field of S.
template <class S, std::size_t I>
using member_t = typename std::remove_cvref_t<decltype(codec::struct_traits<S>::template field<I>())>::member_type;

/// The index in In of R's I-th field (by stored name); nfields<In> if In has none.
template <class R, class In, std::size_t I>
inline constexpr std::size_t match_of = codec::struct_traits<In>::index_of(codec::struct_traits<R>::names[I]);

template <class R, class In, std::size_t I>
constexpr bool fits_at() {
    constexpr std::size_t j = match_of<R, In, I>;
    if constexpr (j >= nfields<In>)
        return true;  // a missing field, reported by fields_exist
    else
        return same_value<member_t<R, I>, member_t<In, j>>;
}
template <class R, class In, std::size_t... I>
constexpr bool all_exist(std::index_sequence<I...>) {
    return ((match_of<R, In, I> < nfields<In>) && ...);
}
template <class R, class In, std::size_t... I>
constexpr bool all_fit(std::index_sequence<I...>) {
    return (fits_at<R, In, I>() && ...);
}

/// Every field of R is a field of In (by stored name).
template <class R, class In>
inline constexpr bool fields_exist = all_exist<R, In>(std::make_index_sequence<nfields<R>>{});
/// Every field of R that In has holds the same kind of value in both.
template <class R, class In>
inline constexpr bool fields_fit = all_fit<R, In>(std::make_index_sequence<nfields<R>>{});

/// The projection of R's fields: `{name: 1, ...}`, and `_id: 0` when R has no _id (the
/// server sends _id unless told not to).
template <codec::structure R>
bson::document projection_of() {
    bson::document p;
    bool has_id = false;
    for (std::string_view name : codec::struct_traits<R>::names) {
        has_id = has_id || name == "_id";
        must(bson_append_int32(p.get(), name.data(), static_cast<int>(name.size()), 1), name);
    }
    if (!has_id) must(bson_append_int32(p.get(), "_id", 3, 0), "_id");
    return p;
}

}  // namespace morm::detail::fit
