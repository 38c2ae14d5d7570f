// morm_spec_runner <sdam|selection|cmap> <file.json>
#include "runner.hpp"

#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

namespace morm_spec {
int skip(const std::string& reason) {
    std::cout << "SKIPPED: " << reason << std::endl;
    return 0;
}
}  // namespace morm_spec

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " sdam|selection|cmap FILE.json\n";
        return 2;
    }
    std::string_view suite = argv[1];
    std::filesystem::path file = argv[2];
    if (file.empty()) return morm_spec::skip("MORM_SPECS_DIR is not set and ../shared/specs is absent "
                                             "(the MongoDB specification test files)");
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << "cannot read " << file << "\n";
        return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto text = ss.str();
    bson_error_t err;
    bson_t* doc = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(text.data()), static_cast<ssize_t>(text.size()), &err);
    if (!doc) {
        std::cerr << file << ": invalid JSON: " << err.message << "\n";
        return 1;
    }
    int rc = 2;
    if (suite == "sdam") rc = morm_spec::run_sdam_file(file, doc);
    else if (suite == "selection") rc = morm_spec::run_selection_file(file, doc);
    else if (suite == "cmap") rc = morm_spec::run_cmap_file(file, doc);
    else std::cerr << "unknown suite " << suite << "\n";
    bson_destroy(doc);
    return rc;
}
