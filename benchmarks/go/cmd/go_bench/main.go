// go_bench: the MongoDB Go driver (go.mongodb.org/mongo-driver/v2) peer of morm's
// benchmarks (issue 14). Two suites, JSON lines on stdout, progress on stderr:
//
//	go_bench odm --uri URI --data DIR [--scale F] [--smoke]
//	go_bench concurrency --uri URI [--count 10000] [--threads 1|2] [--reps R] [--smoke]
//
// odm is benchmarks/python/odm_bench.py's pymongo part (same tasks, names, counts, scaling
// and data files), written as the Go driver's documentation recommends: InsertMany for
// creates, Collection.BulkWrite of UpdateOne models (in chunks of 50, as every peer does
// for FerretDB) for updates, FindOne for finds. concurrency starts --count goroutines at
// once on one client, each a FindOne by _id then an InsertOne, with GOMAXPROCS=--threads.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
)

// result is one JSON line; the field order is the one every peer prints.
type result struct {
	Suite  string   `json:"suite"`
	Task   string   `json:"task"`
	Impl   string   `json:"impl"`
	Unit   string   `json:"unit"`
	Median float64  `json:"median"`
	Min    float64  `json:"min"`
	Max    float64  `json:"max"`
	N      int      `json:"n"`
	Note   string   `json:"note"`
	P50    *float64 `json:"p50,omitempty"`
	P99    *float64 `json:"p99,omitempty"`
	P999   *float64 `json:"p999,omitempty"`
}

func emit(r result) {
	b, err := json.Marshal(r)
	if err != nil {
		fatalf("json: %v", err)
	}
	fmt.Println(string(b))
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "go_bench: "+format+"\n", a...)
	os.Exit(1)
}

func startCPUProfile(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		fatalf("%v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatalf("cpuprofile: %v", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go_bench odm --uri URI --data DIR [--scale F] [--smoke]\n"+
		"       go_bench concurrency --uri URI [--count N] [--threads 1|2] [--reps R] [--smoke]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	envURI := os.Getenv("MORM_BENCH_URI")
	if envURI == "" {
		envURI = os.Getenv("MORM_TEST_URI")
	}
	switch os.Args[1] {
	case "odm":
		fs := flag.NewFlagSet("odm", flag.ExitOnError)
		var a odmArgs
		fs.StringVar(&a.uri, "uri", envURI, "MongoDB URI")
		fs.StringVar(&a.data, "data", os.Getenv("MORM_DATA_DIR"), "data dir holding odm/*.json")
		fs.Float64Var(&a.scale, "scale", 1.0, "scale of the spec counts")
		fs.BoolVar(&a.smoke, "smoke", false, "tiny counts")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
		fs.Parse(os.Args[2:])
		if *cpuProfile != "" {
			stop := startCPUProfile(*cpuProfile)
			defer stop()
		}
		if a.uri == "" || a.data == "" {
			fs.Usage()
			os.Exit(2)
		}
		runODM(a)
	case "concurrency":
		fs := flag.NewFlagSet("concurrency", flag.ExitOnError)
		var a concArgs
		fs.StringVar(&a.uri, "uri", envURI, "MongoDB URI (maxPoolSize as the suite sets it)")
		fs.IntVar(&a.count, "count", 0, "concurrent goroutines (default 10000, 200 with --smoke)")
		fs.IntVar(&a.threads, "threads", 1, "GOMAXPROCS")
		fs.IntVar(&a.reps, "reps", 1, "repetitions")
		fs.BoolVar(&a.smoke, "smoke", false, "tiny counts")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
		fs.Parse(os.Args[2:])
		if *cpuProfile != "" {
			stop := startCPUProfile(*cpuProfile)
			defer stop()
		}
		if a.uri == "" || a.threads < 1 || a.reps < 1 || a.count < 0 {
			fs.Usage()
			os.Exit(2)
		}
		runConcurrency(a)
	default:
		usage()
	}
}
