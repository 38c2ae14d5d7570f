// What every command type of wire/commands shares: a body builder that never sends a
// half-built command, and reply checks that name the field that is missing or mistyped.
//
// A command type is a value: its fields point at the caller's data (filter, pipeline,
// options), `serialize(bson_t* out, diag)` writes the whole command document (ending with
// "$db") and `parse(reply, result, diag)` reads the reply body. Sans-io: no socket, no
// executor; unit-tested with byte fixtures (tests/unit/commands_tests.cpp).
//
// Errors:
//  - an option that cannot be sent as set: errc::invalid_argument, "<command>: <why>;
//    nothing was sent", reported by serialize() before anything is written to a socket;
//  - ok:0: errc::server_error with the server's code, codeName, errmsg and errorLabels;
//  - a reply field missing or of the wrong type: errc::protocol naming the field.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/error.hpp>

#include <bson/bson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace morm::wire::commands {

/// errc::invalid_argument with "<op>: <why>; nothing was sent".
[[nodiscard]] error_code refuse(diagnostics& diag, std::string_view op, std::string_view why);

/// errc::protocol with "<op> reply: <what>".
[[nodiscard]] error_code malformed(diagnostics& diag, std::string_view op, std::string_view what);

/// Copies the document `it` holds (the caller checked BSON_ITER_HOLDS_DOCUMENT): a
/// reply's documents live in the connection's receive buffer, which the next read reuses.
bson::document copy_document(const bson_iter_t& it);

/// Appends the fields of one command body. The first append that fails (a string that is
/// not valid UTF-8 or holds a NUL, a document that does not fit) is remembered, the rest
/// are skipped, and finish() reports it: a body missing its filter would match every
/// document, so it must never be sent.
class body_builder {
public:
    body_builder(bson_t* out, std::string_view op) noexcept : out_(out), op_(op) {}

    body_builder& doc(const char* key, bson::document_view d);
    body_builder& doc_array(const char* key, const std::vector<bson::document>& docs);
    body_builder& str(const char* key, std::string_view v);
    body_builder& i32(const char* key, std::int32_t v);
    body_builder& i64(const char* key, std::int64_t v);
    body_builder& boolean(const char* key, bool v);
    /// Records a failure of an append made directly on out().
    body_builder& check(bool ok, const char* key);

    bson_t* out() noexcept { return out_; }
    bool ok() const noexcept { return failed_ == nullptr; }

    /// Appends "$db" and reports the first failed append, if any.
    [[nodiscard]] error_code finish(std::string_view db, diagnostics& diag);

private:
    bson_t* out_;
    std::string_view op_;
    const char* failed_ = nullptr;
    const char* why_ = nullptr;
};

/// Appends `docs` as a BSON array under `key`; false when an append failed.
[[nodiscard]] bool append_doc_array(bson_t* b, const char* key, const std::vector<bson::document>& docs);

/// ok:0 becomes errc::server_error with the server's error fields; an unreadable body or
/// a missing `ok` is errc::protocol.
[[nodiscard]] error_code check_ok(bson::document_view reply, std::string_view op, diagnostics& diag);

/// The first batch of a command that answers with a cursor (find, aggregate,
/// listIndexes, listCollections), copied out of the reply.
struct cursor_batch {
    std::int64_t id = 0;  ///< 0: the server has no more
    std::string ns;       ///< "db.collection" the cursor iterates; getMore names its collection part
    bson::document batch;  ///< the firstBatch array (keys "0", "1", ...)
};

/// Parses `{cursor: {id: <int64>, ns: <string>, firstBatch: [...]}, ok: 1}`.
[[nodiscard]] error_code parse_cursor(bson::document_view reply, std::string_view op, cursor_batch& out,
                                      diagnostics& diag);

/// A reply with nothing to read but `ok` (drop, dropIndexes, create, ...).
[[nodiscard]] error_code parse_ok(bson::document_view reply, std::string_view op, diagnostics& diag);

/// Serializes a command into an owning document (for tests and for callers that build
/// before they have a connection).
template <class Command>
[[nodiscard]] error_code to_document(const Command& c, bson::document& out, diagnostics& diag) {
    bson::document d;
    if (auto ec = c.serialize(d.get(), diag)) return ec;
    out = std::move(d);
    return {};
}

}  // namespace morm::wire::commands
