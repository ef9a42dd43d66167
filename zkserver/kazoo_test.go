package zkserver

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const kazooScript = `
import sys, threading
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
zk = KazooClient(hosts=sys.argv[1], timeout=10)
zk.start()
print("version", zk.server_version())
zk.ensure_path("/kz/a")
zk.create("/kz/a/e", b"v", ephemeral=True)
try:
    zk.create("/kz/a/e", b"v")
except NodeExistsError:
    print("NodeExists ok")
data, st = zk.get("/kz/a/e")
print("get", data, st.version, st.ephemeralOwner == zk.client_id[0])
ev = threading.Event()
@zk.DataWatch("/kz/a/e")
def w(data, stat, event):
    if event:
        print("watch", event.type)
        ev.set()
zk.set("/kz/a/e", b"w")
ev.wait(5)
t = zk.transaction(); t.create("/kz/t1"); t.check("/kz/a", 0); t.set_data("/kz/a", b"x")
print("txn", t.commit()[:2])
with zk.Lock("/kz/lock", "me") as l:
    print("locked")
c = zk.Counter("/kz/counter"); c += 5; print("counter", c.value)
print("ruok", zk.command(b"ruok"))
zk.stop()
zk2 = KazooClient(hosts=sys.argv[1]); zk2.start(); print("after close", zk2.exists("/kz/a/e")); zk2.stop()
`

// TestKazoo runs a short script with kazoo, the Python client, when it is
// installed (Debian: python3-kazoo).
func TestKazoo(t *testing.T) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil || exec.Command(py, "-c", "import kazoo").Run() != nil {
		t.Skip("kazoo is not installed (apt-get install python3-kazoo): skipping")
	}
	e := newEnsemble(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", kazooScript, strings.Join(e.addrs(), ",")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"version (3, 8, 0)", "NodeExists ok", "get b'v' 0 True", "watch CHANGED",
		"txn ['/kz/t1', True]", "locked", "counter 5", "ruok imok", "after close None"} {
		assert.Contains(t, string(out), want)
	}
}
