// Models for the typed-query checks: tests/unit/typed_query_tests.cpp (static_asserts and
// exact BSON) and tests/compile_fail/cases.cpp (what must not compile, and why).
#pragma once

#include <morm/orm/expr.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tq {

struct Address {
    std::string street;
    std::string city;
};
MORM_STRUCT(Address, street, city);

struct Label {
    std::string name;
    std::int32_t weight = 0;
};
MORM_STRUCT(Label, name, weight);

struct Line {
    std::string sku;
    double price = 0;
};
MORM_STRUCT(Line, sku, price);

struct User {
    std::string id;
    std::string name;
    std::int32_t age = 0;
    double score = 0;
    bool active = false;
    std::optional<std::string> nick;
    std::string legacy_name;
    Address address;
    std::vector<std::string> tags;
    std::vector<std::int32_t> scores;
    std::vector<Label> labels;
    std::chrono::system_clock::time_point seen{};
    std::optional<std::chrono::system_clock::time_point> deleted_at;
};
MORM_MODEL(User, "users", (id, "_id"), name, age, score, active, nick, legacy_name, address, tags, scores, labels,
           seen, deleted_at);

struct Order {
    std::string id;
    double total = 0;
    std::string name;
    std::vector<Line> lines;
};
MORM_MODEL(Order, "orders", (id, "_id"), total, name, lines);

}  // namespace tq
