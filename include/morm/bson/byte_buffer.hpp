// A growable byte buffer that libbson can write into.
//
// Outgoing OP_MSG frames are built in one (wire::frame_buffer is this type), and models are encoded
// straight into it through bson_writer_t (which needs a `uint8_t**` + `size_t*` pair it
// may realloc). Memory comes from bson_malloc/bson_realloc so the writer's realloc
// callback and our own growth agree. The buffer is reused across operations: clear()
// keeps the capacity, so a warmed-up connection encodes without touching the heap.
#pragma once

#include <bson/bson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace morm::bson {

class byte_buffer {
public:
    byte_buffer() = default;
    explicit byte_buffer(std::size_t capacity) { reserve(capacity); }
    byte_buffer(const byte_buffer&) = delete;
    byte_buffer& operator=(const byte_buffer&) = delete;
    byte_buffer(byte_buffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)),
          capacity_(std::exchange(o.capacity_, 0)),
          size_(std::exchange(o.size_, 0)) {}
    byte_buffer& operator=(byte_buffer&& o) noexcept {
        if (this != &o) {
            bson_free(data_);
            data_ = std::exchange(o.data_, nullptr);
            capacity_ = std::exchange(o.capacity_, 0);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~byte_buffer() { bson_free(data_); }

    std::uint8_t* data() noexcept { return data_; }
    const std::uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }

    void clear() noexcept { size_ = 0; }

    void reserve(std::size_t n) {
        if (n <= capacity_) return;
        std::size_t cap = capacity_ ? capacity_ : 256;
        while (cap < n) cap *= 2;
        data_ = static_cast<std::uint8_t*>(bson_realloc(data_, cap));
        capacity_ = cap;
    }

    /// Grows (or shrinks) the logical size; new bytes are uninitialized.
    void resize(std::size_t n) {
        reserve(n);
        size_ = n;
    }

    void append(const void* p, std::size_t n) {
        reserve(size_ + n);
        std::memcpy(data_ + size_, p, n);
        size_ += n;
    }
    void push_back(std::uint8_t b) {
        reserve(size_ + 1);
        data_[size_++] = b;
    }
    void append_int32_le(std::int32_t v) {
        std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        append(&u, 4);
    }
    void write_int32_le_at(std::size_t pos, std::int32_t v) noexcept {
        std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        std::memcpy(data_ + pos, &u, 4);
    }

    // For bson_writer_new(): it reallocs through these and we adopt its size afterwards.
    std::uint8_t** data_slot() noexcept { return &data_; }
    std::size_t* capacity_slot() noexcept { return &capacity_; }
    void set_size_unchecked(std::size_t n) noexcept { size_ = n; }

private:
    std::uint8_t* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
};

}  // namespace morm::bson
