// Typed query expressions and update operators: `morm::field(&User::name) == "John"`.
//
// Why every expression carries its model. MongoDB does not reject a filter or an update on
// a field its collection does not have: the filter silently matches nothing (or, under `!`,
// everything) and `$set` quietly adds a stray field. So a `field_ref<Root, V>` names a
// (possibly nested) stored path of model `Root` whose C++ type is `V`, and what is built from
// it keeps `Root`: comparisons give a `filter_of<Root>`, update operators an
// `update_op_of<Root>`. `&&`, `||` combine only filters over one model, and query<T> takes
// only expressions over T, so `session.query<User>().filter(field(&Order::total) > 5.0)` is a
// compile error that names the broken rule (the concepts below: expression_of, update_of,
// field_of, same_model_filters, value_for, numeric_field, ordered_field, array_field,
// date_field, rename_target). Values are checked against `V` too (`field(&User::age) == "x"`
// does not compile) and encoded with the model codec, so enums, ObjectIds, time points...
// match what is stored.
//
// Escape hatches are explicit, never an implicit conversion: raw_filter(json) and a
// bson::document are untyped filters that any query takes on the caller's word;
// `filter_of<User>(raw)` vouches that a raw filter is over User; the untyped `update_op`
// (operator, path, BSON value) is a raw update operator. A typed filter converts implicitly
// to the untyped `morm::filter` (index partial filters take one) but never back.
//
//   using morm::field;
//   auto f = field(&User::name) == "John" && field(&User::age) >= 18
//         || field(&User::address, &Address::city).in({"Paris", "Rome"})
//         || !field(&User::email).exists();
//   co_await session.query<User>().filter(f).update(
//       morm::push(field(&User::tags), morm::each("a", "b"), morm::slice(-10)),
//       morm::inc(field(&User::logins), 1), morm::current_date(field(&User::seen)));
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/model.hpp>
#include <morm/detail/text.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>
#include <fmt/format.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace morm {

template <class Root>
class basic_filter;
/// The untyped filter: raw_filter() makes one, and a typed filter converts to it (its model
/// is then forgotten). Queries take it as a raw escape hatch.
using filter = basic_filter<void>;
/// A filter over the documents of model (or structure) Root.
template <class Root>
using filter_of = basic_filter<Root>;
template <class Root, class V>
class field_ref;
template <class Root>
class basic_update_op;
/// An update operator on a field of model Root.
template <class Root>
using update_op_of = basic_update_op<Root>;
class update_op;

namespace detail {
template <class V>
struct vector_elem {
    using type = void;
};
template <class E, class A>
struct vector_elem<std::vector<E, A>> {
    using type = E;
};
template <class V>
using stored_t = codec::detail::unwrap_optional_t<V>;
/// The element type of an array field (std::vector, optional or not); void otherwise.
template <class V>
using element_t = typename vector_elem<stored_t<V>>::type;

template <class V>
struct is_std_optional : std::false_type {};
template <class V>
struct is_std_optional<std::optional<V>> : std::true_type {};
/// The codec stores system_clock time points as BSON dates.
template <class V>
struct is_date : std::false_type {};
template <class D>
struct is_date<std::chrono::time_point<std::chrono::system_clock, D>> : std::true_type {};

template <class F>
struct filter_traits {
    static constexpr bool is_filter = false;
    using root = void;
};
template <class R>
struct filter_traits<basic_filter<R>> {
    static constexpr bool is_filter = true;
    using root = R;
};
template <class E>
using filter_root_t = typename filter_traits<std::remove_cvref_t<E>>::root;

template <class M>
struct member_traits {
    static constexpr bool is_member = false;
    using class_type = void;
};
template <class C, class V>
struct member_traits<V C::*> {
    static constexpr bool is_member = !std::is_function_v<V>;
    using class_type = C;
};
template <class F>
struct field_ref_traits {
    static constexpr bool is_field_ref = false;
    using root = void;
};
template <class R, class V>
struct field_ref_traits<field_ref<R, V>> {
    static constexpr bool is_field_ref = true;
    using root = R;
};
template <class U>
struct update_traits {
    static constexpr bool is_typed = false;
    using root = void;
};
template <class R>
struct update_traits<basic_update_op<R>> {
    static constexpr bool is_typed = true;
    using root = R;
};

/// U may be compared with a field of type V: convertible, without silently truncating a
/// floating-point value into an integer field or a number into a bool.
template <class V, class U>
concept comparable_with =
    (std::is_convertible_v<U, stored_t<V>> &&
     !(std::is_integral_v<stored_t<V>> && std::is_floating_point_v<std::remove_cvref_t<U>>) &&
     !(std::is_same_v<stored_t<V>, bool> && !std::is_same_v<std::remove_cvref_t<U>, bool>)) ||
    (std::is_same_v<stored_t<V>, std::string> && std::is_convertible_v<U, std::string_view>);
}  // namespace detail

