#include <morm/bson/object_id.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/detail/text.hpp>
#include <morm/wire/reply.hpp>
#include <morm/wire/commands/count.hpp>
#include <morm/wire/commands/distinct.hpp>

#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace morm {

namespace {

// Command bodies are built by these helpers only. Each throws when an append fails or a
// caller's string is not valid UTF-8 without NUL, so that a body missing a part (a filter
// left out, a name cut short at a NUL) is never sent: the build runs before any I/O.
[[noreturn]] void refuse(const char* key, std::string_view why) {
    throw error(errc::invalid_argument, fmt::format("command field '{}': {}; nothing was sent", key, why));
}

void append_doc(bson_t* b, const char* key, const bson::document& d) {
    if (!bson_append_document(b, key, -1, d.get())) refuse(key, "the document cannot be appended");
}

/// Appends `docs` as an array; false when an append failed (the caller decides how to fail).
[[nodiscard]] bool append_doc_array(bson_t* b, const char* key, const std::vector<bson::document>& docs) {
    bson_t arr;
    if (!bson_append_array_begin(b, key, -1, &arr)) return false;
    char buf[16];
    bool ok = true;
    for (std::size_t i = 0; ok && i < docs.size(); ++i) {
        const char* k;
        std::size_t kl = bson_uint32_to_string(static_cast<std::uint32_t>(i), &k, buf, sizeof buf);
        ok = bson_append_document(&arr, k, static_cast<int>(kl), docs[i].get());
    }
    return bson_append_array_end(b, &arr) && ok;
}

void append_array_of(bson_t* b, const char* key, const std::vector<bson::document>& docs) {
    if (!append_doc_array(b, key, docs)) refuse(key, "the array cannot be appended");
}

void append_str(bson_t* b, const char* key, std::string_view v) {
    if (!detail::valid_text(v)) refuse(key, "not valid UTF-8, or contains NUL");
    if (!bson_append_utf8(b, key, -1, v.data(), static_cast<int>(v.size()))) refuse(key, "cannot be appended");
}

bool has_id(const bson::document& d) {
    bson_iter_t it;
    return bson_iter_init_find(&it, d.get(), "_id");
}

/// Appends an insert's document to the frame byte for byte; a generated _id goes first.
void append_insert_raw(wire::frame_buffer& out, const bson::document& doc, const std::optional<bson::object_id>& oid) {
    if (!oid) {
        out.append(doc.data(), doc.size());
        return;
    }
    static constexpr std::uint8_t id_element[] = {0x07, '_', 'i', 'd', 0};
    out.reserve(out.size() + doc.size() + sizeof id_element + 12);
    out.append_int32_le(static_cast<std::int32_t>(doc.size() + sizeof id_element + 12));
    out.append(id_element, sizeof id_element);
    out.append(oid->bytes().data(), 12);
    out.append(doc.data() + 4, doc.size() - 4);  // elements and the trailing NUL
}

/// The _id an insert was stored with.
bson::value inserted_id_of(const bson::document& doc, const std::optional<bson::object_id>& oid) {
    if (oid) {
        bson_value_t v;
        v.value_type = BSON_TYPE_OID;
        v.value.v_oid = oid->to_bson();
        return bson::value(v);
    }
    bson_iter_t it;
    bson_iter_init_find(&it, doc.get(), "_id");
    return bson::value::from_iter(it);
}

/// Does the update document hold operators ($set...) rather than a replacement?
bool is_operator_update(const bson::document& d) {
    bson_iter_t it;
    if (!bson_iter_init(&it, d.get()) || !bson_iter_next(&it)) return false;
    return bson_iter_key(&it)[0] == '$';
}

/// Builds the bulk_write_result of a pipeline run; `index_of[g][i]` maps group items to
/// the caller's indexes.
bulk_write_result summarize(std::span<write_group> groups, const std::vector<std::vector<std::size_t>>& index_of) {
    bulk_write_result r;
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        auto& g = groups[gi];
        // An empty mapping means the group's items are the caller's input, in order.
        auto input_index = [&](std::size_t i) { return index_of[gi].empty() ? i : index_of[gi][i]; };
        switch (g.kind) {
            case write_kind::insert: r.inserted_count += g.n; break;
            case write_kind::update:
                r.matched_count += g.n - static_cast<std::int64_t>(g.upserted.size());
                r.modified_count += g.n_modified;
                r.upserted_count += static_cast<std::int64_t>(g.upserted.size());
                break;
            case write_kind::remove: r.deleted_count += g.n; break;
        }
        for (auto& u : g.upserted) r.upserted_ids.emplace(input_index(u.index), bson::value(u.id));
        for (std::size_t i = 0; i < g.outcomes.size(); ++i) {
            auto& o = g.outcomes[i];
            const std::size_t idx = input_index(i);
            if (o.st == item_outcome::state::failed || o.st == item_outcome::state::unacknowledged)
                r.errors.push_back({idx, o.st == item_outcome::state::unacknowledged ? errc::outcome_unknown : o.error,
                                    o.code, o.code_name, o.message});
            else if (o.st == item_outcome::state::pending)
                r.not_executed.push_back(idx);
        }
        if (g.write_concern_error) r.write_concern_error = g.write_concern_error;
    }
    std::sort(r.errors.begin(), r.errors.end(), [](auto& a, auto& b) { return a.index < b.index; });
    std::sort(r.not_executed.begin(), r.not_executed.end());
    return r;
}

