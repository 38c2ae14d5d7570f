// Where the spec runners find the MongoDB specification test files (SDAM, server selection,
// CMAP). They carry a non-commercial licence and are never in the repository: they are read
// from $MORM_SPECS_DIR, which scripts/run.sh sets to ../shared/specs when that folder exists
// beside the checkout. Without it a runner prints the line ctest reports as "Skipped".
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace morm_specs {

/// $MORM_SPECS_DIR/<sub>, if the variable is set and the folder exists; else prints the skip
/// line (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt) and returns nullopt.
inline std::optional<std::filesystem::path> dir_or_skip(const std::string& sub) {
    const char* d = std::getenv("MORM_SPECS_DIR");
    if (!d || !*d) {
        std::cout << "SKIPPED: MORM_SPECS_DIR is not set (the MongoDB specification test files)" << std::endl;
        return std::nullopt;
    }
    auto p = std::filesystem::path(d) / sub;
    if (!std::filesystem::is_directory(p)) {
        std::cout << "SKIPPED: MORM_SPECS_DIR has no " << sub << std::endl;
        return std::nullopt;
    }
    return p;
}

/// The *.json files directly in `dir`, sorted.
inline std::vector<std::filesystem::path> json_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace morm_specs
