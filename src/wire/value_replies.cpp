#include <morm/wire/value_replies.hpp>

namespace morm::wire {

namespace {
[[nodiscard]] error_code malformed(diagnostics& diag, const char* msg) {
    diag.clear();
    diag.message = msg;
    return make_error_code(errc::protocol);
}
}  // namespace

[[nodiscard]] error_code parse_distinct_reply(const bson_t* body, std::vector<bson::value>& out, diagnostics& diag) {
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, body, "values"))
        return malformed(diag, "distinct reply has no 'values' field");
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return malformed(diag, "distinct reply's 'values' is not an array");
    out.clear();
    while (bson_iter_next(&arr)) out.push_back(bson::value::from_iter(arr));
    return {};
}

[[nodiscard]] error_code parse_count_reply(const bson_t* body, std::int64_t& n, diagnostics& diag) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, body, "n")) return malformed(diag, "count reply has no 'n' field");
    if (!BSON_ITER_HOLDS_NUMBER(&it)) return malformed(diag, "count reply's 'n' is not a number");
    n = bson_iter_as_int64(&it);
    return {};
}

}  // namespace morm::wire