// ------------------------------------------------------------------------ concepts
// Named so that a rejected expression's compiler error names the rule it broke. Each rule's
// deciding test is one atomic expression on one line that ends with a `// morm: ...` comment:
// g++ quotes that source line under "evaluated to 'false'", so the reason is in the error.

namespace detail {
template <class V, class U>
inline constexpr bool value_fits = comparable_with<V, U>;
template <class R, class T>
inline constexpr bool root_is = std::is_same_v<R, T> || std::is_void_v<R>;  // void: a raw filter, vouched for
template <class A, class B>
inline constexpr bool roots_match = std::is_same_v<A, B> || std::is_void_v<A> || std::is_void_v<B>;
/// The model a sort / projection key belongs to (void if K is no key).
template <class K>
using key_root_t = std::conditional_t<member_traits<K>::is_member, typename member_traits<K>::class_type,
                                      typename field_ref_traits<K>::root>;
template <class S>
inline constexpr bool is_number = std::is_arithmetic_v<S> && !std::is_same_v<S, bool>;
template <class S>
inline constexpr bool is_ordered = is_number<S> || std::is_same_v<S, std::string> || is_date<S>::value ||
                                   std::is_same_v<S, bson::object_id>;
template <class U, class T>
inline constexpr bool update_is_for =
    std::is_same_v<U, update_op> || (update_traits<U>::is_typed && std::is_same_v<typename update_traits<U>::root, T>);
}  // namespace detail

/// E is a filter, typed or not.
template <class E>
concept filter_expression = detail::filter_traits<std::remove_cvref_t<E>>::is_filter;  // morm: not a filter

/// E may filter the documents of model T: built from fields of T (nested paths included), or
/// an untyped raw filter (raw_filter(), morm::filter), which the caller vouches for.
template <class E, class T>
concept expression_of = filter_expression<E> &&
    detail::root_is<detail::filter_root_t<E>, T>;  // morm: this filter is over another model than the one expected

/// A and B may be combined with && and ||: over one model, or one of them raw.
template <class A, class B>
concept same_model_filters = filter_expression<A> && filter_expression<B> &&
    detail::roots_match<detail::filter_root_t<A>, detail::filter_root_t<B>>;  // morm: && and || combine filters over one model only

/// K names a field of model T (for query::sort and query::only): a declared member `&T::m`
/// or a `field(&T::a, &A::b...)` path.
template <class K, class T>
concept field_of =
    std::is_same_v<detail::key_root_t<std::remove_cvref_t<K>>, T>;  // morm: this key is not a field of the query's model

/// U is an update operator for model T: built from a field of T, or the untyped raw update_op.
template <class U, class T>
concept update_of =
    detail::update_is_for<std::remove_cvref_t<U>, T>;  // morm: this update operator is not on a field of the query's model

/// U is a value for a field of C++ type V (compared with it, stored in it): convertible,
/// without truncating a floating-point value into an integer or a number into a bool.
template <class U, class V>
concept value_for = detail::value_fits<V, U>;  // morm: the value's type does not match the field's C++ type

/// A number field ($inc, $mul): arithmetic, not bool.
template <class V>
concept numeric_field = detail::is_number<detail::stored_t<V>>;  // morm: $inc and $mul need a number field (arithmetic, not bool)

/// A field whose stored values MongoDB orders meaningfully ($min, $max): numbers, strings,
/// dates, ObjectIds. Not bool, not enums (stored as names, their order is the alphabet's).
template <class V>
concept ordered_field = detail::is_ordered<detail::stored_t<V>>;  // morm: $min and $max need an ordered field (number, string, date, ObjectId)

/// An array field (std::vector): $push, $pull, $addToSet, contains(), size(), elem_match().
template <class V>
concept array_field = !std::is_void_v<detail::element_t<V>>;  // morm: this needs an array (std::vector) field

/// A date field (std::chrono::system_clock time point): $currentDate.
template <class V>
concept date_field = detail::is_date<detail::stored_t<V>>::value;  // morm: $currentDate needs a date field (system_clock::time_point)

// ------------------------------------------------------------------------ helpers

