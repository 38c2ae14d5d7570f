// Typed query expressions: `morm::field(&User::name) == "John"`.
//
// A `field_ref<Root, V>` names a (possibly nested) stored path of model `Root` whose C++
// type is `V`. Comparing it with a value yields a `filter` (a BSON query document). The
// value must be convertible to V — `field(&User::age) == "x"` does not compile — and is
// encoded with the model codec, so enums, ObjectIds, time points... match what is stored.
//
//   using morm::field;
//   auto f = field(&User::name) == "John" && field(&User::age) >= 18
//         || field(&User::address, &Address::city).in({"Paris", "Rome"})
//         || !field(&User::email).exists();
#pragma once

#include <morm/bson/document.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/model.hpp>
#include <morm/detail/text.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>
#include <fmt/format.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace morm {

namespace detail {
template <class V>
struct unwrap_optional {
    using type = V;
};
template <class V>
struct unwrap_optional<std::optional<V>> {
    using type = V;
};
template <class V>
struct vector_elem {
    using type = void;
};
template <class E, class A>
struct vector_elem<std::vector<E, A>> {
    using type = E;
};
template <class V>
using stored_t = typename unwrap_optional<V>::type;

/// U may be compared with a field of type V: convertible, without silently truncating a
/// floating-point value into an integer field or a number into a bool.
template <class V, class U>
concept comparable_with =
    (std::is_convertible_v<U, stored_t<V>> &&
     !(std::is_integral_v<stored_t<V>> && std::is_floating_point_v<std::remove_cvref_t<U>>) &&
     !(std::is_same_v<stored_t<V>, bool> && !std::is_same_v<std::remove_cvref_t<U>, bool>)) ||
    (std::is_same_v<stored_t<V>, std::string> && std::is_convertible_v<U, std::string_view>);

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
}  // namespace detail

/// A BSON query filter. Combine with && || !.
class filter {
public:
    filter() = default;
    explicit filter(bson::document doc) : doc_(std::move(doc)) {}

    const bson::document& document() const noexcept { return doc_; }
    bool empty() const noexcept { return doc_.empty(); }

    friend filter operator&&(const filter& a, const filter& b) { return combine("$and", a, b); }
    friend filter operator||(const filter& a, const filter& b) { return combine("$or", a, b); }
    friend filter operator!(const filter& a) {
        bson::document d;
        bson_t arr;
        detail::must(bson_append_array_begin(d.get(), "$nor", 4, &arr), "$nor");
        detail::must(bson_append_document(&arr, "0", 1, a.doc_.get()), "$nor");
        detail::must(bson_append_array_end(d.get(), &arr), "$nor");
        return filter(std::move(d));
    }

private:
    static filter combine(const char* op, const filter& a, const filter& b) {
        if (a.empty()) return b;
        if (b.empty()) return a;
        bson::document d;
        bson_t arr;
        detail::must(bson_append_array_begin(d.get(), op, -1, &arr), op);
        // Flatten chains of the same operator: a && b && c -> {$and: [a, b, c]}.
        std::uint32_t i = 0;
        char buf[16];
        auto add = [&](const filter& f) {
            bson_iter_t it;
            if (bson_iter_init(&it, f.doc_.get()) && bson_iter_next(&it) && std::string_view(bson_iter_key(&it)) == op &&
                BSON_ITER_HOLDS_ARRAY(&it) && !bson_iter_next(&it)) {
                bson_iter_init(&it, f.doc_.get());
                bson_iter_next(&it);
                bson_iter_t sub;
                bson_iter_recurse(&it, &sub);
                while (bson_iter_next(&sub)) {
                    const char* k;
                    bson_uint32_to_string(i++, &k, buf, sizeof buf);
                    detail::must(bson_append_value(&arr, k, -1, bson_iter_value(&sub)), op);
                }
                return;
            }
            const char* k;
            bson_uint32_to_string(i++, &k, buf, sizeof buf);
            detail::must(bson_append_document(&arr, k, -1, f.doc_.get()), op);
        };
        add(a);
        add(b);
        detail::must(bson_append_array_end(d.get(), &arr), op);
        return filter(std::move(d));
    }

