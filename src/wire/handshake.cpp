#include <morm/wire/handshake.hpp>
#include <morm/wire/reply.hpp>

#include <fmt/format.h>
#include <sys/utsname.h>

#include <string_view>

#ifndef MORM_VERSION_STRING
#define MORM_VERSION_STRING "0.0.0"
#endif

namespace morm::wire {

void build_hello(bson_t* body, const hello_params& params) {
    BSON_APPEND_INT32(body, "hello", 1);
    if (params.load_balanced) BSON_APPEND_BOOL(body, "loadBalanced", true);
    if (!params.sasl_user.empty()) BSON_APPEND_UTF8(body, "saslSupportedMechs", params.sasl_user.c_str());
    bson_t client, driver, os;
    BSON_APPEND_DOCUMENT_BEGIN(body, "client", &client);
    if (!params.app_name.empty()) {
        bson_t app;
        BSON_APPEND_DOCUMENT_BEGIN(&client, "application", &app);
        bson_append_utf8(&app, "name", 4, params.app_name.data(),
                         static_cast<int>(std::min<std::size_t>(params.app_name.size(), 128)));
        bson_append_document_end(&client, &app);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&client, "driver", &driver);
    BSON_APPEND_UTF8(&driver, "name", "morm");
    BSON_APPEND_UTF8(&driver, "version", MORM_VERSION_STRING);
    bson_append_document_end(&client, &driver);
    BSON_APPEND_DOCUMENT_BEGIN(&client, "os", &os);
    struct utsname u {};
    if (uname(&u) == 0) {
        BSON_APPEND_UTF8(&os, "type", u.sysname);
        BSON_APPEND_UTF8(&os, "name", u.sysname);
        BSON_APPEND_UTF8(&os, "architecture", u.machine);
        BSON_APPEND_UTF8(&os, "version", u.release);
    } else {
        BSON_APPEND_UTF8(&os, "type", "unknown");
    }
    bson_append_document_end(&client, &os);
    std::string platform = fmt::format("C++{} / g++ {}.{} / Boost.Asio", __cplusplus / 100 % 100,
                                       __GNUC__, __GNUC_MINOR__);
    BSON_APPEND_UTF8(&client, "platform", platform.c_str());
    bson_append_document_end(body, &client);
    BSON_APPEND_UTF8(body, "$db", "admin");
}

[[nodiscard]] error_code parse_hello(const bson_t* body, server_description& out, diagnostics& diag) {
    if (auto ec = check_command_reply(body, diag)) return ec;
    out = server_description{};
    bson_iter_t it;
    bson_iter_init(&it, body);
    while (bson_iter_next(&it)) {
        std::string_view k{bson_iter_key(&it), bson_iter_key_len(&it)};
        if (k == "maxBsonObjectSize") out.max_bson_object_size = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "maxMessageSizeBytes") out.max_message_size_bytes = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "maxWriteBatchSize") out.max_write_batch_size = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "minWireVersion") out.min_wire_version = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "maxWireVersion") out.max_wire_version = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "isWritablePrimary" || k == "ismaster") out.is_writable_primary = bson_iter_as_bool(&it);
        else if (k == "logicalSessionTimeoutMinutes") out.logical_session_timeout_minutes = static_cast<std::int32_t>(bson_iter_as_int64(&it));
        else if (k == "msg" && BSON_ITER_HOLDS_UTF8(&it)) out.is_mongos = std::string_view(bson_iter_utf8(&it, nullptr)) == "isdbgrid";
        else if (k == "setName" && BSON_ITER_HOLDS_UTF8(&it)) out.set_name = bson_iter_utf8(&it, nullptr);
        else if ((k == "hosts" || k == "saslSupportedMechs") && BSON_ITER_HOLDS_ARRAY(&it)) {
            auto& dst = k == "hosts" ? out.hosts : out.sasl_supported_mechs;
            bson_iter_t a;
            bson_iter_recurse(&it, &a);
            while (bson_iter_next(&a))
                if (BSON_ITER_HOLDS_UTF8(&a)) dst.emplace_back(bson_iter_utf8(&a, nullptr));
        }
    }
    if (out.max_bson_object_size <= 0 || out.max_message_size_bytes <= 0 || out.max_write_batch_size <= 0) {
        diag.clear();
        diag.message = "hello reply has non-positive size limits";
        return make_error_code(errc::protocol);
    }
    if (out.max_wire_version < min_wire_version) {
        diag.clear();
        diag.message = fmt::format("server maxWireVersion {} is below {} (MongoDB 3.6); morm needs OP_MSG",
                                   out.max_wire_version, min_wire_version);
        return make_error_code(errc::server_too_old);
    }
    return {};
}

}  // namespace morm::wire
