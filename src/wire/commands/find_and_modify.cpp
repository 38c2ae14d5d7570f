#include <morm/wire/commands/find_and_modify.hpp>

namespace morm::wire::commands {

bool is_operator_document(const bson::document& d) noexcept {
    bson_iter_t it;
    if (!bson_iter_init(&it, d.get()) || !bson_iter_next(&it)) return false;
    return bson_iter_key(&it)[0] == '$';
}

namespace {
/// Why the call cannot be sent as set; null when it can.
const char* fam_problem(find_and_modify::kind what, const bson::document* update,
                        const find_one_and_modify_options& o) {
    using k = find_and_modify::kind;
    if (what == k::remove) {
        // findAndModify with remove takes none of these; refused rather than dropped.
        if (o.upsert) return "upsert does not apply to a delete";
        if (o.returned == return_document::after) return "returned = after does not apply to a delete";
        if (!o.array_filters.empty()) return "array_filters does not apply to a delete";
        return nullptr;
    }
    if (!update) return "no update document";
    if (what == k::update && !is_operator_document(*update)) return "the update needs $-operators";
    if (what == k::replace) {
        if (is_operator_document(*update)) return "the replacement must not contain $-operators";
        if (!o.array_filters.empty()) return "array_filters does not apply to a replacement";
    }
    return nullptr;
}
}  // namespace

[[nodiscard]] error_code find_and_modify::serialize(bson_t* out, diagnostics& diag) const {
    const auto& o = options;
    const char* op = what == kind::remove    ? "find_one_and_delete"
                     : what == kind::replace ? "find_one_and_replace"
                                             : "find_one_and_update";
    if (const char* why = fam_problem(what, update, o)) return refuse(diag, op, why);
    body_builder b(out, op);
    b.str("findAndModify", collection).doc("query", filter);
    if (!o.sort.empty()) b.doc("sort", o.sort);
    if (!o.projection.empty()) b.doc("fields", o.projection);
    if (what == kind::remove) {
        b.boolean("remove", true);
    } else {
        b.doc("update", *update);
        if (o.returned == return_document::after) b.boolean("new", true);
        if (o.upsert) b.boolean("upsert", true);
        if (!o.array_filters.empty()) b.doc_array("arrayFilters", o.array_filters);
    }
    if (b.ok()) {
        if (o.wc) o.wc->append_to(out);
        else if (default_wc) default_wc->append_to(out);
    }
    return b.finish(db, diag);
}

[[nodiscard]] error_code find_and_modify::parse(bson::document_view reply, std::optional<bson::document>& out, diagnostics& diag) {
    if (auto ec = check_ok(reply, name, diag)) return ec;
    bson_t body;
    bson_init_static(&body, reply.data(), reply.size());
    bson_iter_t it;
    out.reset();
    if (!bson_iter_init_find(&it, &body, "value")) return malformed(diag, name, "'value' is missing");
    if (BSON_ITER_HOLDS_NULL(&it)) return {};
    if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return malformed(diag, name, "'value' is neither a document nor null");
    out = copy_document(it);
    return {};
}

}  // namespace morm::wire::commands
