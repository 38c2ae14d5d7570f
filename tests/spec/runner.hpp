// The spec runners: one process per JSON file, so that every file is its own ctest test
// ("spec: <folder>/<file>"). Each runner returns 0 when the file passes, 1 when it fails
// (saying why on stderr), and prints "SKIPPED: <reason>" (reported as Skipped by ctest) for
// a file it does not run.
#pragma once

#include <bson/bson.h>

#include <filesystem>
#include <string>

namespace morm_spec {

int run_sdam_file(const std::filesystem::path& file, const bson_t* test);       // sdam_runner.cpp
int run_selection_file(const std::filesystem::path& file, const bson_t* test);  // selection_runner.cpp
int run_cmap_file(const std::filesystem::path& file, const bson_t* test);       // cmap_runner.cpp

/// Prints the skip line and returns 0.
int skip(const std::string& reason);

}  // namespace morm_spec
