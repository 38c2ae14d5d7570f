// libFuzzer harness: decoding arbitrary bytes into models that use every type the codec
// maps (codec/types/*): strings, every integer width, floating point, bool, optional,
// vector, nested structs, std::map / std::unordered_map, ObjectId, binary, decimal128,
// owning documents and values, dates (system_clock::time_point in nanoseconds,
// sys_time<milliseconds>, sys_time<seconds>, year_month_day), enums stored as strings and
// as integers, plus the field flags (required, omit_empty, optional_on_decode,
// extra_fields, aliases, strict structs).
//
// As the library does with bytes from the network, the input is validated first
// (document_view::valid()); only valid documents are decoded. Decode errors are expected;
// crashes, UB, leaks and exceptions other than morm::error are findings. A model that
// decoded is encoded again and, when that succeeds, must decode again.
#include "fuzz_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>

#include <cstdint>

namespace {

template <class T>
void decode_and_round_trip(const std::uint8_t* data, std::size_t size) {
    T obj{};
    morm::diagnostics diag;
    if (morm::codec::decode(data, size, obj, &diag)) return;
    (void)fz::bs::document_view(data, size).to_json();

    // Whatever decoded must encode (or refuse with an error) and decode again.
    fz::bs::document again;
    if (morm::codec::encode_into(again.get(), obj, &diag)) return;
    T back{};
    if (morm::codec::decode(again.view(), back, &diag)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (!fz::bs::document_view(data, size).valid()) return 0;
    decode_and_round_trip<fz::Everything>(data, size);
    decode_and_round_trip<fz::Node>(data, size);
    decode_and_round_trip<fz::Flagged>(data, size);
    // Decoding into an object that already holds values (vectors and strings are reused).
    fz::Everything reused;
    reused.nums.assign(5, 1);
    reused.nodes.resize(3);
    reused.s = "previous value, long enough to be on the heap";
    morm::diagnostics diag;
    (void)morm::codec::decode(data, size, reused, &diag);
    // The throwing form throws morm::error and nothing else.
    try {
        (void)morm::codec::decode<fz::Node>(fz::bs::document_view(data, size));
    } catch (const morm::error&) {
    }
    return 0;
}
