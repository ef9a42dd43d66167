package logdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// A crash in the middle of writing the Raft log can leave its last record
// torn: its header and the first part of its payload reached the disk, the
// rest of the (preallocated, zeroed) file did not change. Such a record
// was never synced, so never acknowledged, and is safe to drop. tan drops
// a torn tail it recognizes (a chunk that runs past the data, or zeros),
// but refuses to open a log whose last chunk fails its checksum, which is
// what such a write leaves. repairTornTails finds that case before tan
// opens the log and zeroes the torn record. A checksum failure anywhere
// else is damage, not a torn write, and is left for tan to report.

// tan's record format: 32 KiB blocks of chunks, each a header (checksum,
// length, type; recyclable chunks add the log number) and a payload. The
// checksum covers the type byte, the log number if any, and the payload.
const (
	tanBlockSize      = 32 << 10
	tanHeaderSize     = 7
	tanRecyclableSize = 11
	tanFull           = 1
	tanFirst          = 2
	tanRecyclableFull = 5
	tanRecyclableLast = 8
)

// repairTornTails repairs the logs under dir that tan will rebuild when it
// opens: those without an index, which only the log being written at a
// crash lacks. It returns the logs it repaired.
func repairTornTails(dir string) ([]string, error) {
	var repaired []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		if _, err := os.Stat(strings.TrimSuffix(p, ".log") + ".index"); err == nil {
			return nil
		}
		ok, err := repairTornTail(p)
		if err != nil {
			return fmt.Errorf("logdb: checking %s for a torn last record: %w", p, err)
		}
		if ok {
			repaired = append(repaired, p)
		}
		return nil
	})
	return repaired, err
}

// repairTornTail zeroes the last record of the log at path if its last
// chunk fails its checksum and nothing but zeros follows it.
func repairTornTail(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	end := len(bytes.TrimRight(b, "\x00")) // the data ends here; preallocated zeros follow
	recordStart := 0
	for pos := 0; pos < end; {
		blockEnd := (pos/tanBlockSize + 1) * tanBlockSize
		if pos+tanHeaderSize > blockEnd {
			pos = blockEnd // too little room for a header: the block is padded
			continue
		}
		h := b[pos:]
		sum := binary.LittleEndian.Uint32(h[0:4])
		length := int(binary.LittleEndian.Uint16(h[4:6]))
		typ := h[6]
		if sum == 0 && length == 0 && typ == 0 {
			pos = blockEnd // zeroed: nothing more in this block
			continue
		}
		hs := tanHeaderSize
		if typ >= tanRecyclableFull && typ <= tanRecyclableLast {
			hs = tanRecyclableSize
		}
		stop := pos + hs + length
		if stop > blockEnd || stop > len(b) {
			return false, nil // runs past its block: tan drops it itself
		}
		if typ == tanFull || typ == tanFirst || typ == tanRecyclableFull || typ == tanRecyclableFull+1 {
			recordStart = pos
		}
		if uint32(xxhash.Sum64(b[pos+6:stop])) != sum {
			if stop < end {
				return false, nil // damage with data after it: not a torn write
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return false, err
			}
			_, err = f.WriteAt(make([]byte, end-recordStart), int64(recordStart))
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err == nil, err
		}
		pos = stop
	}
	return false, nil
}
