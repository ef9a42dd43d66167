// Package zkpath holds ZooKeeper's rules for znode paths, the one copy that
// the tree and the wire-protocol server both apply.
package zkpath

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Validate applies ZooKeeper's path rules (PathUtils.validatePath): absolute,
// no trailing slash except the root, no empty, "." or ".." segment, no NUL,
// control characters, or characters ZooKeeper refuses in UTF-16 (surrogates,
// which is every character beyond the Basic Multilingual Plane, the private
// use area, and U+FFF0 up).
func Validate(path string) error {
	switch {
	case path == "":
		return errors.New("path is empty")
	case path[0] != '/':
		return errors.New("path must start with /")
	case path == "/":
		return nil
	case path[len(path)-1] == '/':
		return errors.New("path must not end with /")
	case !utf8.ValidString(path):
		return errors.New("path is not valid UTF-8")
	}
	for i, r := range path {
		switch {
		case r == 0:
			return fmt.Errorf("NUL character at %d", i)
		case r > 0 && r < 0x20, r >= 0x7f && r <= 0x9f, r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
			return fmt.Errorf("invalid character %U at %d", r, i)
		}
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		switch seg {
		case "":
			return errors.New("empty node name")
		case ".", "..":
			return fmt.Errorf("relative path segment %q", seg)
		}
	}
	return nil
}

// ValidateSequential validates the prefix of a sequential create: the
// counter the ensemble appends completes the name, so it may end in a slash.
func ValidateSequential(prefix string) error { return Validate(prefix + "1") }

// Parent returns the parent of a valid path other than the root.
func Parent(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// Name returns the last segment of a valid path.
func Name(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }
