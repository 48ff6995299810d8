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

// BenchmarkStdlib is the baseline: crypto/ed25519.Verify, one signature.
func BenchmarkStdlib(b *testing.B) {
	it := benchItems(1, 1)[0]
	for b.Loop() {
		if !ed25519.Verify(it.PublicKey, it.Message, it.Signature) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	it := benchItems(1, 1)[0]
	for b.Loop() {
		if !Verify(it) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkVerifyBatch reports the cost per signature.
func BenchmarkVerifyBatch(b *testing.B) {
	for _, keys := range []int{1, 64} {
		for _, n := range []int{2, 8, 16, 64} {
			items := benchItems(n, min(keys, n))
			b.Run(fmt.Sprintf("keys=%d/n=%d", min(keys, n), n), func(b *testing.B) {
				for b.Loop() {
					for _, ok := range VerifyBatch(items) {
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
