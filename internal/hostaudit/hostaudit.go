// Package hostaudit takes a snapshot of what a chaos run could leave behind
// on a Linux host — network namespaces, links, iptables rules in every table
// of the host and of each namespace, TCP listeners, processes, temp entries
// and, when a Docker engine answers, its containers and networks — and
// tells two snapshots apart. It reads only; it changes nothing.
package hostaudit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Snapshot is the host's state as sorted, comparable lines per kind.
type Snapshot struct {
	// Items maps a kind ("netns", "link", "rules host/filter",
	// "rules <ns>/nat", "listener", "process", "temp", "container",
	// "docker network") to its lines.
	Items map[string][]string
}

// Tables are the iptables tables audited.
var Tables = []string{"filter", "nat", "mangle", "raw"}

// Options selects what Take reads.
type Options struct {
	// ProcessMarker keeps the processes whose command line contains it
	// ("" keeps none): the host runs other processes that come and go.
	ProcessMarker string
	// TempDir is listed (default os.TempDir()); entries matching TempIgnore
	// are left out.
	TempDir    string
	TempIgnore *regexp.Regexp
}

// Take reads the host's state.
func Take(ctx context.Context, o Options) (Snapshot, error) {
	s := Snapshot{Items: map[string][]string{}}
	ns, err := lines(ctx, "ip", "netns", "list")
	if err != nil {
		return s, err
	}
	for i, l := range ns {
		ns[i], _, _ = strings.Cut(l, " ") // "name (id: 3)"
	}
	s.Items["netns"] = sorted(ns)
	links, err := lines(ctx, "ip", "-o", "link", "show")
	if err != nil {
		return s, err
	}
	s.Items["link"] = sorted(linkNames(links))
	for _, t := range Tables {
		rules, err := Rules(ctx, "", t)
		if err != nil {
			return s, err
		}
		s.Items["rules host/"+t] = rules
		for _, n := range ns {
			rules, err := Rules(ctx, n, t)
			if err != nil {
				return s, err
			}
			s.Items["rules "+n+"/"+t] = rules
		}
	}
	if s.Items["listener"], err = listeners(); err != nil {
		return s, err
	}
	if s.Items["process"], err = processes(o.ProcessMarker); err != nil {
		return s, err
	}
	if s.Items["temp"], err = temps(o.TempDir, o.TempIgnore); err != nil {
		return s, err
	}
	s.Items["container"], s.Items["docker network"] = docker(ctx)
	return s, nil
}

// docker lists the Docker engine's containers (running or not) and
// networks by id and name; none when no engine answers, so a host without
// Docker audits the rest.
func docker(ctx context.Context) (containers, networks []string) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	containers, err := lines(ctx, "docker", "ps", "--all", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
	if err != nil {
		return nil, nil
	}
	networks, _ = lines(ctx, "docker", "network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}")
	return sorted(containers), sorted(networks)
}

// Rules returns iptables-save's rules of table in namespace ns ("" for
// the host), without comments and counters, in order: byte-comparable
// across snapshots.
func Rules(ctx context.Context, ns, table string) ([]string, error) {
	args := []string{"iptables-save", "-t", table}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := lines(ctx, args[0], args[1:]...)
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, l := range out {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") { // ":CHAIN POLICY [packets:bytes]"
			l = counters.ReplaceAllString(l, "")
		}
		rules = append(rules, l)
	}
	return rules, nil
}

var counters = regexp.MustCompile(`\s*\[\d+:\d+\]$`)

// Diff lists what differs from before to after, one line each:
// "+ kind: line" appeared, "- kind: line" went away.
func Diff(before, after Snapshot) []string {
	var out []string
	kinds := maps.Clone(before.Items)
	maps.Copy(kinds, after.Items)
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		b, a := before.Items[k], after.Items[k]
		added, gone := minus(a, b), minus(b, a)
		for _, l := range added {
			out = append(out, "+ "+k+": "+l)
		}
		for _, l := range gone {
			out = append(out, "- "+k+": "+l)
		}
		// Order matters for rules: the same lines in another order differ.
		if strings.HasPrefix(k, "rules ") && len(added)+len(gone) == 0 && !slices.Equal(a, b) {
			out = append(out, "~ "+k+": same rules, another order")
		}
	}
	return out
}

// minus returns the lines of a not in b, counting repeats.
func minus(a, b []string) []string {
	left := map[string]int{}
	for _, l := range b {
		left[l]++
	}
	var out []string
	for _, l := range a {
		if left[l] > 0 {
			left[l]--
			continue
		}
		out = append(out, l)
	}
	return out
}

func lines(ctx context.Context, name string, args ...string) ([]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hostaudit: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var ls []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), " "); l != "" {
			ls = append(ls, l)
		}
	}
	return ls, sc.Err()
}

// linkNames takes the names out of `ip -o link show` lines
// ("3: crb-x@if2: <...> ..."), without the peer suffix.
func linkNames(ls []string) []string {
	var out []string
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		out = append(out, name)
	}
	return out
}

// listeners lists listening TCP sockets of the host's namespace as
// "addr:port" in hex, from /proc/net/tcp and tcp6.
func listeners() ([]string, error) {
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hostaudit: %w", err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			fs := strings.Fields(l)
			if i == 0 || len(fs) < 4 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			out = append(out, filepath.Base(f)+" "+fs[1])
		}
	}
	return sorted(out), nil
}

// processes lists the command lines containing marker.
func processes(marker string) ([]string, error) {
	if marker == "" {
		return nil, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("hostaudit: %w", err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")); strings.Contains(cmd, marker) {
			out = append(out, cmd)
		}
	}
	return sorted(out), nil
}

// temps lists the entries of dir (os.TempDir() when "") not matching
// ignore.
func temps(dir string, ignore *regexp.Regexp) ([]string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hostaudit: %w", err)
	}
	var out []string
	for _, e := range ents {
		if ignore == nil || !ignore.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return sorted(out), nil
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