namespace detail {
/// Throws errc::invalid_argument naming `field` if a filter or update could not be built:
/// a half-built filter matches more than asked for, so it must never be sent.
inline void must(bool appended, std::string_view field) {
    if (!appended)
        throw error(errc::invalid_argument, fmt::format("the filter or update on '{}' could not be built", field));
}

/// Encodes `v` (convertible to V) under `key` with the codec. A value that cannot be
/// encoded (e.g. a string that is not valid UTF-8 or holds a NUL) throws
/// errc::invalid_argument naming `field`, the stored path compared or updated.
template <class V, class U>
void append_typed(bson_t* dst, std::string_view key, const U& v, std::string_view field) {
    using S = stored_t<V>;
    error_code ec;
    diagnostics d;
    if constexpr (std::is_same_v<S, std::string>) {
        ec = codec::encode_value(dst, key, std::string(std::string_view(v)), &d);
    } else {
        ec = codec::encode_value(dst, key, static_cast<S>(v), &d);
    }
    if (ec) {
        d.message = fmt::format("value for field '{}' cannot be encoded ({}); nothing was sent", field, d.message);
        throw error(make_error_code(errc::invalid_argument), std::move(d));
    }
}

/// Array index keys "0", "1", ... as libbson wants them.
class array_keys {
public:
    const char* next() {
        const char* k;
        bson_uint32_to_string(i_++, &k, buf_, sizeof buf_);
        return k;
    }

private:
    std::uint32_t i_ = 0;
    char buf_[16];
};

// ------------------------------------------------------------------ filter trees
//
// Why a tree and not one BSON document: `a && b && c` used to copy a's document into
// {$and: [a, b]}, then that whole array again into {$and: [a, b, c]}, so a chain of n
// clauses (or n calls of query::filter) cost O(n^2) bytes copied. Now each clause is
// encoded once into its own document, && / || only link nodes (flattening same-operator
// chains on the way: a && b && c is one $and node with three children; an rvalue
// operand's children are moved, not copied, and an unshared chain grows in place), and the
// whole filter is serialized once, the first time document() is asked for, then cached.
// Nodes are immutable once shared, so copies of a filter share them (copying a query, as
// its token forms do, copies pointers, not BSON).

enum class filter_kind : std::uint8_t { clause, all_of, any_of, none_of };

struct filter_node {
    filter_kind kind = filter_kind::clause;
    bson::document clause;  // kind == clause: the clause document
    std::vector<std::shared_ptr<filter_node>> children;  // otherwise
    std::once_flag serialized;  // `cache` is filled once, thread-safely
    bool built = false;         // `cache` is filled: the node must not change any more
    bson::document cache;
};
using filter_ptr = std::shared_ptr<filter_node>;

inline const char* op_name(filter_kind k) noexcept {
    switch (k) {
        case filter_kind::all_of: return "$and";
        case filter_kind::any_of: return "$or";
        default: return "$nor";
    }
}

inline filter_ptr make_clause(bson::document d) {
    auto n = std::make_shared<filter_node>();
    n->clause = std::move(d);
    return n;
}

/// No node, or an empty clause: the identity of && and ||.
inline bool filter_is_empty(const filter_ptr& p) noexcept {
    return !p || (p->kind == filter_kind::clause && p->clause.empty());
}

/// A raw clause that is itself a chain of `op`: exactly one key, `op`, holding an array.
/// Its items are spliced into an enclosing chain of the same operator, as && always did.
inline bool is_chain_of(const bson::document& d, std::string_view op, bson_iter_t& items) {
    bson_iter_t it;
    if (!bson_iter_init(&it, d.get()) || !bson_iter_next(&it)) return false;
    if (std::string_view(bson_iter_key(&it)) != op || !BSON_ITER_HOLDS_ARRAY(&it)) return false;
    bson_iter_t rest = it;
    if (bson_iter_next(&rest)) return false;
    return bson_iter_recurse(&it, &items);
}

/// Appends `{op: [children...]}` of composite node `n` to `dst`, writing each clause's
/// bytes straight into place.
inline void write_composite(bson_t* dst, const filter_node& n) {
    const char* op = op_name(n.kind);
    bson_t arr;
    must(bson_append_array_begin(dst, op, -1, &arr), op);
    array_keys keys;
    for (const auto& c : n.children) {
        bson_iter_t items;
        if (c->kind != filter_kind::clause) {
            bson_t sub;
            must(bson_append_document_begin(&arr, keys.next(), -1, &sub), op);
            write_composite(&sub, *c);
            must(bson_append_document_end(&arr, &sub), op);
        } else if (n.kind != filter_kind::none_of && is_chain_of(c->clause, op, items)) {
            // The elements' own bytes (bson_append_value would cut code strings at a NUL).
            while (bson_iter_next(&items)) must(bson_append_iter(&arr, keys.next(), -1, &items), op);
        } else {
            must(bson_append_document(&arr, keys.next(), -1, c->clause.get()), op);
        }
    }
    must(bson_append_array_end(dst, &arr), op);
}

inline const bson::document& empty_document() {
    static const bson::document empty;
    return empty;
}

inline const bson::document& serialize_filter(filter_node& n) {
    if (n.kind == filter_kind::clause) return n.clause;
    std::call_once(n.serialized, [&n] {
        bson::document d;
        write_composite(d.get(), n);
        n.cache = std::move(d);
        n.built = true;
    });
    return n.cache;
}

/// `a op b`, flattening operands that are already `op` chains. An operand held by nobody
/// else (an rvalue filter) gives up its children; a shared one lends copies of the pointers.
/// An unshared, not yet serialized `a` chain is extended in place, so growing a chain one
/// clause at a time (query::filter, `f = std::move(f) && c`) costs O(1) per clause.
inline filter_ptr combine_filters(filter_kind k, filter_ptr a, filter_ptr b) {
    if (filter_is_empty(a)) return b;
    if (filter_is_empty(b)) return a;
    const bool extend = a->kind == k && a.use_count() == 1 && !a->built;
    filter_ptr n = extend ? std::move(a) : std::make_shared<filter_node>();
    n->kind = k;
    auto add = [&](filter_ptr& x) {
        if (x->kind != k) {
            n->children.push_back(std::move(x));
        } else if (x.use_count() == 1) {
            for (auto& c : x->children) n->children.push_back(std::move(c));
        } else {
            n->children.insert(n->children.end(), x->children.begin(), x->children.end());
        }
    };
    if (!extend) add(a);
    add(b);
    return n;
}

/// `{$nor: [a]}`; !(empty filter) matches nothing, as {$nor: [{}]} always did.
inline filter_ptr negate_filter(filter_ptr a) {
    auto n = std::make_shared<filter_node>();
    n->kind = filter_kind::none_of;
    n->children.push_back(a ? std::move(a) : make_clause({}));
    return n;
}

struct filter_access;
}  // namespace detail

