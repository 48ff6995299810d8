package catalog

import (
	"context"
	"errors"
	"fmt"
)

// Topic is how updates spread: the node supplies gossipsub (with a validator
// built on Store.Check and VerdictOf), tests supply memory.
type Topic interface {
	// Publish sends data to the topic's other subscribers.
	Publish(ctx context.Context, data []byte) error
	// Next blocks for the next message (validated, if the topic validates).
	Next(ctx context.Context) ([]byte, error)
}

// Verdict is what a gossip validator does with a message.
type Verdict int

// The verdicts; they map to gossipsub's ValidationAccept, ValidationIgnore
// and ValidationReject.
const (
	// Accept: deliver and forward.
	Accept Verdict = iota
	// Ignore: drop without forwarding and without blaming the sender
	// (duplicates, stale updates an honest peer may still relay, and
	// records over this node's owner quota).
	Ignore
	// Reject: drop, do not forward, and count it against the sender.
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	}
	return "reject"
}

// VerdictOf maps an error of Check (or Receive) to a gossip verdict: nil is
// Accept; ErrDuplicate, ErrStale, ErrQuota and ErrClosed are Ignore
// (ErrQuota is this node's own limit, not the sender's fault); anything else
// (malformed, forged, tampered, oversized, not the owner's, private) is
// Reject. Neither Ignore nor Reject is ever forwarded.
func VerdictOf(err error) Verdict {
	switch {
	case err == nil:
		return Accept
	case ignorable(err), errors.Is(err, ErrClosed):
		return Ignore
	default:
		return Reject
	}
}

// Publish applies the owner's update env to this store and, if it may be
// shared, sends it to the topic. A private update with code is stored (when
// the store keeps private functions) and not sent; Change.Shareable says
// which happened.
func (s *Store) Publish(ctx context.Context, t Topic, env []byte) (Change, error) {
	ch, err := s.Apply(env)
	if err != nil {
		return ch, err
	}
	if !ch.Shareable {
		return ch, nil
	}
	if err := t.Publish(ctx, env); err != nil {
		return ch, fmt.Errorf("catalog: publish %s/%s %s: %w", ch.Owner, ch.Name, ch.ID, err)
	}
	return ch, nil
}

// Follow receives updates from the topic and applies them (Receive) until ctx
// ends or Next fails, and returns why. Rejections are logged at debug level.
// It blocks; the caller owns the goroutine that runs it.
func (s *Store) Follow(ctx context.Context, t Topic) error {
	for {
		data, err := t.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("catalog: follow: %w", err)
		}
		ch, err := s.Receive(data)
		switch {
		case err == nil:
			s.log.Debug("catalog: applied", "ref", ch.Owner+"/"+ch.Name, "op", ch.Op, "seq", ch.Seq)
		case VerdictOf(err) == Ignore:
		default:
			s.log.Debug("catalog: gossip rejected", "err", err)
		}
	}
}
