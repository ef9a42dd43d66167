package zkserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zkCliPath finds zkCli.sh of the Debian zookeeper package (or ZKCLI).
func zkCliPath() string {
	if p := os.Getenv("ZKCLI"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/share/zookeeper/bin/zkCli.sh", "/usr/bin/zkCli.sh", "/opt/zookeeper/bin/zkCli.sh"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// TestZkCli runs the real Java client, zkCli.sh from ZooKeeper 3.8, through
// a scripted session against a three-member ensemble.
func TestZkCli(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not installed: skipping the zkCli.sh test (apt-get install zookeeper brings both)")
	}
	cli := zkCliPath()
	if cli == "" {
		t.Skip("zkCli.sh not found (Debian package zookeeper, or set ZKCLI): skipping the zkCli.sh test")
	}
	e := newEnsemble(t, 3)
	other, _ := connect(t, []string{e.member(3).addr}, 4*time.Second)

	script := strings.Join([]string{
		"create /cli d",
		"create /cli d",
		"create -e /cli/eph e",
		"create -s /cli/seq- s",
		"create -c /cli/cont",
		"create -t 60000 /cli/ttl t",
		"get /cli",
		"get -w /cli",
		"set /cli newdata",
		"get -s /cli",
		"ls /cli",
		"ls -s /cli",
		"stat /cli/eph",
		"addWatch -m PERSISTENT_RECURSIVE /cli",
		"create /cli/r rr",
		"removewatches /cli",
		"getAllChildrenNumber /cli",
		"getEphemerals /cli",
		"addauth digest alice:pw",
		"create /cli/acl x auth::cdrwa",
		"getAcl /cli/acl",
		"setAcl /cli/acl world:anyone:r",
		"getAcl /cli/acl",
		"whoami",
		"sync /cli",
		"delete /cli",
		"get /missing",
		"deleteall /cli",
		"ls /",
		"quit",
	}, "\n") + "\n"

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "-server", strings.Join(e.addrs(), ","))
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "CLIENT_JVMFLAGS=-Dzookeeper.sasl.client=false")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	require.NoError(t, err, "zkCli.sh failed:\n%s", out)
	t.Logf("zkCli.sh output:\n%s", out)

	for _, want := range []string{
		"WatchedEvent state:SyncConnected type:None path:null",
		"Created /cli\n",
		"Node already exists: /cli",
		"Created /cli/eph",
		"Created /cli/seq-0000000001",
		"Created /cli/cont",
		"Created /cli/ttl",
		"\nd\n",
		"WatchedEvent state:SyncConnected type:NodeDataChanged path:/cli",
		"newdata\ncZxid = 0x",
		"dataVersion = 1\n",
		"numChildren = 4\n",
		"[cont, eph, seq-0000000001, ttl]",
		"WatchedEvent state:SyncConnected type:NodeCreated path:/cli/r",
		"Created /cli/r",
		"\n5\n",
		"[/cli/eph]",
		"'digest,'alice:" + digestOf("alice:pw") + "\n: cdrwa",
		"'world,'anyone\n: r",
		"digest: alice\nip: 127.0.0.1",
		"Sync is OK",
		"Node not empty: /cli",
		"Node does not exist: /missing",
		"[zookeeper]",
		"WatchedEvent state:Closed type:None path:null",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "Exception")

	// The session was closed: its ephemeral went with it.
	_, err = other.Sync("/")
	require.NoError(t, err)
	ok, _, err := other.Exists("/cli/eph")
	require.NoError(t, err)
	assert.False(t, ok)
}
