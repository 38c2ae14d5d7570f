#include <morm/wire/commands/sasl.hpp>
#include <morm/wire/reply.hpp>

namespace morm::wire::commands {

namespace {
void append_payload(bson_t* b, std::string_view p) {
    bson_append_binary(b, "payload", 7, BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(p.data()),
                       static_cast<std::uint32_t>(p.size()));
}
void append_db(bson_t* b, std::string_view db) {
    bson_append_utf8(b, "$db", 3, db.data(), static_cast<int>(db.size()));
}
}  // namespace

void sasl_start::serialize(bson_t* b) const {
    bson_append_int32(b, "saslStart", 9, 1);
    auto name = scram_mechanism_name(mechanism);
    bson_append_utf8(b, "mechanism", 9, name.data(), static_cast<int>(name.size()));
    append_payload(b, payload);
    bson_append_bool(b, "autoAuthorize", 13, true);
    bson_t opts;
    bson_append_document_begin(b, "options", 7, &opts);
    // Lets the server finish in two round trips instead of three.
    bson_append_bool(&opts, "skipEmptyExchange", 17, true);
    bson_append_document_end(b, &opts);
    append_db(b, db);
}

void sasl_continue::serialize(bson_t* b) const {
    bson_append_int32(b, "saslContinue", 12, 1);
    bson_append_int32(b, "conversationId", 14, conversation_id);
    append_payload(b, payload);
    append_db(b, db);
}

namespace {
[[nodiscard]] error_code malformed(diagnostics& diag, std::string_view what) {
    diag.clear();
    diag.message.assign(what);
    return make_error_code(errc::auth_failed);
}
bool is_int(const bson_iter_t& it) { return BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it); }
}  // namespace

[[nodiscard]] error_code parse_sasl_reply(const bson_t* reply, sasl_reply& out, diagnostics& diag) {
    if (auto e = check_command_reply(reply, diag)) return e;
    bson_iter_t it;
    // Every field is the server's word: a wrong type is an error, never a default.
    if (!bson_iter_init_find(&it, reply, "conversationId") || !is_int(it))
        return malformed(diag, "the SASL reply has no integer conversationId");
    const std::int64_t id = bson_iter_as_int64(&it);
    if (id < INT32_MIN || id > INT32_MAX) return malformed(diag, "the SASL reply's conversationId is out of range");
    out.conversation_id = static_cast<std::int32_t>(id);
    out.done = false;
    if (bson_iter_init_find(&it, reply, "done")) {
        if (!BSON_ITER_HOLDS_BOOL(&it)) return malformed(diag, "the SASL reply's done is not a boolean");
        out.done = bson_iter_bool(&it);
    }
    out.payload.clear();
    if (!bson_iter_init_find(&it, reply, "payload") || !BSON_ITER_HOLDS_BINARY(&it))
        return malformed(diag, "the SASL reply's payload is missing or not BinData");
    bson_subtype_t st;
    std::uint32_t len;
    const std::uint8_t* data;
    bson_iter_binary(&it, &st, &len, &data);
    out.payload.assign(reinterpret_cast<const char*>(data), len);
    return {};
}

}  // namespace morm::wire::commands
