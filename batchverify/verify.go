package batchverify

import (
	"crypto/ed25519"

	"github.com/hdevalence/ed25519consensus"
)

// Sizes of the inputs.
const (
	PublicKeySize = ed25519.PublicKeySize
	SignatureSize = ed25519.SignatureSize
)

// Item is one signature to check: Signature of Message by PublicKey.
type Item struct {
	PublicKey []byte
	Message   []byte
	Signature []byte
}

// Verify reports whether item holds a valid signature under the package's
// rule, ZIP-215.
func Verify(item Item) bool {
	return ed25519consensus.Verify(item.PublicKey, item.Message, item.Signature)
}

// VerifyBatch reports for each item whether it holds a valid signature:
// ok[i] is item i's answer, the same answer Verify gives.
func VerifyBatch(items []Item) []bool {
	ok := make([]bool, len(items))
	batch := ed25519consensus.NewPreallocatedBatchVerifier(len(items))
	n := 0
	for i, it := range items {
		// The rule refuses a key or signature of the wrong size whatever
		// else; left out of the batch, it cannot make the batch fail.
		if ok[i] = len(it.PublicKey) == PublicKeySize && len(it.Signature) == SignatureSize; ok[i] {
			batch.Add(it.PublicKey, it.Message, it.Signature)
			n++
		}
	}
	if n > 1 && batch.Verify() {
		return ok
	}
	for i, it := range items {
		ok[i] = ok[i] && Verify(it)
	}
	return ok
}
