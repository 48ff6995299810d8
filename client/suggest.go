package client

import (
	"sort"
	"strings"
)

// Suggest returns the candidates close to name, closest first, for a "did
// you mean" after a mistyped name: those within a few edits of it (more
// for longer names), and those that it starts or ends with, ignoring case.
func Suggest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := 1 + len(name)/4
	if len(name) >= 3 {
		limit = max(limit, 2)
	}
	var near []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		if c == name || seen[c] {
			continue
		}
		lc := strings.ToLower(c)
		d := editDistance(lname, lc)
		if d > limit && !(len(lname) >= 3 && (strings.HasPrefix(lc, lname) || strings.HasSuffix(lc, lname))) {
			continue
		}
		seen[c] = true
		near = append(near, scored{c, d})
	}
	sort.SliceStable(near, func(i, j int) bool {
		if near[i].d != near[j].d {
			return near[i].d < near[j].d
		}
		return near[i].s < near[j].s
	})
	out := make([]string, len(near))
	for i, n := range near {
		out[i] = n.s
	}
	return out
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions) of a and b, in bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
