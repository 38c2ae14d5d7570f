#include "runner.hpp"

namespace morm_spec {
int run_selection_file(const std::filesystem::path&, const bson_t*) { return skip("the selection runner is not written yet"); }
}  // namespace morm_spec
