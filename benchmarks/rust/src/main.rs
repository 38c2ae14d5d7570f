//! The MongoDB Rust driver's peer for morm's benchmarks (issue 14), written the way the driver's
//! documentation recommends: async on tokio, plain `Document`s (the raw driver row, impl "rust").
//!
//!   rust_bench odm --uri URI --data DIR [--scale F] [--smoke] [--updates sequential|concurrent]
//!   rust_bench concurrency --uri URI [--data DIR] [--count 10000] [--threads 1|2] [--reps R] [--smoke]
//!
//! JSON lines on stdout (one per result, the same shape as benchmarks/python/odm_bench.py and
//! perf_common.hpp's `emit`), human progress on stderr.
mod concurrency;
mod odm;

use std::error::Error;

pub type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

pub const IMPL: &str = "rust";

/// Command-line options shared by both modes.
#[derive(Debug, Clone)]
pub struct Args {
    pub uri: String,
    pub data: Option<String>,
    pub scale: f64,
    pub smoke: bool,
    pub count: Option<usize>,
    pub threads: usize,
    pub reps: usize,
    /// odm: `--updates concurrent` (50 `update_one`s in flight per chunk) or `sequential`
    /// (the default: FerretDB's SQLite answers concurrent updates with SQLITE_BUSY).
    pub concurrent_updates: bool,
}

const USAGE: &str = "usage: rust_bench odm --uri URI --data DIR [--scale F] [--smoke] [--updates sequential|concurrent]\n       \
                     rust_bench concurrency --uri URI [--data DIR] [--count N] [--threads 1|2] [--reps R] [--smoke]";

fn parse(argv: &[String]) -> Res<Args> {
    let mut a = Args {
        uri: std::env::var("MORM_BENCH_URI").or_else(|_| std::env::var("MORM_TEST_URI")).unwrap_or_default(),
        data: std::env::var("MORM_DATA_DIR").ok(),
        scale: 1.0,
        smoke: false,
        count: None,
        threads: 1,
        reps: 1,
        concurrent_updates: false,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--uri" => a.uri = value()?,
            "--data" => a.data = Some(value()?),
            "--scale" => a.scale = value()?.parse()?,
            "--count" => a.count = Some(value()?.parse()?),
            "--threads" => a.threads = value()?.parse()?,
            "--reps" => a.reps = value()?.parse()?,
            "--updates" => {
                a.concurrent_updates = match value()?.as_str() {
                    "concurrent" => true,
                    "sequential" => false,
                    v => return Err(format!("--updates concurrent|sequential, not {v}").into()),
                }
            }
            "--smoke" => a.smoke = true,
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if a.uri.is_empty() {
        return Err(format!("pass --uri\n{USAGE}").into());
    }
    if a.threads == 0 || a.reps == 0 {
        return Err("--threads and --reps must be >= 1".into());
    }
    Ok(a)
}

/// One JSON line in the suite's format; `extra` fields go before "note", as `emit` does.
pub fn emit(suite: &str, task: &str, unit: &str, s: Summary, note: &str, extra: &[(&str, f64)]) {
    let mut o = serde_json::Map::new();
    o.insert("suite".into(), suite.into());
    o.insert("task".into(), task.into());
    o.insert("impl".into(), IMPL.into());
    o.insert("unit".into(), unit.into());
    o.insert("median".into(), s.median.into());
    o.insert("min".into(), s.min.into());
    o.insert("max".into(), s.max.into());
    o.insert("n".into(), s.n.into());
    for (k, v) in extra {
        o.insert((*k).into(), (*v).into());
    }
    o.insert("note".into(), note.into());
    println!("{}", serde_json::Value::Object(o));
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// Median, min and max, as perf_common.hpp's `summarize` computes them.
pub fn summarize(v: &[f64]) -> Summary {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    summarize_sorted(&v)
}

pub fn summarize_sorted(v: &[f64]) -> Summary {
    if v.is_empty() {
        return Summary::default();
    }
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Summary { median, min: v[0], max: v[n - 1], n }
}

/// Nearest-rank percentile of sorted samples, as perf_common.hpp's `percentile_sorted`.
pub fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let idx = (p / 100.0 * (v.len() - 1) as f64 + 0.5) as usize;
    v[idx.min(v.len() - 1)]
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match argv.split_first() {
        Some((m, rest)) => (m.as_str(), rest),
        None => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let args = match parse(rest) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rust_bench: {e}");
            std::process::exit(2);
        }
    };
    let result = match mode {
        "odm" => odm::run(&args),
        "concurrency" => concurrency::run(&args),
        _ => Err(format!("unknown mode {mode}\n{USAGE}").into()),
    };
    if let Err(e) = result {
        eprintln!("rust_bench {mode}: {e}");
        std::process::exit(1);
    }
}
