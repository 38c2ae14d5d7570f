// libFuzzer harness: the SCRAM client fed a hostile server. Input layout:
//   byte 0: bit 0 = SCRAM-SHA-1 (else SHA-256), bit 1 = use a key cache shared across
//           inputs, bit 2 = answer with the correct server signature (computed here) instead
//           of the fuzzed server-final, bit 3 = send the server-final before the server-first
//   rest:   <server-first>\n<server-final>
// The client has a fixed user, password and nonce, so seeds from the RFC examples carry on.
//
// PBKDF2 cost: the iteration count is the server's, and each PBKDF2 iteration is two HMACs.
// Inputs whose i= (as the client reads it) is above 10000 are skipped, so one input costs at
// most a few milliseconds; the refusal of large counts is tested by the unit tests. Derived
// keys for the correct signature are memoized by (mechanism, salt, i).
#include <morm/detail/base64.hpp>
#include <morm/error.hpp>
#include <morm/wire/scram.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

namespace {

using namespace morm;
using namespace morm::wire;

constexpr std::string_view user = "user";
constexpr std::string_view password = "pencil";
constexpr std::string_view client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::uint32_t max_fuzzed_iterations = 10000;

// The i= value as the client's parser finds it (third attribute after r= and s=), or 0.
std::uint64_t iterations_of(std::string_view msg) {
    for (char key : {'r', 's', 'i'}) {
        if (msg.size() < 2 || msg[0] != key || msg[1] != '=') return 0;
        const auto comma = msg.find(',');
        const std::string_view value = msg.substr(2, comma == std::string_view::npos ? comma : comma - 2);
        if (key == 'i') {
            std::uint64_t n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec == std::errc::result_out_of_range) return UINT64_MAX;
            return ec == std::errc{} ? n : 0;
        }
        msg = comma == std::string_view::npos ? std::string_view{} : msg.substr(comma + 1);
    }
    return 0;
}

// "v=<base64 ServerSignature>" for this conversation, as an honest server computes it.
std::string server_final_for(scram_mechanism m, std::string_view server_first, std::string_view client_final) {
    std::string_view rest = server_first, salt_b64;
    rest.remove_prefix(rest.find(",s=") + 3);
    salt_b64 = rest.substr(0, rest.find(','));
    std::string salt;
    if (!morm::detail::base64_decode(salt_b64, salt)) return "v=";
    const auto iterations = static_cast<std::uint32_t>(iterations_of(server_first));

    static std::map<std::tuple<scram_mechanism, std::string, std::uint32_t>, wire::detail::scram_keys> memo;
    auto key = std::make_tuple(m, salt, iterations);
    auto found = memo.find(key);
    if (found == memo.end()) {
        const std::string pw = m == scram_mechanism::sha1 ? wire::detail::mongo_sha1_password(user, password)
                                                          : std::string(password);
        wire::detail::scram_keys keys;
        if (!wire::detail::scram_derive_keys(m, pw, salt, iterations, keys)) return "v=";
        if (memo.size() > 256) memo.clear();
        found = memo.emplace(key, keys).first;
    }
    const std::string_view without_proof = client_final.substr(0, client_final.rfind(",p="));
    std::string auth_message = "n=user,r=";
    auth_message.append(client_nonce).append(",").append(server_first).append(",").append(without_proof);
    unsigned char proof[32], signature[32];
    if (!wire::detail::scram_sign(m, found->second, auth_message, proof, signature)) return "v=";
    std::string out = "v=";
    morm::detail::base64_encode_append(signature, found->second.size, out);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto nl = rest.find('\n');
    const std::string_view server_first = rest.substr(0, nl);
    const std::string_view server_final = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (iterations_of(server_first) > max_fuzzed_iterations) return 0;  // see the cost note above

    const scram_mechanism m = (mode & 1) ? scram_mechanism::sha1 : scram_mechanism::sha256;
    static scram_key_cache cache;
    scram_client client(m, std::string(user), std::string(password), std::string(client_nonce));
    if (mode & 2) client.set_key_cache(&cache);

    diagnostics diag;
    if (mode & 8) {
        // Out of order: must be refused, not crash.
        if (client.handle_server_final(server_final, diag) != errc::invalid_argument) __builtin_trap();
        return 0;
    }
    const std::string first = client.client_first();
    if (first != "n,,n=user,r=" + std::string(client_nonce)) __builtin_trap();

    std::string client_final;
    if (client.handle_server_first(server_first, client_final, diag)) {
        if (client.complete()) __builtin_trap();
        return 0;
    }
    if (mode & 4) {
        const std::string honest = server_final_for(m, server_first, client_final);
        if (client.handle_server_final(honest, diag) || !client.complete()) __builtin_trap();
        return 0;
    }
    const bool ok = !client.handle_server_final(server_final, diag);
    if (ok != client.complete()) __builtin_trap();
    // A second server-final after the conversation ended is refused.
    if (!client.handle_server_final(server_final, diag)) __builtin_trap();
    return 0;
}