    bson::document doc_;
};

/// A stored path of model Root whose value has C++ type V.
template <class Root, class V>
class field_ref {
public:
    using root_type = Root;
    using value_type = V;

    explicit field_ref(std::string path) : path_(std::move(path)) {}
    const std::string& path() const noexcept { return path_; }

    template <class U>
        requires detail::comparable_with<V, U>
    filter operator==(const U& v) const { return op("$eq", v); }
    filter operator==(std::nullopt_t) const { return null_op("$eq"); }
    template <class U>
        requires detail::comparable_with<V, U>
    filter operator!=(const U& v) const { return op("$ne", v); }
    filter operator!=(std::nullopt_t) const { return null_op("$ne"); }
    template <class U>
        requires detail::comparable_with<V, U>
    filter operator<(const U& v) const { return op("$lt", v); }
    template <class U>
        requires detail::comparable_with<V, U>
    filter operator<=(const U& v) const { return op("$lte", v); }
    template <class U>
        requires detail::comparable_with<V, U>
    filter operator>(const U& v) const { return op("$gt", v); }
    template <class U>
        requires detail::comparable_with<V, U>
    filter operator>=(const U& v) const { return op("$gte", v); }

    template <class U = detail::stored_t<V>>
        requires detail::comparable_with<V, U>
    filter in(std::initializer_list<U> values) const { return list_op("$in", values); }
    template <class Range>
    filter in(const Range& values) const { return list_op("$in", values); }
    template <class U = detail::stored_t<V>>
        requires detail::comparable_with<V, U>
    filter not_in(std::initializer_list<U> values) const { return list_op("$nin", values); }
    template <class Range>
    filter not_in(const Range& values) const { return list_op("$nin", values); }

