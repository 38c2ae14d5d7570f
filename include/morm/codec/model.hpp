// Compile-time description of models (top-level documents stored in a collection) and
// structures (embedded documents), declared once with a macro next to the struct.
//
//   struct Address { std::string street; std::string city; std::optional<std::string> zip; };
//   MORM_STRUCT(Address, street, city, zip);
//
//   enum class Color { red, green };
//   MORM_ENUM_STRINGS(Color, red, green);      // stored as "red"/"green"
//
//   struct User { std::string id; std::string name; Address address; std::int64_t version = 0; };
//   MORM_MODEL(User, "users", (id, "_id"), name, address,
//              (version, "version", morm::codec::field_flags::version));
//   MORM_STRICT(User);                          // optional: reject unknown fields on decode
//
// Each entry is `member`, `(member, "stored_name")`, `(member, "stored_name", flags)`, or one
// of the last two with a former name added, `(member, "stored_name", morm::codec::alias("old"))`
// (read from either name, written under the new one); up to 256 entries. Declaration order is the order fields are written in. The macros must be used
// at namespace scope, in the namespace of the type (they define functions found by ADL).
// Enums without MORM_ENUM_STRINGS are stored as their underlying integer.
#pragma once

#include <morm/codec/detail/foreach.hpp>

#include <boost/preprocessor/control/iif.hpp>
#include <boost/preprocessor/punctuation/is_begin_parens.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

namespace morm::codec {

/// Per-field options (combine with `|`).
enum class field_flags : std::uint32_t {
    none = 0,
    /// Optimistic-concurrency counter (must be std::int64_t); the ORM checks and bumps it.
    version = 1u << 0,
    /// Decoding fails if the field is absent, even for std::optional members.
    required = 1u << 1,
    /// Empty strings, containers, documents and nullopt are not written; when absent on
    /// decode the member is reset to its empty value instead of failing.
    omit_empty = 1u << 2,
    /// When absent on decode the member keeps its current (default) value instead of failing.
    optional_on_decode = 1u << 3,
    /// On a `bson::document` member: decoding collects every element that matches no declared
    /// field into it (so unknown fields are kept, and strict mode does not apply); encoding
    /// writes its elements at this member's position. The stored name is ignored.
    extra_fields = 1u << 4,
};

constexpr field_flags operator|(field_flags a, field_flags b) noexcept {
    return field_flags(std::uint32_t(a) | std::uint32_t(b));
}
constexpr field_flags operator&(field_flags a, field_flags b) noexcept {
    return field_flags(std::uint32_t(a) & std::uint32_t(b));
}
/// True if any flag of `f` is in `set`.
constexpr bool has_flag(field_flags set, field_flags f) noexcept { return (std::uint32_t(set) & std::uint32_t(f)) != 0; }

/// A former stored name of a field, for schema evolution: the field is also read from
/// this name and always written under its current one. `(email, "email", alias("mail"))`.
struct alias {
    std::string_view name;
    constexpr explicit alias(std::string_view n) noexcept : name(n) {}
};

/// Describes one field: the member pointer, the stored name, the flags and a former name.
template <class T, class M>
struct field_descriptor {
    using class_type = T;
    using member_type = M;

    M T::*member;
    std::string_view name;
    field_flags flags = field_flags::none;
    std::string_view former{};  ///< a former stored name (alias), empty if none