[[noreturn]] void throw_bulk(bulk_write_result r, const error_code& fatal, const diagnostics& fatal_diag) {
    diagnostics d;
    error_code ec = fatal;
    if (fatal) {
        d = fatal_diag;
    } else {
        // A write refused before sending (a bad name) is the caller's error, not the server's.
        const bool refused = !r.errors.empty() && r.errors.front().kind == errc::invalid_argument;
        ec = make_error_code(r.errors.empty() ? errc::write_concern_error
                             : refused        ? errc::invalid_argument
                                              : errc::write_error);
        if (!r.errors.empty()) {
            const auto& e = r.errors.front();
            d.server_code = e.code;
            d.code_name = e.code_name;
            d.message = fmt::format("{} of the writes failed; first at index {}: {}", r.errors.size(), e.index, e.message);
        } else if (r.write_concern_error) {
            d = *r.write_concern_error;
        }
    }
    throw bulk_write_exception(ec, std::move(d), std::move(r));
}

const write_concern* effective_wc(const std::optional<write_concern>& op, const detail::client_state& st) {
    if (op) return &*op;
    return st.default_wc.empty() ? nullptr : &st.default_wc;
}

[[nodiscard]] error_code check_cursor(const bson_t* r, wire::cursor_reply& cr, diagnostics& d) { return wire::parse_cursor_reply(r, cr, d); }

/// The options an update or delete statement carries next to q/u, as the public API
/// spells them (update_options, delete_options and the write models share the names).
struct statement_options {
    const bson::document& collation;
    const bson::document& hint;
    const std::string& hint_name;
    const std::vector<bson::document>* array_filters;  ///< null: the write takes none
};

template <class T>
statement_options options_of(const T& x) {
    if constexpr (requires { x.array_filters; }) return {x.collation, x.hint, x.hint_name, &x.array_filters};
    else return {x.collation, x.hint, x.hint_name, nullptr};
}

/// Why the statement options cannot be sent as set; empty when they can.
std::string statement_problem(const statement_options& o, bool replacement, bool pipeline) {
    if (!o.hint.empty() && !o.hint_name.empty()) return "hint and hint_name are both set; set one of them";
    if (!detail::valid_text(o.hint_name)) return "hint_name is not valid UTF-8, or contains NUL";
    if (o.array_filters && !o.array_filters->empty()) {
        // The server refuses both; refusing here names the option and sends nothing.
        if (replacement) return "array_filters does not apply to a replacement";
        if (pipeline) return "array_filters cannot be used with a pipeline update";
    }
    return {};
}

void check_statement(std::string_view op, const statement_options& o, bool replacement, bool pipeline) {
    if (auto why = statement_problem(o, replacement, pipeline); !why.empty())
        throw error(errc::invalid_argument, fmt::format("{}: {}; nothing was sent", op, why));
}

/// Appends collation, hint and arrayFilters when set; false when an append failed.
[[nodiscard]] bool append_statement_options(bson_t* dst, const statement_options& o) {
    bool ok = true;
    if (!o.collation.empty()) ok = bson_append_document(dst, "collation", 9, o.collation.get());
    if (ok && !o.hint.empty())
        ok = bson_append_document(dst, "hint", 4, o.hint.get());
    else if (ok && !o.hint_name.empty())
        ok = bson_append_utf8(dst, "hint", 4, o.hint_name.data(), static_cast<int>(o.hint_name.size()));
    if (ok && o.array_filters && !o.array_filters->empty())
        ok = append_doc_array(dst, "arrayFilters", *o.array_filters);
    return ok;
}

/// One `updates` statement: {q, u (document or pipeline), upsert?, multi?, collation?,
/// hint?, arrayFilters?}; a failed append fails the statement (a `q` left out would
/// match every document).
[[nodiscard]] error_code build_update_statement(bson_t* dst, const bson::document& q, const bson::document& u,
                                                const std::vector<bson::document>* pipeline, bool upsert, bool multi,
                                                const statement_options& so, diagnostics& d) {
    bool ok = bson_append_document(dst, "q", 1, q.get());
    if (ok) ok = pipeline ? append_doc_array(dst, "u", *pipeline) : bson_append_document(dst, "u", 1, u.get());
    if (ok && upsert) ok = bson_append_bool(dst, "upsert", 6, true);
    if (ok && multi) ok = bson_append_bool(dst, "multi", 5, true);
    if (ok) ok = append_statement_options(dst, so);
    return ok ? error_code{} : statement_not_built(d);
}

