// std::vector<T> <-> BSON array. Decoding reuses the elements already in the vector.
#pragma once

#include <morm/codec/traits.hpp>

#include <type_traits>
#include <vector>

namespace morm {

template <class T, class A>
struct bson_traits<std::vector<T, A>> {
    static constexpr bson_type_t type = BSON_TYPE_ARRAY;
    static constexpr std::size_t size_estimate = 5 + 32;

    template <class W>
    [[gnu::always_inline]] static bool write(W& w, const std::vector<T, A>& v) {
        auto& raw = w.raw_writer();
        auto& ctx = w.context();
        const std::size_t at = raw.open(BSON_TYPE_ARRAY, w.key());
        std::uint32_t i = 0;
        for (const auto& e : v) {
            const codec::detail::index_key ik(i);
            if (!codec::detail::write_value(raw, ik, e, ctx)) return ctx.push(ik.view());
            ++i;
        }
        raw.close(at);
        return true;
    }

    static bool read(const codec::element& e, std::vector<T, A>& v) {
        if (e.type() != BSON_TYPE_ARRAY) return e.mismatch("array");
        auto& ctx = e.context();
        bson_iter_t child;
        if (!bson_iter_recurse(&const_cast<bson_iter_t&>(e.iter()), &child)) return e.fail("corrupt array");
        if constexpr (small_fixed()) {
            // A fresh vector would grow log2(n) times: reserve the most elements the array's
            // bytes can hold (each takes a type byte, a key of 1+ chars and its NUL besides the
            // payload), at most the array's size in memory.
            const std::size_t bound = (child.len - 5) / (3 + codec::size_estimate<T>());
            if (v.capacity() < bound) v.reserve(bound);
        }
        std::size_t n = 0;
        while (bson_iter_next(&child)) {
            if (n == v.size()) v.emplace_back();
            if (!codec::detail::read_value(child, v[n], ctx))
                return ctx.push(std::string_view(bson_iter_key(&child), bson_iter_key_len(&child)));
            ++n;
        }
        if (child.err_off) return e.fail("corrupt array");
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(n), v.end());
        return true;
    }

    /// A scalar stored in a fixed number of bytes no smaller than its in-memory size / 4.
    static constexpr bool small_fixed() {
        if constexpr (!codec::mapped<T>) return false;
        else {
            constexpr auto t = bson_traits<T>::type;
            return std::is_trivially_copyable_v<T> && sizeof(T) <= 16 &&
                   (t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE || t == BSON_TYPE_BOOL ||
                    t == BSON_TYPE_DATE_TIME || t == BSON_TYPE_OID || t == BSON_TYPE_DECIMAL128);
        }
    }

    static void schema(bson_t* s, bool nullable) {
        codec::append_schema_type(s, "array", nullable);
        bson_t items;
        bson_append_document_begin(s, "items", 5, &items);
        codec::append_schema<T>(&items, false);
        bson_append_document_end(s, &items);
    }
};

}  // namespace morm
