package batchverify

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

func benchItems(n, keys int) []Item {
	items := make([]Item, n)
	privs := make([]ed25519.PrivateKey, keys)
	for i := range privs {
		_, privs[i], _ = ed25519.GenerateKey(nil)
	}
	for i := range items {
		k := privs[i%keys]
		msg := make([]byte, 300)
		msg[0] = byte(i)
		items[i] = Item{PublicKey: k.Public().(ed25519.PublicKey), Message: msg, Signature: ed25519.Sign(k, msg)}
	}
	return items
}

// BenchmarkVerify: one signature alone, by crypto/ed25519 (the baseline),
// by the hand-written rule the package had before, and by the package.
func BenchmarkVerify(b *testing.B) {
	it := benchItems(1, 1)[0]
	for _, impl := range []struct {
		name   string
		verify func(Item) bool
	}{
		{"crypto-ed25519", func(it Item) bool { return ed25519.Verify(it.PublicKey, it.Message, it.Signature) }},
		{"handwritten", baselineVerify},
		{"ed25519consensus", Verify},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			for b.Loop() {
				if !impl.verify(it) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkVerifyBatch reports the cost per signature of a batch, by the
// hand-written equation the package had before (handwritten: with a key
// cache for the batch, as VerifyBatch had; +keycache: with one kept
// across batches, as Verifier had) and by the package.
func BenchmarkVerifyBatch(b *testing.B) {
	for _, keys := range []int{1, 64} {
		for _, n := range []int{2, 8, 16, 64} {
			items := benchItems(n, min(keys, n))
			var kept baselineKeys
			for _, impl := range []struct {
				name  string
				batch func([]Item) []bool
			}{
				{"handwritten", func(items []Item) []bool { return baselineVerifyBatch(items, &baselineKeys{}) }},
				{"handwritten+keycache", func(items []Item) []bool { return baselineVerifyBatch(items, &kept) }},
				{"ed25519consensus", VerifyBatch},
			} {
				b.Run(fmt.Sprintf("keys=%d/n=%d/impl=%s", min(keys, n), n, impl.name), func(b *testing.B) {
					for b.Loop() {
						for _, ok := range impl.batch(items) {
							if !ok {
								b.Fatal("invalid")
							}
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
				})
			}
		}
	}
}