/// One `deletes` statement: {q, limit, collation?, hint?}.
[[nodiscard]] error_code build_delete_statement(bson_t* dst, const bson::document& q, bool many,
                                                const statement_options& so, diagnostics& d) {
    const bool ok = bson_append_document(dst, "q", 1, q.get()) && bson_append_int32(dst, "limit", 5, many ? 0 : 1) &&
                    append_statement_options(dst, so);
    return ok ? error_code{} : statement_not_built(d);
}

[[nodiscard]] error_code encode_insert(const insert_one_model& ins, const std::optional<bson::object_id>& oid,
                                       bson_t* dst, diagnostics& d) {
    bool ok = true;
    if (oid) {
        bson_oid_t o = oid->to_bson();
        ok = bson_append_oid(dst, "_id", 3, &o);
    }
    if (ok) ok = bson_concat(dst, ins.document.get());
    if (ok) return {};
    d.message = "document cannot be appended";
    return make_error_code(errc::encode_error);
}

/// An update or replacement statement; the update document is checked against the kind.
template <class M>
[[nodiscard]] error_code encode_update(const M& m, bson_t* dst, diagnostics& d) {
    constexpr bool replacement = std::is_same_v<M, replace_one_model>;
    const std::vector<bson::document>* pipeline = nullptr;
    if constexpr (!replacement) {
        // With a pipeline the (empty) update document is not used, so not checked.
        if (!m.pipeline.empty()) pipeline = &m.pipeline;
    }
    const bson::document* u;
    if constexpr (replacement) u = &m.replacement;
    else u = &m.update;
    if (!pipeline && !replacement && !is_operator_update(*u)) {
        d.message = "update document must contain only $-operators (use replace_one for a replacement)";
        return make_error_code(errc::invalid_argument);
    }
    if (replacement && is_operator_update(*u)) {
        d.message = "replacement document must not contain $-operators";
        return make_error_code(errc::invalid_argument);
    }
    return build_update_statement(dst, m.filter, *u, pipeline, m.upsert, std::is_same_v<M, update_many_model>,
                                  options_of(m), d);
}

/// One item of a bulk_write group, as its command's sequence element.
[[nodiscard]] error_code encode_statement(const write_model& m, const std::optional<bson::object_id>& oid,
                                          bson_t* dst, diagnostics& d) {
    return std::visit(
        [&](const auto& x) -> error_code {
            using M = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<M, insert_one_model>) return encode_insert(x, oid, dst, d);
            else if constexpr (std::is_same_v<M, delete_one_model> || std::is_same_v<M, delete_many_model>)
                return build_delete_statement(dst, x.filter, std::is_same_v<M, delete_many_model>, options_of(x), d);
            else return encode_update(x, dst, d);
        },
        m);
}

write_kind kind_of(const write_model& m) {
    if (std::holds_alternative<insert_one_model>(m)) return write_kind::insert;
    if (std::holds_alternative<delete_one_model>(m) || std::holds_alternative<delete_many_model>(m))
        return write_kind::remove;
    return write_kind::update;
}

/// Which models go into which command, by index: ordered keeps runs of one kind in order
/// (the writes after a failure must not run); unordered makes one group per kind.
std::vector<std::pair<write_kind, std::vector<std::size_t>>> group_models(const std::vector<write_model>& models,
                                                                          bool ordered) {
    std::vector<std::pair<write_kind, std::vector<std::size_t>>> out;
    std::size_t slot[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (std::size_t i = 0; i < models.size(); ++i) {
        const auto k = kind_of(models[i]);
        if (ordered) {
            if (out.empty() || out.back().first != k) out.emplace_back(k, std::vector<std::size_t>{});
            out.back().second.push_back(i);
            continue;
        }
        auto& s = slot[static_cast<int>(k)];
        if (s == SIZE_MAX) {
            s = out.size();
            out.emplace_back(k, std::vector<std::size_t>{});
        }
        out[s].second.push_back(i);
    }
    return out;
}

/// Refuses, before anything is sent, a model whose statement options cannot be sent.
void check_models(const std::vector<write_model>& models) {
    for (std::size_t i = 0; i < models.size(); ++i) {
        std::visit(
            [&](const auto& x) {
                using M = std::decay_t<decltype(x)>;
                if constexpr (!std::is_same_v<M, insert_one_model>) {
                    bool pipeline = false;
                    if constexpr (requires { x.pipeline; }) pipeline = !x.pipeline.empty();
                    check_statement(fmt::format("bulk_write: write {}", i), options_of(x),
                                    std::is_same_v<M, replace_one_model>, pipeline);
                }
            },
            models[i]);
    }
}

}  // namespace

