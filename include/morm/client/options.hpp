// Option structs of the client API (`xxx_options`), write concern and read preference.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/uri.hpp>

#include <bson/bson.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace morm {

/// Write concern: how many members must acknowledge a write. Empty = server default.
struct write_concern {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    write_concern() = default;
    std::optional<std::variant<std::int32_t, std::string>> w;  ///< 0 = unacknowledged, "majority", ...
    std::optional<bool> journal;
    std::optional<std::chrono::milliseconds> wtimeout;

    static write_concern majority() {
        write_concern wc;
        wc.w = std::string("majority");
        return wc;
    }
    static write_concern unacknowledged() {
        write_concern wc;
        wc.w = std::int32_t{0};
        return wc;
    }
    bool empty() const noexcept { return !w && !journal && !wtimeout; }
    bool acknowledged() const noexcept {
        return !(w && std::holds_alternative<std::int32_t>(*w) && std::get<std::int32_t>(*w) == 0) || journal.value_or(false);
    }
    /// Appends `writeConcern: {...}` to a command body unless empty.
    void append_to(bson_t* cmd) const;
};

/// Read preference sent as `$readPreference` (only meaningful for replica sets/mongos).
struct read_preference {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    read_preference() = default;
    read_mode mode = read_mode::primary;
    std::vector<key_value_list> tags;
    std::optional<std::int32_t> max_staleness_seconds;

    bool is_primary() const noexcept { return mode == read_mode::primary; }
    void append_to(bson_t* cmd) const;
};

struct find_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    find_options() = default;
    bson::document projection;   ///< empty = all fields
    bson::document sort;         ///< empty = natural order
    bson::document hint;         ///< index key pattern, sent as `hint`
    std::string hint_name;       ///< or the index name, sent as `hint` (set one of the two)
    bson::document collation;
    std::int64_t skip = 0;        ///< negative: refused
    std::int64_t limit = 0;       ///< 0 = no limit; negative: refused
    std::int32_t batch_size = 0;  ///< 0 = server default (101 first batch); negative: refused
    std::optional<std::chrono::milliseconds> max_time;
    bool single_batch = false;
    std::optional<read_preference> read_pref;  ///< tags / max staleness need a non-primary mode
};

struct aggregate_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    aggregate_options() = default;
    std::int32_t batch_size = 0;  ///< 0 = server default; negative: refused
    bool allow_disk_use = false;
    bson::document collation;
    bson::document hint;
    std::optional<std::chrono::milliseconds> max_time;
};

struct insert_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    insert_options() = default;
    bool ordered = true;
    bool bypass_document_validation = false;
    std::optional<write_concern> wc;
};

struct update_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    update_options() = default;
    bool upsert = false;
    bson::document collation;  ///< sent as the statement's `collation`
    bson::document hint;       ///< index key pattern, sent as `hint`
    std::string hint_name;     ///< or the index name, sent as `hint` (set one of the two)
    /// Sent as `arrayFilters`. Refused by replace_one and by pipeline updates, which
    /// the server does not allow them with.
    std::vector<bson::document> array_filters;
    std::optional<write_concern> wc;
};

struct delete_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    delete_options() = default;
    bson::document collation;  ///< sent as the statement's `collation`
    bson::document hint;       ///< index key pattern, sent as `hint`
    std::string hint_name;     ///< or the index name, sent as `hint` (set one of the two)
    std::optional<write_concern> wc;
};

struct count_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    count_options() = default;
    std::int64_t skip = 0;   ///< negative: refused
    std::int64_t limit = 0;  ///< 0 = no limit; negative: refused
    bson::document hint;
    bson::document collation;
    std::optional<read_preference> read_pref;  ///< which server counts (default: the client's)
};

enum class return_document { before, after };

struct find_one_and_modify_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    find_one_and_modify_options() = default;
    bson::document projection;
    bson::document sort;
    // find_one_and_delete refuses upsert, returned = after and array_filters, and
    // find_one_and_replace refuses array_filters: they have no meaning there.
    bool upsert = false;
    return_document returned = return_document::before;
    std::vector<bson::document> array_filters;
    std::optional<write_concern> wc;
};

struct index_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    index_options() = default;
    std::string name;          ///< empty: generated from the keys ("a_1_b_-1")
    bool unique = false;
    bool sparse = false;
    std::optional<std::chrono::seconds> expire_after;  ///< TTL index
    bson::document partial_filter;
    bson::document collation;
};

struct index_model {
    bson::document keys;
    index_options options;
};

struct create_collection_options {
    // Not an aggregate on purpose: g++ 12 destroys aggregate temporaries created in a
    // co_await expression (e.g. a defaulted `= {}` argument) twice.
    create_collection_options() = default;
    bson::document validator;           ///< e.g. {"$jsonSchema": {...}}
    std::string validation_level;       ///< "strict" / "moderate"
    std::string validation_action;      ///< "error" / "warn"
    bool capped = false;
    std::int64_t size = 0;  ///< bytes; needed with `capped`, refused without it
    std::int64_t max = 0;   ///< capped only: refused without `capped`
};

}  // namespace morm
