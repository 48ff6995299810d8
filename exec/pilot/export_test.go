package pilot

import "testing"

// BenchSchedulers are the providers of real schedulers that the
// benchmarks run blocks on, beside the local one, by name: each makes its
// provider, or skips (or fails) the benchmark where its scheduler does not
// answer. External test files fill it (slurm_bench_test.go): this
// package's own tests may not import a provider, which imports it.
var BenchSchedulers = map[string]func(testing.TB) Provider{}
