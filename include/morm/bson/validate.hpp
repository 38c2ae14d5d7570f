// morm's own BSON validator: checks every decode rule of the BSON specification, without
// recursion (an explicit fixed-size stack) and with a nesting limit, so bytes from a server
// can be checked once and then walked by libbson's iterators without further checks.
//
// libbson's bson_validate recurses once per nesting level with no bound (a 10,000-level
// document, far below 16 MiB, overflows the stack) and lets some corrupt documents through
// (an embedded document whose last byte is not 0, invalid UTF-8 outside plain strings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace morm::bson {

/// Deepest nesting `validate` accepts. The top-level document is level 1; each embedded
/// document, array and code-with-scope scope adds one.
///
/// Why 200: MongoDB stores documents of at most 100 levels, and a reply wraps a stored
/// document in a few more (body, cursor, firstBatch, the document), so real data stays far
/// below. 200 is also the server's default `maxBSONDepth` and libbson's recursion limit for
/// JSON output, and it keeps code that recurses over validated documents (to_json, raw
/// document fields) a few hundred frames deep at most.
inline constexpr std::size_t max_depth = 200;

/// Outcome of `validate`. `reason` is null for a valid document; otherwise a static text
/// naming the first problem, found at byte `offset` from the start of the document.
struct validation {
    const char* reason = nullptr;
    std::size_t offset = 0;

    bool ok() const noexcept { return reason == nullptr; }
};

/// Checks that the `size` bytes at `data` are exactly one BSON document that decodes under
/// every rule of the BSON specification:
/// - lengths: the document's length equals `size`; every embedded document, array, string,
///   binary and code-with-scope length is in range and fits inside its parent; every
///   document and array ends with a 0 byte exactly at its declared end; no trailing bytes;
/// - strings (string, JavaScript code, symbol, DBPointer namespace, code-with-scope code)
///   have a length of at least 1 and end with a NUL; code-with-scope's total length equals
///   its code plus its scope;
/// - keys, strings and regex pattern and options are well-formed UTF-8 (no overlong
///   forms, surrogates or code points above U+10FFFF; NUL is allowed inside strings);
/// - element types are known, booleans are 0 or 1, a binary length is not negative and an
///   old binary (subtype 2) has a consistent inner length;
/// - nesting is at most `max_depth` levels.
///
/// Linear time, constant stack (about 2 KiB), no allocation unless `path` is given and the
/// document is invalid: `path` then receives the dotted path of the element at fault
/// (e.g. "cursor.firstBatch.3.name"; empty at the top level).
validation validate(const std::uint8_t* data, std::size_t size, std::string* path = nullptr) noexcept;

/// "<reason> at byte <offset>" plus " (field '<path>')" when `path` is not empty, for
/// diagnostics.
std::string describe(const validation& v, std::string_view path);

/// True if the `size` bytes at `data` are well-formed UTF-8 (NUL allowed).
bool utf8_valid(const std::uint8_t* data, std::size_t size) noexcept;

}  // namespace morm::bson