// ------------------------------------------------------------------------ filters

/// A query filter over the documents of model Root (void: untyped). Build one from
/// field(...) comparisons; combine with && || !. Copies share the clauses (cheap).
template <class Root>
class basic_filter {
public:
    using root_type = Root;

    basic_filter() = default;
    /// A clause document taken as is: for a typed filter, on the caller's word that it is
    /// over Root; hence explicit.
    explicit basic_filter(bson::document clause) : node_(detail::make_clause(std::move(clause))) {}
    /// Forgets the model (e.g. for an index's partial filter).
    template <class R>
        requires(std::is_void_v<Root> && !std::is_void_v<R>)
    basic_filter(basic_filter<R> typed) noexcept : node_(std::move(typed.node_)) {}
    /// Vouches that a raw filter is over Root.
    template <class R>
        requires(!std::is_void_v<Root> && std::is_void_v<R>)
    explicit basic_filter(basic_filter<R> raw) noexcept : node_(std::move(raw.node_)) {}

    /// The filter document, serialized on the first call and cached. Throws
    /// errc::invalid_argument if it cannot be built (a filter is never sent half-built).
    const bson::document& document() const {
        return node_ ? detail::serialize_filter(*node_) : detail::empty_document();
    }
    bool empty() const noexcept { return detail::filter_is_empty(node_); }

private:
    template <class>
    friend class basic_filter;
    friend struct detail::filter_access;
    explicit basic_filter(detail::filter_ptr n) noexcept : node_(std::move(n)) {}

    detail::filter_ptr node_;
};

namespace detail {
struct filter_access {
    /// The node of `f`: moved out of a non-const rvalue, shared otherwise.
    template <class F>
    static filter_ptr take(F&& f) {
        if constexpr (!std::is_lvalue_reference_v<F> && !std::is_const_v<std::remove_reference_t<F>>)
            return std::move(f.node_);
        else
            return f.node_;
    }
    template <class R>
    static basic_filter<R> make(filter_ptr n) noexcept {
        return basic_filter<R>(std::move(n));
    }
};
/// The model of `a && b`: the typed side's (a raw side takes the other's model).
template <class A, class B>
using combined_root_t =
    std::conditional_t<std::is_void_v<filter_root_t<A>>, filter_root_t<B>, filter_root_t<A>>;
}  // namespace detail

/// Both conditions: {$and: [a, b]} (chains flatten: a && b && c is one $and of three).
template <class A, class B>
    requires same_model_filters<A, B>
