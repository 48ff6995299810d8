package catalog

// Default limits.
const (
	DefaultMaxRecordBytes = 1 << 20   // 1 MiB
	DefaultMaxSourceBytes = 512 << 10 // 512 KiB
	DefaultMaxSyncBytes   = 4 << 20   // 4 MiB

	// syncOverhead is the room a sync message keeps beside its largest record.
	syncOverhead = 64 << 10

	// maxUnixSeconds bounds a function's Created and an update's Time:
	// 9999-12-31T23:59:59Z, the last second RFC 3339 and encoding/json can
	// write, so that every time a store takes can be printed.
	maxUnixSeconds = 253402300799
)

// Limits bound what a node accepts. The zero value means the defaults; every
// node of a mesh should use the same limits, or records one accepts are
// rejected (and not forwarded) by another.
type Limits struct {
	// MaxRecordBytes bounds a whole signed update envelope and a function's
	// canonical bytes. Zero means DefaultMaxRecordBytes (1 MiB).
	MaxRecordBytes int
	// MaxSourceBytes bounds a python function's source. Zero means
	// DefaultMaxSourceBytes (512 KiB).
	MaxSourceBytes int
	// MaxSyncBytes bounds one encoded sync message. Zero means
	// DefaultMaxSyncBytes (4 MiB); it is raised to MaxRecordBytes + 64 KiB if
	// smaller, so that any one record fits in a message.
	MaxSyncBytes int
}

// DefaultLimits returns the limits the zero Limits stands for.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// withDefaults fills in zero (or negative) fields.
func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxSourceBytes <= 0 {
		l.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if l.MaxSyncBytes <= 0 {
		l.MaxSyncBytes = DefaultMaxSyncBytes
	}
	if l.MaxSyncBytes < l.MaxRecordBytes+syncOverhead {
		l.MaxSyncBytes = l.MaxRecordBytes + syncOverhead
	}
	return l
}

// unlimited is what the client-side builders validate with: structure only;
// sizes are the receiving store's business.
var unlimited = Limits{MaxRecordBytes: 1 << 40, MaxSourceBytes: 1 << 40, MaxSyncBytes: 1 << 41}
