// Structures declared with MORM_STRUCT / MORM_MODEL <-> BSON documents: the field walks of
// the encoder and the decoder. Each member goes through its own bson_traits.
//
// Decoding rules:
// - A declared field that is absent fails with errc::decode_error ("<path>: missing required
//   field"), except: nullable members (std::optional) become nullopt; `omit_empty` members
//   become empty; `optional_on_decode` members keep their current value. `required`
//   overrides all three.
// - A field with an alias is also read from its former name; if both names are present the
//   current one wins.
// - Unknown fields are skipped unless the structure is MORM_STRICT ("<path>: unknown field")
//   or has an `extra_fields` member, which collects them.
#pragma once

#include <morm/codec/traits.hpp>

#include <bitset>
#include <vector>
#include <cstring>

namespace morm {

namespace codec::detail {

template <structure T>
constexpr std::size_t raw_estimate_doc() noexcept {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return std::size_t{5} +
               (... + [] {
                    constexpr auto& d = struct_traits<T>::template field<I>();
                    using M = typename std::remove_cvref_t<decltype(d)>::member_type;
                    if constexpr (d.has(field_flags::extra_fields)) return std::size_t{0};
                    else return 2 + d.name.size() + size_estimate<M>();
                }());
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

// ---- encode ------------------------------------------------------------------------------

template <structure T, std::size_t I, class B>
bool raw_field(raw_writer<B>& w, const T& obj, error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    using M = typename std::remove_cvref_t<decltype(d)>::member_type;
    const M& m = obj.*d.member;
    if constexpr (d.has(field_flags::extra_fields)) {
        static_assert(std::is_same_v<M, bson::document>,
                      "field_flags::extra_fields requires a morm::bson::document member");
        // The elements are the document's bytes between its length and its terminator.
        if (m.size() > 5) {
            const std::size_t n = m.size() - 5;
            w.ensure(n);
            w.bytes(m.data() + 4, n);
        }
        return true;
    } else {
        if constexpr (d.has(field_flags::version))
            static_assert(std::is_same_v<M, std::int64_t>, "field_flags::version requires a std::int64_t member");
        if constexpr (d.has(field_flags::omit_empty))
            if (is_empty_value(m)) return true;
        if (!write_value(w, field_key<T, I>{}, m, ctx)) return ctx.push(d.name);
        return true;
    }
}

template <structure T, class B>
bool raw_fields(raw_writer<B>& w, const T& obj, error_context& ctx) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (raw_field<T, I>(w, obj, ctx) && ...);
    }(std::make_index_sequence<struct_traits<T>::size>{});
}

// ---- decode ------------------------------------------------------------------------------

template <class T, std::size_t I>
bool decode_field(const bson_iter_t& it, T& out, error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    return read_value(it, out.*d.member, ctx);
}

template <class T, std::size_t... I>
constexpr auto make_decoders(std::index_sequence<I...>) {
    using fn = bool (*)(const bson_iter_t&, T&, error_context&);
    return std::array<fn, sizeof...(I)>{&decode_field<T, I>...};
}

template <class T>
constexpr std::size_t extra_fields_index() {
    std::size_t i = 0, found = struct_traits<T>::size;
    for_each_field<T>([&](const auto& d) {
        if (d.has(field_flags::extra_fields) && found == struct_traits<T>::size) found = i;
        ++i;
    });
    return found;
}

/// What to do with a declared field the document did not contain.
template <class D>
bool handle_missing(typename D::class_type& out, const D& d, error_context& ctx) {
    using M = typename D::member_type;
    auto& m = out.*d.member;
    if (d.has(field_flags::extra_fields)) return true;
    if (!d.has(field_flags::required)) {
        if constexpr (nullable<M>()) {
            m = M{};
            return true;
        }
        if (d.has(field_flags::optional_on_decode)) return true;
        if (d.has(field_flags::omit_empty)) {
            if constexpr (std::is_default_constructible_v<M>) {
                if constexpr (requires { m.clear(); }) m.clear();
                else m = M{};
                return true;
            }
        }
    }
    ctx.fail(errc::decode_error, "missing required field");
    return ctx.push(d.name);
}

inline bool same_key(std::string_view name, std::string_view k) noexcept {
    return name.size() == k.size() && std::memcmp(name.data(), k.data(), k.size()) == 0;
}

/// Index of the declared field stored as `k` (not the extra_fields member), or `n`.
/// Compares lengths first: one integer compare rejects most names. `*former` tells whether
/// `k` is the field's alias rather than its name.
template <structure T>
std::size_t find_field(std::string_view k, std::size_t hint, bool* former) noexcept {
    using traits = struct_traits<T>;
    constexpr std::size_t n = traits::size;
    constexpr std::size_t extra = extra_fields_index<T>();
    auto match = [&](std::size_t i) { return i != extra && same_key(traits::names[i], k); };
    for (std::size_t i = hint; i < n; ++i)
        if (match(i)) return i;
    for (std::size_t i = 0; i < hint && i < n; ++i)
        if (match(i)) return i;
    if constexpr (traits::has_aliases) {
        for (std::size_t i = 0; i < n; ++i)
            if (!traits::aliases[i].empty() && same_key(traits::aliases[i], k)) {
                *former = true;
                return i;
            }
    }
    return n;
}

/// Outcome of the in-order pass of decode_fields.
enum class fast_state { running, end, pending, failed };

/// One step of the in-order pass: reads the next element and, if it is field I, decodes it
/// with a direct (inlinable) call. Returns false to leave the pass.
template <structure T, std::size_t I>
bool decode_in_order(bson_iter_t& it, T& out, std::bitset<struct_traits<T>::size>& seen, fast_state& st,
                     error_context& ctx) {
    constexpr auto& d = struct_traits<T>::template field<I>();
    if (!bson_iter_next(&it)) {
        st = fast_state::end;
        return false;
    }
    if constexpr (d.has(field_flags::extra_fields)) {
        st = fast_state::pending;
        return false;
    } else {
        if (iter_key_len(it) != d.name.size() || std::memcmp(iter_key(it), d.name.data(), d.name.size()) != 0) {
            st = fast_state::pending;
            return false;
        }
        if (!read_value(it, out.*d.member, ctx)) {
            st = fast_state::failed;
            return ctx.push(d.name);
        }
        seen.set(I);
        return true;
    }
}

/// The extra_fields member of `out` (T must have one).
template <structure T>
bson::document& extra_doc(T& out) noexcept {
    using traits = struct_traits<T>;
    constexpr std::size_t extra = extra_fields_index<T>();
    return out.*traits::template field<(extra < traits::size ? extra : 0)>().member;
}

/// Appends `n` bytes of complete elements (checked by bson_iter_next, as bson_append_iter
/// would re-emit them) to the top-level document `doc` in one copy.
inline bool append_elements(bson_t* doc, const std::uint8_t* p, std::uint32_t n) noexcept {
    const std::uint32_t len = doc->len;
    if (n > static_cast<std::uint32_t>(INT32_MAX) - len) return false;
    const std::uint32_t total = len + n;
    std::uint8_t* buf = bson_reserve_buffer(doc, total);
    if (!buf) return false;
    std::memcpy(buf + len - 1, p, n);  // over the old terminator
    buf[total - 1] = 0;
    const std::uint32_t le = BSON_UINT32_TO_LE(total);
    std::memcpy(buf, &le, 4);
    return true;
}

/// Unknown elements bound for the extra_fields member, gathered while they are adjacent in the
/// source: a document of many unknown fields costs one copy, not one bson_append_iter each.
struct extra_run {
    const std::uint8_t* raw = nullptr;
    std::uint32_t begin = 0, end = 0;