basic_filter<detail::combined_root_t<A, B>> operator&&(A&& a, B&& b) {
    using acc = detail::filter_access;
    auto l = acc::take(std::forward<A>(a));
    auto r = acc::take(std::forward<B>(b));
    return acc::make<detail::combined_root_t<A, B>>(detail::combine_filters(detail::filter_kind::all_of, std::move(l), std::move(r)));
}
/// Either condition: {$or: [a, b]} (chains flatten).
template <class A, class B>
    requires same_model_filters<A, B>
basic_filter<detail::combined_root_t<A, B>> operator||(A&& a, B&& b) {
    using acc = detail::filter_access;
    auto l = acc::take(std::forward<A>(a));
    auto r = acc::take(std::forward<B>(b));
    return acc::make<detail::combined_root_t<A, B>>(detail::combine_filters(detail::filter_kind::any_of, std::move(l), std::move(r)));
}
/// Negation: {$nor: [a]} (also matches documents without the field, as MongoDB's $not does).
template <class A>
    requires filter_expression<A>
basic_filter<detail::filter_root_t<A>> operator!(A&& a) {
    using acc = detail::filter_access;
    return acc::make<detail::filter_root_t<A>>(detail::negate_filter(acc::take(std::forward<A>(a))));
}

/// A stored path of model Root whose value has C++ type V.
template <class Root, class V>
class field_ref {
public:
    using root_type = Root;
    using value_type = V;
    using filter_type = basic_filter<Root>;

    explicit field_ref(std::string path) : path_(std::move(path)) {}
    const std::string& path() const noexcept { return path_; }

    template <class U>
        requires value_for<U, V>
    filter_type operator==(const U& v) const { return op("$eq", v); }
    filter_type operator==(std::nullopt_t) const { return null_op("$eq"); }
    template <class U>
        requires value_for<U, V>
    filter_type operator!=(const U& v) const { return op("$ne", v); }
    filter_type operator!=(std::nullopt_t) const { return null_op("$ne"); }
    template <class U>
        requires value_for<U, V>
    filter_type operator<(const U& v) const { return op("$lt", v); }
    template <class U>
        requires value_for<U, V>
    filter_type operator<=(const U& v) const { return op("$lte", v); }
    template <class U>
        requires value_for<U, V>
    filter_type operator>(const U& v) const { return op("$gt", v); }
    template <class U>
        requires value_for<U, V>
    filter_type operator>=(const U& v) const { return op("$gte", v); }

    template <class U = detail::stored_t<V>>
        requires value_for<U, V>
    filter_type in(std::initializer_list<U> values) const { return list_op("$in", values); }
    template <std::ranges::input_range Range>
        requires value_for<std::ranges::range_reference_t<const Range>, V>
    filter_type in(const Range& values) const { return list_op("$in", values); }
    template <class U = detail::stored_t<V>>
        requires value_for<U, V>
    filter_type not_in(std::initializer_list<U> values) const { return list_op("$nin", values); }
    template <std::ranges::input_range Range>
        requires value_for<std::ranges::range_reference_t<const Range>, V>
    filter_type not_in(const Range& values) const { return list_op("$nin", values); }

    filter_type exists(bool yes = true) const {
        return with_operators([&](bson_t* sub) { detail::must(bson_append_bool(sub, "$exists", 7, yes), path_); });
    }

    /// Regular expression match (string fields only).
    filter_type regex(std::string_view pattern, std::string_view options = {}) const
        requires std::is_same_v<detail::stored_t<V>, std::string>
    {
        std::string p(pattern), o(options);
        if (!morm::detail::valid_text(p) || !morm::detail::valid_text(o))
            throw error(errc::invalid_argument,
                        fmt::format("regex on '{}': pattern and options must be valid UTF-8 without NUL", path_));
        return with_operators([&](bson_t* sub) {
            detail::must(bson_append_utf8(sub, "$regex", 6, p.data(), static_cast<int>(p.size())), path_);
            if (!o.empty())
                detail::must(bson_append_utf8(sub, "$options", 8, o.data(), static_cast<int>(o.size())), path_);
        });
    }

    /// Array fields: the array contains `v` (MongoDB's equality on arrays).
    template <class U>
        requires(array_field<V> && value_for<U, detail::element_t<V>>)
    filter_type contains(const U& v) const {
        bson::document d;
        detail::append_typed<detail::element_t<V>>(d.get(), path_, v, path_);
        return filter_type(std::move(d));
    }

    /// Array fields: the array has exactly `n` elements.
    filter_type size(std::int32_t n) const
        requires array_field<V>
    {
        return with_operators([&](bson_t* sub) { detail::must(bson_append_int32(sub, "$size", 5, n), path_); });
    }

