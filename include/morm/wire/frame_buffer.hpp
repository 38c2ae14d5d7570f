// The buffer outgoing OP_MSG frames are built in: a bson::byte_buffer, named for its
// use in the wire layer.
#pragma once

#include <morm/bson/byte_buffer.hpp>

namespace morm::wire {
using frame_buffer = bson::byte_buffer;
}  // namespace morm::wire
