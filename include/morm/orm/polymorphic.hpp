// Polymorphic models: a base model and models derived from it stored in ONE collection, each
// document naming its kind in a discriminator field.
//
//   struct Payment { std::string id; std::string order_id; double amount = 0; virtual ~Payment() = default; };
//   struct CardPayment : Payment { std::string last4; };
//   struct BankTransfer : Payment { std::string iban; };
//   MORM_MODEL(Payment, "payments", (id, "_id"), order_id, amount);
//   MORM_MODEL(CardPayment, "payments", (id, "_id"), order_id, amount, last4);
//   MORM_MODEL(BankTransfer, "payments", (id, "_id"), order_id, amount, iban);
//   MORM_POLYMORPHIC(Payment, "kind", (Payment, "payment"), (CardPayment, "card"), (BankTransfer, "bank"));
//
//   s.add(CardPayment{...});                                   // stored {_id, kind: "card", ...}
//   for (auto& p : co_await s.query<Payment>().all())          // std::shared_ptr<Payment> each
//       if (auto* card = dynamic_cast<CardPayment*>(p.get())) ...
//   auto cards = co_await s.query<CardPayment>().all();        // filter {kind: "card"} added
//
// Representation: C++ inheritance, objects held as std::shared_ptr<Base> (the base needs a
// virtual destructor). Each kind is an ordinary MORM_MODEL over the same collection that
// lists ALL its stored fields, inherited ones included (`&CardPayment::amount` is converted
// to a member of CardPayment). One level: every kind derives from the base directly or
// indirectly, but a query of a kind returns that kind only (no sub-kinds).
//
// Storage. Encoding an object of any kind writes `discriminator: value` right after _id;
// decoding a kind checks it (errc::decode_error naming the value, expected kind and _id). A
// document without the discriminator (written before the model became polymorphic) is the
// base kind, if the base is listed.
//
// Session.
//  - query<Base>() (all/first/one/one_or_none) and get<Base>(id) return, for each document,
//    the object of the kind its discriminator names, as std::shared_ptr<Base>. An unknown
//    discriminator value is errc::decode_error naming the value and the _id (the base is
//    not substituted: saving it back would lose the unknown kind's fields).
//  - query<Kind>() adds `{discriminator: value}` to its filter (so count(), exists(),
//    update(), remove() only see that kind); it also takes filters over the base's members
//    (`field(&Payment::amount) > 10`). get<Kind>(id) loads with that filter too.
//  - Identity map: one object per (collection, _id) across the family. get<Kind>(id) of an
//    object the session holds as another kind returns nullptr (no I/O), like a missing
//    document; merge() of another kind under a held _id throws errc::invalid_argument.
//  - add(), remove(), refresh(), expunge() take the object through any pointer type
//    (std::shared_ptr<Base> to a CardPayment included): the object's dynamic type picks its
//    kind, which must be listed (else errc::invalid_argument). Change tracking diffs each
//    object against its own kind's snapshot; one commit may insert, update and delete
//    objects of every kind.
//  - object_outcome::object points at the most-derived object: cast it to the kind.
//  - Not polymorphic: stream(), partial() and session::aggregate<Base>() decode the declared
//    type itself (a base's fields only); MORM_STRICT kinds (the discriminator would be an
//    unknown field) and engine validators (create_validators) are not supported.
//
// Kinds must be declared (MORM_MODEL) before MORM_POLYMORPHIC, in the base's namespace.
#pragma once

#include <morm/orm/model_ops.hpp>

#include <boost/preprocessor/punctuation/is_begin_parens.hpp>

#include <cstring>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace morm::detail {

/// One kind of a family: its stored discriminator value and C++ type.
struct poly_kind {
    std::string_view value;
    const std::type_info* type;
    const model_ops& (*ops)();
};

/// What MORM_POLYMORPHIC declares.
struct poly_family {
    std::string_view discriminator;
    std::vector<poly_kind> kinds;

    const poly_kind* by_type(const std::type_info& t) const noexcept {
        for (const auto& k : kinds)
            if (*k.type == t) return &k;
        return nullptr;
    }
    const poly_kind* by_value(std::string_view v) const noexcept {
        for (const auto& k : kinds)
            if (k.value == v) return &k;
        return nullptr;
    }
};

template <class T, class... L>
concept one_of = (std::is_same_v<T, L> || ...);

template <class Tag>
struct tag_type;
template <class T>
struct tag_type<codec::detail::type_tag<T>> {
    using type = T;
};
/// The base model of T's family.
template <class T>
using poly_base_t = typename tag_type<decltype(morm_polymorphic_base(codec::detail::type_tag<T>{}))>::type;

