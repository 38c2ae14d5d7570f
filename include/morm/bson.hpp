// Convenience header: the whole BSON layer.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/bson/types.hpp>
