package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// firewall cuts members off from each other with iptables rules in a chain
// of its own, jumped to from OUTPUT (loopback traffic passes OUTPUT once).
// Rules match the members' Raft addresses only, so client traffic, which
// runs on another loopback address, keeps flowing.
type firewall struct {
	bin   string
	chain string
	ips   []string // Raft IP of member i+1
}

// newFirewall creates the chain and the jump. It fails where iptables is
// missing or does not work (not root, no netfilter).
func newFirewall(chain string, ips []string) (*firewall, error) {
	bin, err := exec.LookPath("iptables")
	if err != nil {
		return nil, fmt.Errorf("iptables not found: %w", err)
	}
	f := &firewall{bin: bin, chain: chain, ips: ips}
	removeStaleChains(bin)
	if err := f.ipt("-N", chain); err != nil {
		return nil, err
	}
	if err := f.ipt("-I", "OUTPUT", "1", "-j", chain); err != nil {
		if xerr := f.ipt("-X", chain); xerr != nil {
			return nil, fmt.Errorf("%w (and the chain is left behind: %v)", err, xerr)
		}
		return nil, err
	}
	return f, nil
}

func (f *firewall) ipt(args ...string) error {
	return iptables(f.bin, args...)
}

func iptables(bin string, args ...string) error {
	cmd := exec.Command(bin, append([]string{"-w", "10"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// isolate drops member n's traffic to and from every other loopback address.
func (f *firewall) isolate(n int) error {
	if n < 1 || n > len(f.ips) {
		return fmt.Errorf("no member %d", n)
	}
	ip := f.ips[n-1]
	if err := f.ipt("-A", f.chain, "-s", ip, "-d", "127.0.0.0/8", "-j", "DROP"); err != nil {
		return err
	}
	return f.ipt("-A", f.chain, "-s", "127.0.0.0/8", "-d", ip, "-j", "DROP")
}

// heal flushes the chain.
func (f *firewall) heal() error {
	return f.ipt("-F", f.chain)
}

// remove deletes the jump and the chain.
func (f *firewall) remove() error {
	err1 := f.ipt("-D", "OUTPUT", "-j", f.chain)
	err2 := f.ipt("-F", f.chain)
	err3 := f.ipt("-X", f.chain)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return err
		}
	}
	return nil
}

const chainPrefix = "COORDCHAOS"

// chainName names a chain after this process; suffix tells apart clusters
// of one process.
func chainName(suffix string) string {
	return fmt.Sprintf("%s%d-%s", chainPrefix, os.Getpid(), suffix)
}

// removeStaleChains removes chains this suite left behind in processes that
// no longer run (a killed test binary cannot clean up after itself).
func removeStaleChains(bin string) {
	out, err := exec.Command(bin, "-w", "10", "-S").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != "-N" || !strings.HasPrefix(f[1], chainPrefix) {
			continue
		}
		name := f[1]
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, chainPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		// Best effort, each step on its own: the jump may be gone already,
		// and a chain that stays behind only clutters the table.
		_ = iptables(bin, "-D", "OUTPUT", "-j", name)
		_ = iptables(bin, "-F", name)
		_ = iptables(bin, "-X", name)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
