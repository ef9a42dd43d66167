package coord

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ParseMembers parses a member list as command lines and environment
// variables give it, "id=host:port,id=host:port,...", into the form
// Options.Members takes. It refuses an id of 0, a repeated id or address,
// and an address that is not host:port.
func ParseMembers(list string) (map[uint64]string, error) {
	m := make(map[uint64]string)
	seen := make(map[string]uint64)
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		idText, addr, ok := strings.Cut(part, "=")
		id, err := strconv.ParseUint(strings.TrimSpace(idText), 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("coord: member %q is not id=host:port with an id > 0", part)
		}
		addr = strings.TrimSpace(addr)
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("coord: member %d: %v", id, err)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("coord: member id %d is listed twice", id)
		}
		if other, dup := seen[addr]; dup {
			return nil, fmt.Errorf("coord: members %d and %d have the same address %s", other, id, addr)
		}
		m[id], seen[addr] = addr, id
	}
	return m, nil
}

// FormatMembers is the inverse of ParseMembers, in id order.
func FormatMembers(members map[uint64]string) string {
	parts := make([]string, 0, len(members))
	for _, id := range slices.Sorted(maps.Keys(members)) {
		parts = append(parts, fmt.Sprintf("%d=%s", id, members[id]))
	}
	return strings.Join(parts, ",")
}