    /// Arrays of structures: some element matches `f`, a filter over the element type (built
    /// with `field(&Elem::member)`; its paths are relative to the element).
    template <class F>
        requires(codec::structure<detail::element_t<V>> && expression_of<F, detail::element_t<V>>)
    filter_type elem_match(const F& f) const {
        return with_operators([&](bson_t* sub) {
            detail::must(bson_append_document(sub, "$elemMatch", 10, f.document().get()), path_);
        });
    }

private:
    /// `{path: {<what add appends>}}`.
    template <class Add>
    filter_type with_operators(Add add) const {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        add(&sub);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter_type(std::move(d));
    }
    template <class U>
    filter_type op(const char* o, const U& v) const {
        return with_operators([&](bson_t* sub) { detail::append_typed<V>(sub, o, v, path_); });
    }
    filter_type null_op(const char* o) const {
        return with_operators([&](bson_t* sub) { detail::must(bson_append_null(sub, o, -1), path_); });
    }
    template <class Range>
    filter_type list_op(const char* o, const Range& values) const {
        return with_operators([&](bson_t* sub) {
            bson_t arr;
            detail::must(bson_append_array_begin(sub, o, -1, &arr), path_);
            detail::array_keys keys;
            for (const auto& v : values) detail::append_typed<V>(&arr, keys.next(), v, path_);
            detail::must(bson_append_array_end(sub, &arr), path_);
        });
    }

    std::string path_;
};

/// `field(&User::name)`: the stored path of a member of a model (or structure).
template <class T, class V>
    requires codec::structure<T>
field_ref<T, V> field(V T::*m) {
    return field_ref<T, V>(std::string(codec::field_name(m)));
}

/// Nested paths: `field(&User::address, &Address::city)` is "address.city", a field of User.
template <class T, class A, class... Rest>
    requires(codec::structure<T> && sizeof...(Rest) >= 1)
auto field(A T::*first, Rest... rest) {
    std::string path(codec::field_name(first));
    auto sub = field(rest...);
    path += '.';
    path += sub.path();
    using V = typename decltype(sub)::value_type;
    return field_ref<T, V>(std::move(path));
}

/// Raw BSON escape hatch, untyped: `raw_filter(R"({"age": {"$mod": [2, 0]}})")`.
inline filter raw_filter(std::string_view json) { return filter(bson::document::from_json(json)); }

/// Sort directions for query::sort.
enum class order { asc = 1, desc = -1 };

// ------------------------------------------------------------------------ updates

/// One update operator for query::update: `{<op>: {<path>: <value>}}`; query::update groups
/// the operators of one call by `op`. Constructed directly it is the untyped, raw escape
/// hatch (`update_op("$bit", "flags", v)`), which no check stands behind.
class update_op {
public:
    update_op(std::string op, std::string path, const bson_value_t& v) : op_(std::move(op)), path_(std::move(path)) {
        bson_value_copy(&v, &value_);
    }
    update_op(const update_op& o) : op_(o.op_), path_(o.path_) { bson_value_copy(&o.value_, &value_); }
    update_op(update_op&& o) noexcept : op_(std::move(o.op_)), path_(std::move(o.path_)), value_(o.value_) {
        o.value_ = bson_value_t{};  // the buffers are ours now; destroying an empty value frees nothing
    }
    update_op& operator=(update_op o) noexcept {
        std::swap(op_, o.op_);
        std::swap(path_, o.path_);
        std::swap(value_, o.value_);
        return *this;
    }
    ~update_op() { bson_value_destroy(&value_); }
    const std::string& op() const noexcept { return op_; }
    const std::string& path() const noexcept { return path_; }
    const bson_value_t& value() const noexcept { return value_; }

private:
    std::string op_, path_;
    bson_value_t value_{};
};

/// An update operator checked against a field of model Root (see set(), push()...).
template <class Root>
class basic_update_op : public update_op {
public:
    using root_type = Root;
    /// Vouches that a raw operator is on a field of Root.
    explicit basic_update_op(update_op raw) : update_op(std::move(raw)) {}
};

/// `push(f, each(a, b))`, `add_to_set(f, each(range))`: several values at once. Each
/// argument is a value of the array's element type or a range of them. Arguments are held
/// by reference if lvalues: use the result in the same expression.
template <class... Us>
struct each_t {
    std::tuple<Us...> values;
};
template <class... Us>
each_t<Us...> each(Us&&... values) {
    return {std::tuple<Us...>(std::forward<Us>(values)...)};
}
/// `push(f, each(...), slice(n))`: keep the first n (n >= 0) or last -n elements after the push.
struct slice_t {
    std::int32_t n;
};
inline slice_t slice(std::int32_t n) noexcept { return {n}; }

