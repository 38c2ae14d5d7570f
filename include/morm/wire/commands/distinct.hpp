// The distinct command: {distinct, key, query, $db}; the reply's `values` array.
#pragma once

#include <morm/bson/types.hpp>
#include <morm/wire/commands/common.hpp>

#include <vector>

namespace morm::wire::commands {

struct distinct {
    static constexpr std::string_view name = "distinct";
    using result_type = std::vector<bson::value>;

    std::string_view db;
    std::string_view collection;
    std::string_view key;
    const bson::document& filter;

    [[nodiscard]] error_code serialize(bson_t* out, diagnostics& diag) const;
    /// A reply without a `values` array is errc::protocol: an empty result would be
    /// indistinguishable from "no values".
    [[nodiscard]] static error_code parse(bson::document_view reply, std::vector<bson::value>& out,
                                          diagnostics& diag);
};

}  // namespace morm::wire::commands