namespace {
/// Runs a command that answers with a cursor (find, aggregate, listIndexes,
/// listCollections) and wraps its first batch; `cursor_coll` is the collection getMore
/// and killCursors name.
asio::awaitable<cursor> open_cursor(const std::shared_ptr<detail::client_state>& st, const std::string& db,
                                    const std::string& cursor_coll, const std::function<void(struct _bson_t*)>& build,
                                    std::int32_t batch_size, std::int64_t limit) {
    auto ex = co_await asio::this_coro::executor;
    wire::cursor_reply cr;
    bson::document batch;
    error_code ec;
    diagnostics diag;
    co_await st->command(
        db, build,
        [&](const bson_t* r) {
            if (auto e = check_cursor(r, cr, diag)) {
                ec = e;
                return;
            }
            batch.assign(bson::document_view(cr.batch_data, cr.batch_len));
        },
        ec, diag);
    throw_on_error(ec, diag);
    co_return cursor(ex, st, db, cursor_coll, cr.id, std::move(batch), batch_size, limit);
}

}  // namespace

// ---------------------------------------------------------------------------- writes

asio::awaitable<insert_one_result> collection::insert_one(const bson::document& doc, const insert_options& opts) const {
    std::vector<bson::document> one;
    one.push_back(doc);
    insert_options o = opts;
    auto r = co_await insert_many(one, o);
    insert_one_result out;
    out.inserted_id = r.inserted_ids.at(0);
    co_return out;
}

asio::awaitable<bulk_write_result> collection::insert_many(const std::vector<bson::document>& docs,
                                                           const insert_options& opts) const {
    // One insert group straight over the caller's documents (no write models, no copies).
    if (docs.empty()) throw error(errc::invalid_argument, "insert_many needs at least one document");
    std::vector<std::optional<bson::object_id>> generated(docs.size());
    for (std::size_t i = 0; i < docs.size(); ++i)
        if (!has_id(docs[i])) generated[i] = bson::object_id::generate();
    std::vector<write_group> groups(1);
    auto& g = groups.front();
    g.db = db_;
    g.collection = name_;
    g.kind = write_kind::insert;
    g.ordered = opts.ordered;
    g.bypass_document_validation = opts.bypass_document_validation;
    g.wc = effective_wc(opts.wc, *st_);
    g.count = docs.size();
    g.encode_raw = [&docs, &generated](std::size_t i, wire::frame_buffer& out, diagnostics&) -> error_code {
        append_insert_raw(out, docs[i], generated[i]);
        return {};
    };
    error_code ec;
    diagnostics diag;
    {
        auto conn = co_await st_->pool->async_acquire(ec, diag);
        throw_on_error(ec, diag);
        co_await run_write_pipeline(*conn, groups, st_->op_timeout, ec, diag);
    }
    const std::vector<std::vector<std::size_t>> identity(1);
    auto r = summarize(groups, identity);
    for (std::size_t i = 0; i < g.count; ++i)
        if (g.outcomes[i].st == item_outcome::state::ok) r.inserted_ids.emplace(i, inserted_id_of(docs[i], generated[i]));
    if (ec || !r.ok()) throw_bulk(std::move(r), ec, diag);
    co_return r;
}

asio::awaitable<bulk_write_result> collection::bulk_write(const std::vector<write_model>& models,
                                                          const bulk_write_options& opts) const {
    if (models.empty()) throw error(errc::invalid_argument, "bulk_write needs at least one write");
    check_models(models);
    const write_concern* wc = effective_wc(opts.wc, *st_);
    // Insert ids are generated client-side so that retries cannot duplicate documents.
    std::vector<std::optional<bson::object_id>> generated(models.size());
    for (std::size_t i = 0; i < models.size(); ++i)
        if (auto* ins = std::get_if<insert_one_model>(&models[i]); ins && !has_id(ins->document))
            generated[i] = bson::object_id::generate();

    std::vector<write_group> groups;
    std::vector<std::vector<std::size_t>> index_of;
    for (auto& [kind, idx] : group_models(models, opts.ordered)) {
        write_group& g = groups.emplace_back();
        g.db = db_;
        g.collection = name_;
        g.kind = kind;
        g.ordered = opts.ordered;
        g.bypass_document_validation = opts.bypass_document_validation;
        g.wc = wc;
        index_of.push_back(std::move(idx));
    }
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        auto& g = groups[gi];
        const auto& idx = index_of[gi];
        g.count = idx.size();
        if (g.kind == write_kind::insert) {
            // Inserts are copied byte for byte into the frame; a generated _id goes first.
            g.encode_raw = [&models, &generated, &idx](std::size_t i, wire::frame_buffer& out,
                                                       diagnostics&) -> error_code {
                append_insert_raw(out, std::get<insert_one_model>(models[idx[i]]).document, generated[idx[i]]);
                return {};
            };
        }
        g.encode = [&models, &generated, &idx](std::size_t i, bson_t* dst, diagnostics& d) -> error_code {
            return encode_statement(models[idx[i]], generated[idx[i]], dst, d);
        };
    }
    error_code ec;
    diagnostics diag;
    {
        auto conn = co_await st_->pool->async_acquire(ec, diag);
        throw_on_error(ec, diag);
        co_await run_write_pipeline(*conn, groups, st_->op_timeout, ec, diag);
    }
    auto r = summarize(groups, index_of);
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        if (groups[gi].kind != write_kind::insert) continue;
        for (std::size_t i = 0; i < groups[gi].count; ++i) {
            if (groups[gi].outcomes[i].st != item_outcome::state::ok) continue;
            const std::size_t idx = index_of[gi][i];
            r.inserted_ids.emplace(idx, inserted_id_of(std::get<insert_one_model>(models[idx]).document, generated[idx]));
        }
    }
    if (ec || !r.ok()) throw_bulk(std::move(r), ec, diag);
    co_return r;
}

