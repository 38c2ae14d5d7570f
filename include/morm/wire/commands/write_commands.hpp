// insert / update / delete as values: the command body, the name of the kind-1 document
// sequence the statements travel in, and the reply parsed into counts and per-statement
// errors. Sans-io.
//
// write_kind and write_concern live in client/ (the public batch-write API); they are
// plain data, so the wire layer borrows them rather than mirroring them.
#pragma once

#include <morm/client/batch_write.hpp>
#include <morm/client/options.hpp>
#include <morm/error.hpp>
#include <morm/wire/reply.hpp>

#include <bson/bson.h>

#include <functional>
#include <string_view>

namespace morm::wire::commands {

/// "insert", "update" or "delete".
std::string_view write_command_name(write_kind k) noexcept;
/// "documents", "updates" or "deletes".
std::string_view write_sequence_name(write_kind k) noexcept;

/// The body of one insert/update/delete command; its statements follow as the kind-1
/// sequence named write_sequence_name(kind).
struct write_command {
    write_kind kind = write_kind::insert;
    std::string_view collection;
    std::string_view db;
    bool ordered = true;
    bool bypass_document_validation = false;
    const write_concern* wc = nullptr;
    std::int64_t txn_number = 0;  ///< retryable write / transaction: sent as txnNumber (0 = none)
    /// Appends the session's fields (lsid, $clusterTime, transaction fields) to the body.
    const std::function<void(struct _bson_t*)>* session_fields = nullptr;
    void serialize(bson_t* body) const;
};

/// ok:0 is errc::server_error; writeErrors are per-statement results, not a failure.
[[nodiscard]] inline error_code parse_write_command_reply(const bson_t* reply, write_reply& out, diagnostics& diag) {
    return parse_write_reply(reply, out, diag);
}

}  // namespace morm::wire::commands
