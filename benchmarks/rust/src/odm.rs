//! The ODM suite exactly as benchmarks/python/odm_bench.py's pymongo part runs it: same tasks,
//! names, counts, scaling, data files and timed regions, with the Rust driver's recommended
//! calls: `insert_many` for creates, `update_one` with `$set` per document for updates (its
//! `Client::bulk_write` needs MongoDB 8.0, which neither FerretDB nor the instant server
//! speaks), `find_one` for the finds.
use std::time::Instant;

use futures::TryStreamExt;
use futures::future::try_join_all;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use mongodb::{Client, Collection, IndexModel};

use crate::{Args, Res, Summary, emit};

const SPEC: usize = 10_000;
/// The ODM spec scores an update by the ~13 B it changes.
const UPDATE_BYTES: usize = 13;
/// FerretDB 1.24 never answers an update command of 100 or more statements: every
/// implementation sends updates in batches of 50; `--updates concurrent` keeps 50
/// `update_one`s in flight at once.
const UPDATE_CHUNK: usize = 50;
const FIND_NOTE: &str = "finds capped at 50: FerretDB scans";

fn update_note(concurrent: bool) -> &'static str {
    if concurrent {
        "update_one $set per document, 50 in flight per chunk (try_join_all)"
    } else {
        "update_one $set per document, sequential"
    }
}

struct Runner<'a> {
    args: &'a Args,
}

impl Runner<'_> {
    fn count(&self, spec: usize, smoke: usize) -> usize {
        if self.args.smoke {
            spec.min(smoke)
        } else {
            ((spec as f64 * self.args.scale) as usize).max(1)
        }
    }

    fn report(&self, task: &str, mb: f64, secs: f64, n: usize, extra: &str) {
        let mut note = String::new();
        if !self.args.smoke && n != SPEC {
            note = format!("scaled: {n} ops (spec {SPEC})");
        }
        if !extra.is_empty() {
            note = if note.is_empty() { extra.to_string() } else { format!("{note}; {extra}") };
        }
        let rate = if secs > 0.0 { mb / secs } else { 0.0 };
        emit("odm", task, "MB/s", Summary { median: rate, min: rate, max: rate, n: 1 }, &note, &[]);
        eprintln!("  {:8} {:34} {:12} {:10.2} MB/s", "odm", task, crate::IMPL, rate);
    }
}

/// An extended-JSON data file (the relaxed/legacy form the data sets use) as a Document.
fn load(data: &str, rel: &str) -> Res<Document> {
    let path = std::path::Path::new(data).join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    match Bson::try_from(json)? {
        Bson::Document(d) => Ok(d),
        other => Err(format!("{}: not a document: {other:?}", path.display()).into()),
    }
}

fn bson_len(d: &Document) -> Res<usize> {
    let mut buf = Vec::new();
    d.to_writer(&mut buf)?;
    Ok(buf.len())
}

fn key8(i: usize) -> String {
    format!("k{i:07}")
}

/// The template with an `_id` slot first (pymongo writes `_id` first too); `id` fills it.
fn with_id(tmpl: &Document, id: Bson) -> Document {
    let mut d = Document::new();
    d.insert("_id", id);
    for (k, v) in tmpl {
        d.insert(k.clone(), v.clone());
    }
    d
}

/// The nested documents, keyed by `key8(i)` in one embedded document and one array element.
/// Built before the timed region, as the Python peer's deepcopies are.
fn nested_docs(tmpl: &Document, n: usize) -> Res<Vec<Document>> {
    let mut docs = Vec::with_capacity(n);
    for i in 0..n {
        let mut d = with_id(tmpl, Bson::Null);
        d.get_document_mut("embedded_str_doc_1")?.insert("field1", key8(i));
        match d.get_array_mut("embedded_str_doc_array")?.first_mut() {
            Some(Bson::Document(e)) => {
                e.insert("field1", key8(i));
            }
            _ => return Err("embedded_str_doc_array[0] is not a document".into()),
        }
        docs.push(d);
    }
    Ok(docs)
}

async fn update_all(coll: &Collection<Document>, ids: &[Bson], path: &str, concurrent: bool) -> Res<u64> {
    let one = |id: &Bson| coll.update_one(doc! {"_id": id.clone()}, doc! {"$set": {path: "UPDATEDx"}});
    let mut modified = 0;
    if concurrent {
        for chunk in ids.chunks(UPDATE_CHUNK) {
            let results = try_join_all(chunk.iter().map(|id| one(id).into_future())).await?;
            modified += results.iter().map(|r| r.modified_count).sum::<u64>();
        }
    } else {
        for id in ids {
            modified += one(id).await?.modified_count;
        }
    }
    Ok(modified)
}