asio::awaitable<bulk_write_result> collection::single_write(const std::vector<write_model>& models,
                                                             const std::optional<write_concern>& wc) const {
    bulk_write_options bo;
    bo.wc = wc;
    try {
        co_return co_await bulk_write(models, bo);
    } catch (const bulk_write_exception& e) {
        // One write: report its error as a plain server error, not as a bulk result.
        if (e.result().errors.empty()) throw;
        const auto& we = e.result().errors.front();
        diagnostics d;
        d.server_code = we.code;
        d.code_name = we.code_name;
        d.message = we.message;
        throw error(make_error_code(we.kind), d);
    }
}

namespace {
update_result to_update_result(const bulk_write_result& r) {
    update_result out;
    out.matched_count = r.matched_count;
    out.modified_count = r.modified_count;
    if (!r.upserted_ids.empty()) out.upserted_id = r.upserted_ids.begin()->second;
    return out;
}
}  // namespace

namespace {
/// A model of kind M on `filter`, with the statement options of `o` (update_options /
/// delete_options); the caller sets the rest.
template <class M, class O>
M model_with(const bson::document& filter, const O& o) {
    M m;
    m.filter = filter;
    m.collation = o.collation;
    m.hint = o.hint;
    m.hint_name = o.hint_name;
    if constexpr (requires { m.array_filters; }) m.array_filters = o.array_filters;
    if constexpr (requires { m.upsert; }) m.upsert = o.upsert;
    return m;
}

template <class M>
M update_model(const bson::document& filter, const bson::document* update,
               const std::vector<bson::document>* pipeline, const update_options& o) {
    M m = model_with<M>(filter, o);
    if (update) m.update = *update;
    if (pipeline) m.pipeline = *pipeline;
    return m;
}
}  // namespace

asio::awaitable<update_result> collection::update_impl(const bson::document& filter, const bson::document* update,
                                                       const std::vector<bson::document>* pipeline, bool multi,
                                                       const update_options& opts) const {
    check_statement(multi ? "update_many" : "update_one", options_of(opts), false, pipeline && !pipeline->empty());
    std::vector<write_model> models;
    if (multi) models.emplace_back(update_model<update_many_model>(filter, update, pipeline, opts));
    else models.emplace_back(update_model<update_one_model>(filter, update, pipeline, opts));
    co_return to_update_result(co_await single_write(models, opts.wc));
}

asio::awaitable<update_result> collection::update_one(const bson::document& filter, const bson::document& update,
                                                      const update_options& opts) const {
    co_return co_await update_impl(filter, &update, nullptr, false, opts);
}
asio::awaitable<update_result> collection::update_one(const bson::document& filter,
                                                      const std::vector<bson::document>& pipeline,
                                                      const update_options& opts) const {
    co_return co_await update_impl(filter, nullptr, &pipeline, false, opts);
}
asio::awaitable<update_result> collection::update_many(const bson::document& filter, const bson::document& update,
                                                       const update_options& opts) const {
    co_return co_await update_impl(filter, &update, nullptr, true, opts);
}

asio::awaitable<update_result> collection::replace_one(const bson::document& filter, const bson::document& replacement,
                                                       const update_options& opts) const {
    check_statement("replace_one", options_of(opts), true, false);
    std::vector<write_model> models;
    auto m = model_with<replace_one_model>(filter, opts);
    m.replacement = replacement;
    models.emplace_back(std::move(m));
    co_return to_update_result(co_await single_write(models, opts.wc));
}

asio::awaitable<delete_result> collection::delete_one(const bson::document& filter, const delete_options& opts) const {
    check_statement("delete_one", options_of(opts), false, false);
    std::vector<write_model> models;
    models.emplace_back(model_with<delete_one_model>(filter, opts));
    auto r = co_await single_write(models, opts.wc);
    co_return delete_result{r.deleted_count};
}

asio::awaitable<delete_result> collection::delete_many(const bson::document& filter, const delete_options& opts) const {
    check_statement("delete_many", options_of(opts), false, false);
    std::vector<write_model> models;
    models.emplace_back(model_with<delete_many_model>(filter, opts));
    auto r = co_await single_write(models, opts.wc);
    co_return delete_result{r.deleted_count};
}

