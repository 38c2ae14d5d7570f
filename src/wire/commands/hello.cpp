#include <morm/wire/commands/hello.hpp>
#include <morm/wire/reply.hpp>

namespace morm::wire::commands {

[[nodiscard]] error_code hello::parse_reply(const bson_t* reply, server_description& out, diagnostics& diag) {
    if (auto e = check_command_reply(reply, diag)) return e;
    return parse_hello(reply, out, diag);
}

}  // namespace morm::wire::commands