    constexpr bool has(field_flags f) const noexcept { return has_flag(flags, f); }
    constexpr M& get(T& obj) const noexcept { return obj.*member; }
    constexpr const M& get(const T& obj) const noexcept { return obj.*member; }
};

namespace detail {

template <class T>
struct type_tag {};

// A flat tuple of field descriptors. std::tuple's recursive tuple_element/get made a
// 250-field model take minutes to compile; here get<I> is one overload resolution.
template <std::size_t I, class D>
struct field_leaf {
    D value;
};

template <class Seq, class... D>
struct field_list_base;
template <std::size_t... I, class... D>
struct field_list_base<std::index_sequence<I...>, D...> : field_leaf<I, D>... {
    constexpr explicit field_list_base(D... d) noexcept : field_leaf<I, D>{d}... {}
};

template <class... D>
struct field_list : field_list_base<std::index_sequence_for<D...>, D...> {
    static constexpr std::size_t size = sizeof...(D);
    constexpr explicit field_list(D... d) noexcept : field_list_base<std::index_sequence_for<D...>, D...>(d...) {}
};
template <class... D>
field_list(D...) -> field_list<D...>;

template <std::size_t I, class D>
constexpr const D& get(const field_leaf<I, D>& leaf) noexcept {
    return leaf.value;
}

// The member type of a pointer to data member `M C::*`.
template <class P>
struct member_of;
template <class M, class C>
struct member_of<M C::*> {
    using type = M;
};

// T is given explicitly by the macros: `&Derived::m` of a member inherited from a base has
// type `M Base::*`, converted here to `M Derived::*` (a standard conversion), so that a
// derived model's descriptors are all over the derived type (polymorphic models).
template <class T, class P, class M = typename member_of<P>::type>
constexpr field_descriptor<T, M> make_field(P member, std::string_view name,
                                            field_flags flags = field_flags::none) noexcept {
    return {static_cast<M T::*>(member), name, flags, {}};
}
template <class T, class P, class M = typename member_of<P>::type>
constexpr field_descriptor<T, M> make_field(P member, std::string_view name, field_flags flags, alias old) noexcept {
    return {static_cast<M T::*>(member), name, flags, old.name};
}
template <class T, class P, class M = typename member_of<P>::type>
constexpr field_descriptor<T, M> make_field(P member, std::string_view name, alias old) noexcept {
    return {static_cast<M T::*>(member), name, field_flags::none, old.name};
}

template <class T>
concept has_fields = requires { morm_fields(type_tag<T>{}); };
template <class T>
concept has_collection = requires {
    { morm_collection(type_tag<T>{}) } -> std::convertible_to<std::string_view>;
};
template <class E>
concept has_enum_strings = std::is_enum_v<E> && requires { morm_enum_strings(type_tag<E>{}); };
template <class T>
concept has_strict = requires { morm_strict(type_tag<T>{}); };

}  // namespace detail

/// A type declared with MORM_STRUCT or MORM_MODEL.
template <class T>
concept structure = detail::has_fields<T>;

/// A type declared with MORM_MODEL (it has a collection).
template <class T>
concept model = structure<T> && detail::has_collection<T>;

/// The fields of a structure, as a constexpr tuple of `field_descriptor`s.
template <structure T>
struct struct_traits {
    /// A `detail::field_list` of `field_descriptor`s; use for_each_field or `field<I>()`.
    static constexpr auto fields = morm_fields(detail::type_tag<T>{});
    using fields_type = std::remove_cv_t<decltype(fields)>;
    static constexpr std::size_t size = fields_type::size;

    /// The descriptor of the I-th declared field.
    template <std::size_t I>
    static constexpr const auto& field() noexcept {
        return detail::get<I>(fields);
    }
    /// Whether decoding rejects unknown fields (MORM_STRICT).
    static constexpr bool strict = detail::has_strict<T>;

    static constexpr std::array<std::string_view, size> names = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<std::string_view, size>{detail::get<I>(fields).name...};
    }(std::make_index_sequence<size>{});

    static constexpr std::array<std::string_view, size> aliases = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<std::string_view, size>{detail::get<I>(fields).former...};
    }(std::make_index_sequence<size>{});
    static constexpr bool has_aliases = [] {
        for (auto a : aliases)
            if (!a.empty()) return true;
        return false;
    }();

    /// Index of the field stored as `name`, or `size` if none.
    static constexpr std::size_t index_of(std::string_view name) noexcept {
        for (std::size_t i = 0; i < size; ++i)
            if (names[i] == name) return i;
        return size;
    }
};

/// Calls `f(descriptor)` for every field of `T`, in declaration order.
template <structure T, class F>
constexpr void for_each_field(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(detail::get<I>(struct_traits<T>::fields)), ...);
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

/// The stored name of a member of a structure, e.g. `field_name(&User::id) == "_id"`.
/// Usable in constant expressions; a member that is not declared is a compile error there
/// and throws std::invalid_argument at run time.
template <class T, class M>
constexpr std::string_view field_name(M T::*member) {
    std::string_view out;
    bool found = false;
    for_each_field<T>([&](const auto& desc) {
        if constexpr (std::is_same_v<decltype(desc.member), M T::*>) {
            if (!found && desc.member == member) {
                out = desc.name;
                found = true;
            }
        }
    });
    if (!found) throw std::invalid_argument("morm: member is not a declared field of the structure");
    return out;
}