// ----------------------------------------------------------------------------- reads

namespace {
/// Refuses find options that would otherwise be dropped or half-sent.
void check_find(const find_options& o) {
    auto bad = [](std::string_view why) {
        throw error(errc::invalid_argument, fmt::format("find: {}; nothing was sent", why));
    };
    if (!o.hint.empty() && !o.hint_name.empty()) bad("hint and hint_name are both set; set one of them");
    if (o.skip < 0) bad("skip is negative");
    if (o.limit < 0) bad("limit is negative");
    if (o.batch_size < 0) bad("batch_size is negative");
    // The server reads tags and maxStalenessSeconds only with a non-primary mode, and a
    // primary read preference is never sent.
    if (o.read_pref && o.read_pref->is_primary() && (!o.read_pref->tags.empty() || o.read_pref->max_staleness_seconds))
        bad("read_pref sets tags or max_staleness_seconds with mode primary");
}
}  // namespace

asio::awaitable<cursor> collection::find(const bson::document& filter, const find_options& opts) const {
    check_find(opts);
    co_return co_await open_cursor(
        st_, db_, name_,
        [&](bson_t* b) {
            append_str(b, "find", name_);
            append_doc(b, "filter", filter);
            if (!opts.sort.empty()) append_doc(b, "sort", opts.sort);
            if (!opts.projection.empty()) append_doc(b, "projection", opts.projection);
            if (!opts.hint.empty()) append_doc(b, "hint", opts.hint);
            else if (!opts.hint_name.empty()) append_str(b, "hint", opts.hint_name);
            if (!opts.collation.empty()) append_doc(b, "collation", opts.collation);
            if (opts.skip > 0) bson_append_int64(b, "skip", 4, opts.skip);
            if (opts.limit > 0) bson_append_int64(b, "limit", 5, opts.limit);
            if (opts.batch_size > 0) {
                std::int64_t first = opts.batch_size;
                if (opts.limit > 0) first = std::min(first, opts.limit);
                bson_append_int32(b, "batchSize", 9, static_cast<std::int32_t>(first));
            }
            if (opts.single_batch) bson_append_bool(b, "singleBatch", 11, true);
            if (opts.max_time) bson_append_int64(b, "maxTimeMS", 9, opts.max_time->count());
            if (opts.read_pref) opts.read_pref->append_to(b);
            else st_->default_rp.append_to(b);
        },
        opts.batch_size, opts.limit);
}

asio::awaitable<std::optional<bson::document>> collection::find_one(const bson::document& filter,
                                                                    find_options opts) const {
    opts.limit = 1;
    opts.single_batch = true;
    auto c = co_await find(filter, opts);
    auto d = co_await c.next();
    if (!d) co_return std::nullopt;
    bson::document out;
    out.assign(*d);
    co_return out;
}

asio::awaitable<cursor> collection::aggregate(const std::vector<bson::document>& pipeline,
                                              const aggregate_options& opts) const {
    if (opts.batch_size < 0) throw error(errc::invalid_argument, "aggregate: batch_size is negative; nothing was sent");
    co_return co_await open_cursor(
        st_, db_, name_,
        [&](bson_t* b) {
            append_str(b, "aggregate", name_);
            append_array_of(b, "pipeline", pipeline);
            bson_t c;
            bson_append_document_begin(b, "cursor", 6, &c);
            if (opts.batch_size > 0) bson_append_int32(&c, "batchSize", 9, opts.batch_size);
            bson_append_document_end(b, &c);
            if (opts.allow_disk_use) bson_append_bool(b, "allowDiskUse", -1, true);
            if (!opts.collation.empty()) append_doc(b, "collation", opts.collation);
            if (!opts.hint.empty()) append_doc(b, "hint", opts.hint);
            if (opts.max_time) bson_append_int64(b, "maxTimeMS", 9, opts.max_time->count());
        },
        opts.batch_size, 0);
}

asio::awaitable<std::int64_t> collection::count_documents(const bson::document& filter,
                                                          const count_options& opts) const {
    // The spec: an aggregation ($match, $skip, $limit, $group/$sum), not the count command.
    if (opts.skip < 0 || opts.limit < 0)
        throw error(errc::invalid_argument,
                    fmt::format("count_documents: {} is negative; nothing was sent", opts.skip < 0 ? "skip" : "limit"));
    std::vector<bson::document> pipeline;
    {
        bson::document m;
        append_doc(m.get(), "$match", filter);
        pipeline.push_back(std::move(m));
    }
    if (opts.skip > 0) {
        bson::document s;
        bson_append_int64(s.get(), "$skip", -1, opts.skip);
        pipeline.push_back(std::move(s));
    }
    if (opts.limit > 0) {
        bson::document l;
        bson_append_int64(l.get(), "$limit", -1, opts.limit);
        pipeline.push_back(std::move(l));
    }
    pipeline.push_back(bson::document::from_json(R"({"$group": {"_id": 1, "n": {"$sum": 1}}})"));
    aggregate_options ao;
    ao.collation = opts.collation;
    ao.hint = opts.hint;
    auto c = co_await aggregate(pipeline, ao);
    auto d = co_await c.next();
    if (!d) co_return 0;
    auto it = d->find("n");
    co_return it ? bson_iter_as_int64(&*it) : 0;
}

