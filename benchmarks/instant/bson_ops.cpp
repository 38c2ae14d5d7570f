#include "bson_ops.hpp"

#include <charconv>

namespace morm_bench::instant {
namespace {

std::string_view head(std::string_view path, std::string_view& rest) {
    auto dot = path.find('.');
    if (dot == std::string_view::npos) {
        rest = {};
        return path;
    }
    rest = path.substr(dot + 1);
    return path.substr(0, dot);
}

bool is_index(std::string_view part, std::size_t& index) {
    if (part.empty()) return false;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
    return ec == std::errc() && p == part.data() + part.size();
}

bool element_matches(const bson_iter_t& el, std::string_view rest, const bson_iter_t& value);

bool array_any(const bson_iter_t& arr, std::string_view rest, const bson_iter_t& value) {
    bson_iter_t c;
    if (!bson_iter_recurse(&arr, &c)) return false;
    while (bson_iter_next(&c)) {
        if (rest.empty() ? values_equal(c, value) : element_matches(c, rest, value)) return true;
    }
    return false;
}

// `el` is the element reached so far; `rest` the path left below it.
bool element_matches(const bson_iter_t& el, std::string_view rest, const bson_iter_t& value) {
    if (rest.empty()) {
        if (values_equal(el, value)) return true;
        return BSON_ITER_HOLDS_ARRAY(&el) && !BSON_ITER_HOLDS_ARRAY(&value) && array_any(el, rest, value);
    }
    if (BSON_ITER_HOLDS_DOCUMENT(&el)) {
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(&el, &len, &data);
        return path_equals(data, len, rest, value);
    }
    if (BSON_ITER_HOLDS_ARRAY(&el)) {
        std::string_view after;
        std::string_view part = head(rest, after);
        std::size_t index;
        if (is_index(part, index)) {
            bson_iter_t c;
            if (!bson_iter_recurse(&el, &c)) return false;
            for (std::size_t i = 0; bson_iter_next(&c); ++i)
                if (i == index) return element_matches(c, after, value);
            return false;
        }
        return array_any(el, rest, value);
    }
    return false;
}

using edit = void (*)(bson_t* out, const char* key, int key_len, const bson_iter_t* old, const bson_iter_t& arg);

// Rebuilds `doc` with the element at `path` edited by `fn` (old = nullptr when missing).
void rebuild(const bson_t& doc, std::string_view path, const bson_iter_t& arg, edit fn, bson_t* out) {
    std::string_view rest;
    std::string_view part = head(path, rest);
    bson_iter_t it;
    bool seen = false;
    bson_iter_init(&it, &doc);
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (key != part) {
            bson_append_iter(out, nullptr, 0, &it);
            continue;
        }
        seen = true;
        if (rest.empty()) {
            fn(out, key.data(), static_cast<int>(key.size()), &it, arg);
        } else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&it, &len, &data);
            bson_t sub, child;
            bson_init_static(&sub, data, len);
            bson_append_document_begin(out, key.data(), static_cast<int>(key.size()), &child);
            rebuild(sub, rest, arg, fn, &child);
            bson_append_document_end(out, &child);
        } else {
            fail(2, "instant_server: cannot descend into '" + std::string(key) +
                        "' (not a document; array paths are not implemented for updates)");
        }
    }
    if (seen) return;
    if (rest.empty()) {
        fn(out, part.data(), static_cast<int>(part.size()), nullptr, arg);
        return;
    }
    bson_t empty, child;
    bson_init(&empty);
    bson_append_document_begin(out, part.data(), static_cast<int>(part.size()), &child);
    rebuild(empty, rest, arg, fn, &child);
    bson_append_document_end(out, &child);
    bson_destroy(&empty);
}

bson_t* rebuilt(const bson_t& doc, std::string_view path, const bson_iter_t& arg, edit fn) {
    bson_t* out = bson_sized_new(doc.len + 64);
    try {
        rebuild(doc, path, arg, fn, out);
    } catch (...) {
        bson_destroy(out);
        throw;
    }
    return out;
}

}  // namespace

bool path_equals(const std::uint8_t* doc, std::size_t len, std::string_view path, const bson_iter_t& value) {
    std::string_view rest;
    std::string_view part = head(path, rest);
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, doc, len)) return false;
    while (bson_iter_next(&it)) {
        if (std::string_view(bson_iter_key(&it), bson_iter_key_len(&it)) == part)
            return element_matches(it, rest, value);
    }
    // A missing field equals null, as on MongoDB.
    return rest.empty() && BSON_ITER_HOLDS_NULL(&value);
}

bson_t* with_path_set(const bson_t& doc, std::string_view path, const bson_iter_t& value) {
    return rebuilt(doc, path, value, [](bson_t* out, const char* key, int key_len, const bson_iter_t*,
                                        const bson_iter_t& v) { bson_append_iter(out, key, key_len, &v); });
}

bson_t* with_path_unset(const bson_t& doc, std::string_view path) {
    bson_iter_t none{};
    return rebuilt(doc, path, none, [](bson_t* out, const char* key, int key_len, const bson_iter_t* old,
                                       const bson_iter_t&) {
        (void)out, (void)key, (void)key_len, (void)old;  // dropped
    });
}

bson_t* with_path_inc(const bson_t& doc, std::string_view path, const bson_iter_t& by) {
    if (!is_number(bson_iter_type(&by))) fail(14, "instant_server: $inc needs a number");
    return rebuilt(doc, path, by, [](bson_t* out, const char* key, int key_len, const bson_iter_t* old,
                                     const bson_iter_t& inc) {
        if (old && !is_number(bson_iter_type(old)))
            fail(14, "instant_server: $inc of a field that is not a number: " + std::string(key, key_len));
        bool dbl = bson_iter_type(&inc) == BSON_TYPE_DOUBLE || (old && bson_iter_type(old) == BSON_TYPE_DOUBLE);
        bool wide = bson_iter_type(&inc) == BSON_TYPE_INT64 || (old && bson_iter_type(old) == BSON_TYPE_INT64);
        if (dbl) {
            bson_append_double(out, key, key_len, (old ? bson_iter_as_double(old) : 0.0) + bson_iter_as_double(&inc));
        } else {
            std::int64_t sum = (old ? bson_iter_as_int64(old) : 0) + bson_iter_as_int64(&inc);
            if (wide || sum != static_cast<std::int32_t>(sum)) bson_append_int64(out, key, key_len, sum);
            else bson_append_int32(out, key, key_len, static_cast<std::int32_t>(sum));
        }
    });
}

}  // namespace morm_bench::instant
