/* ODM suite, libmongoc peer: the best a C programmer gets. Hand-written mapping between C
 * structs and bson_t (bson_append_* / bson_iter), the bulk API for creates and for updates
 * (update_one {$set: {field}} per document, one bulk), find with a filter and limit 1.
 * Same tasks, counts and data as odm_bench.cpp; prints the same JSON lines (impl "libmongoc").
 * Usage: mongoc_bench --uri URI [--smoke] [--scale F] [--data DIR]   (one iteration a run)
 * Also: mongoc_bench --import FILE.ldjson --uri URI   (JSON-lines import: bulk insert) */
#include <mongoc/mongoc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int g_smoke = 0;
static double g_scale = 1.0;

static int count(int spec, int smoke) {
    if (g_smoke) return spec < smoke ? spec : smoke;
    int n = (int)(spec * g_scale);
    return n < 1 ? 1 : n;
}

static void report(const char* suite, const char* task, double mb, double secs, int n, int spec, const char* extra) {
    char note[256] = "";
    if (!g_smoke && n != spec) snprintf(note, sizeof note, "scaled: %d ops (spec %d)", n, spec);
    if (extra && *extra) {
        size_t l = strlen(note);
        snprintf(note + l, sizeof note - l, "%s%s", l ? "; " : "", extra);
    }
    double rate = secs > 0 ? mb / secs : 0;
    printf("{\"suite\":\"%s\",\"task\":\"%s\",\"impl\":\"libmongoc\",\"unit\":\"MB/s\",\"median\":%.6g,\"min\":%.6g,"
           "\"max\":%.6g,\"n\":1,\"note\":\"%s\"}\n",
           suite, task, rate, rate, rate, note);
    fflush(stdout);
    fprintf(stderr, "  %-8s %-34s %-12s %10.2f MB/s\n", suite, task, "libmongoc", rate);
}

static void die(const char* what, const bson_error_t* e) {
    fprintf(stderr, "mongoc_bench: %s: %s\n", what, e ? e->message : "");
    exit(1);
}

/* "generated" or "official": the data generator leaves generated.txt in its directory */
static const char* data_set(const char* dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/generated.txt", dir);
    return access(path, F_OK) == 0 ? "generated" : "official";
}

static bson_t* load_json(const char* dir, const char* rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE* f = fopen(path, "rb");
    if (!f) die(path, NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* buf = malloc((size_t)n);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) die(path, NULL);
    fclose(f);
    bson_error_t err;
    bson_t* b = bson_new_from_json((const uint8_t*)buf, n, &err);
    if (!b) die(path, &err);
    free(buf);
    return b;
}

static char* dup_utf8(const bson_iter_t* it) {
    uint32_t len;
    const char* s = bson_iter_utf8(it, &len);
    char* d = malloc(len + 1);
    memcpy(d, s, len + 1);
    return d;
}

static void set_str(char** dst, const char* s) {
    free(*dst);
    *dst = strdup(s);
}

/* ---- small: 7 strings + 6 int32 ---- */
typedef struct {
    bson_oid_t id;
    char* s[7];    /* field1..field7 */
    int32_t i[6];  /* field8..field13 */
} small_doc;

static const char* key_of(int n, char* buf) { /* "fieldN" */
    sprintf(buf, "field%d", n);
    return buf;
}

static void small_to_bson(const small_doc* d, bson_t* b) {
    char k[16];
    BSON_APPEND_OID(b, "_id", &d->id);
    for (int j = 0; j < 7; ++j) bson_append_utf8(b, key_of(j + 1, k), -1, d->s[j], -1);
    for (int j = 0; j < 6; ++j) bson_append_int32(b, key_of(j + 8, k), -1, d->i[j]);
}

static void small_from_bson(small_doc* d, const bson_t* b) {
    bson_iter_t it;
    bson_iter_init(&it, b);
    memset(d, 0, sizeof *d);
    while (bson_iter_next(&it)) {
        const char* key = bson_iter_key(&it);
        if (strcmp(key, "_id") == 0) { bson_oid_copy(bson_iter_oid(&it), &d->id); continue; }
        int n = atoi(key + 5);
        if (n >= 1 && n <= 7) d->s[n - 1] = dup_utf8(&it);
        else if (n >= 8 && n <= 13) d->i[n - 8] = bson_iter_int32(&it);
    }
}

