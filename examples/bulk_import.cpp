// Imports a JSON-lines file through a session, committing every N lines.
//
//   ./build/examples/bulk_import FILE [--uri URI] [--collection C] [--batch N]
//                                     [--on-error skip|stop]
//
// Each line is one JSON object (MongoDB Extended JSON is accepted, e.g. {"$oid": ...}).
// It maps onto a generic model: `_id` (kept if the line has one, else a new ObjectId) and
// an extra_fields document holding everything else, so any shape of line fits.
//
// The session runs with keep_committed=false: committed objects leave the identity map,
// so memory stays flat however large the file. A malformed line, or a document the server
// rejects (e.g. a duplicate _id), is reported with its line number on stderr and skipped
// (--on-error skip, the default) or ends the import (stop) after committing what was read
// before it; nothing committed is lost either way. The last line on stdout is
//
//   imported N documents (M bytes) in S s: X docs/s, Y MB/s; K skipped
//
// where M counts the JSON bytes of the imported lines. Exit status: 0 when the whole file
// was read, 1 if the import stopped early or failed, 2 on bad arguments.
//
// Defaults: --uri from MORM_URI (else mongodb://127.0.0.1:27017/mydatabase),
// --collection documents, --batch 1000.
#include <morm/morm.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <chrono>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;

/// Any JSON object: its _id (any BSON type) and every other field, in line order.
struct Document {
    morm::bson::value id;
    morm::bson::document fields;
};
MORM_MODEL(Document, "documents", (id, "_id"), (fields, "", morm::codec::field_flags::extra_fields));

namespace {

using clock_type = std::chrono::steady_clock;

enum class on_error { skip, stop };

struct options {
    std::string file;
    std::string uri;
    std::string collection = "documents";
    std::size_t batch = 1000;
    on_error policy = on_error::skip;
};

/// Parses one line into `out`; on failure returns false with a message in `err`.
bool parse_line(std::string_view line, Document& out, std::string& err) {
    auto first = line.find_first_not_of(" \t\r");
    if (line[first] != '{') {
        err = "not a JSON object";
        return false;
    }
    bson_t parsed;
    bson_error_t e;
    if (!bson_init_from_json(&parsed, line.data(), static_cast<ssize_t>(line.size()), &e)) {
        err = fmt::format("malformed JSON: {}", e.message);
        return false;
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, &parsed, "_id")) {
        out.id = morm::bson::value::from_iter(it);
        bson_t rest;
        bson_init(&rest);
        bson_copy_to_excluding_noinit(&parsed, &rest, "_id", nullptr);
        bson_destroy(&parsed);
        out.fields = morm::bson::document::adopt(rest);
    } else {
        // The common case: no copy, the parsed document becomes the extra fields as is.
        bson_value_t oid{};
        oid.value_type = BSON_TYPE_OID;
        oid.value.v_oid = morm::bson::object_id::generate().to_bson();
        out.id = morm::bson::value(oid);
        out.fields = morm::bson::document::adopt(parsed);
    }
    return true;
}

/// A progress bar on a terminal; one line per 10% otherwise (logs stay readable).
class progress {
public:
    explicit progress(std::uintmax_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}

    void update(std::uintmax_t done, std::size_t docs) {
        if (total_ == 0) return;
        int pct = static_cast<int>(done * 100 / total_);
        if (tty_) {
            auto now = clock_type::now();
            if (pct == last_pct_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
            last_draw_ = now;
            last_pct_ = pct;
            constexpr int width = 30;
            int filled = pct * width / 100;
            fmt::print(stderr, "\r[{:#<{}}{:-<{}}] {:3}% {} docs", "", filled, "", width - filled, pct, docs);
            drawn_ = true;
        } else if (pct / 10 > last_pct_ / 10 || last_pct_ < 0) {
            last_pct_ = pct;
            if (pct >= 10) fmt::print(stderr, "progress: {}% ({} docs)\n", pct / 10 * 10, docs);
        }
    }
    void finish() {
        if (tty_ && drawn_) fmt::print(stderr, "\n");
    }

private:
    std::uintmax_t total_;
    bool tty_;
    bool drawn_ = false;
    int last_pct_ = -1;
    clock_type::time_point last_draw_{};
};

class importer {
public:
    importer(const morm::engine& e, const options& o) : session_(e, session_opts()), opts_(o) {
        batch_.reserve(o.batch);
    }

    /// Reads the whole file (or up to the first error in stop mode). Returns false if it
    /// stopped early.
    asio::awaitable<bool> run(std::istream& in, progress& bar) {
        std::string line;
        std::uint64_t lineno = 0;
        std::uintmax_t read_bytes = 0;
        while (!stopped_ && std::getline(in, line)) {
            ++lineno;
            read_bytes += line.size() + 1;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not errors
            Document doc;
            std::string err;
            if (!parse_line(line, doc, err)) {
                reject(lineno, err);
                continue;
            }
            try {
                auto obj = session_.add_to(opts_.collection, std::move(doc));
                batch_.push_back({obj.get(), lineno, line.size()});
            } catch (const morm::error& e) {
                // The session refuses a second object with an _id of this batch; a duplicate
                // of an earlier batch is rejected by the server instead (see flush).
                if (e.code() != morm::errc::invalid_argument) throw;
                reject(lineno, e.what());
                continue;
            }
            if (batch_.size() >= opts_.batch) co_await flush();
            bar.update(read_bytes, imported_ + batch_.size());
        }
        // Also in stop mode: the lines read before the error are committed.
        co_await flush();
        bar.update(read_bytes, imported_);
        co_return !stopped_;
    }

