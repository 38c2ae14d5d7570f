//! Concurrency, as benchmarks/concurrency_bench.cpp measures morm: `count` tokio tasks spawned
//! at once on a runtime of exactly `--threads` workers, all sharing one `Client`; each does
//! `find_one` by `_id` of a seeded document, then `insert_one` of a small document. Reports
//! throughput (finds + inserts per second) and each operation's latency (p50/p99/p999, ms,
//! including the wait for a pooled connection). The URI is used as given: the suite script
//! sets maxPoolSize in it.
use std::sync::Arc;
use std::time::Instant;

use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Collection};

use crate::{Args, Res, emit, percentile_sorted, summarize, summarize_sorted};

/// benchmarks' odm/small_doc.json, used when no --data is given.
const SMALL_DOC: &str = r#"{ "field1" : "ZxaONqPu", "field2" : "b1c9y1LZ", "field3" : "UtrK5yC1", "field4" : "1l4kEJAs", "field5" : "BgS0gc8f", "field6" : "J6xShQFM", "field7" : "Ykdz7nlG", "field8" : 44668265, "field9" : 7712796, "field10" : 85034460, "field11" : 45600819, "field12" : 96733257, "field13" : 66335273 }"#;

fn small_doc(args: &Args) -> Res<Document> {
    let text = match &args.data {
        Some(dir) => {
            let path = std::path::Path::new(dir).join("odm/small_doc.json");
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => SMALL_DOC.to_string(),
    };
    match Bson::try_from(serde_json::from_str::<serde_json::Value>(&text)?)? {
        Bson::Document(d) => Ok(d),
        _ => Err("small_doc.json: not a document".into()),
    }
}

/// Latencies (ms) of one task's find and insert.
async fn one(coll: Collection<Document>, id: Bson, tmpl: Arc<Document>) -> Res<(f64, f64)> {
    let t0 = Instant::now();
    coll.find_one(doc! {"_id": id}).await?.ok_or("find by id: not found")?;
    let t1 = Instant::now();
    coll.insert_one(tmpl.as_ref()).await?;
    let t2 = Instant::now();
    Ok(((t1 - t0).as_secs_f64() * 1e3, (t2 - t1).as_secs_f64() * 1e3))
}

struct Measured {
    rates: Vec<f64>,
    find_ms: Vec<f64>,
    insert_ms: Vec<f64>,
}

async fn measure(args: &Args, c: usize) -> Res<Measured> {
    let client = Client::with_uri_str(&args.uri).await?;
    let db = client.database("bench_conc_rust");
    db.drop().await?;
    let coll = db.collection::<Document>("odm_small_doc");
    let tmpl = Arc::new(small_doc(args)?);
    // Seed the documents to find; the driver adds each `_id`, insert_many reports them.
    let seeded = c.min(1000);
    let res = coll.insert_many(std::iter::repeat_n(tmpl.as_ref(), seeded)).await?;
    let mut ids: Vec<(usize, Bson)> = res.inserted_ids.into_iter().collect();
    ids.sort_by_key(|(i, _)| *i);
    let ids: Vec<Bson> = ids.into_iter().map(|(_, id)| id).collect();

    let mut m = Measured { rates: vec![], find_ms: vec![], insert_ms: vec![] };
    for rep in 0..args.reps {
        let (mut f_lat, mut i_lat) = (Vec::with_capacity(c), Vec::with_capacity(c));
        let mut failures = 0usize;
        let t0 = Instant::now();
        let handles: Vec<_> =
            (0..c).map(|i| tokio::spawn(one(coll.clone(), ids[i % ids.len()].clone(), tmpl.clone()))).collect();
        for h in handles {
            match h.await? {
                Ok((f, ins)) => {
                    f_lat.push(f);
                    i_lat.push(ins);
                }
                Err(e) => {
                    if failures == 0 {
                        eprintln!("rust_bench concurrency: first failure: {e}");
                    }
                    failures += 1;
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        if failures > 0 {
            return Err(format!("{failures} of {c} tasks failed").into());
        }
        m.rates.push((f_lat.len() + i_lat.len()) as f64 / wall);
        f_lat.sort_by(f64::total_cmp);
        i_lat.sort_by(f64::total_cmp);
        eprintln!(
            "  threads {} rep {rep}: {c} tasks in {wall:.2} s, {:.0} ops/s, find p50 {:.2} ms, insert p50 {:.2} ms",
            args.threads,
            m.rates.last().unwrap(),
            percentile_sorted(&f_lat, 50.0),
            percentile_sorted(&i_lat, 50.0)
        );
        m.find_ms.extend(f_lat);
        m.insert_ms.extend(i_lat);
    }
    db.drop().await?;
    Ok(m)
}

fn pool_size(uri: &str) -> String {
    uri.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("maxPoolSize="))
        .map_or_else(|| "10 (driver default)".to_string(), str::to_string)
}

pub fn run(args: &Args) -> Res<()> {
    let c = args.count.unwrap_or(if args.smoke { 200 } else { 10_000 });
    if c == 0 {
        return Err("--count must be >= 1".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    let mut m = rt.block_on(measure(args, c))?;

    let t = args.threads;
    let note = format!(
        "{c} concurrent tokio tasks (find_one by _id + insert_one each), one Client, {t} worker thread{}, \
         maxPoolSize={}{}",
        if t == 1 { "" } else { "s" },
        pool_size(&args.uri),
        if args.smoke { "; SMOKE counts" } else { "" }
    );
    emit("concurrency", &format!("find_insert_t{t}"), "ops/s", summarize(&m.rates), &note, &[]);
    for (name, lat) in [("find_by_id_latency", &mut m.find_ms), ("insert_latency", &mut m.insert_ms)] {
        lat.sort_by(f64::total_cmp);
        let mut s = summarize_sorted(lat);
        s.median = percentile_sorted(lat, 50.0);
        let extra = [
            ("p50", percentile_sorted(lat, 50.0)),
            ("p99", percentile_sorted(lat, 99.0)),
            ("p999", percentile_sorted(lat, 99.9)),
        ];
        emit("concurrency", &format!("{name}_t{t}"), "ms", s, &note, &extra);
    }
    Ok(())
}