namespace detail {
/// U is one element of an E array or a range of them (a value wins when both would do; text
/// is never a range of characters).
template <class E, class U>
concept element_or_range_of =
    comparable_with<E, U> || (!std::is_convertible_v<U, std::string_view> && std::ranges::input_range<U> &&
                              comparable_with<E, std::ranges::range_reference_t<U>>);

template <class E, class U>
void append_items(bson_t* arr, array_keys& keys, const U& v, std::string_view path) {
    if constexpr (comparable_with<E, const U&>) {
        append_typed<E>(arr, keys.next(), v, path);
    } else {
        for (const auto& x : v) append_typed<E>(arr, keys.next(), x, path);
    }
}

/// The typed operator `{op: {path: <what build appends under "v">}}`.
template <class Root, class Build>
basic_update_op<Root> make_op(const char* op, const std::string& path, Build build) {
    bson::document tmp;
    build(tmp.get(), "v");
    bson_iter_t it;
    must(bson_iter_init_find(&it, tmp.get(), "v"), path);
    return basic_update_op<Root>(update_op(op, path, *bson_iter_value(&it)));
}
template <class Root, class V, class U>
basic_update_op<Root> make_value_op(const char* op, const std::string& path, const U& v) {
    return make_op<Root>(op, path, [&](bson_t* dst, std::string_view key) { append_typed<V>(dst, key, v, path); });
}
/// `{$each: [...], $slice: n}` for $push / $addToSet.
template <class Root, class E, class... Us>
basic_update_op<Root> make_each_op(const char* op, const std::string& path, const each_t<Us...>& e,
                                   std::optional<std::int32_t> slice) {
    return make_op<Root>(op, path, [&](bson_t* dst, const char* key) {
        bson_t mods, arr;
        must(bson_append_document_begin(dst, key, -1, &mods), path);
        must(bson_append_array_begin(&mods, "$each", 5, &arr), path);
        array_keys keys;
        std::apply([&](const auto&... v) { (append_items<E>(&arr, keys, v, path), ...); }, e.values);
        must(bson_append_array_end(&mods, &arr), path);
        if (slice) must(bson_append_int32(&mods, "$slice", 6, *slice), path);
        must(bson_append_document_end(dst, &mods), path);
    });
}
}  // namespace detail

namespace detail {
template <class Each, class E>
struct each_fits : std::false_type {};
template <class... Us, class E>
struct each_fits<each_t<Us...>, E> : std::bool_constant<(element_or_range_of<E, Us> && ...)> {};
}  // namespace detail

/// Each is an `each(...)` whose every value fits an array of E.
template <class Each, class E>
concept each_of = detail::each_fits<std::remove_cvref_t<Each>, E>::value;  // morm: a value of each(...) does not fit the array's element type

/// `set(field(&User::name), "x")`: $set.
template <class Root, class V, class U>
    requires value_for<U, V>
basic_update_op<Root> set(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, V>("$set", f.path(), v);
}
/// `set(field(&User::email), std::nullopt)`: $set to null (optional fields).
template <class Root, class V>
    requires detail::is_std_optional<V>::value
basic_update_op<Root> set(const field_ref<Root, V>& f, std::nullopt_t) {
    return detail::make_op<Root>("$set", f.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_null(dst, key, -1), f.path());
    });
}
/// `unset(field(&User::nickname))`: $unset (removes the field).
template <class Root, class V>
basic_update_op<Root> unset(const field_ref<Root, V>& f) {
    return detail::make_op<Root>("$unset", f.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_utf8(dst, key, -1, "", 0), f.path());
    });
}
/// `inc(field(&User::age), 1)`: $inc (number fields).
template <class Root, class V, class U>
    requires(numeric_field<V> && value_for<U, V>)
basic_update_op<Root> inc(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, V>("$inc", f.path(), v);
}
/// `mul(field(&User::score), 1.5)`: $mul (number fields).
template <class Root, class V, class U>
    requires(numeric_field<V> && value_for<U, V>)
basic_update_op<Root> mul(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, V>("$mul", f.path(), v);
}
/// `min(field(&User::best), 42)`: $min, keeps the smaller (numbers, strings, dates, ObjectIds).
template <class Root, class V, class U>
    requires(ordered_field<V> && value_for<U, V>)
basic_update_op<Root> min(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, V>("$min", f.path(), v);
}
/// `max(field(&User::best), 42)`: $max, keeps the larger.
template <class Root, class V, class U>
    requires(ordered_field<V> && value_for<U, V>)
basic_update_op<Root> max(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, V>("$max", f.path(), v);
}
/// `push(field(&User::tags), "x")`: $push one element (array fields; checked against the
/// element type).
template <class Root, class V, class U>
    requires(array_field<V> && value_for<U, detail::element_t<V>>)
