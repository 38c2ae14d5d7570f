// Every built-in bson_traits specialization (one header each under codec/types/).
#pragma once

#include <morm/codec/types/bool.hpp>
#include <morm/codec/types/bson_types.hpp>
#include <morm/codec/types/chrono.hpp>
#include <morm/codec/types/enum.hpp>
#include <morm/codec/types/floating.hpp>
#include <morm/codec/types/integer.hpp>
#include <morm/codec/types/map.hpp>
#include <morm/codec/types/optional.hpp>
#include <morm/codec/types/string.hpp>
#include <morm/codec/types/structure.hpp>
#include <morm/codec/types/vector.hpp>
