package zkserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coordkit/coord/internal/jute"
)

// Version is what the four-letter words report as the server version: the
// ZooKeeper protocol version served, marked as coord's.
const Version = "3.8.0-coord"

// fourLetter answers a four-letter admin command and the connection closes,
// as ZooKeeper does. Words it does not serve get ZooKeeper's answer for a
// command outside its whitelist.
func (c *conn) fourLetter(w string) {
	var b strings.Builder
	s := c.srv
	switch w {
	case "ruok":
		b.WriteString("imok")
	case "isro":
		if _, ok := s.c.Leader(); ok {
			b.WriteString("rw")
		} else {
			b.WriteString("null")
		}
	case "srvr":
		s.writeSrvr(&b, false)
	case "stat":
		s.writeSrvr(&b, true)
	case "mntr":
		s.writeMntr(&b)
	case "conf":
		s.writeConf(&b, c)
	case "cons":
		s.writeCons(&b)
		b.WriteString("\n")
	case "wchs":
		s.writeWchs(&b)
	case "envi":
		s.writeEnvi(&b)
	case "srst":
		s.resetStats()
		b.WriteString("Server stats reset.\n")
	case "crst":
		s.resetStats()
		b.WriteString("Connection stats reset.\n")
	default:
		fmt.Fprintf(&b, "%s is not executed because it is not in the whitelist.\n", w)
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// The connection ends here either way; a client that left gets nothing.
	_, _ = c.nc.Write([]byte(b.String()))
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// mode is ZooKeeper's name for the member's role.
func (s *Server) mode() (string, bool) {
	st := s.c.Stats()
	leader, ok := s.c.Leader()
	switch {
	case !ok:
		return "", false
	case st.Observer:
		return "observer", true
	case leader == s.c.ID():
		return "leader", true
	}
	return "follower", true
}

func javaFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

func (s *Server) writeSrvr(b *strings.Builder, clients bool) {
	mode, serving := s.mode()
	if !serving {
		b.WriteString("This ZooKeeper instance is not currently serving requests\n")
		return
	}
	fmt.Fprintf(b, "Zookeeper version: %s, built on %s\n", Version, runtime.Version())
	if clients {
		b.WriteString("Clients:\n")
		s.writeCons(b)
		b.WriteString("\n")
	}
	t := s.snapshot()
	minMs, maxMs, avg := t.c.ms()
	st := s.c.Stats()
	fmt.Fprintf(b, "Latency min/avg/max: %d/%s/%d\n", minMs, javaFloat(avg), maxMs)
	fmt.Fprintf(b, "Received: %d\n", t.c.recv)
	fmt.Fprintf(b, "Sent: %d\n", t.c.sent)
	fmt.Fprintf(b, "Connections: %d\n", t.conns)
	fmt.Fprintf(b, "Outstanding: %d\n", t.outstanding)
	fmt.Fprintf(b, "Zxid: 0x%x\n", st.LastZxid)
	fmt.Fprintf(b, "Mode: %s\n", mode)
	fmt.Fprintf(b, "Node count: %d\n", st.Znodes)
}

// opNames are the abbreviations cons shows as a connection's last operation
// (ZooKeeper's FinalRequestProcessor names).
var opNames = map[jute.OpCode]string{
	jute.OpCreate: "CREA", jute.OpCreate2: "CREA", jute.OpCreateContainer: "CREA", jute.OpCreateTTL: "CREA",
	jute.OpDelete: "DELE", jute.OpExists: "EXIS", jute.OpGetData: "GETD", jute.OpSetData: "SETD",
	jute.OpGetACL: "GETA", jute.OpSetACL: "SETA", jute.OpGetChildren: "GETC", jute.OpGetChildren2: "GETC",
	jute.OpSync: "SYNC", jute.OpPing: "PING", jute.OpCheck: "CHEC", jute.OpMulti: "MULT",
	jute.OpMultiRead: "MLTR", jute.OpCloseSession: "CLOS", jute.OpSetWatches: "SETW",
	jute.OpSetWatches2: "STW2", jute.OpCheckWatches: "CHKW", jute.OpRemoveWatches: "REMW",
	jute.OpAddWatch: "ADDW", jute.OpGetEphemerals: "GETE", jute.OpGetAllChildrenNumber: "GETACN",
	jute.OpWhoAmI: "HOMI", jute.OpAuth: "AUTH", jute.OpReconfig: "RCFG", jute.OpSASL: "SASL",
}

// writeCons lists the connections as cons does.
func (s *Server) writeCons(b *strings.Builder) {
	live := s.liveConns()
	slices.SortFunc(live, func(a, b *conn) int { return a.est.Compare(b.est) })
	for _, c := range live {
		recv := c.recv.Load()
		queued := max(0, c.outstanding.Load())
		st, last := c.out.counters()
		sess := c.attached.Load()
		if sess == nil {
			fmt.Fprintf(b, " /%s[0](queued=%d,recved=%d,sent=%d)\n", c.remote, queued, recv, st.sent)
			continue
		}
		sid, to := sess.ID(), sess.Timeout()
		lop := opNames[last.op]
		if lop == "" {
			lop = "NA"
		}
		minMs, maxMs, avg := st.ms()
		fmt.Fprintf(b, " /%s[1](queued=%d,recved=%d,sent=%d,sid=0x%x,lop=%s,est=%d,to=%d,lcxid=0x%x,lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d)\n",
			c.remote, queued, recv, st.sent, uint64(sid), lop, c.est.UnixMilli(), to.Milliseconds(),
			uint32(last.xid), uint64(last.zxid), last.at.UnixMilli(), last.lat.Milliseconds(),
			minMs, int64(avg), maxMs)
	}
}

// writeWchs summarises watches as wchs does: the connections whose
// sessions hold watches, the distinct paths watched through this member,
// and the number of watches.
func (s *Server) writeWchs(b *strings.Builder) {
	watching, total := 0, 0
	for _, c := range s.liveConns() {
		if sess := c.attached.Load(); sess != nil {
			if n := sess.WatchCount(); n > 0 {
				watching++
				total += n
			}
		}
	}
	fmt.Fprintf(b, "%d connections watching %d paths\nTotal watches:%d\n", watching, s.c.Stats().WatchedPaths, total)
}

func (s *Server) writeMntr(b *strings.Builder) {
	mode, serving := s.mode()
	if !serving {
		mode = "standalone"
	}
	t := s.snapshot()
	st := s.c.Stats()
	minMs, maxMs, avg := t.c.ms()
	kv := func(k string, v any) { fmt.Fprintf(b, "%s\t%v\n", k, v) }
	kv("zk_version", Version+", built on "+runtime.Version())
	kv("zk_server_state", mode)
	kv("zk_avg_latency", javaFloat(avg))
	kv("zk_min_latency", minMs)
	kv("zk_max_latency", maxMs)
	kv("zk_packets_received", t.c.recv)
	kv("zk_packets_sent", t.c.sent)
	kv("zk_num_alive_connections", t.conns)
	kv("zk_outstanding_requests", t.outstanding)
	kv("zk_znode_count", st.Znodes)
	kv("zk_watch_count", st.Watches)
	kv("zk_ephemerals_count", st.Ephemerals)
	kv("zk_global_sessions", st.Sessions)
	kv("zk_local_sessions", 0)
	kv("zk_uptime", time.Since(s.start).Milliseconds())
	kv("zk_auth_failed_count", s.authFailed.Load())
	kv("zk_connection_rejected", s.rejected.Load())
	kv("zk_bytes_received_count", t.c.bytesIn)
	if t.c.respMin >= 0 {
		kv("zk_min_client_response_size", t.c.respMin)
		kv("zk_max_client_response_size", t.c.respMax)
		kv("zk_last_client_response_size", t.c.respLast)
	}
	if open, limit, ok := fdCounts(); ok {
		kv("zk_open_file_descriptor_count", open)
		kv("zk_max_file_descriptor_count", limit)
	}
	if mode == "leader" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		voters, err1 := s.c.Members(ctx)
		observers, err2 := s.c.Observers(ctx)
		cancel()
		if err1 == nil && err2 == nil {
			kv("zk_learners", len(voters)-1+len(observers))
		}
	}
	kv("coord_member_id", st.ID)
	kv("coord_write_batches", s.batches.Load())
	kv("coord_batched_writes", s.batched.Load())
	kv("coord_hosted_sessions", st.HostedSessions)
	kv("coord_disk_bytes", st.DiskBytes)
}

func fdCounts() (open int, limit uint64, ok bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, false
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, false
	}
	return len(ents), rl.Cur, true
}

