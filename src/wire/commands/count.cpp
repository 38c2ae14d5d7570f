#include <morm/wire/commands/aggregate.hpp>
#include <morm/wire/commands/count.hpp>
#include <morm/wire/commands/find.hpp>
#include <morm/wire/reply.hpp>

#include <string>

namespace morm::wire::commands {

namespace {
[[nodiscard]] error_code read_n(bson_iter_t& it, std::string_view op, const char* field, std::int64_t& n,
                                diagnostics& diag) {
    // read_integer, not bson_iter_as_int64: casting a double such as 1e300 is undefined.
    if (!read_integer(it, n) || n < 0) return malformed(diag, op, std::string(field) + " is not a number (a non-negative integer)");
    return {};
}
}  // namespace

[[nodiscard]] error_code count_documents::serialize(bson_t* out, diagnostics& diag) const {
    if (options.skip < 0) return refuse(diag, "count_documents", "skip is negative");
    if (options.limit < 0) return refuse(diag, "count_documents", "limit is negative");
    std::vector<bson::document> pipeline;
    bool ok = true;
    {
        bson::document m;
        ok = bson_append_document(m.get(), "$match", 6, filter.get());
        pipeline.push_back(std::move(m));
    }
    if (options.skip > 0) {
        bson::document s;
        ok = ok && bson_append_int64(s.get(), "$skip", 5, options.skip);
        pipeline.push_back(std::move(s));
    }
    if (options.limit > 0) {
        bson::document l;
        ok = ok && bson_append_int64(l.get(), "$limit", 6, options.limit);
        pipeline.push_back(std::move(l));
    }
    if (!ok) return refuse(diag, "count_documents", "the filter cannot be appended");
    pipeline.push_back(bson::document::from_json(R"({"$group": {"_id": 1, "n": {"$sum": 1}}})"));
    aggregate_options ao;
    ao.collation = options.collation;
    ao.hint = options.hint;
    return aggregate{db, collection, pipeline, ao}.serialize(out, diag);
}

[[nodiscard]] error_code count_documents::parse(bson::document_view reply, std::int64_t& n, diagnostics& diag) {
    cursor_batch c;
    if (auto ec = parse_cursor(reply, name, c, diag)) return ec;
    std::optional<bson::document> first;
    if (auto ec = first_document(c, name, first, diag)) return ec;
    if (!first) {
        n = 0;
        return {};
    }
    bson_iter_t it;
    if (!bson_iter_init_find(&it, first->get(), "n")) return malformed(diag, name, "'cursor.firstBatch.0.n' is missing");
    return read_n(it, name, "'cursor.firstBatch.0.n'", n, diag);
}

[[nodiscard]] error_code count::serialize(bson_t* out, diagnostics& diag) const {
    body_builder b(out, name);
    b.str("count", collection);
    return b.finish(db, diag);
}

[[nodiscard]] error_code count::parse(bson::document_view reply, std::int64_t& n, diagnostics& diag) {
    if (auto ec = check_ok(reply, name, diag)) return ec;
    bson_t body;
    bson_init_static(&body, reply.data(), reply.size());
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &body, "n")) return malformed(diag, name, "'n' is missing");
    return read_n(it, name, "'n'", n, diag);
}

}  // namespace morm::wire::commands