template <class B, class K>
constexpr bool same_collection() {
    if constexpr (codec::model<K>) return codec::model_traits<K>::collection == codec::model_traits<B>::collection;
    else return false;
}

/// A kind of MORM_POLYMORPHIC(B, ...): the checks run where the macro is used.
template <class B, class K>
poly_kind poly_kind_of(std::string_view value) {
    static_assert(codec::model<B>, "morm: the base of MORM_POLYMORPHIC must be declared with MORM_MODEL first");
    static_assert(std::has_virtual_destructor_v<B>,
                  "morm: the base of MORM_POLYMORPHIC needs a virtual destructor (objects are held as "
                  "std::shared_ptr<Base>)");
    static_assert(std::is_base_of_v<B, K>, "morm: a MORM_POLYMORPHIC kind must derive from the base model");
    static_assert(codec::model<K>, "morm: a MORM_POLYMORPHIC kind must be declared with MORM_MODEL first");
    static_assert(same_collection<B, K>(),
                  "morm: a MORM_POLYMORPHIC kind must be stored in the same collection as its base");
    static_assert(!codec::struct_traits<K>::strict,
                  "morm: a MORM_POLYMORPHIC kind cannot be MORM_STRICT (the discriminator is not a declared field)");
    return {value, &typeid(K), &ops_for<K>};
}

/// The document's _id as relaxed extended JSON, for messages.
inline std::string doc_id_json(const std::uint8_t* data, std::size_t len) {
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, data, len) || !bson_iter_find(&it, "_id")) return "(none)";
    bson_t tmp;
    bson_init(&tmp);
    std::string out = "?";
    if (bson_append_iter(&tmp, "", 0, &it)) {
        char* s = bson_as_relaxed_extended_json(&tmp, nullptr);
        if (s) {
            out = s;
            bson_free(s);
            // { "" : X } -> X
            auto colon = out.find(':');
            if (colon != std::string::npos && out.size() > colon + 3) out = out.substr(colon + 2, out.size() - colon - 4);
        }
    }
    bson_destroy(&tmp);
    return out;
}

/// Inserts the element `key: value` (a string) into the document that starts at `start` of
/// `out`: right after its first element if that is _id, else first.
[[nodiscard]] inline bool insert_discriminator(bson::byte_buffer& out, std::size_t start, std::string_view key,
                                               std::string_view value) {
    const std::size_t doc_len = out.size() - start;
    std::size_t at = start + 4;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, out.data() + start, doc_len)) return false;
    if (bson_iter_next(&it) && std::strcmp(bson_iter_key(&it), "_id") == 0) at = start + it.next_off;
    const std::size_t elen = 1 + key.size() + 1 + 4 + value.size() + 1;
    if (doc_len + elen > codec::max_document_size) return false;
    const std::size_t old = out.size();
    out.resize(old + elen);
    std::uint8_t* d = out.data();
    std::memmove(d + at + elen, d + at, old - at);
    std::uint8_t* p = d + at;
    *p++ = BSON_TYPE_UTF8;
    std::memcpy(p, key.data(), key.size());
    p += key.size();
    *p++ = 0;
    const auto vlen = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(value.size() + 1));
    std::memcpy(p, &vlen, 4);
    p += 4;
    std::memcpy(p, value.data(), value.size());
    p += value.size();
    *p = 0;
    const auto total = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(doc_len + elen));
    std::memcpy(d + start, &total, 4);
    return true;
}

template <codec::model T>
[[nodiscard]] error_code poly_encode_raw(const void* p, bson::byte_buffer& out, diagnostics* d) {
    const auto& ops = ops_for<T>();
    if (ops.kind.empty()) {  // a base left out of its MORM_POLYMORPHIC list: nothing could read it back
        codec::detail::error_context ctx(d);
        (void)ctx.fail(errc::encode_error,
                       fmt::format("{} is not a listed kind of the MORM_POLYMORPHIC family of '{}': it cannot be stored",
                                   typeid(T).name(), ops.collection));
        return ctx.finish();
    }
    const std::size_t start = out.size();
    if (auto ec = codec::encode_raw(out, *static_cast<const T*>(p), d)) return ec;
    if (insert_discriminator(out, start, ops.discriminator, ops.kind)) return {};
    out.resize(start);
    codec::detail::error_context ctx(d);
    (void)codec::detail::too_large(codec::max_document_size + 1, ctx);
    return ctx.finish();
}