static void small_free(small_doc* d) {
    for (int j = 0; j < 7; ++j) free(d->s[j]);
}

/* ---- large: 125 strings + 125 int32 + binary ---- */
typedef struct {
    bson_oid_t id;
    char* s[125];
    int32_t i[125];
    uint8_t* img;
    uint32_t img_len;
    bson_subtype_t img_subtype;
} large_doc;

static void large_to_bson(const large_doc* d, bson_t* b) {
    char k[16];
    BSON_APPEND_OID(b, "_id", &d->id);
    for (int j = 0; j < 125; ++j) bson_append_utf8(b, key_of(j + 1, k), -1, d->s[j], -1);
    for (int j = 0; j < 125; ++j) bson_append_int32(b, key_of(j + 126, k), -1, d->i[j]);
    bson_append_binary(b, "image_field", -1, d->img_subtype, d->img, d->img_len);
}

static void large_from_bson(large_doc* d, const bson_t* b) {
    bson_iter_t it;
    bson_iter_init(&it, b);
    memset(d, 0, sizeof *d);
    while (bson_iter_next(&it)) {
        const char* key = bson_iter_key(&it);
        if (strcmp(key, "_id") == 0) { bson_oid_copy(bson_iter_oid(&it), &d->id); continue; }
        if (strcmp(key, "image_field") == 0) {
            const uint8_t* data;
            bson_iter_binary(&it, &d->img_subtype, &d->img_len, &data);
            d->img = malloc(d->img_len);
            memcpy(d->img, data, d->img_len);
            continue;
        }
        int n = atoi(key + 5);
        if (n >= 1 && n <= 125) d->s[n - 1] = dup_utf8(&it);
        else if (n >= 126 && n <= 250) d->i[n - 126] = bson_iter_int32(&it);
    }
}

static void large_free(large_doc* d) {
    for (int j = 0; j < 125; ++j) free(d->s[j]);
    free(d->img);
}

/* ---- nested ---- */
typedef struct { char* f[15]; } emb_str;
typedef struct { int32_t f[15]; } emb_int;
typedef struct {
    bson_oid_t id;
    emb_str s[5];  /* embedded_str_doc_1..5 */
    emb_str* arr;  /* embedded_str_doc_array */
    size_t arr_n;
    emb_int i[7];  /* embedded_int_doc_8..14 */
} nested_doc;

static void emb_str_to_bson(const emb_str* e, bson_t* b) {
    char k[16];
    for (int j = 0; j < 15; ++j) bson_append_utf8(b, key_of(j + 1, k), -1, e->f[j], -1);
}

static void nested_to_bson(const nested_doc* d, bson_t* b) {
    char k[32];
    bson_t child, grand;
    BSON_APPEND_OID(b, "_id", &d->id);
    for (int j = 0; j < 5; ++j) {
        sprintf(k, "embedded_str_doc_%d", j + 1);
        bson_append_document_begin(b, k, -1, &child);
        emb_str_to_bson(&d->s[j], &child);
        bson_append_document_end(b, &child);
    }
    bson_append_array_begin(b, "embedded_str_doc_array", -1, &child);
    for (size_t j = 0; j < d->arr_n; ++j) {
        const char* ik;
        char ibuf[16];
        bson_uint32_to_string((uint32_t)j, &ik, ibuf, sizeof ibuf);
        bson_append_document_begin(&child, ik, -1, &grand);
        emb_str_to_bson(&d->arr[j], &grand);
        bson_append_document_end(&child, &grand);
    }
    bson_append_array_end(b, &child);
    for (int j = 0; j < 7; ++j) {
        sprintf(k, "embedded_int_doc_%d", j + 8);
        bson_append_document_begin(b, k, -1, &child);
        for (int m = 0; m < 15; ++m) bson_append_int32(&child, key_of(m + 1, k), -1, d->i[j].f[m]);
        bson_append_document_end(b, &child);
    }
}

static void emb_str_from_iter(emb_str* e, bson_iter_t* it) {
    bson_iter_t c;
    bson_iter_recurse(it, &c);
    while (bson_iter_next(&c)) {
        int n = atoi(bson_iter_key(&c) + 5);
        if (n >= 1 && n <= 15) e->f[n - 1] = dup_utf8(&c);
    }
}