basic_update_op<Root> push(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, detail::element_t<V>>("$push", f.path(), v);
}
/// `push(field(&User::tags), each("a", "b"))`: $push with $each.
template <class Root, class V, class Each>
    requires(array_field<V> && each_of<Each, detail::element_t<V>>)
basic_update_op<Root> push(const field_ref<Root, V>& f, const Each& values) {
    return detail::make_each_op<Root, detail::element_t<V>>("$push", f.path(), values, std::nullopt);
}
/// `push(field(&User::recent), each(v), slice(-10))`: $push with $each and $slice (a capped
/// array: keeps the last 10).
template <class Root, class V, class Each>
    requires(array_field<V> && each_of<Each, detail::element_t<V>>)
basic_update_op<Root> push(const field_ref<Root, V>& f, const Each& values, slice_t s) {
    return detail::make_each_op<Root, detail::element_t<V>>("$push", f.path(), values, s.n);
}
/// `add_to_set(field(&User::tags), "x")`: $addToSet (appends unless already present).
template <class Root, class V, class U>
    requires(array_field<V> && value_for<U, detail::element_t<V>>)
basic_update_op<Root> add_to_set(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, detail::element_t<V>>("$addToSet", f.path(), v);
}
/// `add_to_set(field(&User::tags), each(range))`: $addToSet with $each.
template <class Root, class V, class Each>
    requires(array_field<V> && each_of<Each, detail::element_t<V>>)
basic_update_op<Root> add_to_set(const field_ref<Root, V>& f, const Each& values) {
    return detail::make_each_op<Root, detail::element_t<V>>("$addToSet", f.path(), values, std::nullopt);
}
/// `pull(field(&User::tags), "x")`: $pull, removes every element equal to the value.
template <class Root, class V, class U>
    requires(array_field<V> && !filter_expression<U> && value_for<U, detail::element_t<V>>)
basic_update_op<Root> pull(const field_ref<Root, V>& f, const U& v) {
    return detail::make_value_op<Root, detail::element_t<V>>("$pull", f.path(), v);
}
/// `pull(field(&User::labels), field(&Label::weight) < 3)`: $pull with a condition on the
/// elements, a filter over the element type (arrays of structures).
template <class Root, class V, class F>
    requires(array_field<V> && codec::structure<detail::element_t<V>> && expression_of<F, detail::element_t<V>>)
basic_update_op<Root> pull(const field_ref<Root, V>& f, const F& cond) {
    return detail::make_op<Root>("$pull", f.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_document(dst, key, -1, cond.document().get()), f.path());
    });
}

/// From may be renamed to To: fields of one model with the same stored type, so that what is
/// moved still decodes as the target member.
template <class From, class To>
concept rename_target = detail::field_ref_traits<From>::is_field_ref && detail::field_ref_traits<To>::is_field_ref &&
    std::is_same_v<typename From::root_type, typename To::root_type> &&  // morm: rename only to a field of the same model
    std::is_same_v<detail::stored_t<typename From::value_type>, detail::stored_t<typename To::value_type>>;  // morm: rename only to a field of the same C++ type

/// `rename(field(&User::nick), field(&User::nickname))`: $rename to another field of the model.
template <class From, class To>
    requires rename_target<From, To>
basic_update_op<typename From::root_type> rename(const From& from, const To& to) {
    return detail::make_op<typename From::root_type>("$rename", from.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_utf8(dst, key, -1, to.path().data(), static_cast<int>(to.path().size())), from.path());
    });
}
/// `rename(field(&User::nick), "legacy_nick")`: $rename to a stored name the model does not
/// declare (e.g. moving data out of the way in a migration).
template <class Root, class V>
basic_update_op<Root> rename(const field_ref<Root, V>& from, std::string_view to) {
    if (to.empty() || !morm::detail::valid_text(to))
        throw error(errc::invalid_argument,
                    fmt::format("rename of '{}': the new name must be non-empty UTF-8 without NUL", from.path()));
    return detail::make_op<Root>("$rename", from.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_utf8(dst, key, -1, to.data(), static_cast<int>(to.size())), from.path());
    });
}
/// `current_date(field(&User::seen))`: $currentDate, the server's clock (date fields only).
template <class Root, class V>
    requires date_field<V>
basic_update_op<Root> current_date(const field_ref<Root, V>& f) {
    return detail::make_op<Root>("$currentDate", f.path(), [&](bson_t* dst, const char* key) {
        detail::must(bson_append_bool(dst, key, -1, true), f.path());
    });
}

}  // namespace morm