/// Create n documents (insert_many), read them all back, update one field of each; returns
/// the ids and the template's BSON size.
#[allow(clippy::too_many_arguments)]
async fn create_update(
    r: &Runner<'_>,
    coll: &Collection<Document>,
    tmpl: &Document,
    n: usize,
    task: &str,
    path: &str,
    extra: &str,
    prebuilt: Option<Vec<Document>>,
) -> Res<(Vec<Bson>, usize)> {
    let size = bson_len(tmpl)?;
    let t0;
    let docs = match prebuilt {
        None => {
            t0 = Instant::now();
            (0..n).map(|_| with_id(tmpl, ObjectId::new().into())).collect::<Vec<_>>()
        }
        Some(mut docs) => {
            t0 = Instant::now();
            for d in &mut docs {
                d.insert("_id", ObjectId::new());
            }
            docs
        }
    };
    coll.insert_many(&docs).await?;
    r.report(&format!("{task}: create"), (size * n) as f64 / 1e6, t0.elapsed().as_secs_f64(), n, extra);

    let loaded: Vec<Document> = coll.find(doc! {}).await?.try_collect().await?;
    let t0 = Instant::now();
    let ids: Vec<Bson> = loaded.iter().map(|d| d.get("_id").cloned().unwrap_or(Bson::Null)).collect();
    let concurrent = r.args.concurrent_updates;
    let modified = update_all(coll, &ids, path, concurrent).await?;
    if modified != loaded.len() as u64 {
        return Err(format!("{task}: {modified} of {} documents modified", loaded.len()).into());
    }
    let name = if task == "nested" { "nested: update nested field".to_string() } else { format!("{task}: update") };
    let note = if extra.is_empty() { update_note(concurrent).to_string() } else { format!("{extra}; {}", update_note(concurrent)) };
    r.report(&name, (UPDATE_BYTES * loaded.len()) as f64 / 1e6, t0.elapsed().as_secs_f64(), n, &note);
    Ok((ids, size))
}

async fn suite(args: &Args) -> Res<()> {
    let data = args.data.as_deref().ok_or("pass --data DIR (odm/*.json) or set MORM_DATA_DIR")?;
    let r = Runner { args };
    let client = Client::with_uri_str(&args.uri).await?;
    let db = client.database("bench_odm_rust");
    db.drop().await?;
    let (n_small, n_large, n_nested) = (r.count(SPEC, 20), r.count(10, 2), r.count(SPEC, 20));
    let n_finds = n_nested.min(50); // FerretDB (SQLite) scans for the nested filters

    let small = load(data, "odm/small_doc.json")?;
    let coll = db.collection::<Document>("odm_small_doc");
    let (ids, size) = create_update(&r, &coll, &small, n_small, "flat small", "field1", "", None).await?;
    let t0 = Instant::now();
    for id in &ids {
        coll.find_one(doc! {"_id": id.clone()}).await?.ok_or("find by id: not found")?;
    }
    r.report("flat small: find by id", (size * ids.len()) as f64 / 1e6, t0.elapsed().as_secs_f64(), n_small, "");

    let large = load(data, "odm/large_doc.json")?;
    let coll = db.collection::<Document>("odm_large_doc");
    create_update(&r, &coll, &large, n_large, "flat large", "field1", "2.4 MB documents", None).await?;

    let nested = load(data, "odm/large_doc_nested.json")?;
    let coll = db.collection::<Document>("odm_nested_doc");
    for path in ["embedded_str_doc_1.field1", "embedded_str_doc_array.field1"] {
        coll.create_index(IndexModel::builder().keys(doc! {path: 1}).build()).await?;
    }
    let docs = nested_docs(&nested, n_nested)?;
    let path = "embedded_str_doc_2.field1";
    let (_, size) = create_update(&r, &coll, &nested, n_nested, "nested", path, "", Some(docs)).await?;
    for (task, path) in [
        ("nested: find by nested field", "embedded_str_doc_1.field1"),
        ("nested: find by array element", "embedded_str_doc_array.field1"),
    ] {
        let t0 = Instant::now();
        for i in 0..n_finds {
            coll.find_one(doc! {path: key8(i)}).await?.ok_or_else(|| format!("{task}: {} not found", key8(i)))?;
        }
        r.report(task, (size * n_finds) as f64 / 1e6, t0.elapsed().as_secs_f64(), n_finds, FIND_NOTE);
    }
    db.drop().await?;
    Ok(())
}

pub fn run(args: &Args) -> Res<()> {
    // What #[tokio::main] builds: the multi-threaded runtime, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(suite(args))
}
