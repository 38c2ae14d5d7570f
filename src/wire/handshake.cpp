#include <morm/wire/handshake.hpp>
#include <morm/wire/reply.hpp>

#include <fmt/format.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
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

std::optional<std::int64_t> hello_number(const bson_iter_t& it) noexcept {
    switch (bson_iter_type(&it)) {
    case BSON_TYPE_INT32: return bson_iter_int32(&it);
    case BSON_TYPE_INT64: return bson_iter_int64(&it);
    case BSON_TYPE_DOUBLE: {
        const double d = bson_iter_double(&it);
        if (!std::isfinite(d)) return std::nullopt;
        // Converting an out-of-range double to an integer is undefined behaviour.
        if (d >= 9.2e18) return INT64_MAX;
        if (d <= -9.2e18) return INT64_MIN;
        return static_cast<std::int64_t>(d);
    }
    default: return std::nullopt;
    }
}

namespace {

std::int32_t saturate32(std::int64_t v) noexcept {
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(v, INT32_MIN, INT32_MAX));
}

[[nodiscard]] error_code bad_field(diagnostics& diag, std::string_view field, std::string_view why) {
    diag.clear();
    diag.message = fmt::format("hello reply: {} {}", field, why);
    return make_error_code(errc::protocol);
}

// A size limit: a positive number, clamped to `cap`.
[[nodiscard]] error_code read_limit(const bson_iter_t& it, std::string_view field, std::int32_t cap,
                                    std::int32_t& out, diagnostics& diag) {
    auto v = hello_number(it);
    if (!v) return bad_field(diag, field, "is not a number");
    if (*v <= 0) return bad_field(diag, field, fmt::format("is {}: a limit must be positive", *v));
    out = static_cast<std::int32_t>(std::min<std::int64_t>(*v, cap));
    return {};
}

[[nodiscard]] error_code read_int(const bson_iter_t& it, std::string_view field, std::int32_t& out,
                                  diagnostics& diag) {
    auto v = hello_number(it);
    if (!v) return bad_field(diag, field, "is not a number");
    out = saturate32(*v);
    return {};
}

void read_strings(const bson_iter_t& it, std::vector<std::string>& dst) {
    bson_iter_t a;
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a)) return;
    while (bson_iter_next(&a))
        if (BSON_ITER_HOLDS_UTF8(&a)) {
            std::uint32_t len = 0;
            const char* s = bson_iter_utf8(&a, &len);
            dst.emplace_back(s, len);
        }
}

[[nodiscard]] error_code read_hello_field(const bson_iter_t& it, server_description& out, diagnostics& diag) {
    std::string_view k{bson_iter_key(&it), bson_iter_key_len(&it)};
    if (k == "maxBsonObjectSize") return read_limit(it, k, max_bson_object_size_cap, out.max_bson_object_size, diag);
    if (k == "maxMessageSizeBytes") return read_limit(it, k, max_message_size_bytes_cap, out.max_message_size_bytes, diag);
    if (k == "maxWriteBatchSize") return read_limit(it, k, max_write_batch_size_cap, out.max_write_batch_size, diag);
    if (k == "minWireVersion") return read_int(it, k, out.min_wire_version, diag);
    if (k == "maxWireVersion") return read_int(it, k, out.max_wire_version, diag);
    if (k == "isWritablePrimary" || k == "ismaster") out.is_writable_primary = bson_iter_as_bool(&it);
    else if (k == "logicalSessionTimeoutMinutes") {
        // Anything but a non-negative number means "no sessions" (the SDAM spec's null).
        auto v = hello_number(it);
        out.logical_session_timeout_minutes = v && *v >= 0 ? saturate32(*v) : -1;
    } else if (k == "msg" && BSON_ITER_HOLDS_UTF8(&it)) out.is_mongos = std::string_view(bson_iter_utf8(&it, nullptr)) == "isdbgrid";
    else if (k == "setName" && BSON_ITER_HOLDS_UTF8(&it)) out.set_name = bson_iter_utf8(&it, nullptr);
    else if (k == "hosts") read_strings(it, out.hosts);
    else if (k == "saslSupportedMechs") read_strings(it, out.sasl_supported_mechs);
    return {};
}

}  // namespace

[[nodiscard]] error_code parse_hello(const bson_t* body, server_description& out, diagnostics& diag) {
    if (auto ec = check_command_reply(body, diag)) return ec;
    out = server_description{};
    bson_iter_t it;
    if (!bson_iter_init(&it, body)) return bad_field(diag, "body", "is not a valid document");
    while (bson_iter_next(&it))
        if (auto ec = read_hello_field(it, out, diag)) return ec;
    if (out.max_wire_version < min_wire_version) {
        diag.clear();
        diag.message = fmt::format("server maxWireVersion {} is below {} (MongoDB 3.6); morm needs OP_MSG",
                                   out.max_wire_version, min_wire_version);
        return make_error_code(errc::server_too_old);
    }
    if (out.min_wire_version > out.max_wire_version)
        return bad_field(diag, "minWireVersion",
                         fmt::format("{} exceeds maxWireVersion {}", out.min_wire_version, out.max_wire_version));
    if (out.min_wire_version > max_supported_wire_version) {
        diag.clear();
        diag.message = fmt::format("server requires wire version {} or newer, but morm only supports up to {}",
                                   out.min_wire_version, max_supported_wire_version);
        return make_error_code(errc::not_supported);
    }
    return {};
}

}  // namespace morm::wire