    filter exists(bool yes = true) const {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::must(bson_append_bool(&sub, "$exists", 7, yes), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }

    /// Regular expression match (string fields only).
    filter regex(std::string_view pattern, std::string_view options = {}) const
        requires std::is_same_v<detail::stored_t<V>, std::string>
    {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        std::string p(pattern), o(options);
        if (!morm::detail::valid_text(p) || !morm::detail::valid_text(o))
            throw error(errc::invalid_argument,
                        fmt::format("regex on '{}': pattern and options must be valid UTF-8 without NUL", path_));
        detail::must(bson_append_utf8(&sub, "$regex", 6, p.data(), static_cast<int>(p.size())), path_);
        if (!o.empty()) detail::must(bson_append_utf8(&sub, "$options", 8, o.data(), static_cast<int>(o.size())), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }

    /// Array fields: the array contains `v` (MongoDB's equality on arrays).
    template <class U>
        requires(!std::is_void_v<typename detail::vector_elem<detail::stored_t<V>>::type> &&
                 std::is_convertible_v<U, typename detail::vector_elem<detail::stored_t<V>>::type>)
    filter contains(const U& v) const {
        using E = typename detail::vector_elem<detail::stored_t<V>>::type;
        bson::document d;
        detail::append_typed<E>(d.get(), path_, v, path_);
        return filter(std::move(d));
    }

    /// Array fields: the array has exactly `n` elements.
    filter size(std::int32_t n) const
        requires(!std::is_void_v<typename detail::vector_elem<detail::stored_t<V>>::type>)
    {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::must(bson_append_int32(&sub, "$size", 5, n), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }

    /// Arrays of structures: some element matches `f`, whose fields are relative to the
    /// element type (build it with `field(&Elem::member)`).
    filter elem_match(const filter& f) const
        requires(codec::structure<typename detail::vector_elem<detail::stored_t<V>>::type>)
    {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::must(bson_append_document(&sub, "$elemMatch", 10, f.document().get()), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }

private:
    template <class U>
    filter op(const char* o, const U& v) const {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::append_typed<V>(&sub, o, v, path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }
    filter null_op(const char* o) const {
        bson::document d;
        bson_t sub;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::must(bson_append_null(&sub, o, -1), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }
    template <class Range>
    filter list_op(const char* o, const Range& values) const {
        bson::document d;
        bson_t sub, arr;
        detail::must(bson_append_document_begin(d.get(), path_.data(), static_cast<int>(path_.size()), &sub), path_);
        detail::must(bson_append_array_begin(&sub, o, -1, &arr), path_);
        std::uint32_t i = 0;
        char buf[16];
        for (const auto& v : values) {
            const char* k;
            bson_uint32_to_string(i++, &k, buf, sizeof buf);
            detail::append_typed<V>(&arr, k, v, path_);
        }
        detail::must(bson_append_array_end(&sub, &arr), path_);
        detail::must(bson_append_document_end(d.get(), &sub), path_);
        return filter(std::move(d));
    }

    std::string path_;
};

/// `field(&User::name)`: the stored path of a member of a model (or structure).
template <class T, class V>
    requires codec::structure<T>
field_ref<T, V> field(V T::*m) {
    return field_ref<T, V>(std::string(codec::field_name(m)));
}

/// Nested paths: `field(&User::address, &Address::city)` is "address.city".
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

/// Raw BSON escape hatch: `raw_filter(R"({"age": {"$mod": [2, 0]}})")`.
inline filter raw_filter(std::string_view json) { return filter(bson::document::from_json(json)); }

/// Sort directions for query::sort.
enum class order { asc = 1, desc = -1 };

/// An update operation for query::update (bulk update of matching documents).
class update_op {
public:
    update_op(std::string op, std::string path, bson_value_t v) : op_(std::move(op)), path_(std::move(path)) {
        bson_value_copy(&v, &value_);
    }
    update_op(const update_op& o) : op_(o.op_), path_(o.path_) { bson_value_copy(&o.value_, &value_); }
    update_op& operator=(const update_op&) = delete;
    ~update_op() { bson_value_destroy(&value_); }
    const std::string& op() const noexcept { return op_; }
    const std::string& path() const noexcept { return path_; }
    const bson_value_t& value() const noexcept { return value_; }

private:
    std::string op_, path_;
    bson_value_t value_{};
};

namespace detail {
template <class V, class U>
update_op make_update(const char* op, const std::string& path, const U& v) {
    bson_t tmp = BSON_INITIALIZER;
    append_typed<V>(&tmp, "v", v, path);
    bson_iter_t it;
    bson_iter_init_find(&it, &tmp, "v");
    update_op u(op, path, *bson_iter_value(&it));
    bson_destroy(&tmp);
    return u;
}
}  // namespace detail

/// `set(field(&User::name), "x")`: $set for query::update.
template <class Root, class V, class U>
    requires detail::comparable_with<V, U>
update_op set(const field_ref<Root, V>& f, const U& v) {
    return detail::make_update<V>("$set", f.path(), v);
}
/// `inc(field(&User::age), 1)`: $inc for query::update.
template <class Root, class V, class U>
    requires(std::is_arithmetic_v<detail::stored_t<V>> && std::is_convertible_v<U, detail::stored_t<V>>)
update_op inc(const field_ref<Root, V>& f, const U& v) {
    return detail::make_update<V>("$inc", f.path(), v);
}
/// `unset(field(&User::nickname))`.
template <class Root, class V>
update_op unset(const field_ref<Root, V>& f) {
    bson_value_t v{};
    v.value_type = BSON_TYPE_UTF8;
    v.value.v_utf8.str = const_cast<char*>("");
    v.value.v_utf8.len = 0;
    return update_op("$unset", f.path(), v);
}

}  // namespace morm
