// libFuzzer harness: BSON validation. `document_view::valid()` must never crash on any bytes,
// and whatever it accepts must be safe to walk with every reader the library has: a full
// recursive iteration that reads each value, find() by dotted path, both Extended JSON
// modes, an owning copy (document::from_bytes) and a copy of each value (bson::value).
#include <morm/bson.hpp>
#include <morm/error.hpp>

#include <cstdint>
#include <string>

namespace {

using namespace morm;

constexpr int max_walk_depth = 400;

// Reads every element, recursing into documents and arrays (the walk a decoder does), and
// returns the dotted path of the last leaf, for find().
void walk(bson_iter_t& it, std::string& path, std::string& last, int depth) {
    while (bson_iter_next(&it)) {
        const std::size_t keep = path.size();
        if (!path.empty()) path += '.';
        path.append(bson_iter_key(&it), bson_iter_key_len(&it));
        const bson_value_t* v = bson_iter_value(&it);
        switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            bson_iter_t child;
            // valid() accepted the bytes: a sub-document that cannot be entered is a finding.
            if (!bson_iter_recurse(&it, &child)) __builtin_trap();
            // The harness's own recursion stays shallow; valid() is what must bound depth.
            if (depth < max_walk_depth) walk(child, path, last, depth + 1);
            break;
        }
        case BSON_TYPE_UTF8: {
            std::uint32_t len = 0;
            const char* s = bson_iter_utf8(&it, &len);
            if (!s || !bson_utf8_validate(s, len, true)) __builtin_trap();
            last = path;
            break;
        }
        case BSON_TYPE_CODEWSCOPE: {
            std::uint32_t len = 0, scope_len = 0;
            const std::uint8_t* scope = nullptr;
            (void)bson_iter_codewscope(&it, &len, &scope_len, &scope);
            bson::document_view s(scope, scope_len);
            if (!s.valid()) __builtin_trap();
            bson_iter_t child;
            if (!s.init_iter(child)) __builtin_trap();
            std::string p, l;
            if (depth < max_walk_depth) walk(child, p, l, depth + 1);
            break;
        }
        default: {
            // A deep copy through bson::value, and its JSON.
            const bson::value copy(*v);
            (void)copy.to_json(bson::json_mode::canonical);
            last = path;
            break;
        }
        }
        path.resize(keep);
    }
    // The iterator must end cleanly, not on a corrupt element.
    if (it.err_off != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const bson::document_view view(data, size);
    if (!view.valid()) {
        // The owning copy validates too, and says so with morm::error.
        try {
            (void)bson::document::from_bytes(view);
            __builtin_trap();  // from_bytes accepted what valid() refused
        } catch (const morm::error&) {
        }
        return 0;
    }
    bson_iter_t it;
    if (!view.init_iter(it)) __builtin_trap();
    std::string path, last;
    walk(it, path, last, 0);
    for (const auto& e : view) (void)bson_iter_key(&e);
    if (!last.empty()) (void)view.find(last);
    (void)view.find("a.b.0");

    const std::string relaxed = view.to_json(bson::json_mode::relaxed);
    const std::string canonical = view.to_json(bson::json_mode::canonical);
    if (canonical.empty()) __builtin_trap();  // to_json is empty only for invalid bytes
    (void)relaxed;

    const bson::document copy = bson::document::from_bytes(view);  // must not throw
    if (!(copy.view() == view)) __builtin_trap();
    return 0;
}