    /// Adds the element at `it`; false if an earlier, non-adjacent run could not be appended.
    bool add(const bson_iter_t& it, bson_t* doc) noexcept {
        if (begin != end && it.off != end && !flush(doc)) return false;
        if (begin == end) {
            raw = it.raw;
            begin = it.off;
        }
        end = it.next_off;
        return true;
    }
    bool flush(bson_t* doc) noexcept {
        const bool ok = begin == end || append_elements(doc, raw + begin, end - begin);
        begin = end = 0;
        return ok;
    }
};

/// An element that is no declared field of a structure without extra_fields: refused
/// (strict) or skipped.
template <structure T>
bool unknown_field(std::string_view k, error_context& ctx) {
    if constexpr (struct_traits<T>::strict) {
        ctx.fail(errc::decode_error, "unknown field");
        return ctx.push(k);
    } else {
        (void)k, (void)ctx;
        return true;
    }
}

/// The lookup pass, after the first element out of declaration order.
template <structure T>
bool decode_by_name(bson_iter_t& it, T& out, std::bitset<struct_traits<T>::size>& seen, bool pending,
                    error_context& ctx) {
    using traits = struct_traits<T>;
    constexpr std::size_t n = traits::size;
    static constexpr auto decoders = make_decoders<T>(std::make_index_sequence<n>{});
    // Fields decoded from their former name: the current name, met later, wins.
    std::bitset<traits::has_aliases ? n : 1> by_alias;
    std::size_t hint = 0;         // after a reordering, still try the next declared field first
    constexpr std::size_t extra = extra_fields_index<T>();
    [[maybe_unused]] extra_run run;
    while (pending || bson_iter_next(&it)) {
        pending = false;
        const std::string_view k(iter_key(it), iter_key_len(it));
        bool former = false;
        const std::size_t idx = find_field<T>(k, hint, &former);
        if (idx == n) {
            if constexpr (extra < n) {
                if (!run.add(it, extra_doc(out).get()))
                    return ctx.fail(errc::decode_error, "cannot collect extra field");
            } else if (!unknown_field<T>(k, ctx)) {
                return false;
            }
            continue;
        }
        if constexpr (traits::has_aliases) {
            if (former && seen.test(idx) && !by_alias.test(idx)) continue;
            if (former) by_alias.set(idx);
            else by_alias.reset(idx);
        }
        hint = idx + 1;
        if (!decoders[idx](it, out, ctx)) return ctx.push(k);
        seen.set(idx);
    }
    if constexpr (extra < n)
        if (!run.flush(extra_doc(out).get())) return ctx.fail(errc::decode_error, "cannot collect extra field");
    return true;
}

template <structure T>
bool decode_fields(bson_iter_t& it, T& out, error_context& ctx) {
    using traits = struct_traits<T>;
    constexpr std::size_t n = traits::size;
    constexpr std::size_t extra = extra_fields_index<T>();
    if constexpr (extra < n) (out.*traits::template field<(extra < n ? extra : 0)>().member).clear();

    std::bitset<n> seen;
    // Documents written by morm (and most others) hold the fields in declaration order: take
    // them one by one with no lookup until the first element that is not the next field.
    fast_state st = fast_state::running;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (decode_in_order<T, I>(it, out, seen, st, ctx) && ...);
    }(std::make_index_sequence<n>{});
    if (st == fast_state::failed) return false;
    if (st != fast_state::end && !decode_by_name(it, out, seen, st == fast_state::pending, ctx)) return false;
    if (it.err_off) return ctx.fail(errc::decode_error, "corrupt BSON");
    if (seen.all()) return true;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return ((seen.test(I) || handle_missing(out, traits::template field<I>(), ctx)) && ...);
    }(std::make_index_sequence<n>{});
}

}  // namespace codec::detail

