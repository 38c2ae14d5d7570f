// Results of client write operations.
#pragma once

#include <morm/bson/types.hpp>
#include <morm/error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace morm {

struct insert_one_result {
    bson::value inserted_id;
};

struct update_result {
    std::int64_t matched_count = 0;
    std::int64_t modified_count = 0;
    std::optional<bson::value> upserted_id;
};

struct delete_result {
    std::int64_t deleted_count = 0;
};

/// One rejected write, with its index in the caller's input.
struct bulk_write_error {
    std::size_t index = 0;
    errc kind = errc::write_error;  ///< write_error, document_too_large, encode_error, invalid_argument, outcome_unknown
    std::int32_t code = 0;
    std::string code_name;
    std::string message;
};

struct bulk_write_result {
    std::int64_t inserted_count = 0;
    std::int64_t matched_count = 0;
    std::int64_t modified_count = 0;
    std::int64_t deleted_count = 0;
    std::int64_t upserted_count = 0;
    std::map<std::size_t, bson::value> inserted_ids;  ///< by input index
    std::map<std::size_t, bson::value> upserted_ids;  ///< by input index
    std::vector<bulk_write_error> errors;            ///< sorted by index
    std::vector<std::size_t> not_executed;           ///< ordered: after the first error; or unacknowledged
    std::optional<diagnostics> write_concern_error;
    bool ok() const noexcept { return errors.empty() && not_executed.empty() && !write_concern_error; }
};

/// Thrown by insert_many/bulk_write when some writes failed; the result tells which.
class bulk_write_exception : public error {
public:
    bulk_write_exception(error_code ec, diagnostics d, bulk_write_result r)
        : error(ec, std::move(d)), result_(std::move(r)) {}
    const bulk_write_result& result() const noexcept { return result_; }

private:
    bulk_write_result result_;
};

}  // namespace morm