asio::awaitable<std::int64_t> collection::estimated_document_count() const {
    std::int64_t n = 0;
    error_code ec;
    diagnostics diag;
    co_await st_->command(
        db_, [&](bson_t* b) { append_str(b, "count", name_); },
        [&](const bson_t* r) { ec = wire::commands::count::parse(r, n, diag); }, ec, diag);
    throw_on_error(ec, diag);
    co_return n;
}

asio::awaitable<std::vector<bson::value>> collection::distinct(std::string_view key, const bson::document& filter) const {
    std::vector<bson::value> out;
    error_code ec;
    diagnostics diag;
    co_await st_->command(
        db_,
        [&](bson_t* b) {
            append_str(b, "distinct", name_);
            append_str(b, "key", key);
            append_doc(b, "query", filter);
        },
        [&](const bson_t* r) { ec = wire::commands::distinct::parse(r, out, diag); }, ec, diag);
    throw_on_error(ec, diag);
    co_return out;
}

asio::awaitable<std::optional<bson::document>> collection::find_and_modify(const bson::document& filter,
                                                                           const bson::document* update, bool remove,
                                                                           const find_one_and_modify_options& opts) const {
    std::optional<bson::document> out;
    co_await st_->command(
        db_,
        [&](bson_t* b) {
            append_str(b, "findAndModify", name_);
            append_doc(b, "query", filter);
            if (!opts.sort.empty()) append_doc(b, "sort", opts.sort);
            if (!opts.projection.empty()) append_doc(b, "fields", opts.projection);
            if (remove) {
                bson_append_bool(b, "remove", 6, true);
            } else {
                append_doc(b, "update", *update);
                if (opts.returned == return_document::after) bson_append_bool(b, "new", 3, true);
                if (opts.upsert) bson_append_bool(b, "upsert", 6, true);
                if (!opts.array_filters.empty()) append_array_of(b, "arrayFilters", opts.array_filters);
            }
            if (auto* wc = effective_wc(opts.wc, *st_)) wc->append_to(b);
        },
        [&](const bson_t* r) {
            bson_iter_t it;
            if (bson_iter_init_find(&it, r, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
                std::uint32_t len;
                const std::uint8_t* data;
                bson_iter_document(&it, &len, &data);
                bson::document d;
                d.assign(bson::document_view(data, len));
                out = std::move(d);
            }
        });
    co_return out;
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_update(
    const bson::document& filter, const bson::document& update, const find_one_and_modify_options& opts) const {
    if (!is_operator_update(update)) throw error(errc::invalid_argument, "find_one_and_update needs $-operators");
    co_return co_await find_and_modify(filter, &update, false, opts);
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_replace(
    const bson::document& filter, const bson::document& replacement, const find_one_and_modify_options& opts) const {
    if (is_operator_update(replacement))
        throw error(errc::invalid_argument, "find_one_and_replace: the replacement must not contain $-operators");
    if (!opts.array_filters.empty())
        throw error(errc::invalid_argument, "find_one_and_replace: array_filters does not apply to a replacement");
    co_return co_await find_and_modify(filter, &replacement, false, opts);
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_delete(
    const bson::document& filter, const find_one_and_modify_options& opts) const {
    // findAndModify with remove takes none of these; refused rather than dropped.
    const char* unused = opts.upsert                               ? "upsert"
                         : opts.returned == return_document::after ? "returned = after"
                         : !opts.array_filters.empty()            ? "array_filters"
                                                                   : nullptr;
    if (unused)
        throw error(errc::invalid_argument,
                    fmt::format("find_one_and_delete: {} does not apply to a delete; nothing was sent", unused));
    co_return co_await find_and_modify(filter, nullptr, true, opts);
}

// --------------------------------------------------------------------------- indexes

std::string index_name_for(const bson::document& keys) {
    std::string name;
    bson_iter_t it;
    bson_iter_init(&it, keys.get());
    while (bson_iter_next(&it)) {
        if (!name.empty()) name += '_';
        name += bson_iter_key(&it);
        name += '_';
        if (BSON_ITER_HOLDS_UTF8(&it)) name += bson_iter_utf8(&it, nullptr);
        else name += std::to_string(bson_iter_as_int64(&it));
    }
    return name;
}

asio::awaitable<std::vector<std::string>> collection::create_indexes(const std::vector<index_model>& models) const {
    std::vector<std::string> names;
    for (auto& m : models) names.push_back(m.options.name.empty() ? index_name_for(m.keys) : m.options.name);
    co_await st_->command(db_, [&](bson_t* b) {
        append_str(b, "createIndexes", name_);
        bson_t arr;
        bson_append_array_begin(b, "indexes", -1, &arr);
        char buf[16];
        for (std::size_t i = 0; i < models.size(); ++i) {
            const char* k;
            bson_uint32_to_string(static_cast<std::uint32_t>(i), &k, buf, sizeof buf);
            bson_t ix;
            bson_append_document_begin(&arr, k, -1, &ix);
            append_doc(&ix, "key", models[i].keys);
            append_str(&ix, "name", names[i]);
            const auto& o = models[i].options;
            if (o.unique) bson_append_bool(&ix, "unique", -1, true);
            if (o.sparse) bson_append_bool(&ix, "sparse", -1, true);
            if (o.expire_after) bson_append_int64(&ix, "expireAfterSeconds", -1, o.expire_after->count());
            if (!o.partial_filter.empty()) append_doc(&ix, "partialFilterExpression", o.partial_filter);
            if (!o.collation.empty()) append_doc(&ix, "collation", o.collation);
            bson_append_document_end(&arr, &ix);
        }
        bson_append_array_end(b, &arr);
    });
    co_return names;
}

asio::awaitable<std::string> collection::create_index(const bson::document& keys, const index_options& opts) const {
    std::vector<index_model> m{index_model{keys, opts}};
    auto names = co_await create_indexes(m);
    co_return names.front();
}

asio::awaitable<std::vector<bson::document>> collection::list_indexes() const {
    auto c = co_await open_cursor(
        st_, db_, name_, [&](bson_t* b) { append_str(b, "listIndexes", name_); }, 0, 0);
    co_return co_await c.to_vector();
}

asio::awaitable<void> collection::drop_index(std::string_view name) const {
    co_await st_->command(db_, [&](bson_t* b) {
        append_str(b, "dropIndexes", name_);
        append_str(b, "index", name);
    });
}

asio::awaitable<void> collection::drop_indexes() const {
    co_await st_->command(db_, [&](bson_t* b) {
        append_str(b, "dropIndexes", name_);
        append_str(b, "index", "*");
    });
}

asio::awaitable<void> collection::drop() const {
    error_code ec;
    diagnostics diag;
    co_await st_->command(db_, [&](bson_t* b) { append_str(b, "drop", name_); }, nullptr, ec, diag);
    if (ec && diag.server_code != 26 /* NamespaceNotFound */) throw error(ec, diag);
}

// -------------------------------------------------------------------------- database

asio::awaitable<bson::document> database::run_command(const bson::document& cmd) const {
    bson::document out;
    co_await st_->command(
        name_,
        [&](bson_t* b) {
            if (!bson_concat(b, cmd.get())) refuse("(command)", "the command cannot be appended");
        },
        [&](const bson_t* r) { out.assign(bson::document_view(bson_get_data(r), r->len)); });
    co_return out;
}

asio::awaitable<std::vector<std::string>> database::list_collection_names(const bson::document& filter) const {
    auto c = co_await open_cursor(
        st_, name_, "$cmd.listCollections",
        [&](bson_t* b) {
            bson_append_int32(b, "listCollections", -1, 1);
            if (!filter.empty()) append_doc(b, "filter", filter);
            bson_append_bool(b, "nameOnly", -1, true);
        },
        0, 0);
    std::vector<std::string> names;
    while (auto d = co_await c.next()) {
        if (auto it = d->find("name"); it && BSON_ITER_HOLDS_UTF8(&*it)) names.emplace_back(bson_iter_utf8(&*it, nullptr));
    }
    co_return names;
}

asio::awaitable<morm::collection> database::create_collection(std::string_view name,
                                                              const create_collection_options& opts) const {
    if (!opts.capped && (opts.size > 0 || opts.max > 0))
        throw error(errc::invalid_argument, "create_collection: size and max need capped = true; nothing was sent");
    co_await st_->command(name_, [&](bson_t* b) {
        append_str(b, "create", name);
        if (!opts.validator.empty()) append_doc(b, "validator", opts.validator);
        if (!opts.validation_level.empty()) append_str(b, "validationLevel", opts.validation_level);
        if (!opts.validation_action.empty()) append_str(b, "validationAction", opts.validation_action);
        if (opts.capped) {
            bson_append_bool(b, "capped", -1, true);
            if (opts.size > 0) bson_append_int64(b, "size", -1, opts.size);
            if (opts.max > 0) bson_append_int64(b, "max", -1, opts.max);
        }
    });
    co_return collection(name);
}

asio::awaitable<void> database::drop() const {
    co_await st_->command(name_, [](bson_t* b) { bson_append_int32(b, "dropDatabase", -1, 1); });
}

}  // namespace morm