template <codec::structure T>
struct bson_traits<T> {
    static constexpr bson_type_t type = BSON_TYPE_DOCUMENT;
    static constexpr std::size_t size_estimate = codec::detail::raw_estimate_doc<T>();

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const T& v) {
        auto& raw = w.raw_writer();
        const std::size_t at = raw.open(BSON_TYPE_DOCUMENT, w.key());
        if (!codec::detail::raw_fields(raw, v, w.context())) return false;
        raw.close(at);
        return true;
    }
    static bool read(const codec::element& e, T& v) {
        if (e.type() != BSON_TYPE_DOCUMENT) return e.mismatch("document");
        bson_iter_t child;
        if (!bson_iter_recurse(&const_cast<bson_iter_t&>(e.iter()), &child)) return e.fail("corrupt document");
        return codec::detail::decode_fields(child, v, e.context());
    }
    static void schema(bson_t* s, bool nullable) {
        codec::append_schema_type(s, "object", nullable);
        append_properties(s);
    }

    /// "properties" (and "required") of the structure's declared fields.
    static void append_properties(bson_t* s) {
        bson_t props;
        bson_append_document_begin(s, "properties", -1, &props);
        std::vector<std::string_view> required;
        codec::for_each_field<T>([&](const auto& d) {
            using M = typename std::remove_cvref_t<decltype(d)>::member_type;
            if (d.has(codec::field_flags::extra_fields)) return;
            bson_t p;
            bson_append_document_begin(&props, d.name.data(), static_cast<int>(d.name.size()), &p);
            codec::append_schema<M>(&p, false);
            bson_append_document_end(&props, &p);
            const bool optional = codec::nullable<M>() || d.has(codec::field_flags::omit_empty) ||
                                  d.has(codec::field_flags::optional_on_decode) || !d.former.empty();
            if (!optional || d.has(codec::field_flags::required)) required.push_back(d.name);
        });
        bson_append_document_end(s, &props);
        if (required.empty()) return;
        bson_t req;
        bson_append_array_begin(s, "required", -1, &req);
        std::uint32_t i = 0;
        char buf[16];
        for (auto name : required) {
            const char* k;
            bson_uint32_to_string(i++, &k, buf, sizeof buf);
            bson_append_utf8(&req, k, -1, name.data(), static_cast<int>(name.size()));
        }
        bson_append_array_end(s, &req);
    }
};

}  // namespace morm