/// Checks that the document is of kind T (errc::decode_error naming the value and _id).
template <codec::model T>
[[nodiscard]] error_code check_kind(const std::uint8_t* data, std::size_t len, diagnostics* d) {
    const auto& ops = ops_for<T>();
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, data, len)) return {};  // the decoder reports it
    std::string_view found;
    bool present = false;
    if (bson_iter_find_w_len(&it, ops.discriminator.data(), static_cast<int>(ops.discriminator.size()))) {
        present = true;
        if (BSON_ITER_HOLDS_UTF8(&it)) {
            std::uint32_t n = 0;
            const char* s = bson_iter_utf8(&it, &n);
            found = std::string_view(s, n);
        }
    }
    // Absent: a document written before the model became polymorphic, of the base kind.
    if (present ? (found == ops.kind && !ops.kind.empty()) : ops.family == &ops && !ops.kind.empty()) return {};
    if (d) {
        d->message = fmt::format("'{}' document with _id {} is of kind {} (field '{}'), not '{}'", ops.collection,
                                 doc_id_json(data, len),
                                 present ? (found.data() ? fmt::format("'{}'", found) : std::string("(not a string)"))
                                         : std::string("(none)"),
                                 ops.discriminator, ops.kind);
    }
    return make_error_code(errc::decode_error);
}

template <codec::model T>
void bind_polymorphic(model_ops& o, const model_ops* self) {
    using B = poly_base_t<T>;
    const poly_family& fam = morm_polymorphic(codec::detail::type_tag<B>{});
    if constexpr (std::is_same_v<T, B>) o.family = self;
    else o.family = &ops_for<B>();
    o.discriminator = fam.discriminator;
    if (const auto* k = fam.by_type(typeid(T))) o.kind = k->value;
    o.encode_raw_fn = &poly_encode_raw<T>;
    o.encode_fn = [](const void* p, bson_t* dst, diagnostics* d) -> error_code {
        codec::detail::scratch s;
        if (auto ec = poly_encode_raw<T>(p, s.buf, d)) return ec;
        codec::detail::error_context ctx(d);
        (void)codec::detail::append_elements(dst, s.buf, ctx);
        return ctx.finish();
    };
    o.decode_fn = [](const std::uint8_t* data, std::size_t len, void* p, diagnostics* d) -> error_code {
        if (auto ec = check_kind<T>(data, len, d)) return ec;
        return codec::decode(data, len, *static_cast<T*>(p), d);
    };
    o.to_root = [](void* p) -> void* { return static_cast<B*>(static_cast<T*>(p)); };
    o.kind_of_type = [](const std::type_info& t) -> const model_ops* {
        const auto* k = morm_polymorphic(codec::detail::type_tag<B>{}).by_type(t);
        return k ? &k->ops() : nullptr;
    };
    o.kind_of_value = [](std::string_view v) -> const model_ops* {
        const auto* k = morm_polymorphic(codec::detail::type_tag<B>{}).by_value(v);
        return k ? &k->ops() : nullptr;
    };
}

}  // namespace morm::detail

#define MORM_DETAIL_POLY_TYPE_I(K, v) K
#define MORM_DETAIL_POLY_TYPE(B, e) MORM_DETAIL_POLY_TYPE_I e
#define MORM_DETAIL_POLY_KIND_I(B, K, v) ::morm::detail::poly_kind_of<B, K>(v)
#define MORM_DETAIL_POLY_KIND_II(...) MORM_DETAIL_POLY_KIND_I(__VA_ARGS__)
#define MORM_DETAIL_POLY_KIND(B, e) MORM_DETAIL_POLY_KIND_II(B, MORM_DETAIL_REM e)

/// Declares a family of models stored in one collection (see the top of this file):
/// MORM_POLYMORPHIC(Base, "discriminator field", (Base, "value"), (Kind, "value")...).
/// Listing the base is optional (without it, no object of the base type itself is stored).
#define MORM_POLYMORPHIC(B, discriminator, ...)                                                          \
    template <class MormKind_>                                                                          \
        requires ::morm::detail::one_of<MormKind_, B, MORM_DETAIL_FOREACH(MORM_DETAIL_POLY_TYPE, B,    \
                                                                          __VA_ARGS__)>                 \
    constexpr ::morm::codec::detail::type_tag<B> morm_polymorphic_base(                                 \
        ::morm::codec::detail::type_tag<MormKind_>) noexcept {                                          \
        return {};                                                                                      \
    }                                                                                                   \
    [[maybe_unused]] inline const ::morm::detail::poly_family& morm_polymorphic(                        \
        ::morm::codec::detail::type_tag<B>) {                                                           \
        static const ::morm::detail::poly_family family{                                                \
            discriminator, {MORM_DETAIL_FOREACH(MORM_DETAIL_POLY_KIND, B, __VA_ARGS__)}};               \
        return family;                                                                                  \
    }                                                                                                   \
    static_assert(true, "")
