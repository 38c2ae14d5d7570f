// The two client-layer symbols that the wire command serializers reference
// (src/client/client.cpp, which also holds the whole coroutine client and is not part of
// morm_fuzz_core). The harnesses only parse replies and never serialize a command, so these
// are unreachable: reaching one aborts rather than silently writing nothing.
#include <morm/client/options.hpp>

#include <cstdio>
#include <cstdlib>

namespace morm {

void write_concern::append_to(bson_t*) const {
    std::fputs("fuzz: write_concern::append_to is not linked into the fuzz harnesses\n", stderr);
    std::abort();
}

void read_preference::append_to(bson_t*) const {
    std::fputs("fuzz: read_preference::append_to is not linked into the fuzz harnesses\n", stderr);
    std::abort();
}

}  // namespace morm
