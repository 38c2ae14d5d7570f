#include <morm/wire/commands/write_commands.hpp>

namespace morm::wire::commands {

std::string_view write_command_name(write_kind k) noexcept {
    switch (k) {
        case write_kind::insert: return "insert";
        case write_kind::update: return "update";
        case write_kind::remove: return "delete";
    }
    return "insert";
}

std::string_view write_sequence_name(write_kind k) noexcept {
    switch (k) {
        case write_kind::insert: return "documents";
        case write_kind::update: return "updates";
        case write_kind::remove: return "deletes";
    }
    return "documents";
}

void write_command::serialize(bson_t* body) const {
    auto name = write_command_name(kind);
    bson_append_utf8(body, name.data(), static_cast<int>(name.size()), collection.data(),
                     static_cast<int>(collection.size()));
    bson_append_bool(body, "ordered", 7, ordered);
    if (bypass_document_validation) bson_append_bool(body, "bypassDocumentValidation", -1, true);
    if (wc) wc->append_to(body);
    if (txn_number > 0) bson_append_int64(body, "txnNumber", 9, txn_number);
    if (session_fields && *session_fields) (*session_fields)(body);
    bson_append_utf8(body, "$db", 3, db.data(), static_cast<int>(db.size()));
}

}  // namespace morm::wire::commands