static void nested_from_bson(nested_doc* d, const bson_t* b) {
    bson_iter_t it;
    bson_iter_init(&it, b);
    memset(d, 0, sizeof *d);
    while (bson_iter_next(&it)) {
        const char* key = bson_iter_key(&it);
        if (strcmp(key, "_id") == 0) { bson_oid_copy(bson_iter_oid(&it), &d->id); continue; }
        if (strncmp(key, "embedded_str_doc_array", 22) == 0) {
            bson_iter_t c;
            bson_iter_recurse(&it, &c);
            size_t cap = 4;
            d->arr = calloc(cap, sizeof(emb_str));
            while (bson_iter_next(&c)) {
                if (d->arr_n == cap) {
                    d->arr = realloc(d->arr, 2 * cap * sizeof(emb_str));
                    memset(d->arr + cap, 0, cap * sizeof(emb_str));
                    cap *= 2;
                }
                emb_str_from_iter(&d->arr[d->arr_n++], &c);
            }
        } else if (strncmp(key, "embedded_str_doc_", 17) == 0) {
            int n = atoi(key + 17);
            if (n >= 1 && n <= 5) emb_str_from_iter(&d->s[n - 1], &it);
        } else if (strncmp(key, "embedded_int_doc_", 17) == 0) {
            int n = atoi(key + 17);
            if (n < 8 || n > 14) continue;
            bson_iter_t c;
            bson_iter_recurse(&it, &c);
            while (bson_iter_next(&c)) {
                int m = atoi(bson_iter_key(&c) + 5);
                if (m >= 1 && m <= 15) d->i[n - 8].f[m - 1] = bson_iter_int32(&c);
            }
        }
    }
}

static void nested_free(nested_doc* d) {
    for (int j = 0; j < 5; ++j)
        for (int m = 0; m < 15; ++m) free(d->s[j].f[m]);
    for (size_t j = 0; j < d->arr_n; ++j)
        for (int m = 0; m < 15; ++m) free(d->arr[j].f[m]);
    free(d->arr);
}

/* ---- generic task helpers ---- */
typedef void (*to_bson_fn)(const void*, bson_t*);

static void bulk_insert(mongoc_collection_t* coll, const void* docs, size_t stride, int n, to_bson_fn fn) {
    bson_error_t err;
    mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
    for (int j = 0; j < n; ++j) {
        bson_t b;
        bson_init(&b);
        fn((const char*)docs + stride * (size_t)j, &b);
        if (!mongoc_bulk_operation_insert_with_opts(bulk, &b, NULL, &err)) die("bulk insert", &err);
        bson_destroy(&b);
    }
    bson_t reply;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) die("bulk execute", &err);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
}

/* Loads every document of the collection into `out` (array of n structs). */
static int load_all(mongoc_collection_t* coll, void* out, size_t stride, int n, void (*from)(void*, const bson_t*)) {
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t* c = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t* doc;
    int k = 0;
    while (k < n && mongoc_cursor_next(c, &doc)) from((char*)out + stride * (size_t)k++, doc);
    bson_error_t err;
    if (mongoc_cursor_error(c, &err)) die("find all", &err);
    mongoc_cursor_destroy(c);
    bson_destroy(&filter);
    return k;
}

/* Bulk of update_one({_id}, {$set: {path: value}}) for each loaded document, in bulks of 50:
 * FerretDB 1.24 never answers an update command of 100 or more statements (every peer does the same). */
static void bulk_set1(mongoc_collection_t* coll, const bson_oid_t* ids, size_t stride, int n, const char* path,
                      const char* value);
static void bulk_set(mongoc_collection_t* coll, const bson_oid_t* ids, size_t stride, int n, const char* path,
                     const char* value) {
    for (int off = 0; off < n; off += 50)
        bulk_set1(coll, (const bson_oid_t*)((const char*)ids + stride * (size_t)off), stride, n - off < 50 ? n - off : 50,
                  path, value);
}
static void bulk_set1(mongoc_collection_t* coll, const bson_oid_t* ids, size_t stride, int n, const char* path,
                      const char* value) {
    bson_error_t err;
    mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
    for (int j = 0; j < n; ++j) {
        const bson_oid_t* id = (const bson_oid_t*)((const char*)ids + stride * (size_t)j);
        bson_t sel, upd, set;
        bson_init(&sel);
        BSON_APPEND_OID(&sel, "_id", id);
        bson_init(&upd);
        bson_append_document_begin(&upd, "$set", 4, &set);
        bson_append_utf8(&set, path, -1, value, -1);
        bson_append_document_end(&upd, &set);
        if (!mongoc_bulk_operation_update_one_with_opts(bulk, &sel, &upd, NULL, &err)) die("bulk update", &err);
        bson_destroy(&sel);
        bson_destroy(&upd);
    }
    bson_t reply;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) die("bulk update execute", &err);
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "nModified") && bson_iter_as_int64(&it) != n) die("update: not all modified", NULL);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
}

