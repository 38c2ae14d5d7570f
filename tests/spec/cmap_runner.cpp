#include "runner.hpp"

namespace morm_spec {
int run_cmap_file(const std::filesystem::path&, const bson_t*) { return skip("the cmap runner is not written yet"); }
}  // namespace morm_spec