    std::size_t imported() const noexcept { return imported_; }
    std::uintmax_t imported_bytes() const noexcept { return imported_bytes_; }
    std::size_t skipped() const noexcept { return skipped_; }

private:
    struct staged {
        const void* obj;
        std::uint64_t line;
        std::size_t bytes;
    };

    static morm::session_options session_opts() {
        morm::session_options so;
        so.keep_committed = false;  // write-only load: memory stays flat across commits
        return so;
    }

    void reject(std::uint64_t line, std::string_view why) {
        fmt::print(stderr, "line {}: {}{}\n", line, why, opts_.policy == on_error::skip ? " (skipped)" : "");
        ++skipped_;
        if (opts_.policy == on_error::stop) stopped_ = true;
    }

    /// Commits the staged batch. Documents the server rejects are reported and dropped from
    /// the session; the ones it did not get to are sent again.
    asio::awaitable<void> flush() {
        int attempts_without_progress = 0;
        while (!batch_.empty() && session_.dirty()) {
            std::optional<morm::commit_result> partial;
            try {
                auto r = co_await session_.commit();
                imported_ += r.inserted;
            } catch (const morm::commit_error& e) {
                partial = e.result();
            }
            if (!partial) break;
            imported_ += partial->inserted;
            bool progress = partial->inserted > 0;
            for (const auto& f : partial->failures) {
                if (f.state != morm::item_outcome::state::failed) continue;  // unsent: retried below
                auto* s = find(f.object.get());
                std::string why = f.code ? fmt::format("rejected by the server: {} ({})", f.message, f.code)
                                         : fmt::format("rejected: {}", f.message);
                reject(s ? s->line : 0, why);
                if (s) s->bytes = 0;  // not imported
                session_.expunge(std::static_pointer_cast<Document>(f.object));
                progress = true;
            }
            if (!progress && ++attempts_without_progress >= 3)
                throw morm::error(morm::errc::write_error,
                                  fmt::format("commit makes no progress: {}", partial->failures.front().message));
        }
        for (auto& s : batch_) imported_bytes_ += s.bytes;
        batch_.clear();
    }

    staged* find(const void* obj) {
        for (auto& s : batch_)
            if (s.obj == obj) return &s;
        return nullptr;
    }

    morm::session session_;
    const options& opts_;
    std::vector<staged> batch_;  // the current batch, to name the line of a rejected object
    std::size_t imported_ = 0;
    std::uintmax_t imported_bytes_ = 0;
    std::size_t skipped_ = 0;
    bool stopped_ = false;
};

asio::awaitable<int> run(options opts) {
    std::ifstream in(opts.file, std::ios::binary);
    if (!in) {
        fmt::print(stderr, "cannot open {}\n", opts.file);
        co_return 1;
    }
    std::error_code size_ec;
    auto total = std::filesystem::file_size(opts.file, size_ec);
    progress bar(size_ec ? 0 : total);

    auto engine = co_await morm::create_engine(opts.uri);
    importer imp(engine, opts);
    auto start = clock_type::now();
    bool complete = false;
    std::string failure;
    try {
        complete = co_await imp.run(in, bar);
    } catch (const morm::error& e) {
        failure = fmt::format("{} ({})", e.what(), e.code().message());
    }
    bar.finish();
    double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    if (!failure.empty()) fmt::print(stderr, "import failed: {}\n", failure);
    double rate_secs = secs > 0 ? secs : 1e-9;
    fmt::print("imported {} documents ({} bytes) in {:.2f} s: {:.0f} docs/s, {:.2f} MB/s; {} skipped\n", imp.imported(),
               imp.imported_bytes(), secs, double(imp.imported()) / rate_secs,
               double(imp.imported_bytes()) / 1e6 / rate_secs, imp.skipped());
    co_await engine.dispose();
    co_return complete && failure.empty() ? 0 : 1;
}

[[noreturn]] void usage(const char* argv0, const std::string& why) {
    fmt::print(stderr, "{}\nusage: {} FILE [--uri URI] [--collection C] [--batch N] [--on-error skip|stop]\n", why,
               argv0);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    const char* env = std::getenv("MORM_URI");
    opts.uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) usage(argv[0], fmt::format("{} needs a value", a));
            return argv[++i];
        };
        if (a == "--uri") opts.uri = value();
        else if (a == "--collection") opts.collection = value();
        else if (a == "--batch") {
            auto v = value();
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), opts.batch);
            if (ec != std::errc{} || p != v.data() + v.size() || opts.batch == 0)
                usage(argv[0], fmt::format("bad --batch '{}'", v));
        } else if (a == "--on-error") {
            auto v = value();
            if (v == "skip") opts.policy = on_error::skip;
            else if (v == "stop") opts.policy = on_error::stop;
            else usage(argv[0], fmt::format("bad --on-error '{}' (skip or stop)", v));
        } else if (a.starts_with("--")) usage(argv[0], fmt::format("unknown option '{}'", a));
        else if (opts.file.empty()) opts.file = a;
        else usage(argv[0], "only one FILE");
    }
    if (opts.file.empty()) usage(argv[0], "missing FILE");
    if (opts.collection.empty()) usage(argv[0], "empty --collection");

    asio::io_context ioc;
    int rc = 1;
    asio::co_spawn(ioc, run(opts), [&](std::exception_ptr e, int result) {
        if (!e) {
            rc = result;
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const morm::error& err) {
            fmt::print(stderr, "bulk_import failed: {} ({})\n", err.what(), err.code().message());
        } catch (const std::exception& err) {
            fmt::print(stderr, "bulk_import failed: {}\n", err.what());
        }
    });
    ioc.run();
    return rc;
}
