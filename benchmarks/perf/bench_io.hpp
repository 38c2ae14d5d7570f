// Small helpers shared by the perf programs that drive morm: run a coroutine to
// completion, load the odm/small_doc model, build URIs with extra options.
#pragma once

#include "perf_common.hpp"

#include <common/data_dirs.hpp>
#include <common/spec_models.hpp>
#include <morm/morm.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace morm_bench {

namespace asio = boost::asio;

/// Runs the awaitable made by `f` on `ioc` until it is done; rethrows its exception.
template <class F>
auto run_coro(asio::io_context& ioc, F&& f) {
    auto fut = asio::co_spawn(ioc, std::forward<F>(f)(), asio::use_future);
    ioc.restart();
    ioc.run();
    return fut.get();
}

inline std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// odm/small_doc.json of the official data ($MORM_DATA_DIR) or else of the generated data.
inline std::string small_doc_json() { return read_text_file(morm_data::preferred_dir() + "/odm/small_doc.json"); }

inline morm::spec_models::odm_small_doc small_doc_model() {
    auto doc = morm::bson::document::from_json(small_doc_json());
    morm::spec_models::odm_small_doc m;
    if (auto ec = morm::codec::decode(doc.view(), m)) throw std::runtime_error("small_doc.json: " + ec.message());
    return m;
}

/// `uri` with `opt` (e.g. "maxPoolSize=4") appended as a URI option.
inline std::string with_option(const std::string& uri, const std::string& opt) {
    auto q = uri.find('?');
    if (q == std::string::npos) {
        // mongodb://host[:port] needs a "/" before the options.
        auto scheme = uri.find("://");
        auto slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
        return uri + (slash == std::string::npos ? "/?" : "?") + opt;
    }
    return uri + "&" + opt;
}

/// A database name unique to this process.
inline std::string unique_db(const std::string& base) { return base + "_" + std::to_string(::getpid()); }

}  // namespace morm_bench
