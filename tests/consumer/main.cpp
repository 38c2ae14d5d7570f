// A downstream project: uses the installed headers and library only.
#include <morm/uri.hpp>
#include <morm/bson/object_id.hpp>

#include <fmt/format.h>

int main() {
    auto cs = morm::connection_string::parse("mongodb://user:secret@127.0.0.1:27017/app?appName=consumer");
    auto oid = morm::bson::object_id::generate();
    fmt::print("consumer: {} {}\n", cs.redacted(), oid.to_hex().size());
    return cs.hosts.size() == 1 && cs.redacted().find("secret") == std::string::npos ? 0 : 1;
}
