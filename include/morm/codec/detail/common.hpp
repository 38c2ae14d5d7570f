// Internals shared by the codec: error context, BSON type names, inline element accessors.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/bson/types.hpp>
#include <morm/codec/model.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace morm::codec::detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
/// T, or the value type of std::optional<T>.
template <class T>
using unwrap_optional_t = typename std::conditional_t<is_optional<T>::value, T, std::optional<T>>::value_type;

template <class T>
concept integer = std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>;

/// Name of a BSON type as used in error messages ("string", "int32", ...).
constexpr std::string_view bson_type_name(bson_type_t t) noexcept {
    switch (t) {
    case BSON_TYPE_DOUBLE: return "double";
    case BSON_TYPE_UTF8: return "string";
    case BSON_TYPE_DOCUMENT: return "document";
    case BSON_TYPE_ARRAY: return "array";
    case BSON_TYPE_BINARY: return "binary";
    case BSON_TYPE_UNDEFINED: return "undefined";
    case BSON_TYPE_OID: return "objectId";
    case BSON_TYPE_BOOL: return "bool";
    case BSON_TYPE_DATE_TIME: return "date";
    case BSON_TYPE_NULL: return "null";
    case BSON_TYPE_REGEX: return "regex";
    case BSON_TYPE_DBPOINTER: return "dbPointer";
    case BSON_TYPE_CODE: return "javascript";
    case BSON_TYPE_SYMBOL: return "symbol";
    case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
    case BSON_TYPE_INT32: return "int32";
    case BSON_TYPE_TIMESTAMP: return "timestamp";
    case BSON_TYPE_INT64: return "int64";
    case BSON_TYPE_DECIMAL128: return "decimal128";
    case BSON_TYPE_MAXKEY: return "maxKey";
    case BSON_TYPE_MINKEY: return "minKey";
    default: return "unknown";
    }
}

// Inline element accessors. bson_iter_next has already bounds-checked the element it stops
// at, so the header-inline *_unsafe getters are safe after it; libbson's exported getters
// repeat the checks behind a call that cannot be inlined.
inline const char* iter_key(const bson_iter_t& it) noexcept { return bson_iter_key_unsafe(&it); }
inline std::size_t iter_key_len(const bson_iter_t& it) noexcept { return it.d1 - it.key - 1; }
inline bson_type_t iter_type(const bson_iter_t& it) noexcept { return bson_iter_type_unsafe(&it); }

/// Error state of one encode/decode call. Costs nothing until something fails: the reason is
/// recorded at the failing element and the path is assembled while unwinding.
struct error_context {
    diagnostics* diag;
    errc code = errc::ok;
    std::string path;     // dotted path, built innermost-first
    std::string reason;

    explicit error_context(diagnostics* d) noexcept : diag(d) {}

    bool fail(errc c, std::string why) {
        code = c;
        reason = std::move(why);
        return false;
    }
    /// Prepends a path segment (called on the way out of a failed element).
    bool push(std::string_view segment) {
        if (path.empty()) path.assign(segment);
        else path.insert(0, std::string(segment) + '.');
        return false;
    }
    [[nodiscard]] error_code finish() {
        if (code == errc::ok) return {};
        if (diag) {
            diag->clear();
            diag->message = path.empty() ? reason : path + ": " + reason;
        }
        return make_error_code(code);
    }
};

}  // namespace morm::codec::detail
