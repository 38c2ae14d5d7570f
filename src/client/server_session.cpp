#include <morm/client/server_session.hpp>

#include <random>

namespace morm::detail {

namespace {
std::array<std::uint8_t, 16> random_uuid() {
    thread_local std::mt19937_64 rng{std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)};
    std::array<std::uint8_t, 16> id;
    for (std::size_t i = 0; i < 16; i += 8) {
        auto v = rng();
        for (std::size_t k = 0; k < 8; ++k) id[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
    }
    id[6] = static_cast<std::uint8_t>((id[6] & 0x0f) | 0x40);  // version 4
    id[8] = static_cast<std::uint8_t>((id[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return id;
}

bool about_to_expire(const server_session& s, std::int64_t timeout_minutes) {
    if (timeout_minutes <= 0) return false;
    const auto left = std::chrono::minutes(timeout_minutes) - (std::chrono::steady_clock::now() - s.last_use);
    return left < std::chrono::minutes(1);
}
}  // namespace

void server_session::append_lsid(bson_t* cmd) const {
    bson_t l;
    bson_append_document_begin(cmd, "lsid", 4, &l);
    bson_append_binary(&l, "id", 2, BSON_SUBTYPE_UUID, id.data(), 16);
    bson_append_document_end(cmd, &l);
}

std::shared_ptr<server_session> session_pool::acquire(std::int64_t timeout_minutes) {
    std::unique_ptr<server_session> s;
    {
        std::lock_guard lk(mtx_);
        while (!free_.empty() && !s) {
            auto c = std::move(free_.front());
            free_.pop_front();
            if (!about_to_expire(*c, timeout_minutes)) s = std::move(c);
        }
    }
    if (!s) {
        s = std::make_unique<server_session>();
        s->id = random_uuid();
    }
    std::weak_ptr<session_pool> self = weak_from_this();
    return std::shared_ptr<server_session>(s.release(), [self, timeout_minutes](server_session* p) {
        if (auto pool = self.lock()) pool->give_back(p, timeout_minutes);
        else delete p;
    });
}

void session_pool::give_back(server_session* s, std::int64_t timeout_minutes) noexcept {
    std::unique_ptr<server_session> owned(s);
    s->last_use = std::chrono::steady_clock::now();
    if (s->dirty) return;
    std::lock_guard lk(mtx_);
    // Expired sessions at the back are dropped too: the front is the most recently used.
    while (!free_.empty() && about_to_expire(*free_.back(), timeout_minutes)) free_.pop_back();
    free_.push_front(std::move(owned));
}

std::vector<std::array<std::uint8_t, 16>> session_pool::drain() {
    std::lock_guard lk(mtx_);
    std::vector<std::array<std::uint8_t, 16>> ids;
    for (auto& s : free_) ids.push_back(s->id);
    free_.clear();
    return ids;
}

std::size_t session_pool::size() const {
    std::lock_guard lk(mtx_);
    return free_.size();
}

void cluster_clock::observe(const bson_t* reply) {
    bson_iter_t it, ct;
    if (!bson_iter_init_find(&it, reply, "$clusterTime") || !BSON_ITER_HOLDS_DOCUMENT(&it)) return;
    if (!bson_iter_recurse(&it, &ct) || !bson_iter_find(&ct, "clusterTime") || !BSON_ITER_HOLDS_TIMESTAMP(&ct)) return;
    std::uint32_t t = 0, i = 0;
    bson_iter_timestamp(&ct, &t, &i);
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&it, &len, &data);
    std::lock_guard lk(mtx_);
    if (!doc_.empty() && (t < t_ || (t == t_ && i <= i_))) return;
    t_ = t;
    i_ = i;
    doc_.assign(data, data + len);
}

void cluster_clock::append_to(bson_t* cmd) const {
    std::lock_guard lk(mtx_);
    if (doc_.empty()) return;
    bson_t d;
    if (bson_init_static(&d, doc_.data(), doc_.size())) bson_append_document(cmd, "$clusterTime", 12, &d);
}

bool cluster_clock::empty() const {
    std::lock_guard lk(mtx_);
    return doc_.empty();
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> operation_time_of(const bson_t* reply) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, reply, "operationTime") || !BSON_ITER_HOLDS_TIMESTAMP(&it)) return std::nullopt;
    std::uint32_t t = 0, i = 0;
    bson_iter_timestamp(&it, &t, &i);
    return std::pair{t, i};
}

}  // namespace morm::detail