func (s *Server) writeConf(b *strings.Builder, c *conn) {
	port := 0
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		port = ta.Port
	}
	fmt.Fprintf(b, "clientPort=%d\n", port)
	b.WriteString("secureClientPort=-1\n")
	fmt.Fprintf(b, "tickTime=%d\n", s.cfg.tick.Milliseconds())
	fmt.Fprintf(b, "maxClientCnxns=%d\n", s.cfg.maxConnsPerIP)
	fmt.Fprintf(b, "minSessionTimeout=%d\n", s.cfg.minTimeout.Milliseconds())
	fmt.Fprintf(b, "maxSessionTimeout=%d\n", s.cfg.maxTimeout.Milliseconds())
	fmt.Fprintf(b, "jute.maxbuffer=%d\n", s.cfg.maxFrame)
	fmt.Fprintf(b, "serverId=%d\n", s.c.ID())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	voters, err := s.c.Members(ctx)
	if err != nil {
		return
	}
	observers, _ := s.c.Observers(ctx)
	b.WriteString("membership: \n")
	ids := make([]uint64, 0, len(voters)+len(observers))
	for id := range voters {
		ids = append(ids, id)
	}
	for id := range observers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if a, ok := voters[id]; ok {
			fmt.Fprintf(b, "server.%d=%s:participant\n", id, a)
		} else {
			fmt.Fprintf(b, "server.%d=%s:observer\n", id, observers[id])
		}
	}
}

func (s *Server) writeEnvi(b *strings.Builder) {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	b.WriteString("Environment:\n")
	fmt.Fprintf(b, "zookeeper.version=%s, built on %s\n", Version, runtime.Version())
	fmt.Fprintf(b, "host.name=%s\n", host)
	fmt.Fprintf(b, "go.version=%s\n", runtime.Version())
	fmt.Fprintf(b, "os.name=%s\n", runtime.GOOS)
	fmt.Fprintf(b, "os.arch=%s\n", runtime.GOARCH)
	fmt.Fprintf(b, "user.dir=%s\n", wd)
	fmt.Fprintf(b, "os.pid=%d\n", os.Getpid())
}
