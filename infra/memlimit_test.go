package infra_test

import (
	"testing"
	"testing/fstest"

	"github.com/siestamq/siesta/infra"
)

func TestMemoryLimit(t *testing.T) {
	const meminfo = "MemTotal:         250000 kB\nMemFree:           1000 kB\n"
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name       string
		files      fstest.MapFS
		wantLimit  int64
		wantSource string
		wantOK     bool
	}{
		{
			name: "container with a memory limit",
			files: fstest.MapFS{
				"proc/self/cgroup":         file("0::/\n"),
				"sys/fs/cgroup/memory.max": file("268435456\n"),
				"proc/meminfo":             file(meminfo),
			},
			wantLimit: 268435456 / 100 * 80, wantSource: "cgroup", wantOK: true,
		},
		{
			name: "systemd unit with MemoryMax, under a slice without",
			files: fstest.MapFS{
				"proc/self/cgroup": file("0::/system.slice/siesta.service\n"),
				"sys/fs/cgroup/system.slice/siesta.service/memory.max": file("536870912\n"),
				"sys/fs/cgroup/system.slice/memory.max":                file("max\n"),
				"proc/meminfo":                                         file(meminfo),
			},
			wantLimit: 536870912 / 100 * 80, wantSource: "cgroup", wantOK: true,
		},
		{
			name: "the lowest limit on the way up wins",
			files: fstest.MapFS{
				"proc/self/cgroup":             file("0::/a/b\n"),
				"sys/fs/cgroup/a/b/memory.max": file("max\n"),
				"sys/fs/cgroup/a/memory.max":   file("100000000\n"),
			},
			wantLimit: 100000000 / 100 * 80, wantSource: "cgroup", wantOK: true,
		},
		{
			name: "no cgroup limit: the machine's memory",
			files: fstest.MapFS{
				"proc/self/cgroup":         file("0::/\n"),
				"sys/fs/cgroup/memory.max": file("max\n"),
				"proc/meminfo":             file(meminfo),
			},
			wantLimit: 250000 * 1024 / 100 * 80, wantSource: "MemTotal", wantOK: true,
		},
		{
			name: "cgroup v1 memory controller with a limit",
			files: fstest.MapFS{
				"proc/self/cgroup": file("5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n"),
				"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("300000000\n"),
				"proc/meminfo": file(meminfo),
			},
			wantLimit: 300000000 / 100 * 80, wantSource: "cgroup", wantOK: true,
		},
		{
			name: "cgroup v1 without a limit: the machine's memory",
			files: fstest.MapFS{
				"proc/self/cgroup": file("4:memory:/x\n"),
				"sys/fs/cgroup/memory/x/memory.limit_in_bytes": file("9223372036854771712\n"),
				"proc/meminfo": file(meminfo),
			},
			wantLimit: 250000 * 1024 / 100 * 80, wantSource: "MemTotal", wantOK: true,
		},
		{
			name:  "nothing readable",
			files: fstest.MapFS{"proc/meminfo": file("MemTotal: lots\n")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, source, ok := infra.MemoryLimit(tt.files)
			if limit != tt.wantLimit || source != tt.wantSource || ok != tt.wantOK {
				t.Errorf("MemoryLimit = %d, %q, %v; want %d, %q, %v", limit, source, ok, tt.wantLimit, tt.wantSource, tt.wantOK)
			}
		})
	}
}
