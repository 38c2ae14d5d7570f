// Where the tests and benchmarks find their data files (odm/, driver/, bson/, ldjson/).
//
// The generated data (data/gen_data.cpp, written at build time into MORM_GENERATED_DATA_DIR)
// is always there. The official MongoDB benchmark data sets carry a non-commercial licence and
// stay outside the repository: they are read only from the directory named by $MORM_DATA_DIR.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#ifndef MORM_GENERATED_DATA_DIR
#error "MORM_GENERATED_DATA_DIR must be defined (see data/data.cmake)"
#endif

namespace morm_data {

inline std::string generated_dir() { return MORM_GENERATED_DATA_DIR; }

/// $MORM_DATA_DIR, if set.
inline std::optional<std::string> official_dir() {
    const char* d = std::getenv("MORM_DATA_DIR");
    if (!d || !*d) return std::nullopt;
    return std::string(d);
}

/// The official data when $MORM_DATA_DIR is set, else the generated data.
inline std::string preferred_dir() { return official_dir().value_or(generated_dir()); }

/// "generated" or "official", for results: the generator leaves generated.txt in its directory.
inline const char* data_set_name(const std::string& dir) {
    return std::filesystem::exists(std::filesystem::path(dir) / "generated.txt") ? "generated" : "official";
}

/// $MORM_DATA_DIR for a test that needs the official files. Without it, prints the line that
/// ctest's SKIP_REGULAR_EXPRESSION (tests/CMakeLists.txt) reports as "Skipped", and the test
/// returns: Catch2 v2 has no skip of its own.
inline std::optional<std::string> official_dir_or_skip() {
    auto d = official_dir();
    if (!d) std::cout << "SKIPPED: MORM_DATA_DIR is not set (official MongoDB benchmark data)" << std::endl;
    return d;
}

}  // namespace morm_data