/* find(filter, limit 1) and map the document into `out`; returns 1 if found. */
static int find_one(mongoc_collection_t* coll, const bson_t* filter, void* out, void (*from)(void*, const bson_t*)) {
    static bson_t* opts = NULL;
    if (!opts) opts = BCON_NEW("limit", BCON_INT64(1), "singleBatch", BCON_BOOL(true));
    mongoc_cursor_t* c = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t* doc;
    int found = 0;
    if (mongoc_cursor_next(c, &doc)) { from(out, doc); found = 1; }
    bson_error_t err;
    if (mongoc_cursor_error(c, &err)) die("find", &err);
    mongoc_cursor_destroy(c);
    return found;
}

static void small_from_v(void* d, const bson_t* b) { small_from_bson(d, b); }
static void large_from_v(void* d, const bson_t* b) { large_from_bson(d, b); }
static void nested_from_v(void* d, const bson_t* b) { nested_from_bson(d, b); }
static void small_to_v(const void* d, bson_t* b) { small_to_bson(d, b); }
static void large_to_v(const void* d, bson_t* b) { large_to_bson(d, b); }
static void nested_to_v(const void* d, bson_t* b) { nested_to_bson(d, b); }

static size_t bson_size_no_id(to_bson_fn fn, const void* d) {
    bson_t b;
    bson_init(&b);
    fn(d, &b);
    size_t n = b.len - (1 + 4 + 12); /* scored without the generated _id, as the peers */
    bson_destroy(&b);
    return n;
}

