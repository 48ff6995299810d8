package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrKeyExists is returned by Key.Save when the file exists and overwriting was
// not asked for.
var ErrKeyExists = errors.New("identity: key file already exists")

// ErrKeyPermissions is returned when a key file can be read by group or others.
var ErrKeyPermissions = errors.New("identity: key file is readable by group or others")

// Key is an Ed25519 private key together with the ID it defines. Users and
// nodes both have one; the ID is the libp2p peer ID of the public key.
type Key struct {
	priv crypto.PrivKey
	id   peer.ID
}

// GenerateKey makes a new Ed25519 key from the system's random source.
func GenerateKey() (*Key, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return FromPrivKey(priv)
}

// FromPrivKey wraps an existing libp2p private key.
func FromPrivKey(priv crypto.PrivKey) (*Key, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity: key type %s is not Ed25519", priv.Type())
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("identity: derive ID: %w", err)
	}
	return &Key{priv: priv, id: id}, nil
}

// ID is the key's identity, a libp2p peer ID.
func (k *Key) ID() peer.ID { return k.id }

// PrivKey returns the libp2p private key, for the host and for signing.
func (k *Key) PrivKey() crypto.PrivKey { return k.priv }

// Save writes the key to path with mode 0600, creating parent directories with
// mode 0700. Without force it refuses to replace an existing file.
func (k *Key) Save(path string, force bool) error {
	raw, err := crypto.MarshalPrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("identity: marshal key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("identity: save key: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s (use --force to replace it)", ErrKeyExists, path)
	}
	if err != nil {
		return fmt.Errorf("identity: save key: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("identity: save key: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("identity: save key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("identity: save key: %w", err)
	}
	return nil
}

// LoadKey reads a key written by Save. A file that group or others may read is
// refused, with the command that fixes it.
func LoadKey(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity: load key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run: chmod 600 %s",
			ErrKeyPermissions, path, st.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: load key: %w", err)
	}
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity: load key %s: %w", path, err)
	}
	return FromPrivKey(priv)
}

// LoadOrCreateKey loads the key at path, or creates and saves a new one if no
// file is there.
func LoadOrCreateKey(path string) (*Key, error) {
	k, err := LoadKey(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, err = GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := k.Save(path, false); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseID parses a user or node ID printed as a libp2p peer ID.
func ParseID(s string) (peer.ID, error) {
	id, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("identity: %q is not a valid ID: %w", s, err)
	}
	return id, nil
}
