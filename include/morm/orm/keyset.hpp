// Keyset pagination (query<T>::after): the filter that continues a sorted query right
// after a given object, so that pages stay stable while documents are inserted, unlike
// skip(), which shifts when something is inserted before the current page.
//
// For sort keys k1..kn (the query's sort, with _id appended when absent so that the order
// is total) and the last object's values v1..vn:
//   {$or: [{k1: {$gt: v1}}, {k1: v1, k2: {$gt: v2}}, ..., {k1: v1, ..., kn: {$gt: vn}}]}
// with $lt for a descending key.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/error.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace morm::detail {

struct keyset_key {
    std::string path;
    bool desc;
};

/// The keys of `sort`, to which `_id: 1` is appended if it has no `_id` key: the order
/// must be total, on every page including the first, for pages to neither repeat nor skip.
inline std::vector<keyset_key> keyset_sort(bson::document& sort) {
    using key = keyset_key;
    std::vector<key> keys;
    bool has_id = false;
    bson_iter_t it;
    if (sort.view().init_iter(it))
        while (bson_iter_next(&it)) {
            std::string path(bson_iter_key(&it), bson_iter_key_len(&it));
            has_id = has_id || path == "_id";
            keys.push_back({std::move(path), bson_iter_as_int64(&it) < 0});
        }
    auto fail = [](std::string_view what) {
        throw error(errc::invalid_argument, fmt::format("after(): the keyset filter could not be built ({})", what));
    };
    if (!has_id) {
        if (!bson_append_int32(sort.get(), "_id", 3, 1)) fail("_id sort key");
        keys.push_back({"_id", false});
    }
    return keys;
}

/// The keyset condition continuing after `last` (the previous page's last object, encoded)
/// in the order of `sort`, completed by keyset_sort(). A sort key missing from `last`
/// compares as null. Throws errc::invalid_argument if the filter cannot be built (it must
/// never go out half-built).
inline bson::document keyset_after(bson::document& sort, bson::document_view last) {
    const auto keys = keyset_sort(sort);
    auto fail = [](std::string_view what) {
        throw error(errc::invalid_argument, fmt::format("after(): the keyset filter could not be built ({})", what));
    };
    // `key: <the last object's value>`; null when the encoded object lacks it.
    auto append_value = [&](bson_t* dst, const std::string& key_name, const std::string& path) {
        bson_iter_t root, v;
        const int n = static_cast<int>(key_name.size());
        if (last.init_iter(root) && bson_iter_find_descendant(&root, path.c_str(), &v))
            return bson_append_iter(dst, key_name.data(), n, &v);
        return bson_append_null(dst, key_name.data(), n);
    };
    bson::document out;
    bson_t any;
    if (!bson_append_array_begin(out.get(), "$or", 3, &any)) fail("$or");
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::string index = std::to_string(i);
        bson_t term, cmp;
        bool ok = bson_append_document_begin(&any, index.c_str(), static_cast<int>(index.size()), &term);
        for (std::size_t j = 0; ok && j < i; ++j) ok = append_value(&term, keys[j].path, keys[j].path);
        const auto& k = keys[i];
        ok = ok && bson_append_document_begin(&term, k.path.data(), static_cast<int>(k.path.size()), &cmp) &&
             append_value(&cmp, k.desc ? "$lt" : "$gt", k.path) && bson_append_document_end(&term, &cmp) &&
             bson_append_document_end(&any, &term);
        if (!ok) fail(k.path);
    }
    if (!bson_append_array_end(out.get(), &any)) fail("$or");
    return out;
}

}  // namespace morm::detail