static int odm(const char* uri_s, const char* data) {
    bson_error_t err;
    mongoc_uri_t* uri = mongoc_uri_new_with_error(uri_s, &err);
    if (!uri) die("uri", &err);
    mongoc_client_t* client = mongoc_client_new_from_uri(uri);
    mongoc_database_t* db = mongoc_client_get_database(client, "bench_odm_libmongoc");
    mongoc_database_drop(db, NULL);
    const int n_small = count(10000, 20), n_large = count(10, 2), n_nested = count(10000, 20);

    { /* flat small */
        mongoc_collection_t* coll = mongoc_database_get_collection(db, "odm_small_doc");
        bson_t* src = load_json(data, "odm/small_doc.json");
        small_doc tmpl;
        small_from_bson(&tmpl, src);
        size_t bytes = bson_size_no_id(small_to_v, &tmpl);
        small_doc* docs = malloc(sizeof(small_doc) * (size_t)n_small);
        double t0 = now_s();
        for (int j = 0; j < n_small; ++j) { docs[j] = tmpl; bson_oid_init(&docs[j].id, NULL); }
        bulk_insert(coll, docs, sizeof(small_doc), n_small, small_to_v);
        report("odm", "flat small: create", bytes * (double)n_small / 1e6, now_s() - t0, n_small, 10000, "");
        free(docs);

        small_doc* loaded = calloc((size_t)n_small, sizeof(small_doc));
        int k = load_all(coll, loaded, sizeof(small_doc), n_small, small_from_v);
        t0 = now_s();
        for (int j = 0; j < k; ++j) set_str(&loaded[j].s[0], "UPDATEDx");
        bulk_set(coll, &loaded[0].id, sizeof(small_doc), k, "field1", "UPDATEDx");
        report("odm", "flat small: update", 13.0 * k / 1e6, now_s() - t0, n_small, 10000, "");

        t0 = now_s();
        for (int j = 0; j < k; ++j) {
            bson_t f;
            bson_init(&f);
            BSON_APPEND_OID(&f, "_id", &loaded[j].id);
            small_doc out;
            if (!find_one(coll, &f, &out, small_from_v)) die("find by id: missing", NULL);
            small_free(&out);
            bson_destroy(&f);
        }
        report("odm", "flat small: find by id", bytes * (double)k / 1e6, now_s() - t0, n_small, 10000, "");
        for (int j = 0; j < k; ++j) small_free(&loaded[j]);
        free(loaded);
        small_free(&tmpl);
        bson_destroy(src);
        mongoc_collection_destroy(coll);
    }
    { /* flat large */
        mongoc_collection_t* coll = mongoc_database_get_collection(db, "odm_large_doc");
        bson_t* src = load_json(data, "odm/large_doc.json");
        large_doc tmpl;
        large_from_bson(&tmpl, src);
        size_t bytes = bson_size_no_id(large_to_v, &tmpl);
        large_doc* docs = malloc(sizeof(large_doc) * (size_t)n_large);
        double t0 = now_s();
        for (int j = 0; j < n_large; ++j) { docs[j] = tmpl; bson_oid_init(&docs[j].id, NULL); }
        bulk_insert(coll, docs, sizeof(large_doc), n_large, large_to_v);
        report("odm", "flat large: create", bytes * (double)n_large / 1e6, now_s() - t0, n_large, 10000, "2.4 MB documents");
        free(docs);
        large_doc* loaded = calloc((size_t)n_large, sizeof(large_doc));
        int k = load_all(coll, loaded, sizeof(large_doc), n_large, large_from_v);
        t0 = now_s();
        for (int j = 0; j < k; ++j) set_str(&loaded[j].s[0], "UPDATEDx");
        bulk_set(coll, &loaded[0].id, sizeof(large_doc), k, "field1", "UPDATEDx");
        report("odm", "flat large: update", 13.0 * k / 1e6, now_s() - t0, n_large, 10000, "2.4 MB documents");
        for (int j = 0; j < k; ++j) large_free(&loaded[j]);
        free(loaded);
        large_free(&tmpl);
        bson_destroy(src);
        mongoc_collection_destroy(coll);
    }
    { /* nested */
        mongoc_collection_t* coll = mongoc_database_get_collection(db, "odm_nested_doc");
        bson_t* keys1 = BCON_NEW("embedded_str_doc_1.field1", BCON_INT32(1));
        bson_t* keys2 = BCON_NEW("embedded_str_doc_array.field1", BCON_INT32(1));
        bson_t* cmd = BCON_NEW("createIndexes", BCON_UTF8("odm_nested_doc"), "indexes", "[",
                               "{", "key", BCON_DOCUMENT(keys1), "name", BCON_UTF8("i1"), "}",
                               "{", "key", BCON_DOCUMENT(keys2), "name", BCON_UTF8("i2"), "}", "]");
        if (!mongoc_database_command_simple(db, cmd, NULL, NULL, &err)) die("createIndexes", &err);
        bson_t* src = load_json(data, "odm/large_doc_nested.json");
        nested_doc tmpl;
        nested_from_bson(&tmpl, src);
        size_t bytes = bson_size_no_id(nested_to_v, &tmpl);
        /* unique same-length keys in embedded_str_doc_1.field1 and embedded_str_doc_array.0.field1 */
        char (*keys)[9] = malloc(9 * (size_t)n_nested);
        nested_doc* docs = malloc(sizeof(nested_doc) * (size_t)n_nested);
        emb_str* arrs = malloc(sizeof(emb_str) * tmpl.arr_n * (size_t)n_nested);
        for (int j = 0; j < n_nested; ++j) {
            snprintf(keys[j], 9, "k%07d", j % 10000000);
            docs[j] = tmpl;
            docs[j].s[0].f[0] = keys[j];
            docs[j].arr = arrs + tmpl.arr_n * (size_t)j;
            memcpy(docs[j].arr, tmpl.arr, sizeof(emb_str) * tmpl.arr_n);
            docs[j].arr[0].f[0] = keys[j];
        }
        double t0 = now_s();
        for (int j = 0; j < n_nested; ++j) bson_oid_init(&docs[j].id, NULL);
        bulk_insert(coll, docs, sizeof(nested_doc), n_nested, nested_to_v);
        report("odm", "nested: create", bytes * (double)n_nested / 1e6, now_s() - t0, n_nested, 10000, "");
        free(docs);
        free(arrs);

        nested_doc* loaded = calloc((size_t)n_nested, sizeof(nested_doc));
        int k = load_all(coll, loaded, sizeof(nested_doc), n_nested, nested_from_v);
        t0 = now_s();
        for (int j = 0; j < k; ++j) set_str(&loaded[j].s[1].f[0], "UPDATEDx");
        bulk_set(coll, &loaded[0].id, sizeof(nested_doc), k, "embedded_str_doc_2.field1", "UPDATEDx");
        report("odm", "nested: update nested field", 13.0 * k / 1e6, now_s() - t0, n_nested, 10000, "");
        for (int j = 0; j < k; ++j) nested_free(&loaded[j]);
        free(loaded);

        const int n_finds = n_nested < 50 ? n_nested : 50; /* FerretDB (SQLite) scans for these filters */
        const char* paths[2] = {"embedded_str_doc_1.field1", "embedded_str_doc_array.field1"};
        const char* tasks[2] = {"nested: find by nested field", "nested: find by array element"};
        for (int p = 0; p < 2; ++p) {
            t0 = now_s();
            for (int j = 0; j < n_finds; ++j) {
                bson_t f;
                bson_init(&f);
                bson_append_utf8(&f, paths[p], -1, keys[j], 8);
                nested_doc out;
                if (!find_one(coll, &f, &out, nested_from_v)) die("find nested: missing", NULL);
                nested_free(&out);
                bson_destroy(&f);
            }
            report("odm", tasks[p], bytes * (double)n_finds / 1e6, now_s() - t0, n_finds, 10000,
                   "finds capped at 50: FerretDB scans");
        }
        free(keys);
        nested_free(&tmpl);
        bson_destroy(src);
        bson_destroy(cmd);
        bson_destroy(keys1);
        bson_destroy(keys2);
        mongoc_collection_destroy(coll);
    }
    mongoc_database_drop(db, NULL);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    return 0;
}