/// Collection name and `_id` access of a model.
template <model T>
struct model_traits {
    static constexpr std::string_view collection = morm_collection(detail::type_tag<T>{});
    static constexpr std::size_t id_index = struct_traits<T>::index_of("_id");
    static_assert(id_index < struct_traits<T>::size,
                  "MORM_MODEL: the model has no field stored as \"_id\"; declare one, e.g. (id, \"_id\")");

    using id_descriptor = std::remove_cvref_t<decltype(struct_traits<T>::template field <
                                                         (id_index < struct_traits<T>::size ? id_index : 0)>())>;
    using id_type = typename id_descriptor::member_type;

    static id_type& id(T& obj) noexcept { return obj.*(struct_traits<T>::template field<id_index>().member); }
    static const id_type& id(const T& obj) noexcept {
        return obj.*(struct_traits<T>::template field<id_index>().member);
    }

    /// Index of the field flagged `version`, or struct_traits<T>::size if none.
    static constexpr std::size_t version_index = [] {
        std::size_t i = 0, found = struct_traits<T>::size;
        for_each_field<T>([&](const auto& d) {
            if (d.has(field_flags::version) && found == struct_traits<T>::size) found = i;
            ++i;
        });
        return found;
    }();
    static constexpr bool has_version = version_index < struct_traits<T>::size;
};

/// The (value, stored string) pairs of an enum declared with MORM_ENUM_STRINGS.
template <class E>
    requires detail::has_enum_strings<E>
constexpr auto enum_strings() noexcept {
    return morm_enum_strings(detail::type_tag<E>{});
}

}  // namespace morm::codec

// ---- macros ----

#define MORM_DETAIL_REM(...) __VA_ARGS__
#define MORM_DETAIL_FIELD_PLAIN(T, m) ::morm::codec::detail::make_field<T>(&T::m, #m)
#define MORM_DETAIL_FIELD_TUPLE_II(T, m, ...) ::morm::codec::detail::make_field<T>(&T::m, __VA_ARGS__)
#define MORM_DETAIL_FIELD_TUPLE_I(T, ...) MORM_DETAIL_FIELD_TUPLE_II(T, __VA_ARGS__)
#define MORM_DETAIL_FIELD_TUPLE(T, tup) MORM_DETAIL_FIELD_TUPLE_I(T, MORM_DETAIL_REM tup)
#define MORM_DETAIL_FIELD(T, e) \
    BOOST_PP_IIF(BOOST_PP_IS_BEGIN_PARENS(e), MORM_DETAIL_FIELD_TUPLE, MORM_DETAIL_FIELD_PLAIN)(T, e)

/// Declares an embedded structure: MORM_STRUCT(Type, entries...).
#define MORM_STRUCT(T, ...)                                                                  \
    [[maybe_unused]] constexpr auto morm_fields(::morm::codec::detail::type_tag<T>) noexcept { \
        return ::morm::codec::detail::field_list{                                            \
            MORM_DETAIL_FOREACH(MORM_DETAIL_FIELD, T, __VA_ARGS__)};                         \
    }                                                                                        \
    static_assert(true, "")

/// Declares a model stored in `collection`: MORM_MODEL(Type, "collection", entries...).
#define MORM_MODEL(T, collection, ...)                                                                \
    MORM_STRUCT(T, __VA_ARGS__);                                                                      \
    [[maybe_unused]] constexpr ::std::string_view morm_collection(::morm::codec::detail::type_tag<T>) \
        noexcept {                                                                                    \
        return collection;                                                                            \
    }                                                                                                 \
    static_assert(true, "")

/// Makes decoding of `T` fail on fields that match no declared member (default: skip them).
#define MORM_STRICT(T)                                                                       \
    [[maybe_unused]] constexpr bool morm_strict(::morm::codec::detail::type_tag<T>) noexcept { \
        return true;                                                                         \
    }                                                                                        \
    static_assert(true, "")

#define MORM_DETAIL_ENUM_ENTRY(E, v) ::std::pair<E, ::std::string_view>{E::v, #v}

/// Stores an enum as the names of its enumerators: MORM_ENUM_STRINGS(Color, red, green).
#define MORM_ENUM_STRINGS(E, ...)                                                                  \
    [[maybe_unused]] constexpr auto morm_enum_strings(::morm::codec::detail::type_tag<E>) noexcept { \
        return ::std::array{MORM_DETAIL_FOREACH(MORM_DETAIL_ENUM_ENTRY, E, __VA_ARGS__)};          \
    }                                                                                              \
    static_assert(true, "")
