package infra

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// MemoryLimit returns a soft memory limit for the Go runtime
// (debug.SetMemoryLimit): memoryShare of what the process may use. That is
// the lowest memory limit of its cgroup and the cgroup's ancestors when one
// is set (a container started with a memory limit, a systemd unit with
// MemoryMax; cgroup v2 or v1), else the machine's MemTotal (a small VM where siesta runs
// alone, such as a 256 MB Fly Machine). Near the limit the collector works
// harder instead of letting the heap grow to twice what is live until the
// kernel kills the process. source says where the figure came from; ok is
// false when neither could be read. fsys is the root file system.
func MemoryLimit(fsys fs.FS) (limit int64, source string, ok bool) {
	if n, ok := cgroupMemoryMax(fsys); ok {
		return n / 100 * memoryShare, "cgroup", true
	}
	if total, ok := memTotal(fsys); ok {
		return total / 100 * memoryShare, "MemTotal", true
	}
	return 0, "", false
}

// memoryShare is the percentage of the process's memory given to the Go
// runtime as its soft limit; the rest is for what Go does not count (the
// binary's pages, SQLite's own allocations, the kernel's buffers).
const memoryShare = 80

// cgroupMemoryMax reads the lowest memory limit from the process's cgroup
// up to the root of the cgroup file system it sees: memory.max in cgroup
// v2, memory.limit_in_bytes in v1's memory controller.
func cgroupMemoryMax(fsys fs.FS) (int64, bool) {
	data, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		// hierarchy-ID:controllers:path
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 {
			continue
		}
		switch {
		case fields[0] == "0" && fields[1] == "":
			if n, ok := lowestLimit(fsys, "sys/fs/cgroup", fields[2], "memory.max"); ok {
				return n, true
			}
		case slices.Contains(strings.Split(fields[1], ","), "memory"):
			if n, ok := lowestLimit(fsys, "sys/fs/cgroup/memory", fields[2], "memory.limit_in_bytes"); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// lowestLimit reads file in the cgroup directory group under root and in
// each of its parents up to root, and returns the lowest limit set. "max"
// (v2) and v1's page-rounded MaxInt64 mean no limit.
func lowestLimit(fsys fs.FS, root, group, file string) (int64, bool) {
	var lowest int64 = -1
	for dir := path.Join(root, group); ; dir = path.Dir(dir) {
		if v, err := fs.ReadFile(fsys, path.Join(dir, file)); err == nil {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err == nil && n > 0 && n < 1<<62 && (lowest < 0 || n < lowest) {
				lowest = n
			}
		}
		if dir == root || !strings.HasPrefix(dir, root) {
			break
		}
	}
	return lowest, lowest > 0
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(fsys fs.FS) (int64, bool) {
	f, err := fsys.Open("proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		rest, ok := strings.CutPrefix(lines.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb <= 0 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
