// libFuzzer harness: OP_MSG frames and every reply parser that reads a server's answer.
//
// Each input is used twice:
//  1. as a whole frame off the wire: parse_header on its first 16 bytes, parse_op_msg and
//     parse_reply_frame on all of it;
//  2. as the body of a frame the harness builds around it (right length, no checksum), so
//     that the reply parsers see arbitrary documents without the fuzzer having to guess a
//     frame length first.
// Whenever a frame parses, its body goes through the reply parsers exactly as the client
// would hand it to them (parse_op_msg's checks and nothing more). Errors are expected;
// crashes, UB, leaks and exceptions other than morm::error are findings.
#include <morm/bson.hpp>
#include <morm/error.hpp>
#include <morm/topology/description.hpp>
#include <morm/wire/algo/frames.hpp>
#include <morm/wire/commands/collections.hpp>
#include <morm/wire/commands/count.hpp>
#include <morm/wire/commands/databases.hpp>
#include <morm/wire/commands/distinct.hpp>
#include <morm/wire/commands/find.hpp>
#include <morm/wire/commands/find_and_modify.hpp>
#include <morm/wire/commands/get_more.hpp>
#include <morm/wire/commands/hello.hpp>
#include <morm/wire/commands/kill_cursors.hpp>
#include <morm/wire/commands/run_command.hpp>
#include <morm/wire/commands/sasl.hpp>
#include <morm/wire/handshake.hpp>
#include <morm/wire/op_msg.hpp>
#include <morm/wire/reply.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

using namespace morm;
using namespace morm::wire;

// Reads the batch a cursor reply points at, as the cursor does: a static bson_t over it.
void walk_batch(const std::uint8_t* data, std::uint32_t len) {
    if (!data) return;
    bson::document_view batch(data, len);
    if (!batch.valid()) return;
    for (const auto& it : batch) (void)bson_iter_type(&it);
}

void parse_replies(const bson_t* body) {
    diagnostics diag;
    (void)check_command_reply(body, diag);
    {
        write_reply w;
        (void)parse_write_reply(body, w, diag);
    }
    {
        cursor_reply c;
        if (!parse_cursor_reply(body, c, diag)) walk_batch(c.batch_data, c.batch_len);
        cursor_reply g;
        if (!commands::parse_get_more_reply(body, g, diag)) walk_batch(g.batch_data, g.batch_len);
    }
    {
        wire::server_description sd;
        (void)wire::parse_hello(body, sd, diag);
        wire::server_description sd2;
        (void)commands::hello::parse_reply(body, sd2, diag);
        auto td = topology::parse_hello("fuzz.example:27017", body, 1.5, 1000);
        (void)td;
    }
    const bson::document_view view(body);
    {
        commands::cursor_batch cb;
        if (!commands::find::parse(view, cb, diag)) {
            std::vector<std::string> names;
            (void)commands::list_collections::names(cb.batch.view(), names, diag);
        }
    }
    {
        std::int64_t n = 0;
        (void)commands::count::parse(view, n, diag);
        (void)commands::count_documents::parse(view, n, diag);
    }
    {
        std::vector<bson::value> values;
        (void)commands::distinct::parse(view, values, diag);
    }
    {
        std::optional<bson::document> doc;
        (void)commands::find_and_modify::parse(view, doc, diag);
    }
    {
        std::vector<std::string> dbs;
        (void)commands::list_databases::parse(view, dbs, diag);
    }
    {
        bson::document out;
        (void)commands::run_command::parse(view, out, diag);
    }
    {
        commands::kill_cursors_result k;
        (void)commands::parse_kill_cursors_reply(body, k, diag);
    }
    {
        commands::sasl_reply s;
        (void)commands::parse_sasl_reply(body, s, diag);
    }
}

void parse_frame(std::span<const std::uint8_t> frame) {
    diagnostics diag;
    if (frame.size() >= header_size) {
        message_header h;
        (void)parse_header(frame.first<header_size>(), h, default_max_message_size, diag);
    }
    op_msg_view msg;
    if (!parse_op_msg(frame, msg, diag) && msg.has_body) parse_replies(&msg.body);
    // The client's own entry point: the reply must answer request 7.
    op_msg_view reply;
    if (!algo::parse_reply_frame(frame, 7, reply, diag) && reply.has_body) (void)check_command_reply(&reply.body, diag);
}

void le32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    parse_frame({data, size});

    // The input as the kind-0 body of a well-formed frame answering request 7.
    std::vector<std::uint8_t> frame(header_size + 4 + 1);
    frame.insert(frame.end(), data, data + size);
    le32(frame, 0, static_cast<std::uint32_t>(frame.size()));
    le32(frame, 4, 1);                // requestID
    le32(frame, 8, 7);                // responseTo
    le32(frame, 12, op_msg_opcode);   // opCode
    le32(frame, 16, 0);               // flagBits
    frame[20] = 0;                    // section kind 0
    parse_frame(frame);
    return 0;
}