/* JSON-lines import: parse each line (bson_init_from_json) and bulk insert, all in one bulk. */
static int import_ldjson(const char* uri_s, const char* file) {
    bson_error_t err;
    mongoc_client_t* client = mongoc_client_new(uri_s);
    if (!client) die("uri", NULL);
    mongoc_collection_t* coll = mongoc_client_get_collection(client, "bench_import_libmongoc", "tweets");
    mongoc_collection_drop(coll, NULL);
    FILE* f = fopen(file, "rb");
    if (!f) die(file, NULL);
    double t0 = now_s();
    size_t bytes = 0;
    int n = 0;
    char* line = NULL;
    size_t cap = 0;
    ssize_t len;
    mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
    while ((len = getline(&line, &cap, f)) > 0) {
        bytes += (size_t)len;
        if (len <= 1) continue;
        bson_t b;
        if (!bson_init_from_json(&b, line, len, &err)) die("ldjson line", &err);
        if (!mongoc_bulk_operation_insert_with_opts(bulk, &b, NULL, &err)) die("bulk insert", &err);
        bson_destroy(&b);
        ++n;
    }
    bson_t reply;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) die("bulk execute", &err);
    double secs = now_s() - t0;
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    free(line);
    fclose(f);
    bson_t all = BSON_INITIALIZER;
    if (mongoc_collection_count_documents(coll, &all, NULL, NULL, NULL, &err) != n) die("import: count mismatch", &err);
    bson_destroy(&all);
    report("import", "ldjson tweets", (double)bytes / 1e6, secs, 1, 1, "");
    mongoc_collection_drop(coll, NULL);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    return 0;
}

int main(int argc, char** argv) {
    const char* uri = getenv("MORM_BENCH_URI");
    if (!uri || !*uri) uri = getenv("MORM_TEST_URI");
    /* $MORM_DATA_DIR names the official data sets; else the data generated at build time */
    const char* data = getenv("MORM_DATA_DIR");
    if (!data || !*data) data = MORM_GENERATED_DATA_DIR;
    const char* import_file = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--uri") && i + 1 < argc) uri = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc) g_scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--import") && i + 1 < argc) import_file = argv[++i];
        else if (!strcmp(argv[i], "--smoke")) g_smoke = 1;
        else { fprintf(stderr, "mongoc_bench: unknown argument %s\n", argv[i]); return 2; }
    }
    if (!uri || !*uri) { fprintf(stderr, "mongoc_bench: pass --uri\n"); return 2; }
    mongoc_init();
    if (!import_file) fprintf(stderr, "mongoc_bench: %s data in %s\n", data_set(data), data);
    int rc = import_file ? import_ldjson(uri, import_file) : odm(uri, data);
    mongoc_cleanup();
    return rc;
}
