#include <morm/orm/update_diff.hpp>

#include <cstring>
#include <string>
#include <string_view>

namespace morm {

namespace {

/// The bytes of an element's value (after its type byte and key).
std::string_view value_bytes(const bson_iter_t& it) {
    return {reinterpret_cast<const char*>(it.raw + it.d1), static_cast<std::size_t>(it.next_off - it.d1)};
}

bool same_value(const bson_iter_t& a, const bson_iter_t& b) {
    return bson_iter_type(&a) == bson_iter_type(&b) && value_bytes(a) == value_bytes(b);
}

struct diff_state {
    bson_t set, unset;
    bool set_open = false, unset_open = false;
    bson_t* update;
    std::size_t changes = 0;
    std::string path;

    bson_t* set_doc() {
        if (!set_open) {
            bson_append_document_begin(update, "$set", 4, &set);
            set_open = true;
        }
        return &set;
    }
    // $unset is built apart and appended at the end: libbson allows one open child per
    // document, and $set may still be open when the first removed field is found.
    bson_t* unset_doc() {
        if (!unset_open) {
            bson_init(&unset);
            unset_open = true;
        }
        return &unset;
    }
    void finish() {
        if (set_open) bson_append_document_end(update, &set);
        if (unset_open) {
            bson_append_document(update, "$unset", 6, &unset);
            bson_destroy(&unset);
        }
    }
};

void diff(const bson_iter_t* old_parent, const bson_iter_t* cur_parent, const bson_t* old_doc, const bson_t* cur_doc,
          diff_state& st) {
    bson_iter_t oi, ci;
    if (old_parent) bson_iter_recurse(old_parent, &oi);
    else bson_iter_init(&oi, old_doc);
    if (cur_parent) bson_iter_recurse(cur_parent, &ci);
    else bson_iter_init(&ci, cur_doc);
    const std::size_t base = st.path.size();

    // Fast path: the codec writes fields in declaration order, so old and new usually
    // line up element by element.
    bson_iter_t o_walk = oi;
    bool o_valid = bson_iter_next(&o_walk);
    std::size_t matched = 0;
    while (bson_iter_next(&ci)) {
        std::string_view key(bson_iter_key(&ci), bson_iter_key_len(&ci));
        bson_iter_t match;
        bool found = false;
        if (o_valid && key == std::string_view(bson_iter_key(&o_walk), bson_iter_key_len(&o_walk))) {
            match = o_walk;
            found = true;
            o_valid = bson_iter_next(&o_walk);
        } else {
            bson_iter_t probe = oi;
            while (bson_iter_next(&probe)) {
                if (key == std::string_view(bson_iter_key(&probe), bson_iter_key_len(&probe))) {
                    match = probe;
                    found = true;
                    break;
                }
            }
        }
        matched += found;
        if (found && same_value(match, ci)) continue;
        st.path.resize(base);
        if (base) st.path.push_back('.');
        st.path.append(key);
        if (found && BSON_ITER_HOLDS_DOCUMENT(&match) && BSON_ITER_HOLDS_DOCUMENT(&ci)) {
            diff(&match, &ci, nullptr, nullptr, st);
        } else {
            // The element's own bytes: bson_append_value would cut code strings at a NUL.
            bson_append_iter(st.set_doc(), st.path.data(), static_cast<int>(st.path.size()), &ci);
            ++st.changes;
        }
    }
    // Fields that disappeared (none if every old field was matched).
    std::size_t old_count = 0;
    for (bson_iter_t c = oi; bson_iter_next(&c);) ++old_count;
    if (matched == old_count) {
        st.path.resize(base);
        return;
    }
    bson_iter_t o2 = oi;
    while (bson_iter_next(&o2)) {
        std::string_view key(bson_iter_key(&o2), bson_iter_key_len(&o2));
        bson_iter_t probe;
        if (cur_parent) bson_iter_recurse(cur_parent, &probe);
        else bson_iter_init(&probe, cur_doc);
        bool present = false;
        while (bson_iter_next(&probe))
            if (key == std::string_view(bson_iter_key(&probe), bson_iter_key_len(&probe))) {
                present = true;
                break;
            }
        if (present) continue;
        st.path.resize(base);
        if (base) st.path.push_back('.');
        st.path.append(key);
        bson_append_utf8(st.unset_doc(), st.path.data(), static_cast<int>(st.path.size()), "", 0);
        ++st.changes;
    }
    st.path.resize(base);
}

}  // namespace

std::size_t build_update_diff(const bson_t* old, const bson_t* cur, bson_t* update) {
    if (old->len == cur->len && std::memcmp(bson_get_data(old), bson_get_data(cur), old->len) == 0) return 0;
    diff_state st;
    st.update = update;
    diff(nullptr, nullptr, old, cur, st);
    st.finish();
    return st.changes;
}

}  // namespace morm
