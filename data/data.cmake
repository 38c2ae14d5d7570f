# The project's own test and benchmark data: data/gen_data.cpp writes it at build time (fixed
# seed) into MORM_GENERATED_DATA_DIR. Included by tests/ and benchmarks/ (either may be built
# alone); the official MongoDB data sets are only ever read from $MORM_DATA_DIR, at run time.
set(MORM_GENERATED_DATA_DIR ${CMAKE_BINARY_DIR}/data)
include_guard(GLOBAL)

add_executable(morm_gen_data ${CMAKE_CURRENT_LIST_DIR}/gen_data.cpp)
target_link_libraries(morm_gen_data PRIVATE morm::morm)
# the models it fills: tests/common/spec_models.hpp and benchmarks/bson_models.hpp
target_include_directories(morm_gen_data PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/benchmarks)
target_compile_options(morm_gen_data PRIVATE -Wall -Wextra)

# generated.txt is written last, so an interrupted run is redone by the next build.
add_custom_command(OUTPUT ${MORM_GENERATED_DATA_DIR}/generated.txt
  COMMAND morm_gen_data ${MORM_GENERATED_DATA_DIR}
  DEPENDS morm_gen_data
  COMMENT "Generating the test and benchmark data in ${MORM_GENERATED_DATA_DIR}"
  VERBATIM)
add_custom_target(morm_data ALL DEPENDS ${MORM_GENERATED_DATA_DIR}/generated.txt)
